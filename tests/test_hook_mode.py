"""`gallery fix-refs --mode hook`: the pages keep their Markdown, and a real Hugo build writes the same
<picture> markup that rewrite mode writes into them, from gallery's render hook and its data file."""

from __future__ import annotations

import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from conftest import LAYOUTS, make_image, run, write_site
from test_hugo_e2e import build, published_images

from gallery.hook import MARK, TEMPLATE

HOOK = Path("layouts/_default/_markup/render-image.html")
DATA = Path("data/gallery_hook.json")
UNSAFE = "[markup.goldmark.renderer]\nunsafe = true\n"
SITES = {  # baseURL, and the Hugo config's other lines
    "subpath": ("https://example.org/docs/", UNSAFE),
    "root": ("https://example.org/", UNSAFE),
    "languages": ("https://example.org/", "[languages.en]\nweight = 1\n[languages.vi]\nweight = 2\n" + UNSAFE),
}
PLAIN = """---
title: Plain
---

Root-relative: ![Hall & co](/{base}images/hall.jpg "The hall")

Relative: ![up](../../images/hall.jpg)

Reference: ![logo][l] and a vector, which has no variants: ![icon](/{base}images/icon.svg)

[l]: /{base}images/logo.png

On another site: ![remote](https://example.com/photo.jpg)
"""
BUNDLE = """---
title: Trip
gallery_sizes: "(min-width: 600px) 50vw, 100vw"
---

A resource: ![river](river.jpg), and one in a folder whose name needs encoding: ![map](my%20maps/map.png).
"""


def make_site(root: Path, kind: str) -> Path:
    """A site whose images are shown by Markdown only, each way the template resolves a destination."""
    base_url, extra = SITES[kind]
    base = urlsplit(base_url).path.lstrip("/")
    files: dict[str, str | bytes | None] = dict(LAYOUTS)
    files.update(
        {
            "content/posts/plain.md": PLAIN.format(base=base),
            "content/posts/trip/index.md": BUNDLE,
            "static/images/icon.svg": '<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>',
        }
    )
    if kind == "languages":  # Hugo's embedded hook is on: a resource is shared by both languages' pages
        files["content/posts/trip/index.vi.md"] = BUNDLE.replace("Trip", "Chuyến đi")
    write_site(root, files, f'baseURL = "{base_url}"\n{extra}')
    images = {
        "static/images/hall.jpg": (1200, 900),
        "static/images/logo.png": (700, 500),
        "content/posts/trip/river.jpg": (1000, 700),
        "content/posts/trip/my maps/map.png": (600, 400),
    }
    for pattern, (name, size) in enumerate(images.items()):
        make_image(root / name, size, pattern=pattern, fmt="PNG" if name.endswith(".png") else "JPEG")
    return root


def optimized(root: Path) -> Path:
    for folder in ("static/images", "content"):
        code, out, err = run("optimize", str(root / folder), "--jobs", "1")
        assert code == 0, out + err
    return root


def pages(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / "content").rglob("*.md"))}


def snapshot(root: Path) -> dict[str, tuple[bytes | None, int]]:
    """Every file's bytes and mtime, every folder's mtime."""
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


