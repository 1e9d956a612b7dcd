"""`gallery optimize`: clean names with every reference updated, metadata stripped; sites built in tmp_path."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
from pathlib import Path, PurePosixPath

import piexif
from conftest import make_image, run, write_site
from PIL import Image

from gallery.config import Config
from gallery.metadata import read_metadata
from gallery.optimize import plan_optimize
from gallery.plan import scan_site
from gallery.site import read_site

CONFIG = 'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'


def scan(root: Path) -> list[dict]:
    """The refs of `gallery scan --format json`."""
    code, out, err = run("scan", str(root), "--format", "json")
    assert code == 0, err
    return json.loads(out)["refs"]


def urls(root: Path) -> dict[tuple[str, str], str]:
    """(page, URL as written) -> status, for every reference."""
    return {(ref["page"], ref["url"]): ref["status"] for ref in scan(root)}


def files(root: Path, under: str = ".") -> set[str]:
    """The files under a folder (the images under test: variants go elsewhere)."""
    return {p.relative_to(root).as_posix() for p in (root / under).rglob("*") if p.is_file()}


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Every file's bytes and mtime."""
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()
    }


def pixels(path: Path) -> bytes:
    with Image.open(path) as image:
        return image.convert("RGB").tobytes()


YAML_PAGE = """---
title: Every kind
image: "/images/Cover Photo.JPG"
images:
  - /images/Gallery_One.JPG
  - /images/Gallery_Two.PNG
cover:
  image: /images/Cover_Nested.JPG
---

Inline ![inline](/images/Inline_Photo.JPG "a title") and again, in another case, ![case](/images/inline_photo.jpg).

Angle ![angle](</images/Angle Photo.JPG>)

Reference ![ref][logo]

[logo]: /images/Ref_Def.PNG "Def"

<img src="/images/Html Img.JPG" alt="html">

<img srcset="/images/Small_One.JPG 480w, /images/Large_One.JPG 960w" src="/images/Small_One.JPG" alt="set">

<a href="/images/Full_Size.JPG">full size</a>

{{< figure src="/images/Figure Pic.JPG" alt="figure" >}}

Encoded ![vi](/images/%E1%BA%A2nh%20s%E1%BB%B1%20ki%E1%BB%87n.JPG)

Relative ![rel](../../images/Rel_Pic.JPG?v=2#top)

Folder ![folder](/images/Event%203/A.JPG)
"""

TOML_PAGE = """+++
title = "toml"
image = '/images/Toml Cover.JPG'
images = ["/images/Toml_List.JPG"]
[cover]
image = "/images/Toml_Nested.JPG"
+++

Body.
"""

JSON_PAGE = """{
  "title": "json",
  "image": "/images/Json Cover.JPG",
  "images": ["/images/Json_List.JPG"],
  "cover": {"image": "/images/Json_Nested.JPG"}
}

Body.
"""

IMAGES = [
    "Cover Photo.JPG", "Gallery_One.JPG", "Gallery_Two.PNG", "Cover_Nested.JPG", "Inline_Photo.JPG",
    "Angle Photo.JPG", "Ref_Def.PNG", "Html Img.JPG", "Small_One.JPG", "Large_One.JPG", "Full_Size.JPG",
    "Figure Pic.JPG", "Ảnh sự kiện.JPG", "Rel_Pic.JPG", "Event 3/A.JPG", "Toml Cover.JPG", "Toml_List.JPG",
    "Toml_Nested.JPG", "Json Cover.JPG", "Json_List.JPG", "Json_Nested.JPG",
]  # fmt: skip


def every_kind_site(root: Path) -> Path:
    site = {
        "content/posts/kinds.md": YAML_PAGE,
        "content/posts/toml.md": TOML_PAGE,
        "content/posts/json.md": JSON_PAGE,
    }
    write_site(root, site, CONFIG)
    for n, name in enumerate(IMAGES):
        make_image(root / "static/images" / name, pattern=n, fmt="PNG" if name.endswith(".PNG") else "JPEG")
    return root


