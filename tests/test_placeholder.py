"""Placeholders: a tiny blurred preview per image in the manifest, and with `placeholder = "blur"`
the `<img>` background of the markup fix-refs writes."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import run, write_site
from PIL import Image, ImageDraw

CONFIG = 'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
BLUR = CONFIG.replace("[markup", '[gallery]\nplaceholder = "blur"\n[markup')
MAX_URI = 400  # characters of a placeholder data URI (measured: about 190 for photos, README)


def landscape() -> bytes:
    """300x200: an orange left half, a teal right half with a white disc."""
    image = Image.new("RGB", (300, 200), (230, 120, 20))
    draw = ImageDraw.Draw(image)
    draw.rectangle((150, 0, 300, 200), fill=(20, 140, 150))
    draw.ellipse((190, 60, 270, 140), fill="white")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def transparent() -> bytes:
    image = Image.new("RGBA", (80, 60), (0, 0, 0, 0))
    ImageDraw.Draw(image).ellipse((10, 10, 70, 50), fill=(200, 0, 0, 255))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


PAGE = '![Hall](/images/hall.jpg)\n\n<img src="/images/hall.jpg" alt="x" style="border:1px solid red">\n'


def build(root: Path, config: str = CONFIG) -> Path:
    files = {"static/images/hall.jpg": landscape(), "static/images/logo.png": transparent(), "content/a.md": PAGE}
    files["static/images/mark.svg"] = b'<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'
    return write_site(root, files, config)


def gallery(root: Path, *args: str) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as m:
        m.chdir(root)
        return run(*args, *(["--jobs", "1"] if args[0] == "optimize" else []))


def manifest(root: Path) -> dict:
    return json.loads((root / "data/gallery.json").read_bytes())["images"]


def decoded(uri: str) -> Image.Image:
    head, _, data = uri.partition(",")
    assert head == "data:image/webp;base64"
    return Image.open(io.BytesIO(base64.b64decode(data))).convert("RGB")


def test_manifest_placeholder_has_the_aspect_and_colours_of_the_source(tmp_path: Path) -> None:
    root = build(tmp_path / "site")
    assert gallery(root, "optimize", "static/images")[0] == 0

    images = manifest(root)
    uri = images["static/images/hall.jpg"]["placeholder"]
    assert len(uri) < MAX_URI
    preview = decoded(uri)
    assert preview.size == (16, 11)  # 300x200, 16 px on the long edge
    source = Image.open(io.BytesIO(landscape())).convert("RGB").resize(preview.size, Image.Resampling.BOX)
    difference = np.abs(np.asarray(preview, float) - np.asarray(source, float))
    assert difference.reshape(-1, 3).mean(axis=0).max() < 12  # left orange, right teal, the disc a light patch
    # A transparent image would show its preview through: none; nor for SVG.
    assert images["static/images/logo.png"]["placeholder"] == ""
    assert images["static/images/mark.svg"]["placeholder"] == ""


def test_blur_writes_the_placeholder_as_img_background_keeping_the_authors_style(tmp_path: Path) -> None:
    root = build(tmp_path / "site", BLUR)
    assert gallery(root, "optimize", "static/images")[0] == 0
    uri = manifest(root)["static/images/hall.jpg"]["placeholder"]

    assert gallery(root, "fix-refs", "content")[0] == 0

    page = (root / "content/a.md").read_text()
    markdown, raw = page.split("\n\n")  # the raw <img> started an HTML block: so does its <picture>, on 3 lines
    ours = f"background:url({uri}) center/cover no-repeat"
    assert f' style="{ours}">' in markdown
    # The author's declarations come after ours, so that theirs win; and nothing of theirs is lost.
    assert f' style="{ours};border:1px solid red"' in raw and raw.count(' style="') == 1
    assert raw.startswith('<picture data-gallery="&lt;img src=&quot;/images/hall.jpg&quot;')
    assert "<img " in markdown and "<img " in raw
    assert gallery(root, "fix-refs", "content")[0] == 0
    assert (root / "content/a.md").read_text() == page  # idempotent
    assert gallery(root, "fix-refs", "content", "--revert")[0] == 0
    assert (root / "content/a.md").read_text() == PAGE  # byte for byte


def test_none_writes_no_placeholder_and_switching_rewrites_the_markup(tmp_path: Path) -> None:
    root = build(tmp_path / "site")
    assert gallery(root, "optimize", "static/images")[0] == 0
    assert gallery(root, "fix-refs", "content")[0] == 0
    page = (root / "content/a.md").read_text()
    assert "data:image" not in page and 'style="border:1px solid red"' in page

    (root / "config.toml").write_text(BLUR)
    code, out, _ = gallery(root, "check")
    assert "is out of date: `gallery fix-refs` writes it" in out
    assert gallery(root, "fix-refs", "content")[0] == 0
    assert (root / "content/a.md").read_text().count("background:url(data:image/webp;base64,") == 2


def test_an_older_manifest_gets_placeholders_without_rendering_again(tmp_path: Path) -> None:
    root = build(tmp_path / "site")
    assert gallery(root, "optimize", "static/images")[0] == 0
    made = manifest(root)["static/images/hall.jpg"]["placeholder"]
    document = json.loads((root / "data/gallery.json").read_bytes())
    for entry in document["images"].values():
        del entry["placeholder"]  # as written before placeholders were
    (root / "data/gallery.json").write_text(json.dumps(document, indent=1) + "\n")
    variants = {p: p.stat().st_mtime_ns for p in (root / "static/_gallery").rglob("*.*")}

    code, out, _ = gallery(root, "optimize", "static/images", "--format", "json")

    assert code == 0
    assert json.loads(out.splitlines()[-1])["rendered"] == 0
    assert {p: p.stat().st_mtime_ns for p in (root / "static/_gallery").rglob("*.*")} == variants
    filled = manifest(root)
    assert filled["static/images/logo.png"]["placeholder"] == ""
    preview, fresh = decoded(filled["static/images/hall.jpg"]["placeholder"]), decoded(made)
    assert preview.size == fresh.size
    assert np.abs(np.asarray(preview, float) - np.asarray(fresh, float)).mean() < 6  # from the 300 px JPEG variant
    data = (root / "data/gallery.json").read_bytes()
    assert gallery(root, "optimize", "static/images")[0] == 0
    assert (root / "data/gallery.json").read_bytes() == data  # stable from then on


def test_a_wrong_placeholder_setting_is_a_config_error(tmp_path: Path) -> None:
    root = build(tmp_path / "site", CONFIG.replace("[markup", '[gallery]\nplaceholder = "thumbhash"\n[markup'))
    code, _, err = gallery(root, "check")
    assert code == 2
    assert 'placeholder must be one of "none", "blur", got \'thumbhash\'' in err
