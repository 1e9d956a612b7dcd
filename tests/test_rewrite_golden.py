"""Golden cases of the rewriter: each file under golden/rewrite/ holds pages as written and as
`gallery fix-refs` must leave them. The real CLI runs on a site built here, with a manifest whose
variant names are fixed (so the expected text does not depend on encoder versions).

GALLERY_UPDATE_GOLDEN=1 writes what the rewriter does into the expected sections (review the diff).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from html import unescape
from pathlib import Path

import pytest
from conftest import LAYOUTS, make_image, require_program, run, write_site

GOLDEN = Path(__file__).parent / "golden" / "rewrite"
SECTION = re.compile(rb"^=== (input|expected) (\S+) ===\n", re.MULTILINE)
UNSAFE = "[markup.goldmark.renderer]\nunsafe = true\n"
SITES = {
    "plain": 'baseURL = "https://example.org/"\n' + UNSAFE,
    "subpath": 'baseURL = "https://example.org/blog/"\n' + UNSAFE,
    "languages": (
        'baseURL = "https://example.org/"\ndefaultContentLanguage = "en"\ndefaultContentLanguageInSubdir = true\n'
        '[languages.en]\ncontentDir = "content/en"\nweight = 1\n[languages.vi]\ncontentDir = "content/vi"\nweight = 2\n'
        + UNSAFE
    ),
}
IMAGES = {  # source -> (URL directory of its variants, fallback format)
    "static/images/photo.jpg": ("images", "jpeg"),
    "static/images/diagram.png": ("images", "png"),
    "content/posts/trip/river.jpg": ("posts/trip", "jpeg"),
}
WIDTHS = ((480, 360), (960, 720))


def read_case(path: Path) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    """The site kind and, per page, (path, input bytes, expected bytes)."""
    data = path.read_bytes()
    header = data[: SECTION.search(data).start()].decode()
    site = re.search(r"^site: (\w+)$", header, re.MULTILINE).group(1)
    marks = list(SECTION.finditer(data))
    sections: dict[tuple[str, str], bytes] = {}
    for mark, following in zip(marks, [*marks[1:], None], strict=True):
        end = following.start() if following else len(data)
        sections[mark.group(1).decode(), mark.group(2).decode()] = data[mark.end() : end]
    pages = [name for kind, name in sections if kind == "input"]
    return site, [(name, sections["input", name], sections.get(("expected", name), b"")) for name in pages]


def write_expected(path: Path, site: str, pages: list[tuple[str, bytes, bytes]]) -> None:
    header = path.read_bytes()[: SECTION.search(path.read_bytes()).start()]
    body = b"".join(
        b"=== input %s ===\n%s=== expected %s ===\n%s" % (name.encode(), before, name.encode(), after)
        for name, before, after in pages
    )
    path.write_bytes(header + body)


def build_site(root: Path, site: str) -> None:
    write_site(root, {}, SITES[site])
    entries = {}
    for source, (url_dir, fallback) in IMAGES.items():
        path = root / source
        make_image(path, (64, 48), fmt="PNG" if fallback == "png" else "JPEG")
        stat = path.stat()
        variants = []
        for width, height in WIDTHS:
            for fmt in ("avif", "webp", fallback):
                name = f"{path.stem}.0123abcd.{width}.{'jpg' if fmt == 'jpeg' else fmt}"
                variant = root / "static/_gallery" / url_dir / name
                variant.parent.mkdir(parents=True, exist_ok=True)
                variant.write_bytes(b"variant")
                variants.append(
                    {"width": width, "height": height, "format": fmt, "bytes": 7,
                     "path": f"static/_gallery/{url_dir}/{name}", "url": f"/_gallery/{url_dir}/{name}"}
                )  # fmt: skip
        entries[source] = {
            "sha256": "0" * 64, "bytes": stat.st_size, "mtime_ns": stat.st_mtime_ns, "width": 1200, "height": 900,
            "format": fallback.upper(), "fallback": fallback, "animated": False, "fingerprint": "", "key": "golden",
            "variants": variants,
        }  # fmt: skip
    (root / "data").mkdir()
    (root / "data/gallery.json").write_text(json.dumps({"version": 2, "images": entries}))


CASES = sorted(GOLDEN.glob("*.md"))


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_rewrite_is_exact_idempotent_and_reverts_byte_for_byte(tmp_path: Path, case: Path) -> None:
    site, pages = read_case(case)
    root = tmp_path / "site"
    build_site(root, site)
    for name, before, _ in pages:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(before)
    code, out, err = run("fix-refs", str(root / "content"), "--no-merge")
    assert code == 0, out + err
    rewritten = [(name, before, (root / name).read_bytes()) for name, before, _ in pages]
    if os.environ.get("GALLERY_UPDATE_GOLDEN") == "1":
        write_expected(case, site, rewritten)
        site, pages = read_case(case)
    for (name, _, expected), (_, _, got) in zip(pages, rewritten, strict=True):
        assert got.decode() == expected.decode(), name

    mtimes = {name: (root / name).stat().st_mtime_ns for name, _, _ in pages}
    code, out, err = run("fix-refs", str(root / "content"), "--no-merge")
    assert code == 0, out + err
    for name, _, after in rewritten:  # rewrite(rewrite(x)) == rewrite(x), without touching the file
        assert (root / name).read_bytes() == after
        assert (root / name).stat().st_mtime_ns == mtimes[name]

    code, out, err = run("fix-refs", str(root / "content"), "--revert")
    assert code == 0, out + err
    for name, before, _ in pages:  # revert(rewrite(x)) == x
        assert (root / name).read_bytes() == before, name


PICTURE = re.compile(r"<picture\b.*?</picture>", re.DOTALL)
IMG = re.compile(r"<img\b[^>]*>")
DATA = re.compile(r' data-gallery="[^"]*"')
ATTRIBUTE = re.compile(r"""\b(alt|title)="([^"]*)\"""")


def rendered(root: Path) -> dict[str, str]:
    """Each published page's body, as Hugo writes it."""
    build = subprocess.run(
        [require_program("hugo"), "--source", str(root), "--destination", "public", "--quiet", "--noBuildLock"],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr
    public = root / "public"
    return {str(p.relative_to(public)): p.read_text() for p in public.rglob("*.html") if "/posts/" in str(p)}


def shape(html: str) -> tuple[str, list[tuple[str, str]]]:
    """The page with each image (a <picture>, or an <img> alone) as IMG and no white space between tags,
    and the alt and title of each image in order."""
    texts = []
    for image in [*PICTURE.findall(html), *IMG.findall(PICTURE.sub("", html))]:
        found = ATTRIBUTE.findall(IMG.search(image).group(0))
        texts.append((html.index(image), sorted((name, unescape(value)) for name, value in found)))
    flat = DATA.sub("", IMG.sub("IMG", PICTURE.sub("IMG", html)))
    return re.sub(r"\s*(<|>)\s*", r"\1", flat).strip(), [attributes for _, attributes in sorted(texts)]


@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_rewritten_pages_render_through_hugo_as_the_originals_did(tmp_path: Path, case: Path) -> None:
    site, pages = read_case(case)
    outputs = []
    for version in (1, 2):  # the pages as written, then as rewritten
        root = tmp_path / str(version)
        build_site(root, site)
        for name, text in LAYOUTS.items():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_text(text)
        for name, *texts in pages:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(texts[version - 1])
        outputs.append(rendered(root))
    before, after = outputs
    assert before.keys() == after.keys() and before
    for page in before:
        assert "raw HTML omitted" not in after[page]
        assert shape(after[page]) == shape(before[page]), page