def test_every_reference_kind_follows_its_renamed_image(tmp_path: Path) -> None:
    root = every_kind_site(tmp_path / "site")
    before = {name: pixels(root / "static/images" / name) for name in IMAGES}
    assert set(urls(root).values()) == {"ok", "case-mismatch"}

    code, out, err = run("optimize", str(root / "static/images"))
    assert code == 0, err
    assert "rename static/images/Event 3/A.JPG -> static/images/event-3/a.jpg" in out

    assert urls(root) == {
        ("content/posts/kinds.md", url): "ok"
        for url in [
            "/images/cover-photo.jpg", "/images/gallery-one.jpg", "/images/gallery-two.png",
            "/images/cover-nested.jpg", "/images/inline-photo.jpg", "/images/angle-photo.jpg",
            "/images/ref-def.png", "/images/html-img.jpg", "/images/small-one.jpg", "/images/large-one.jpg",
            "/images/full-size.jpg", "/images/figure-pic.jpg", "/images/anh-su-kien.jpg",
            "../../images/rel-pic.jpg?v=2#top", "/images/event-3/a.jpg",
        ]
    } | {
        ("content/posts/toml.md", "/images/toml-cover.jpg"): "ok",
        ("content/posts/toml.md", "/images/toml-list.jpg"): "ok",
        ("content/posts/toml.md", "/images/toml-nested.jpg"): "ok",
        ("content/posts/json.md", "/images/json-cover.jpg"): "ok",
        ("content/posts/json.md", "/images/json-list.jpg"): "ok",
        ("content/posts/json.md", "/images/json-nested.jpg"): "ok",
    }  # fmt: skip
    page = (root / "content/posts/kinds.md").read_text(encoding="utf-8")
    # both spellings of the inline photo, both uses of the srcset image, the angle brackets kept
    assert page.count("/images/inline-photo.jpg") == 2
    assert page.count("/images/small-one.jpg") == 2
    assert "![angle](</images/angle-photo.jpg>)" in page
    assert '[logo]: /images/ref-def.png "Def"' in page
    assert files(root, "static/images") == {
        f"static/images/{name}"
        for name in [
            "cover-photo.jpg", "gallery-one.jpg", "gallery-two.png", "cover-nested.jpg", "inline-photo.jpg",
            "angle-photo.jpg", "ref-def.png", "html-img.jpg", "small-one.jpg", "large-one.jpg", "full-size.jpg",
            "figure-pic.jpg", "anh-su-kien.jpg", "rel-pic.jpg", "event-3/a.jpg", "toml-cover.jpg",
            "toml-list.jpg", "toml-nested.jpg", "json-cover.jpg", "json-list.jpg", "json-nested.jpg",
        ]
    }  # fmt: skip
    assert not (root / "static/images/Event 3").exists()
    after = sorted(pixels(p) for p in (root / "static/images").rglob("*.*"))
    assert after == sorted(before.values())


def test_baseurl_subpath_written_in_the_url_is_kept(tmp_path: Path) -> None:
    config = 'baseURL = "https://example.org/docs/"\n'
    root = write_site(
        tmp_path / "site",
        {
            "content/a.md": "![a](/docs/images/X.JPG)\n![b](https://example.org/docs/images/X.JPG)\n",
            "static/images/X.JPG": None,
        },
        config,
    )
    assert set(urls(root).values()) == {"ok"}
    assert run("optimize", str(root / "static/images"))[0] == 0
    assert (root / "content/a.md").read_text() == (
        "![a](/docs/images/x.jpg)\n![b](https://example.org/docs/images/x.jpg)\n"
    )
    assert set(urls(root).values()) == {"ok"}
    assert files(root, "static/images") == {"static/images/x.jpg"}


BILINGUAL = """baseURL = "https://example.org/"
defaultContentLanguage = "en"
[languages.en]
weight = 1
[languages.vi]
weight = 2
"""


def test_page_bundle_keeps_its_folder_and_renames_its_image(tmp_path: Path, monkeypatch) -> None:
    root = write_site(
        tmp_path / "site",
        {
            "content/posts/Trip/index.md": "---\ntitle: Trip\n---\n![one](<Ảnh 1.JPG>)\n",
            "content/posts/Trip/index.vi.md": "---\ntitle: Chuyến đi\n---\n![một](%E1%BA%A2nh%201.JPG)\n",
            "content/posts/Trip/Ảnh 1.JPG": None,
            "static/images/Other One.JPG": None,
        },
        BILINGUAL,
    )
    assert set(urls(root).values()) == {"ok"}
    monkeypatch.chdir(root)
    code, _, err = run("optimize", "content/posts/Trip")
    assert code == 0, err
    assert files(root, "content") == {
        "content/posts/Trip/index.md",
        "content/posts/Trip/index.vi.md",
        "content/posts/Trip/anh-1.jpg",
    }
    assert (root / "content/posts/Trip/index.md").read_text() == "---\ntitle: Trip\n---\n![one](<anh-1.jpg>)\n"
    assert (root / "content/posts/Trip/index.vi.md").read_text() == "---\ntitle: Chuyến đi\n---\n![một](anh-1.jpg)\n"
    assert urls(root) == {
        ("content/posts/Trip/index.md", "anh-1.jpg"): "ok",
        ("content/posts/Trip/index.vi.md", "anh-1.jpg"): "ok",
    }
    # outside the target: untouched
    assert (root / "static/images/Other One.JPG").exists()


