"""`gallery report`: one self-contained HTML page, right numbers, escaped names, no GPS position;
and `gallery check --format markdown`: one table row per finding, cells unbroken."""

from __future__ import annotations

import base64
import io
import json
import os
import re
from html.parser import HTMLParser
from pathlib import Path

import piexif
import pytest
from browser import require_chromium, shared_browser
from conftest import make_image, run, write_site
from markdown_it import MarkdownIt
from PIL import Image, ImageStat

PHOTO = (1000, 750)  # variants 480, 960 and its own 1000 px
# Degrees, minutes, seconds no other number in the report could repeat, and the decimal degrees they make.
GPS = {
    piexif.GPSIFD.GPSLatitudeRef: b"N",
    piexif.GPSIFD.GPSLatitude: ((12, 1), (34, 1), (56789, 1000)),
    piexif.GPSIFD.GPSLongitudeRef: b"E",
    piexif.GPSIFD.GPSLongitude: ((98, 1), (43, 1), (54321, 1000)),
}
GPS_DIGITS = ("56789", "56.789", "54321", "54.321", "12.5824", "98.7317", "12°", "98°")
DATA_URI = re.compile(r"data:image/webp;base64,([A-Za-z0-9+/=]+)")
ROW = re.compile(r'<tr><td class="page">.*?<code>(.*?)</code>.*?</tr>', re.DOTALL)
TOTAL = re.compile(r"<tfoot>.*?</tfoot>", re.DOTALL)
BYTES = re.compile(r'data-bytes="(\d+)"')
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "header", "footer", "section", "h1", "h2", "h3", "p", "div",
    "span", "code", "table", "thead", "tbody", "tfoot", "tr", "th", "td", "details", "summary", "ul", "li",
    "figure", "figcaption", "img",
}  # fmt: skip


