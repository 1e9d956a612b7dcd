"""HEIC input (iPhone photos) through the extra gallery[heic] (pillow-heif), through the real commands.

The HEIC files are made in code with pillow-heif: EXIF with Orientation 6 (stored in the file as
an `irot` box too, as phones do) and GPS, an ICC profile, and XMP.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import piexif
import pillow_heif
import pytest
from conftest import REPO, run, write_site
from PIL import Image, ImageCms

from gallery.metadata import read_metadata, strip_metadata

pillow_heif.register_heif_opener()  # to write HEIC here; gallery registers it itself when it meets one

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
BLUE, RED = (30, 30, 200), (200, 30, 30)
GPS = {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((48, 1), (51, 1), (2, 1))}
XMP_GPS = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF'
    b' xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/"'
    b' exif:GPSLatitude="48,51.0N"/></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
)


def sideways_photo() -> Image.Image:
    """96x64 as stored: blue on the left, red on the right. Turned upright (Orientation 6), blue is on top."""
    image = Image.new("RGB", (96, 64), RED)
    image.paste(BLUE, (0, 0, 48, 64))
    return image


def heic(image: Image.Image, orientation: int = 6, gps: bool = True, xmp: bytes | None = None) -> bytes:
    """HEIC bytes with EXIF (Make, Orientation, GPS when asked), the sRGB ICC profile and optional XMP."""
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: orientation, piexif.ImageIFD.Make: b"Apple"},
                        "GPS": GPS if gps else {}})  # fmt: skip
    out = io.BytesIO()
    image.save(out, "HEIF", quality=90, exif=exif, icc_profile=SRGB, **({"xmp": xmp} if xmp else {}))
    return out.getvalue()


def build(root: Path, data: bytes) -> Path:
    return write_site(
        root, {"static/images/IMG_0001.HEIC": data, "content/posts/trip.md": "![Harbour](/images/IMG_0001.HEIC)\n"}
    )


def gallery(root: Path, *args: str) -> tuple[int, str, str]:
    with pytest.MonkeyPatch.context() as m:
        m.chdir(root)
        return run(*args)


def pixels(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def mean(image: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    return np.asarray(image.convert("RGB").crop(box), dtype=float).reshape(-1, 3).mean(axis=0)


def test_optimize_renames_a_heic_and_makes_upright_variants_with_a_jpeg_fallback(tmp_path: Path) -> None:
    root = build(tmp_path / "site", heic(sideways_photo()))

    code, out, err = gallery(root, "optimize", "static/images", "--jobs", "1")

    assert code == 0, (out, err)
    assert (root / "static/images/img-0001.heic").is_file() and not (root / "static/images/IMG_0001.HEIC").exists()
    assert (root / "content/posts/trip.md").read_text() == "![Harbour](/images/img-0001.heic)\n"
    entry = json.loads((root / "data/gallery.json").read_bytes())["images"]["static/images/img-0001.heic"]
    assert (entry["format"], entry["fallback"], entry["width"], entry["height"]) == ("HEIF", "jpeg", 64, 96)
    assert {v["format"] for v in entry["variants"]} == {"avif", "webp", "jpeg"}
    for variant in entry["variants"]:
        image = pixels((root / variant["path"]).read_bytes())
        assert image.format == variant["format"].upper() and image.size == (64, 96)  # portrait: turned once
        top, bottom = mean(image, (8, 8, 56, 40)), mean(image, (8, 56, 56, 88))
        assert np.abs(top - BLUE).max() < 12 and np.abs(bottom - RED).max() < 12, (variant["path"], top, bottom)
        assert image.info.get("icc_profile") == SRGB  # colour profile kept, as for other formats
        assert not image.getexif()  # no EXIF, no GPS, no Orientation to turn it a second time


def test_optimize_removes_gps_from_the_heic_in_place_and_keeps_its_picture(tmp_path: Path) -> None:
    data = heic(sideways_photo(), xmp=XMP_GPS)
    found = read_metadata(data)
    assert found.format == "HEIF" and found.has_gps and found.has_xmp and "Make" in found.exif_tags
    root = build(tmp_path / "site", data)

    assert gallery(root, "optimize", "static/images", "--jobs", "1")[0] == 0

    stripped = (root / "static/images/img-0001.heic").read_bytes()
    found = read_metadata(stripped)
    assert not found.has_gps and found.exif_tags == ("Orientation",) and found.removable_bytes == 0
    assert b"GPSLatitude" not in stripped and b"Apple" not in stripped
    # Overwritten in place: same length, every box where it was, the coded picture untouched.
    assert len(stripped) == len(data)
    before, after = pixels(data), pixels(stripped)
    assert after.size == before.size == (64, 96) and after.tobytes() == before.tobytes()
    assert after.info.get("icc_profile") == SRGB
    code, _, err = gallery(root, "optimize", "static/images", "--jobs", "1")
    assert code == 0 and "nothing changed" in err
    assert (root / "static/images/img-0001.heic").read_bytes() == stripped


def test_strip_metadata_of_a_heic_without_metadata_returns_it_unchanged() -> None:
    data = heic(sideways_photo(), orientation=1, gps=False)
    once = strip_metadata(data)
    assert strip_metadata(once) is once  # idempotent: the second strip finds nothing


def test_check_reports_gps_in_a_heic_until_optimize(tmp_path: Path) -> None:
    root = build(tmp_path / "site", heic(sideways_photo()))

    code, out, _ = gallery(root, "check")
    assert code == 1
    assert "static/images/IMG_0001.HEIC publishes GPS coordinates" in out

    assert gallery(root, "optimize", "static/images", "--jobs", "1")[0] == 0
    _, out, _ = gallery(root, "check")
    assert "GPS" not in out


def test_fix_refs_shows_the_heic_as_avif_webp_and_a_jpeg_img(tmp_path: Path) -> None:
    root = build(tmp_path / "site", heic(sideways_photo()))
    assert gallery(root, "optimize", "static/images", "--jobs", "1")[0] == 0

    code, out, err = gallery(root, "fix-refs", "content")

    assert code == 0, (out, err)
    page = (root / "content/posts/trip.md").read_text()
    assert '<source type="image/avif"' in page and '<source type="image/webp"' in page
    img = page[page.index("<img ") :]
    assert img.startswith('<img src="/_gallery/images/img-0001.') and '.jpg"' in img.split(" ")[1]
    assert 'width="64" height="96"' in img


def test_a_corrupt_heic_is_one_line_and_the_run_goes_on(tmp_path: Path) -> None:
    root = write_site(
        tmp_path / "site",
        {
            "static/images/broken.heic": b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64),
            "static/images/good.jpg": None,
            "content/a.md": "![a](/images/broken.heic) ![b](/images/good.jpg)\n",
        },
    )
    code, _, err = gallery(root, "optimize", "static/images", "--jobs", "1")
    assert code == 3
    (line,) = [line for line in err.splitlines() if "broken.heic" in line]
    assert "cannot open HEIF image" in line
    assert "static/images/good.jpg" in json.loads((root / "data/gallery.json").read_bytes())["images"]


def gallery_process(root: Path, code: str, hide_pillow_heif: bool) -> subprocess.CompletedProcess[str]:
    """Python `code` in a process of its own, in the site's folder; with `hide_pillow_heif`, as if the extra
    gallery[heic] were not installed (tests/without_heif: a package of that name that fails to import)."""
    path = [str(REPO / "tests/without_heif"), str(REPO)] if hide_pillow_heif else [str(REPO)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    return subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_without_pillow_heif_a_heic_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    root = build(tmp_path / "site", heic(sideways_photo()))
    done = gallery_process(root, "from gallery.cli import cli; cli(['optimize', 'static/images'])", True)
    assert done.returncode == 3, done.stderr
    (line,) = [line for line in done.stderr.splitlines() if "IMG_0001.HEIC" in line]
    assert "HEIC/HEIF image: Pillow decodes it only with a plugin (pillow-heif)" in line
    assert "pip install 'gallery[heic]'" in line


def test_pillow_heif_is_imported_only_when_a_heif_file_is_met(tmp_path: Path) -> None:
    root = write_site(tmp_path / "site", {"static/images/a.jpg": None, "content/a.md": "![a](/images/a.jpg)\n"})
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom gallery.cli import cli\n"
        "for args in (['optimize', 'static/images', '--jobs', '1'], ['check'], ['fix-refs']):\n"
        "    CliRunner().invoke(cli, args)\n"
        "print('pillow_heif' in sys.modules)\n"
    )
    assert gallery_process(root, code, False).stdout.strip() == "False"
    (root / "static/images/b.heic").write_bytes(heic(sideways_photo()))
    assert gallery_process(root, code, False).stdout.strip() == "True"