# A page as an editor on Windows leaves it: BOM, CRLF, trailing spaces, tabs, odd front matter spacing.
ODD_PAGE = (
    "\ufeff---\r\n"
    "title:    'Odd'   \r\n"
    "image:\t{cover}   # the cover\r\n"
    "images: [ {a} ,\t'{b}' ]\r\n"
    "cover :\r\n"
    '    image :   "{c}"\r\n'
    "---   \r\n"
    "\r\n"
    "\tIndented text\t \r\n"
    "Text  ![one]({a} 'x')  \r\n"
    "  <img   src='{b}'\talt=\"b\" >\r\n"
    " \r\n"
    "[d]:\t<{d}>\r\n"
    "![d][d]\r\n"
    '{{{{< figure   src="{c}"   >}}}}\r\n'
    "no newline at the end"
)
ODD_OLD = {
    "cover": "/images/Cov%20er.JPG",
    "a": "/images/A_1.JPG",
    "b": "/images/B B.JPG",
    "c": "/images/C.JPG",
    "d": "/images/D D.JPG",
}
ODD_NEW = {
    "cover": "/images/cov-er.jpg",
    "a": "/images/a-1.jpg",
    "b": "/images/b-b.jpg",
    "c": "/images/c.jpg",
    "d": "/images/d-d.jpg",
}


def test_only_url_spans_change_in_a_crlf_page_with_bom(tmp_path: Path) -> None:
    root = write_site(
        tmp_path / "site",
        {"content/odd.md": ODD_PAGE.format(**ODD_OLD).encode()}
        | {f"static/images/{name}": None for name in ("Cov er.JPG", "A_1.JPG", "B B.JPG", "C.JPG", "D D.JPG")},
        CONFIG,
    )
    assert [ref["status"] for ref in scan(root)] == ["ok"] * 8
    assert run("optimize", str(root / "static/images"))[0] == 0
    assert (root / "content/odd.md").read_bytes() == ODD_PAGE.format(**ODD_NEW).encode()
    assert [ref["status"] for ref in scan(root)] == ["ok"] * 8


def test_name_used_by_a_layout_is_not_renamed_and_is_reported(tmp_path: Path) -> None:
    root = write_site(
        tmp_path / "site",
        {
            "layouts/partials/head.html": '<link rel="icon" href="/images/Logo.PNG">\n',
            "content/a.md": "![logo](/images/Logo.PNG) ![b](/images/Big_One.PNG)\n",
            "static/images/Logo.PNG": None,
            "static/images/Big_One.PNG": None,
        },
        CONFIG,
    )
    code, out, _ = run("optimize", str(root / "static/images"))
    assert code == 0
    assert "static/images/Logo.PNG: bad-filename: not renamed to logo.png: its name appears in a layout" in out
    assert files(root, "static/images") == {"static/images/Logo.PNG", "static/images/big-one.png"}
    assert (root / "content/a.md").read_text() == "![logo](/images/Logo.PNG) ![b](/images/big-one.png)\n"
    assert set(urls(root).values()) == {"ok"}


def test_colliding_names_are_numbered_and_identical_files_left_alone(tmp_path: Path) -> None:
    root = write_site(
        tmp_path / "site",
        {
            "content/a.md": "![1](/images/Diagram1.png) ![2](/images/diagram1.png) ![3](/images/Photo.JPG) ![4](/images/photo.jpg)\n"
        },
        CONFIG,
    )
    images = root / "static/images"
    make_image(images / "Diagram1.png", pattern=1, fmt="PNG")
    make_image(images / "diagram1.png", pattern=2, fmt="PNG")
    make_image(images / "photo.jpg", pattern=3, fmt="JPEG")
    (images / "Photo.JPG").write_bytes((images / "photo.jpg").read_bytes())
    upper, lower = pixels(images / "Diagram1.png"), pixels(images / "diagram1.png")

    code, out, _ = run("optimize", str(images))
    assert code == 0
    assert "identical to static/images/photo.jpg: left for the duplicate stage" in out
    assert files(root, "static/images") == {
        "static/images/diagram1.png",
        "static/images/diagram1-2.png",
        "static/images/photo.jpg",
        "static/images/Photo.JPG",
    }
    # the clean name keeps its file; the messy one moves aside, and its reference follows it
    assert (pixels(images / "diagram1.png"), pixels(images / "diagram1-2.png")) == (lower, upper)
    assert (root / "content/a.md").read_text() == (
        "![1](/images/diagram1-2.png) ![2](/images/diagram1.png) ![3](/images/Photo.JPG) ![4](/images/photo.jpg)\n"
    )
    assert set(urls(root).values()) == {"ok"}


