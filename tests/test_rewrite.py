"""The rewriter through the real CLI on small sites with real variants: updates after a new optimize,
renames inside gallery's markup, lost variants, Hugo's unsafe setting, dry runs and check's rule."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path, PurePosixPath

import pytest
from conftest import make_image, run, write_site
from hypothesis import HealthCheck, given, settings
from test_apply import (
    Crash,
    crash_at,
    page_bytes,
    pixel_digests,
    statuses,
    temporaries,
)
from test_markdown_oracle import documents

from gallery.config import Config
from gallery.edit import apply_edits
from gallery.journal import journal_path
from gallery.manifest import SourceEntry, VariantEntry
from gallery.model import ImageRef, PageContext, RawRef, Status
from gallery.rewrite import revert_page, rewrite_page
from gallery.site import site_from_config

PAGE = "# Trip\n\n![Harbour](/images/harbour.jpg) and ![Map](../../images/Map.PNG)\n"
SAFE_CONFIG = 'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
UNSAFE_OFF = 'baseURL = "https://example.org/"\ntitle = "t"  # a comment kept\n'


def make_site(root: Path, config: str = SAFE_CONFIG) -> Path:
    write_site(root, {"content/posts/trip.md": PAGE}, config)
    make_image(root / "static/images/harbour.jpg", (1200, 800))
    make_image(root / "static/images/Map.PNG", (700, 500), pattern=2, fmt="PNG")
    return root


def variant_urls(page: str) -> list[str]:
    return re.findall(r"(?:srcset|src)=\"([^\"]*)\"", page)


def published(root: Path, url: str, page_url: str = "/posts/trip/") -> Path:
    path = url.split()[0]
    if not path.startswith("/"):
        path = str(Path(page_url) / path)
    return root / "static" / Path(path).resolve().relative_to("/")


def assert_every_variant_exists(root: Path, text: str) -> None:
    for value in variant_urls(text):
        for candidate in value.split(", "):
            assert published(root, candidate).is_file(), candidate


def test_optimize_rename_edits_the_original_inside_the_markup_and_the_next_fix_refs_updates_it(
    tmp_path: Path,
) -> None:
    root = make_site(tmp_path / "site")
    assert run("optimize", str(root / "static/images"))[0] == 0  # Map.PNG -> map.png, page edited
    assert run("fix-refs", str(root / "content"))[0] == 0
    page = root / "content/posts/trip.md"
    first = page.read_text()
    assert first.count("<picture data-gallery=") == 2
    assert 'data-gallery="![Map](../../images/map.png)"' in first  # relative stays relative
    assert "../../_gallery/images/map." in first
    assert_every_variant_exists(root, first)

    # A rename by optimize edits the URL kept in data-gallery; the old variants stay until fix-refs.
    (root / "static/images/harbour.jpg").rename(root / "static/images/Harbour Photo.jpg")
    page.write_text(first.replace("/images/harbour.jpg)", "/images/Harbour%20Photo.jpg)"))
    assert run("optimize", str(root / "static/images"))[0] == 0
    between = page.read_text()
    assert 'data-gallery="![Harbour](/images/harbour-photo.jpg)"' in between
    assert_every_variant_exists(root, between)  # the page still shows the old variants
    code, out, _ = run("check", str(root))
    assert "is out of date" in out and "broken-ref" not in out, out
    assert run("fix-refs", str(root / "content"))[0] == 0
    updated = page.read_text()
    assert "/_gallery/images/harbour-photo." in updated and "/_gallery/images/harbour." not in updated
    assert_every_variant_exists(root, updated)
    assert run("check", str(root)) == (0, "no problems in 2 images\n", "")


def test_new_widths_update_the_markup_in_place_and_revert_gives_the_page_back(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    assert run("optimize", str(root / "static/images"))[0] == 0
    assert run("fix-refs", str(root / "content"))[0] == 0
    page = root / "content/posts/trip.md"
    before = page.read_text()
    assert " 960w" in before
    config = root / "config.toml"
    config.write_text(config.read_text() + "[gallery.variants]\nwidths = [400, 800]\n")
    assert run("optimize", str(root / "static/images"))[0] == 0
    code, out, _ = run("fix-refs", str(root / "content"))
    assert code == 0
    after = page.read_text()
    assert " 800w" in after and " 960w" not in after
    assert_every_variant_exists(root, after)
    assert after.count("data-gallery") == 2
    assert run("fix-refs", str(root / "content"), "--revert")[0] == 0
    assert page.read_text() == "# Trip\n\n![Harbour](/images/harbour.jpg) and ![Map](../../images/map.png)\n"


def test_an_image_whose_variants_are_gone_gets_its_original_markup_back(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    assert run("optimize", str(root / "static/images"))[0] == 0
    assert run("fix-refs", str(root / "content"))[0] == 0
    manifest = json.loads((root / "data/gallery.json").read_text())
    for variant in manifest["images"]["static/images/harbour.jpg"]["variants"]:
        (root / variant["path"]).unlink()
    code, out, err = run("fix-refs", str(root / "content"))
    assert code == 0, err
    text = (root / "content/posts/trip.md").read_text()
    assert "![Harbour](/images/harbour.jpg)" in text and text.count("<picture") == 1
    assert_every_variant_exists(root, text)


def test_without_unsafe_html_fix_refs_refuses_to_write_pictures_and_names_the_setting(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", UNSAFE_OFF)
    assert run("optimize", str(root / "static/images"))[0] == 0
    page = root / "content/posts/trip.md"
    before = page.read_text()
    code, out, err = run("fix-refs", str(root / "content"))
    assert code == 1
    assert "markup.goldmark.renderer.unsafe = true" in err and "--enable-unsafe-html" in err
    assert page.read_text() == before

    code, out, err = run("fix-refs", str(root / "content"), "--enable-unsafe-html")
    assert code == 0, err
    assert "set markup.goldmark.renderer.unsafe = true in config.toml" in out
    assert "# a comment kept" in (root / "config.toml").read_text()
    assert page.read_text().count("<picture") == 2
    assert run("check", str(root)) == (0, "no problems in 2 images\n", "")


def test_check_reports_pictures_hugo_would_drop(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    assert run("optimize", str(root / "static/images"))[0] == 0
    assert run("fix-refs", str(root / "content"))[0] == 0
    (root / "config.toml").write_text(UNSAFE_OFF)
    code, out, _ = run("check", str(root))
    assert code == 1
    found = [line for line in out.splitlines() if "not-rendered" in line]
    assert len(found) == 2 and all("--enable-unsafe-html" in line for line in found), out


def test_dry_run_prints_a_diff_and_writes_nothing(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    assert run("optimize", str(root / "static/images"))[0] == 0
    page = root / "content/posts/trip.md"
    before = page.read_bytes()
    code, out, _ = run("fix-refs", str(root / "content"), "--dry-run")
    assert code == 0
    assert "--- a/content/posts/trip.md" in out and "+++ b/content/posts/trip.md" in out
    assert "-![Harbour](/images/harbour.jpg) and ![Map](../../images/map.png)" in out.splitlines()
    assert any(line.startswith("+") and "<picture data-gallery=" in line for line in out.splitlines())
    assert page.read_bytes() == before


def test_check_unoptimized_names_pages_not_rewritten_and_is_quiet_before_the_first_optimize(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    code, out, _ = run("check", str(root), "--severity", "bad-filename=off")
    assert "unoptimized" not in out  # no manifest: the site does not use variants (yet)
    assert run("optimize", str(root / "static/images"))[0] == 0
    code, out, _ = run("check", str(root))
    lines = [line for line in out.splitlines() if "unoptimized" in line]
    assert lines == [
        "content/posts/trip.md:3: warning: unoptimized: the <picture> markup for static/images/harbour.jpg"
        " is not written yet: `gallery fix-refs` writes it",
        "content/posts/trip.md:3: warning: unoptimized: the <picture> markup for static/images/map.png"
        " is not written yet: `gallery fix-refs` writes it",
    ]
    code, out, _ = run("check", str(root), "--severity", "unoptimized=error")
    assert code == 1


def fix_refs(root: Path) -> None:
    code, out, err = run("fix-refs", str(root / "content"))
    assert code == 0, out + err


def test_a_crash_at_any_write_step_of_fix_refs_keeps_every_reference_and_the_next_run_completes_it(
    fast_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_site(fast_dir / "site")
    (root / "content/posts/more.md").write_text("![Again](/images/harbour.jpg)\n\n<img src='/images/copy.jpg'>\n")
    shutil.copy(root / "static/images/harbour.jpg", root / "static/images/copy.jpg")  # merged into harbour.jpg
    (root / "content/posts/broken.md").write_text("![Case](/images/HARBOUR.jpg)\n")  # fixed, then rewritten
    assert run("optimize", str(root / "static/images"))[0] == 0
    pages, pictures = page_bytes(root), pixel_digests(root)
    done = shutil.copytree(root, fast_dir / "done")
    fix_refs(done)
    final = page_bytes(done)
    with monkeypatch.context() as m:
        steps = crash_at(m, -1, torn=False)
        fix_refs(shutil.copytree(root, fast_dir / "count"))
    assert steps == ["write_atomic"] * 3 + ["fsync_folder"]  # the three pages, then the merged copy's removal
    for when in range(len(steps)):
        for torn in (False, True) if steps[when] == "write_atomic" else (False,):
            crashed = shutil.copytree(root, fast_dir / f"crash-{when}-{torn}")
            with monkeypatch.context() as m:
                crash_at(m, when, torn)
                with pytest.raises(Crash):
                    fix_refs(crashed)
            # Every reference resolves as well as before (the case-mismatched one may be fixed already).
            assert set(statuses(crashed).items()) - {(("content/posts/broken.md", 0), "case-mismatch")} <= {
                (key, "ok") for key in statuses(crashed)
            }
            assert all(data in (pages[page], final[page]) for page, data in page_bytes(crashed).items())
            assert pictures <= pixel_digests(crashed)
            fix_refs(crashed)
            assert page_bytes(crashed) == final
            assert temporaries(crashed) == [] and not journal_path(crashed).exists()
            assert not (crashed / "static/images/copy.jpg").exists()
            shutil.rmtree(crashed)


# --- properties on generated Markdown ---------------------------------------------------------
CONFIG = Config()
SITE = site_from_config(Path("/site"), {"baseURL": "https://example.org/"})
PAGE_CONTEXT = PageContext(PurePosixPath("content/posts/p.md"), "/posts/p/", "en")
ENTRY = SourceEntry(
    "0" * 64, 1, 1, 960, 720, "JPEG", "jpeg", False, "", "k",
    tuple(
        VariantEntry(w, w * 3 // 4, fmt, 1, f"static/_gallery/a.{w}.{ext}", f"/_gallery/a.{w}.{ext}")
        for w in (480, 960)
        for fmt, ext in (("avif", "avif"), ("webp", "webp"), ("jpeg", "jpg"))
    ),
)  # fmt: skip


def rewritten(data: bytes) -> bytes:
    """The page with every image element written as a <picture>, every URL taken for one image with variants."""

    def resolve(raw: RawRef) -> ImageRef:
        return ImageRef(PAGE_CONTEXT.path, raw, Status.OK, PurePosixPath("static/images/a.jpg"))

    return apply_edits(data, rewrite_page(data, PAGE_CONTEXT, SITE, CONFIG, resolve, lambda _: ENTRY).edits)


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_generated_markdown_is_rewritten_idempotently_and_reverted_byte_for_byte(text: str) -> None:
    data = text.encode("utf-8", "surrogateescape")
    once = rewritten(data)
    assert rewritten(once) == once
    assert apply_edits(once, revert_page(once, PAGE_CONTEXT, CONFIG)) == data


def test_scan_tells_the_original_kept_in_a_picture_from_its_variant_urls(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site")
    assert run("optimize", str(root / "static/images"))[0] == 0
    assert run("fix-refs", str(root / "content"))[0] == 0
    code, out, _ = run("scan", str(root), "--format", "json")
    refs = json.loads(out)["refs"]
    originals = [ref["url"] for ref in refs if ref["picture"] == "original"]
    assert originals == ["/images/harbour.jpg", "../../images/map.png"]
    assert {ref["status"] for ref in refs} == {"ok"} and json.loads(out)["orphans"] == []
    assert all("/_gallery/" in ref["url"] for ref in refs if ref["picture"] == "variant")
    code, out, _ = run("scan", str(root))
    assert out.startswith(
        f"{len(refs)} references ({len(refs) - 2} of them variant URLs in gallery's <picture> markup)"
    )