class _Tokens(HTMLParser):
    """A page's body as tokens, with white space between tags, `data-gallery` and attribute order gone,
    and every URL resolved against the page to the decoded path it loads."""

    def __init__(self, page_url: str) -> None:
        super().__init__()
        self.page_url = page_url
        self.tokens: list[tuple[str, ...]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        kept = []
        for name, value in attrs:
            if name == "data-gallery":
                continue
            if name == "src":
                value = self._url(value or "")
            elif name == "srcset":
                candidates = [c.strip().rsplit(" ", 1) for c in (value or "").split(",")]
                value = ", ".join(f"{self._url(url)} {width}" for url, width in candidates)
            kept.append(f"{name}={value}")
        self.tokens.append(("<", tag, *sorted(kept)))

    def handle_endtag(self, tag: str) -> None:
        self.tokens.append(("/", tag))

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.tokens.append(("text", " ".join(data.split())))

    def _url(self, url: str) -> str:
        target = urlsplit(urljoin(self.page_url, url))
        return f"{target.netloc}{unquote(target.path)}"


def rendered(root: Path, public: Path, base_url: str) -> dict[str, list[tuple[str, ...]]]:
    """Each post's page as tokens."""
    build(root, public)
    found = {}
    for html_file in sorted(public.rglob("*.html")):
        relative = html_file.relative_to(public).as_posix()
        if "posts/" not in relative:
            continue
        tokens = _Tokens(urljoin(base_url, relative.removesuffix("index.html")))
        tokens.feed(html_file.read_text(encoding="utf-8"))
        found[relative] = tokens.tokens
    return found


PICTURE = re.compile(r"<picture>.*?</picture>", re.DOTALL)


@pytest.mark.parametrize("kind", list(SITES))
def test_hugo_writes_the_rewriters_picture_markup_from_untouched_markdown(tmp_path: Path, kind: str) -> None:
    hooked = optimized(make_site(tmp_path / "hook", kind))
    rewritten = tmp_path / "rewrite"
    shutil.copytree(hooked, rewritten, symlinks=True)
    markdown = pages(hooked)

    code, out, err = run("fix-refs", str(hooked / "content"), "--mode", "hook")
    assert code == 0, out + err
    assert pages(hooked) == markdown  # not a byte of the Markdown changed
    assert (hooked / HOOK).read_bytes() == TEMPLATE
    assert f"wrote {HOOK}" in out and f"wrote {DATA}" in out
    code, out, err = run("fix-refs", str(rewritten / "content"))
    assert code == 0, out + err
    assert pages(rewritten) != markdown and not (rewritten / HOOK).exists()

    base_url = SITES[kind][0]
    html = rendered(hooked, tmp_path / "public-hook", base_url)
    assert html == rendered(rewritten, tmp_path / "public-rewrite", base_url)

    public = tmp_path / "public-hook"
    base_path = urlsplit(base_url).path
    for page, paths in published_images(public, base_url).items():
        for path in paths:
            published = path.startswith(base_path) and (public / path[len(base_path) :]).is_file()
            assert published, f"{page} loads {path}, which is not published"
    shown = {"plain": 3, "trip": 2}  # Markdown images with variants on each page
    for html_file in public.rglob("*.html"):
        text = html_file.read_text(encoding="utf-8")
        pictures = PICTURE.findall(text)
        for picture in pictures:
            assert 'type="image/avif"' in picture and 'type="image/webp"' in picture, picture
        name = html_file.parent.name
        if name not in shown:
            continue
        assert len(pictures) == shown[name], (html_file, text)
        # What is left outside a <picture>: the vector and the remote image, as Hugo renders them without the hook.
        others = re.findall(r"<img [^>]*>", PICTURE.sub("", text))
        assert len(others) == (2 if name == "plain" else 0), others
    trip = next(public.rglob("trip/index.html")).read_text(encoding="utf-8")
    assert trip.count('sizes="(min-width: 600px) 50vw, 100vw"') == 6  # the page's gallery_sizes, on all 2 x 3


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    root = optimized(make_site(tmp_path / "site", "subpath"))
    assert run("fix-refs", str(root / "content"), "--mode", "hook")[0] == 0
    before = snapshot(root)
    for command in (("fix-refs", "--mode", "hook"), ("fix-refs",)):  # the installed hook keeps the mode
        code, out, err = run(*command[:1], str(root / "content"), *command[1:])
        assert (code, err.splitlines()[-1]) == (0, "nothing changed"), out + err
        assert snapshot(root) == before


def test_an_authors_own_render_hook_is_never_overwritten(tmp_path: Path) -> None:
    root = optimized(make_site(tmp_path / "site", "subpath"))
    assert run("fix-refs", str(root / "content"))[0] == 0  # rewrite mode: <picture> markup in the pages
    theirs = b'<img src="{{ .Destination | safeURL }}" class="mine">'
    (root / HOOK).parent.mkdir(parents=True)
    (root / HOOK).write_bytes(theirs)
    markup = pages(root)

    code, out, err = run("fix-refs", str(root / "content"), "--mode", "hook")
    assert code == 1, out + err
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert str(HOOK) in line and "not overwritten" in line
    assert (root / HOOK).read_bytes() == theirs
    assert not (root / DATA).exists()
    assert pages(root) == markup  # the pages keep their <picture>: nothing would write it otherwise

    (root / HOOK).write_bytes(MARK + b" an older gallery's template */ -}}\n<img>")
    code, out, err = run("fix-refs", str(root / "content"), "--mode", "hook")
    assert code == 0, out + err
    assert (root / HOOK).read_bytes() == TEMPLATE  # gallery's own, from another version: written again


def test_hook_mode_puts_rewrite_modes_markup_back_and_rewrite_mode_leaves_hook_mode(tmp_path: Path) -> None:
    root = optimized(make_site(tmp_path / "site", "subpath"))
    markdown = pages(root)
    assert run("fix-refs", str(root / "content"))[0] == 0
    rewritten = pages(root)
    assert rewritten != markdown

    code, out, err = run("fix-refs", str(root / "content"), "--mode", "hook")
    assert code == 0, out + err
    assert pages(root) == markdown
    assert (root / HOOK).is_file() and (root / DATA).is_file()

    code, out, err = run("fix-refs", str(root / "content"), "--mode", "rewrite")
    assert code == 0, out + err
    assert pages(root) == rewritten
    assert not (root / HOOK).exists() and not (root / DATA).exists()
    assert f"removed {HOOK}" in out


def test_the_hook_data_lists_each_image_with_variants_by_its_published_url(tmp_path: Path) -> None:
    root = optimized(make_site(tmp_path / "site", "subpath"))
    assert run("fix-refs", str(root / "content"), "--mode", "hook")[0] == 0
    data = json.loads((root / DATA).read_text(encoding="utf-8"))
    assert sorted(data["images"]) == [
        "/images/hall.jpg",
        "/images/logo.png",
        "/posts/trip/my maps/map.png",
        "/posts/trip/river.jpg",
    ]
    manifest = json.loads((root / "data/gallery.json").read_text(encoding="utf-8"))["images"]
    river = data["images"]["/posts/trip/river.jpg"]
    variants = manifest["content/posts/trip/river.jpg"]["variants"]
    assert [s["type"] for s in river["sources"]] == ["image/avif", "image/webp"]
    assert river["srcset"] == [f"{v['url']} {v['width']}w" for v in variants if v["format"] == "jpeg"]
    assert (river["width"], river["height"]) == (1000, 700)
    assert data["images"]["/posts/trip/my maps/map.png"]["src"].startswith("/_gallery/posts/trip/my%20maps/map.")
    assert (data["sizes"], data["resources"]) == ("(min-width: 840px) 800px, 100vw", False)


def test_duplicates_listed_in_the_hook_data_are_still_merged(tmp_path: Path) -> None:
    root = optimized(make_site(tmp_path / "site", "subpath"))
    shutil.copy(root / "static/images/hall.jpg", root / "static/images/hall-copy.jpg")
    page = root / "content/posts/copy.md"
    page.write_text("---\ntitle: Copy\n---\n\n![copy](/docs/images/hall-copy.jpg)\n", encoding="utf-8")
    assert run("optimize", str(root / "static/images"), "--jobs", "1")[0] == 0
    assert run("fix-refs", str(root / "content"), "--mode", "hook", "--no-merge")[0] == 0
    assert "hall-copy.jpg" in (root / DATA).read_text(encoding="utf-8")

    code, out, err = run("fix-refs", str(root / "content"), "--mode", "hook")
    assert code == 0, out + err
    assert not (root / "static/images/hall-copy.jpg").exists()
    assert page.read_text(encoding="utf-8").endswith("![copy](/docs/images/hall.jpg)\n")
    assert "hall-copy.jpg" not in (root / DATA).read_text(encoding="utf-8")


def _unoptimized(root: Path) -> list[str]:
    """Where `gallery check` reports the rule `unoptimized`."""
    findings = json.loads(run("check", str(root), "--format", "json")[1])["findings"]
    return sorted(f"{f['page'] or f['file']}:{f['line']}" for f in findings if f["rule"] == "unoptimized")


def test_check_leaves_markdown_images_to_the_hook_and_names_what_it_cannot_cover(tmp_path: Path) -> None:
    root = optimized(make_site(tmp_path / "site", "subpath"))
    (root / "content/posts/raw.md").write_text(
        '---\ntitle: Raw\n---\n\n<img src="/docs/images/logo.png" alt="logo">\n\n'
        '{{< figure src="/docs/images/hall.jpg" >}}\n',
        encoding="utf-8",
    )
    before = _unoptimized(root)
    assert "content/posts/plain.md:5" in before and "content/posts/trip/index.md:6" in before  # rewrite mode's

    code, out, err = run("fix-refs", str(root / "content"), "--mode", "hook")
    assert code == 0, out + err
    assert "2 images shown by raw <img> tags or shortcodes keep their markup" in err
    assert _unoptimized(root) == ["content/posts/raw.md:5", "content/posts/raw.md:7"]

    data = json.loads((root / DATA).read_text(encoding="utf-8"))
    del data["images"]["/images/hall.jpg"]
    (root / DATA).write_text(json.dumps(data), encoding="utf-8")
    assert _unoptimized(root) == ["content/posts/raw.md:5", "content/posts/raw.md:7", f"{DATA}:None"]


def test_a_file_that_cannot_be_written_is_one_line_and_exit_3(tmp_path: Path) -> None:
    root = optimized(make_site(tmp_path / "site", "subpath"))
    (root / DATA).mkdir(parents=True)  # in the way of the data file, even for root
    code, out, err = run("fix-refs", str(root / "content"), "--mode", "hook")
    assert code == 3, out + err
    assert [line for line in err.splitlines() if line.startswith("failed:")] == [
        f"failed: {DATA}: not written: Is a directory"
    ]
    assert (root / HOOK).read_bytes() == TEMPLATE  # the other file is written all the same