PHONE_EXIF = {
    "0th": {piexif.ImageIFD.Make: b"Phone", piexif.ImageIFD.Model: b"X 12", piexif.ImageIFD.Orientation: 6},
    "Exif": {piexif.ExifIFD.BodySerialNumber: b"SN123456", piexif.ExifIFD.DateTimeOriginal: b"2025:10:18 09:00:00"},
    "GPS": {
        piexif.GPSIFD.GPSLatitudeRef: b"N",
        piexif.GPSIFD.GPSLatitude: ((10, 1), (46, 1), (30, 1)),
        piexif.GPSIFD.GPSLongitudeRef: b"E",
        piexif.GPSIFD.GPSLongitude: ((106, 1), (41, 1), (0, 1)),
    },
}


def phone_photo(path: Path, pattern: int = 0) -> Path:
    """A JPEG as a phone writes it: camera, serial number, GPS, and Orientation 6 (rotated)."""
    make_image(path, size=(96, 64), pattern=pattern, fmt="JPEG")
    with Image.open(path) as image:
        data = io.BytesIO()
        image.save(data, "JPEG", quality=90, exif=piexif.dump(PHONE_EXIF))
    path.write_bytes(data.getvalue())
    return path


def test_metadata_is_stripped_orientation_kept_and_a_second_run_writes_nothing(tmp_path: Path) -> None:
    root = write_site(tmp_path / "site", {"content/a.md": "![p](/images/phone.jpg)\n"}, CONFIG)
    photo = phone_photo(root / "static/images/phone.jpg")
    assert read_metadata(photo.read_bytes()).has_gps
    images_before = json.loads(run("scan", str(root), "--format", "json")[1])["images"]
    pixels_before = pixels(photo)

    code, out, _ = run("optimize", str(root / "static/images"))
    assert code == 0
    assert "strip metadata from static/images/phone.jpg" in out and "GPS" in out
    metadata = read_metadata(photo.read_bytes())
    assert (metadata.has_gps, metadata.orientation) == (False, 6)
    assert not {"Make", "Model", "BodySerialNumber", "DateTimeOriginal"} & set(metadata.exif_tags)
    assert pixels(photo) == pixels_before
    images_after = json.loads(run("scan", str(root), "--format", "json")[1])["images"]
    assert [{**i, "bytes": 0} for i in images_after] == [{**i, "bytes": 0} for i in images_before]
    assert images_after[0]["bytes"] < images_before[0]["bytes"]

    state = snapshot(root)
    code, out, _ = run("optimize", str(root / "static/images"))
    assert code == 0
    assert "renamed 0 images, stripped metadata from 0 (0.0 KB saved), rewrote 0 pages" in out.splitlines()
    assert snapshot(root) == state


def test_dry_run_writes_nothing_and_prints_renames_and_a_diff(tmp_path: Path) -> None:
    root = every_kind_site(tmp_path / "site")
    phone_photo(root / "static/images/Phone Photo.jpeg")
    state = snapshot(root)
    code, out, _ = run("optimize", "--dry-run", str(root / "static/images"))
    assert code == 0
    assert snapshot(root) == state
    assert not (root / ".gallery").exists()
    lines = out.splitlines()
    assert "rename static/images/Phone Photo.jpeg -> static/images/phone-photo.jpg" in lines
    assert "rename static/images/Event 3/A.JPG -> static/images/event-3/a.jpg" in lines
    assert any(line.startswith("strip metadata from static/images/phone-photo.jpg (") for line in lines)
    assert "--- a/content/posts/toml.md" in lines and "+++ b/content/posts/toml.md" in lines
    assert "-image = '/images/Toml Cover.JPG'" in lines
    assert "+image = '/images/toml-cover.jpg'" in lines


UNREAD_PAGE = """<div style="background-image: url('/images/Hero_Banner.JPG')"></div>

{{< gallery src="/images/Gallery_Pic.JPG" >}}

<video poster="/images/Poster_1.JPG" src="/v.mp4"></video>

{{< album dir="/images/Trip Photos" >}}

[Trip Photos](/posts/trip-photos/) is a page; IMG_3.JPG is a word; <!-- <img src="/images/Old_One.JPG"> -->

![IMG_1.JPG](/images/IMG_1.JPG) <img alt='IMG_2.JPG' src='/images/IMG_2.JPG'>
"""


