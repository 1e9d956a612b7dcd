"""Real Hugo builds agree with the scanner: what it calls ok is published, what it calls broken is not."""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import pytest
from click.testing import CliRunner

from gallery.cli import cli
from gallery.config import Config
from gallery.model import RefKind, ScanResult, Status
from gallery.plan import scan_site
from gallery.fs import PublishedFile, iter_published_images
from gallery.site import Site, read_site

from conftest import LAYOUTS, REPO, require_program, write_site

SHOWN = {RefKind.MARKDOWN, RefKind.REFERENCE, RefKind.HTML, RefKind.SRCSET, RefKind.SHORTCODE}


class _ImageURLs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "img" and values.get("src"):
            self.urls.append(values["src"] or "")
        if tag in ("img", "source") and values.get("srcset"):
            self.urls += [c.strip().split()[0] for c in (values["srcset"] or "").split(",") if c.strip()]


def build(root: Path, destination: Path) -> None:
    hugo = require_program("hugo")
    subprocess.run(
        [hugo, "--source", str(root), "--destination", str(destination), "--noBuildLock", "--quiet"],
        check=True,
        capture_output=True,
    )


def published_images(public: Path, base_url: str) -> dict[str, set[str]]:
    """Page URL path (site-relative) -> decoded URL paths on the host of the images it loads."""
    base = urlsplit(base_url)
    pages: dict[str, set[str]] = {}
    for html_file in public.rglob("*.html"):
        relative = html_file.relative_to(public).as_posix()
        page = "/" + (relative[: -len("index.html")] if relative.endswith("index.html") else relative)
        parser = _ImageURLs()
        parser.feed(html_file.read_text(encoding="utf-8"))
        page_absolute = f"{base.scheme}://{base.netloc}{base.path.rstrip('/')}{page}"
        for url in parser.urls:
            target = urlsplit(urljoin(page_absolute, url))
            if target.netloc == base.netloc:
                pages.setdefault(page, set()).add(unquote(target.path))
    return pages


def assert_scan_matches_hugo(site: Site, result: ScanResult, public: Path) -> int:
    """Every shown reference is loaded by its page; ok ones exist in the output, broken ones do not."""
    emitted = published_images(public, site.base_url)
    prefix = site.base_path.rstrip("/")
    page_urls = {page.path: page.url for page in result.pages}
    file_urls = {
        f.path: f.url_path
        for f in iter_published_images(site, Config().image_extensions)
        if isinstance(f, PublishedFile)
    }

    def served(path: str) -> bool:
        return path.startswith(site.base_path) and (public / path[len(site.base_path) :]).is_file()

    checked = set()
    for ref in result.refs:
        if ref.ref.kind not in SHOWN or ref.status not in (Status.OK, Status.MISSING, Status.CASE_MISMATCH, Status.OUTSIDE_SITE):
            continue
        if ref.ref.original:
            continue  # kept in the data-gallery of gallery's <picture>: resolves, but the page loads its variants
        page_url = page_urls[ref.page]
        if ref.status == Status.OK:
            # Hugo's render hooks may rewrite the URL: the page loads the file where it is published.
            path = prefix + (file_urls[ref.file] or "")
        else:
            path = unquote(urlsplit(urljoin(f"https://h{prefix}{page_url}", ref.ref.url)).path)
        assert path in emitted.get(page_url, set()), f"{ref.page}: {ref.ref.url} is not loaded by {page_url}"
        assert served(path) == (ref.status == Status.OK), f"{ref.page}:{ref.ref.line}: {ref.ref.url} is {ref.status}"
        checked.add((page_url, path))
    front_matter = {
        (page_urls[ref.page], prefix + (file_urls[ref.file] or ""))
        for ref in result.refs
        if ref.ref.kind == RefKind.FRONTMATTER and ref.file is not None
    }
    everything = {(page, path) for page, paths in emitted.items() for path in paths}
    assert everything <= checked | front_matter, "the build loads images the scan missed"
    return len(checked)


DEMO = ("config.toml", "content", "static", "layouts")
MAIN_JOB = (("optimize", "static/images"), ("optimize", "content"), ("fix-refs", "content"))  # as README.md says
PICTURE = re.compile(r"<picture\b.*?</picture>", re.DOTALL)
ARTICLE = re.compile(r"<article>.*?</article>", re.DOTALL)


def assert_pictures_are_published(public: Path, base_url: str) -> int:
    """Every image URL of every page (<img> src and srcset, <source> srcset) is a published file, each
    <img> of a page's content sits in a <picture> with AVIF and WebP sources, and Hugo omitted no raw HTML.
    Returns how many pictures the pages hold."""
    base_path = urlsplit(base_url).path
    for page, paths in published_images(public, base_url).items():
        for path in paths:
            assert (public / path[len(base_path) :]).is_file(), f"{page} loads {path}, which is not published"
    count = 0
    for html_file in public.rglob("*.html"):
        html = html_file.read_text(encoding="utf-8")
        assert "raw HTML omitted" not in html, html_file
        for picture in PICTURE.findall(html):
            assert 'type="image/avif"' in picture and 'type="image/webp"' in picture, picture
        content = "".join(ARTICLE.findall(html))  # the demo's layouts show a front matter cover outside it
        assert "<img" not in PICTURE.sub("", content), f"{html_file} has an <img> outside a <picture>"
        count += len(PICTURE.findall(html))
    return count