class Tags(HTMLParser):
    """Every start tag of a document, with its attributes, as a browser's tokenizer reads them."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def report(root: Path, *args: str) -> tuple[int, str, str]:
    """`gallery report` of the site into its default file: (exit code, the page, stdout)."""
    code, out, err = run("report", str(root), *args)
    assert code in (0, 3), out + err
    return code, (root / "gallery-report.html").read_text(encoding="utf-8"), out


def variant_bytes(root: Path, stem: str, width: int) -> int:
    [variant] = (root / "static/_gallery/images").glob(f"{stem}.*.{width}.avif")
    return variant.stat().st_size


def weight_rows(html: str) -> dict[str, list[int]]:
    """Each page row of the weight table: page -> [bytes as written, bytes at 390 px, bytes at 1440 px]."""
    return {page: [int(b) for b in BYTES.findall(row.group(0))] for row in ROW.finditer(html) for page in [row[1]]}


def test_page_weights_follow_each_pages_sizes_and_count_images_without_variants_as_they_are(tmp_path: Path) -> None:
    root = write_site(
        tmp_path / "site",
        {
            "content/plain.md": "![a](/images/a.jpg)\n\nagain: ![a](/images/a.jpg)\n",
            # Wide slot on a laptop, tiny on a phone; and an SVG, which has no variants.
            "content/wide.md": '---\ngallery_sizes: "(min-width: 600px) 1000px, 10px"\n---\n'
            "![a](/images/a.jpg) ![logo](/images/logo.svg)\n",
            "content/text.md": "no images\n",
            "static/images/logo.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>',
        },
    )
    make_image(root / "static/images/a.jpg", PHOTO, fmt="JPEG")
    assert run("optimize", str(root / "static/images"))[0] == 0
    original = (root / "static/images/a.jpg").stat().st_size
    svg = (root / "static/images/logo.svg").stat().st_size
    code, html, out = report(root)
    assert code == 0
    rows = weight_rows(html)
    assert rows == {
        "content/plain.md": [original, variant_bytes(root, "a", 480), variant_bytes(root, "a", 960)],
        "content/wide.md": [original + svg, variant_bytes(root, "a", 480) + svg, variant_bytes(root, "a", 1000) + svg],
    }
    totals = [sum(column) for column in zip(*rows.values(), strict=True)]
    assert [int(b) for b in BYTES.findall(TOTAL.search(html).group(0))] == totals
    saved = 1 - totals[1] / totals[0]
    assert f"{saved:.0%} less" in html
    assert f"{saved:.0%} less" in out.splitlines()[1]
    assert "No variants yet" not in html


def gps_photo(path: Path) -> Path:
    make_image(path, (120, 90), pattern=2, fmt="JPEG")
    Image.open(path).save(path, exif=piexif.dump({"GPS": GPS}))
    return path


def problem_site(root: Path) -> Path:
    """A duplicate, an oversized image, a photo with GPS, a broken and a case-mismatched reference; no manifest."""
    write_site(
        root,
        {
            "content/posts/a.md": "# A\n\n![kept](/images/big.png)\n![copy](/images/small.jpg)\n"
            "![gone](/images/gone.png)\n",
            "content/b.md": "![gps](/images/trip.jpg)\n![case](/images/Wide.png)\n",
        },
        'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
        "[gallery.check]\nmax_edge = 2000\n",
    )
    make_image(root / "static/images/big.png", (400, 300), pattern=1, fmt="PNG")
    make_image(root / "static/images/small.jpg", (200, 150), pattern=1, fmt="JPEG")
    make_image(root / "static/images/wide.png", (2400, 200), pattern=3, fmt="PNG")
    gps_photo(root / "static/images/trip.jpg")
    return root


def test_problems_are_shown_with_thumbnails_and_the_kept_copy_marked(tmp_path: Path) -> None:
    root = problem_site(tmp_path / "site")
    code, html, out = report(root)
    assert code == 0  # findings do not fail a report
    assert out.splitlines()[0] == f"wrote {os.path.relpath(root / 'gallery-report.html')}"
    for section in ("weight", "duplicates", "oversized", "gps", "references"):
        assert f'<section id="{section}">' in html
    assert "No variants yet" in html
    keep = re.search(r'<figure class="keep">.*?</figure>', html, re.DOTALL).group(0)
    duplicate = re.search(r'<figure class="duplicate">.*?</figure>', html, re.DOTALL).group(0)
    assert "static/images/big.png" in keep and "400×300 px" in keep
    assert "static/images/small.jpg" in duplicate and "200×150 px" in duplicate
    size = (root / "static/images/small.jpg").stat().st_size
    assert f"({size:,} bytes)" in duplicate
    oversized = re.search(r'<section id="oversized">.*?</section>', html, re.DOTALL).group(0)
    wide = (root / "static/images/wide.png").stat().st_size
    assert "static/images/wide.png" in oversized and "2400×200 px" in oversized and f"({wide:,} bytes)" in oversized
    assert "limit 2000 long edge" in oversized
    references = re.search(r'<section id="references">.*?</section>', html, re.DOTALL).group(0)
    assert "content/posts/a.md:5" in references and "/images/gone.png" in references
    assert "content/b.md:2" in references and "case-mismatch" in references
    gps = re.search(r'<section id="gps">.*?</section>', html, re.DOTALL).group(0)
    assert "static/images/trip.jpg" in gps and "GPS position found" in gps
    # Every thumbnail decodes, is small, and carries no metadata; no coordinate is written anywhere.
    thumbnails = [base64.b64decode(data) for data in DATA_URI.findall(html)]
    assert len(thumbnails) == 4  # big, small, wide, trip
    for data in thumbnails:
        with Image.open(io.BytesIO(data)) as thumbnail:
            assert thumbnail.format == "WEBP" and max(thumbnail.size) <= 160
            assert not thumbnail.getexif() and "exif" not in thumbnail.info
    text = DATA_URI.sub("", html)
    for digits in GPS_DIGITS:
        assert digits not in text


def test_names_and_urls_are_escaped(tmp_path: Path) -> None:
    name = "a<b&\"c'.jpg"
    root = write_site(
        tmp_path / "site",
        {
            # Entities in HTML attributes: the URLs the author means hold <, &, quotes, and a script tag.
            'content/q&a "<i>".md': '<img src="/images/a&lt;b&amp;&quot;c\'.jpg">\n'
            '<img src="/images/&lt;script&gt;alert(1)&lt;/script&gt;.png">\n',
        },
    )
    make_image(root / "static/images" / name, fmt="JPEG")
    code, html, _ = report(root)
    assert code == 0
    tags = Tags(html).found
    assert {tag for tag, _ in tags} <= ALLOWED_TAGS, {tag for tag, _ in tags} - ALLOWED_TAGS
    assert "<script>" not in html and '<i>"' not in html
    assert "static/images/a&lt;b&amp;&quot;c&#x27;.jpg" in html  # weight details and the bad-filename finding
    assert "content/q&amp;a &quot;&lt;i&gt;&quot;.md:2" in html  # the broken reference, at its line
    assert "/images/&lt;script&gt;alert(1)&lt;/script&gt;.png" in html
    images = [attrs for tag, attrs in tags if tag == "img"]
    assert all((attrs.get("src") or "").startswith("data:image/webp;base64,") for attrs in images)


def test_empty_site_and_clean_site_say_so(tmp_path: Path) -> None:
    empty = write_site(tmp_path / "empty", {})
    code, html, out = report(empty)
    assert code == 0
    assert "No page shows a local image." in html and "no problems in 0 images" in html
    assert out.splitlines()[1] == "no page shows a local image; no problems in 0 images"
    clean = write_site(tmp_path / "clean", {"content/a.md": "![a](/images/a.jpg)\n", "static/images/a.jpg": None})
    for command, folder in (("optimize", "static/images"), ("fix-refs", "content")):
        assert run(command, str(clean / folder))[0] == 0
    code, html, _ = report(clean)
    assert code == 0
    assert "no problems in 1 image" in html
    assert "<section id=" in html and set(re.findall(r'<section id="(\w+)">', html)) == {"weight"}


def test_output_path_and_unreadable_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = write_site(tmp_path / "site", {"content/a.md": "![a](/images/a.jpg)\n", "static/images/a.jpg": None})
    (root / "static/images/broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a JPEG")
    elsewhere = tmp_path / "out" / "report.html"
    monkeypatch.chdir(tmp_path)
    code, out, err = run("report", "site", "-o", str(elsewhere))
    assert code == 3  # written all the same, without the unreadable file
    assert out.splitlines()[0] == "wrote out/report.html"
    assert "static/images/broken.jpg" in err and len(err.strip().splitlines()) == 1
    assert "static/images/a.jpg" in elsewhere.read_text(encoding="utf-8")
    assert not (root / "gallery-report.html").exists()


def test_report_renders_offline_in_chromium(tmp_path: Path) -> None:
    require_chromium()
    root = problem_site(tmp_path / "site")
    report(root)
    context = shared_browser().new_context(viewport={"width": 1280, "height": 900})
    requests: list[str] = []
    errors: list[str] = []
    try:
        # Anything that is not the file itself or an embedded thumbnail would go to the network: refuse it.
        context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(("file:", "data:"))
                      else route.abort())  # fmt: skip
        page = context.new_page()
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto((root / "gallery-report.html").as_uri(), wait_until="load")
        page.wait_for_function("() => [...document.images].every(img => img.complete)")
        images = page.evaluate("() => [...document.images].map(img => [img.complete, img.naturalWidth])")
        shot = page.screenshot(full_page=True)
    finally:
        context.close()
    assert errors == []
    assert [url for url in requests if not url.startswith(("file:", "data:"))] == []
    assert len(images) == 4 and all(complete and width > 0 for complete, width in images), images
    picture = Image.open(io.BytesIO(shot)).convert("RGB")
    assert picture.height > 900  # the sections run past one screen
    assert ImageStat.Stat(picture.convert("L")).var[0] > 200
    assert len(picture.getcolors(1 << 24) or ()) > 500  # text, badges and photos, not a blank page


def check_table(root: Path) -> tuple[list[dict], list[list[str]]]:
    """`check --format json`'s findings, and the cells of `--format markdown`'s table as markdown-it reads them."""
    findings = json.loads(run("check", str(root), "--format", "json")[1])["findings"]
    code, out, _ = run("check", str(root), "--format", "markdown")
    assert code == 1
    tokens = MarkdownIt("commonmark").enable("table").parse(out)
    rows, cells, inside = [], [], False
    for token in tokens:
        if token.type == "tbody_open":
            inside = True
        elif token.type == "tr_close" and inside:
            rows.append(cells)
            cells = []
        elif token.type == "inline" and inside:
            cells.append("".join(child.content or "\n" for child in token.children))
    return findings, rows


def test_check_markdown_is_one_table_row_per_finding_with_cells_unbroken(tmp_path: Path) -> None:
    root = problem_site(tmp_path / "site")
    # Names that would end a cell, break the row or start markup if written as they are.
    for name in ("a|b.png", "line\nbreak.png", "`tick`*star*_under_.png", "<b>&amp;.png"):
        make_image(root / "static/images" / name, fmt="PNG")
    findings, rows = check_table(root)
    assert len(findings) >= 12
    where = [f"{f['page']}:{f['line']}" if f["page"] else f["file"] for f in findings]
    expected = [[f["severity"], f["rule"], at, f["message"]] for f, at in zip(findings, where, strict=True)]
    assert rows == [[cell.replace("\n", "<br>") for cell in row] for row in expected]
    _, out, _ = run("check", str(root), "--format", "markdown")
    heading = out.splitlines()[0]
    assert re.fullmatch(r"### gallery check: \d+ errors, \d+ warnings in \d+ images \(.* over budget\)", heading)


def test_check_markdown_on_a_clean_site_is_one_heading(tmp_path: Path) -> None:
    root = write_site(tmp_path / "site", {"content/a.md": "no images\n", "static/images/a.jpg": None})
    code, out, _ = run("check", str(root), "--format", "markdown")
    assert (code, out) == (0, "### gallery check: no problems in 1 image\n")