def test_files_a_page_uses_where_gallery_reads_no_reference_are_not_renamed(tmp_path: Path) -> None:
    names = ["Hero_Banner.JPG", "Gallery_Pic.JPG", "Poster_1.JPG", "Trip Photos/A.jpg", "Trip Photos/b.jpg"]
    names += ["IMG_1.JPG", "IMG_2.JPG", "IMG_3.JPG", "Old_One.JPG"]
    root = write_site(tmp_path / "site", {"content/a.md": UNREAD_PAGE}, CONFIG)
    for n, name in enumerate(names):
        make_image(root / "static/images" / name, pattern=n, fmt="JPEG")
    code, out, _ = run("optimize", str(root / "static/images"))
    assert code == 0
    assert files(root, "static/images") == {
        "static/images/Hero_Banner.JPG",
        "static/images/Gallery_Pic.JPG",
        "static/images/Poster_1.JPG",
        "static/images/Trip Photos/A.jpg",
        "static/images/Trip Photos/b.jpg",
        # names in alt text, prose and comments are no use of the file
        "static/images/img-1.jpg",
        "static/images/img-2.jpg",
        "static/images/img-3.jpg",
        "static/images/old-one.jpg",
    }
    assert (
        "static/images/Hero_Banner.JPG: bad-filename: not renamed to hero-banner.jpg: content/a.md uses"
        " 'Hero_Banner.JPG' where gallery reads no reference" in out
    )
    assert (
        "static/images/Trip Photos/A.jpg: bad-filename: not renamed to a.jpg: content/a.md uses '/images/Trip Photos'"
        in out
    )
    assert (root / "content/a.md").read_text() == UNREAD_PAGE.replace("/images/IMG_1.JPG", "/images/img-1.jpg").replace(
        "/images/IMG_2.JPG", "/images/img-2.jpg"
    )


def test_folder_named_in_a_layout_is_not_renamed(tmp_path: Path) -> None:
    root = write_site(
        tmp_path / "site",
        {
            "layouts/partials/hero.html": '<img src="/images/Trip Photos/{{ .Params.hero }}">\n',
            "content/a.md": "---\nhero: A.jpg\n---\n![a](</images/Trip Photos/A.jpg>)\n",
            "static/images/Trip Photos/A.jpg": None,
        },
        CONFIG,
    )
    assert run("optimize", str(root / "static/images"))[0] == 0
    assert (root / "static/images/Trip Photos/A.jpg").exists()


def test_planning_holds_one_image_in_memory_at_a_time(tmp_path: Path) -> None:
    root = write_site(tmp_path / "site", {"content/a.md": "![a](/images/Big_0.PNG)\n"}, CONFIG)
    (root / "static/images").mkdir(parents=True)
    for n in range(12):  # 12 noisy PNGs of ~1 MB each
        Image.frombytes("RGB", (600, 560), os.urandom(600 * 560 * 3)).save(root / f"static/images/Big_{n}.PNG")
    site, table = read_site(root)
    config = Config.from_table(table)
    result = scan_site(site, config)
    tracemalloc.start()
    try:
        plan = plan_optimize(site, config, PurePosixPath("static/images"), result)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(plan.renames) == 12
    assert peak < 4_000_000


def test_optimize_on_the_site_root_cleans_static_folders_but_not_content_ones(tmp_path: Path, monkeypatch) -> None:
    # As `optimize static/images` does: the root holds content/, whose folders are sections and bundles,
    # but that must not keep the static folders messy.
    root = write_site(
        tmp_path / "site",
        {
            "content/Posts/Trip/index.md": "![a](<Ảnh 1.JPG>) ![b](/images/4-Event/Event%202.JPG)\n",
            "content/Posts/Trip/Ảnh 1.JPG": None,
            "static/images/4-Event/Event 2.JPG": None,
        },
    )
    monkeypatch.chdir(root)
    code, _, err = run("optimize", ".")
    assert code == 0, err
    assert files(root, "content") == {"content/Posts/Trip/index.md", "content/Posts/Trip/anh-1.jpg"}
    assert files(root, "static/images") == {"static/images/4-event/event-2.jpg"}
    assert (root / "content/Posts/Trip/index.md").read_text() == "![a](<anh-1.jpg>) ![b](/images/4-event/event-2.jpg)\n"
    assert set(urls(root).values()) == {"ok"}