def copy_demo(root: Path) -> Path:
    """The demo site as committed (README's first command runs optimize on the working tree)."""
    root.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "HEAD", *DEMO], capture_output=True)
    if archive.returncode == 0:
        subprocess.run(["tar", "-x", "-C", str(root)], input=archive.stdout, check=True)
        return root
    for name in DEMO:  # not a git checkout: the files as they are
        source = REPO / name
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, root / name)  # type: ignore[operator]
    return root


def test_demo_site_build_agrees_with_scan(tmp_path: Path) -> None:
    root = copy_demo(tmp_path / "demo")
    build(root, tmp_path / "public")
    site, table = read_site(root)
    result = scan_site(site, Config.from_table(table))
    checked = assert_scan_matches_hugo(site, result, tmp_path / "public")
    statuses = sorted(ref.status.value for ref in result.refs if ref.status != Status.OK)
    assert statuses == ["case-mismatch", "missing"]
    assert checked >= 15


BUNDLE_PAGE = """---
title: "{title}"
---

Bundle image: ![river](river.jpg) and nested ![map](maps/Map%201.png).
Wrong case: <img src="River.jpg">. Static: ![logo](/images/logo.png) and <img src="/images/logo.png" srcset="/images/logo.png 1x, /images/wide.png 2x">.

{{{{< figure src="/images/wide.png" >}}}}
"""


@pytest.mark.parametrize("ugly", [False, True], ids=["pretty-urls", "ugly-urls"])
def test_multilingual_bundles_and_subpath_agree_with_hugo(tmp_path: Path, ugly: bool) -> None:
    config = (
        'baseURL = "https://example.org/docs/"\ndefaultContentLanguage = "en"\n'
        f"uglyURLs = {str(ugly).lower()}\n"
        '[languages.en]\nweight = 1\n[languages.vi]\nweight = 2\n'
        "[markup.goldmark.renderer]\nunsafe = true\n"
    )
    files: dict[str, str | bytes | None] = dict(LAYOUTS)
    files.update(
        {
            "content/Guide/Trip/index.md": BUNDLE_PAGE.format(title="Trip"),
            "content/Guide/Trip/index.vi.md": BUNDLE_PAGE.format(title="Chuyến đi"),
            "content/Guide/Trip/river.jpg": None,
            "content/Guide/Trip/maps/Map 1.png": None,
            "content/Guide/_index.md": "---\ntitle: Guide\n---\n![up](../images/logo.png) ![rel](Trip/river.jpg)\n",
            "content/Guide/Plain Page.md": "---\ntitle: Plain\n---\n![a](../../images/logo.png) ![b](/docs/images/wide.png)\n",
            "static/images/logo.png": None,
            "static/images/wide.png": None,
        }
    )
    root = write_site(tmp_path / "site", files, config)
    build(root, tmp_path / "public")
    site, table = read_site(root)
    result = scan_site(site, Config.from_table(table))
    assert assert_scan_matches_hugo(site, result, tmp_path / "public") >= 8
    assert {ref.status for ref in result.refs} >= {Status.OK, Status.CASE_MISMATCH}


def test_demo_check_fails_then_optimize_and_fix_refs_make_it_pass_and_every_image_loads(tmp_path: Path) -> None:
    root = copy_demo(tmp_path / "demo")
    before = CliRunner().invoke(cli, ["check", str(root)], catch_exceptions=False)
    assert before.exit_code == 1
    rules = {line.split(": ")[2] for line in before.stdout.splitlines() if ": error: " in line}
    assert rules == {"broken-ref", "case-mismatch", "duplicate", "gps", "oversized"}, before.stdout
    for command in MAIN_JOB:
        result = CliRunner().invoke(cli, [command[0], str(root / command[1])], catch_exceptions=False)
        assert result.exit_code == 0, result.output
    after = CliRunner().invoke(cli, ["check", str(root)], catch_exceptions=False)
    assert (after.exit_code, after.stdout.splitlines()[-1]) == (0, "no problems in 16 images"), after.stdout
    build(root, tmp_path / "public")
    site, table = read_site(root)
    result = scan_site(site, Config.from_table(table))
    assert assert_scan_matches_hugo(site, result, tmp_path / "public") >= 15
    assert [(ref.ref.url, ref.status) for ref in result.refs if ref.status != Status.OK] == []
    pictures = assert_pictures_are_published(tmp_path / "public", site.base_url)
    shown = [ref for ref in result.refs if ref.ref.kind in SHOWN - {RefKind.SRCSET} and not ref.ref.generated]
    assert pictures == len(shown) == 18  # every image shown is a <picture> now
    names = [path.name for path in (root / "static/images").rglob("*") if path.is_file()]
    assert all(re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z]+", name) for name in names), names
