"""`gallery fix-refs` merges duplicate images: every reference points at the copy kept, then the duplicate goes."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path, PurePosixPath

import pytest
from conftest import make_image, run, write_site

import gallery.fixrefs
from gallery.apply import apply_plan, plan_from_json, plan_to_json
from gallery.config import Config
from gallery.fs import ORIGINALS, read_site_bytes
from gallery.journal import site_lock
from gallery.model import DuplicateGroup, Edit, Merge, Plan
from gallery.optimize import page_edits
from gallery.plan import scan_site
from gallery.site import read_site

CONFIG = 'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
KEEP, DUPLICATE = "static/images/a.jpg", "static/images/b.jpg"


def scan(root: Path) -> list[dict]:
    code, out, err = run("scan", str(root), "--format", "json")
    assert code == 0, err
    return json.loads(out)["refs"]


def files_used(root: Path) -> dict[tuple[str, int], tuple[str, str | None]]:
    """(page, n-th reference of the page) -> (status, file), from `gallery scan --format json`."""
    found: dict[tuple[str, int], tuple[str, str | None]] = {}
    for ref in scan(root):
        n = sum(page == ref["page"] for page, _ in found)
        found[(ref["page"], n)] = (ref["status"], ref["file"])
    return found


def copy(root: Path, source: str, *targets: str) -> None:
    """Byte-identical copies of `source`."""
    for target in targets:
        (root / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / source, root / target)


def site(
    tmp_path: Path, pages: dict[str, str], copies: dict[str, tuple[str, ...]], config: str = CONFIG, pattern: int = 0
) -> Path:
    """A site with `pages` and, for each image named in `copies`, a picture of its own and its byte-identical copies."""
    root = write_site(tmp_path / "site", pages, config)
    for n, (image, duplicates) in enumerate(copies.items()):
        make_image(root / image, pattern=pattern + n, fmt="PNG" if image.endswith(".png") else "JPEG")
        copy(root, image, *duplicates)
    return root


def fix_refs(root: Path, *flags: str, folder: str = "content") -> str:
    code, out, err = run("fix-refs", str(root / folder), *flags)
    assert code == 0, (out, err)
    return out


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    """Bytes and mtime of every file of the site but gallery's own state."""
    return {
        path.relative_to(root).as_posix(): (path.read_bytes(), path.stat().st_mtime_ns)
        for path in root.rglob("*")
        if path.is_file() and ".gallery" not in path.relative_to(root).parts
    }


# Ten uses of the copy to keep, on a page of its own: the most used copy is the one kept.
KEEP_PAGE = "![k](/images/a.jpg)\n" * 10


def test_every_kind_of_reference_points_at_the_kept_copy_and_the_duplicate_goes(tmp_path: Path) -> None:
    page = (
        "---\ntitle: Trip\nimage: /images/b.jpg\n---\n"
        'Text ![md](/images/b.jpg "title") and ![query](/images/b.jpg?w=2#top).\n'
        "![ref][b]\n\n[b]: /images/b.jpg\n\n"
        '<img src="/images/b.jpg" alt="raw">\n'
        '<img srcset="/images/b.jpg 480w, /images/c.jpg 960w" src="/images/c.jpg" alt="set">\n\n'
        '[link](/images/b.jpg) and <a href="/images/b.jpg">html link</a>\n\n'
        '{{< figure src="/images/b.jpg" alt="fig" >}}\n'
        "Prose naming b.jpg stays as it is.\n"
    )
    root = site(
        tmp_path,
        {"content/posts/trip.md": page, "content/keep.md": KEEP_PAGE},
        {KEEP: (DUPLICATE,), "static/images/c.jpg": ()},
    )
    kept = (root / KEEP).read_bytes()
    kinds = {ref["kind"] for ref in scan(root) if ref["file"] == DUPLICATE}
    assert kinds == {"markdown", "reference", "html", "srcset", "link", "shortcode", "frontmatter"}
    before = files_used(root)
    assert {status for status, _ in before.values()} == {"ok"}
    out = fix_refs(root)
    assert "merge static/images/b.jpg -> static/images/a.jpg (identical)" in out
    assert out.splitlines()[-1].endswith("rewrote 1 page, merged 1 duplicate image")
    assert (root / "content/posts/trip.md").read_text() == page.replace("/images/b.jpg", "/images/a.jpg")
    assert "naming b.jpg stays" in page
    assert (root / "content/keep.md").read_text() == KEEP_PAGE
    assert not (root / DUPLICATE).exists()
    assert (root / KEEP).read_bytes() == kept
    used = files_used(root)
    assert used.keys() == before.keys()
    assert {key: file for key, (_, file) in used.items()} == {
        key: KEEP if file == DUPLICATE else file for key, (_, file) in before.items()
    }
    assert {status for status, _ in used.values()} == {"ok"}


def test_relative_urls_in_a_bundle_and_a_nested_section_stay_relative(tmp_path: Path) -> None:
    pages = {
        "content/posts/trip/index.md": "![a](pics/copy.jpg) ![b](./pics/copy.jpg#x) ![c](photo.jpg) ![d](photo.jpg)\n"
        "![e](photo.jpg)\n",
        "content/docs/guide/deep/page.md": "![f](../../../../images/b.jpg?v=1) ![g](../../../../images/b.jpg)\n",
        "content/keep.md": KEEP_PAGE,
    }
    root = site(
        tmp_path,
        pages,
        {"content/posts/trip/photo.jpg": ("content/posts/trip/pics/copy.jpg",), KEEP: (DUPLICATE,)},
    )
    fix_refs(root)
    assert (root / "content/posts/trip/index.md").read_text() == (
        "![a](photo.jpg) ![b](./photo.jpg#x) ![c](photo.jpg) ![d](photo.jpg)\n![e](photo.jpg)\n"
    )
    assert (root / "content/docs/guide/deep/page.md").read_text() == (
        "![f](../../../../images/a.jpg?v=1) ![g](../../../../images/a.jpg)\n"
    )
    assert not (root / "content/posts/trip/pics").exists()  # emptied, so removed
    assert not (root / DUPLICATE).exists()
    assert {status for status, _ in files_used(root).values()} == {"ok"}


def test_urls_under_a_baseurl_path_and_absolute_urls_keep_their_form(tmp_path: Path) -> None:
    page = (
        "![a](/docs/images/sub/b.jpg)\n"
        "![b](https://example.org/docs/images/sub/b.jpg?v=1)\n"
        '<img src="//example.org/docs/images/sub/b.jpg">\n'
        "![c](../images/sub/b.jpg)\n"
    )
    root = site(
        tmp_path,
        {"content/page.md": page, "content/keep.md": KEEP_PAGE.replace("/images", "/docs/images")},
        {KEEP: ("static/images/sub/b.jpg",)},
        'baseURL = "https://example.org/docs/"\n[markup.goldmark.renderer]\nunsafe = true\n',
    )
    assert {status for status, _ in files_used(root).values()} == {"ok"}
    fix_refs(root)
    assert (root / "content/page.md").read_text() == (
        "![a](/docs/images/a.jpg)\n"
        "![b](https://example.org/docs/images/a.jpg?v=1)\n"
        '<img src="//example.org/docs/images/a.jpg">\n'
        "![c](../images/a.jpg)\n"
    )
    assert not (root / "static/images/sub").exists()
    assert set(files_used(root).values()) == {("ok", KEEP)}


def test_an_unreferenced_duplicate_is_removed_and_pages_are_left_alone(tmp_path: Path) -> None:
    root = site(tmp_path, {"content/keep.md": KEEP_PAGE}, {KEEP: ("static/old/copies/unused.jpg",)})
    out = fix_refs(root)
    assert "merge static/old/copies/unused.jpg -> static/images/a.jpg (identical)" in out
    assert out.splitlines()[-1].endswith("rewrote 0 pages, merged 1 duplicate image")
    assert not (root / "static/old").exists()  # the folders it leaves empty go too
    assert (root / "content/keep.md").read_text() == KEEP_PAGE


def test_a_duplicate_named_in_a_layout_stays_and_is_reported(tmp_path: Path) -> None:
    pages = {
        "content/page.md": "![b](/images/b.jpg)\n",
        "content/keep.md": KEEP_PAGE,
        "layouts/partials/hero.html": '<img src="{{ "images/b.jpg" | relURL }}">\n',
    }
    root = site(tmp_path, pages, {KEEP: (DUPLICATE,)})
    before = snapshot(root)
    out = fix_refs(root)
    assert (
        "static/images/b.jpg: duplicate: not merged into static/images/a.jpg: its name appears in a layout,"
        " data, config or CSS file, which gallery does not rewrite" in out
    )
    assert snapshot(root) == before


def test_a_duplicate_used_outside_the_folder_stays_and_is_reported(tmp_path: Path) -> None:
    pages = {
        "content/posts/a.md": "![b](/images/b.jpg)\n",
        "content/notes/n.md": "text\n\n![b](/images/b.jpg)\n",
        "content/keep.md": KEEP_PAGE,
    }
    root = site(tmp_path, pages, {KEEP: (DUPLICATE,)})
    before = snapshot(root)
    out = fix_refs(root, folder="content/posts")
    assert (
        "static/images/b.jpg: duplicate: not merged into static/images/a.jpg:"
        " content/notes/n.md:3 uses it, outside content/posts" in out
    )
    assert snapshot(root) == before
    fix_refs(root)  # the whole content folder: now it can go
    assert not (root / DUPLICATE).exists()
    assert (root / "content/notes/n.md").read_text() == "text\n\n![b](/images/a.jpg)\n"


def test_a_page_using_the_duplicates_name_where_gallery_reads_no_reference_keeps_it(tmp_path: Path) -> None:
    pages = {"content/page.md": '{{< gallery-photo file="/images/b.jpg" >}}\n', "content/keep.md": KEEP_PAGE}
    root = site(tmp_path, pages, {KEEP: (DUPLICATE,)})
    out = fix_refs(root)
    assert "not merged into static/images/a.jpg: content/page.md uses 'b.jpg' where gallery reads no reference" in out
    assert (root / DUPLICATE).exists()


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_a_copy_reached_through_a_symbolic_link_is_never_removed(tmp_path: Path) -> None:
    root = site(tmp_path, {"content/keep.md": KEEP_PAGE + "![m](/mirror/a.jpg)\n"}, {KEEP: ()})
    os.symlink("images", root / "static/mirror")  # static/mirror/a.jpg is static/images/a.jpg
    out = fix_refs(root)
    assert "it is the same file as another copy, reached through a symbolic link" in out
    assert (root / KEEP).exists() and (root / "static/mirror/a.jpg").exists()
    assert {status for status, _ in files_used(root).values()} == {"ok"}


@pytest.mark.parametrize(
    ("flags", "config"),
    [(("--no-merge",), CONFIG), ((), CONFIG + '[gallery]\nmerge_duplicates = "off"\n')],
    ids=["--no-merge", "merge_duplicates-off"],
)
def test_merging_can_be_turned_off(tmp_path: Path, flags: tuple[str, ...], config: str) -> None:
    pages = {"content/page.md": "![b](/images/b.jpg) ![gone](/images/c.png)\n", "content/keep.md": KEEP_PAGE}
    root = site(tmp_path, pages, {KEEP: (DUPLICATE,), "static/images/c.png.png": ()}, config)
    out = fix_refs(root, *flags)
    assert "merge " not in out
    assert (root / "content/page.md").read_text() == "![b](/images/b.jpg) ![gone](/images/c.png.png)\n"
    assert (root / DUPLICATE).exists()


@pytest.mark.parametrize("value", ['"sometimes"', '"Identical"', "true", '["identical"]'])
def test_merge_duplicates_must_be_off_identical_or_similar(tmp_path: Path, value: str) -> None:
    root = site(
        tmp_path,
        {"content/keep.md": KEEP_PAGE},
        {KEEP: (DUPLICATE,)},
        f"{CONFIG}[gallery]\nmerge_duplicates = {value}\n",
    )
    code, _, err = run("fix-refs", str(root / "content"))
    assert code == 2
    assert 'merge_duplicates must be one of "off", "identical", "similar", got' in err
    assert (root / DUPLICATE).exists()


def test_merge_similar_and_no_merge_contradict_each_other(tmp_path: Path) -> None:
    root = site(tmp_path, {"content/keep.md": KEEP_PAGE}, {KEEP: (DUPLICATE,)})
    code, _, err = run("fix-refs", str(root / "content"), "--merge-similar", "--no-merge")
    assert code == 2 and "contradict" in err


def test_a_second_run_changes_nothing(tmp_path: Path) -> None:
    pages = {"content/posts/p.md": "![b](/images/b.jpg) ![c](../../images/c.jpg)\n", "content/keep.md": KEEP_PAGE}
    root = site(tmp_path, pages, {KEEP: (DUPLICATE, "static/images/c.jpg")})
    fix_refs(root)
    assert (root / "content/posts/p.md").read_text() == "![b](/images/a.jpg) ![c](../../images/a.jpg)\n"
    after = snapshot(root)
    out = fix_refs(root)
    assert out.splitlines()[-1].endswith("rewrote 0 pages") and "merge " not in out
    assert snapshot(root) == after


def test_a_dry_run_lists_merges_and_diffs_and_writes_nothing(tmp_path: Path) -> None:
    pages = {"content/p.md": "# P\n\n![b](/images/b.jpg)\n", "content/keep.md": KEEP_PAGE}
    root = site(tmp_path, pages, {KEEP: (DUPLICATE,)})
    before = snapshot(root)
    out = fix_refs(root, "--dry-run")
    assert out.splitlines() == [
        "merge static/images/b.jpg -> static/images/a.jpg (identical)",
        "content/p.md:3: /images/b.jpg -> /images/a.jpg",
        "--- a/content/p.md",
        "+++ b/content/p.md",
        "@@ -1,3 +1,3 @@",
        " # P",
        " ",
        "-![b](/images/b.jpg)",
        "+![b](/images/a.jpg)",
    ]
    assert snapshot(root) == before
    assert not (root / ".gallery").exists()


def test_a_fix_and_a_merge_in_one_page_make_one_edit_and_a_fix_never_points_at_a_duplicate(tmp_path: Path) -> None:
    page = "![case](/images/B.JPG) ![doubled](/images/x.png) ![b](/images/b.jpg) ![other](/images/Y.PNG)\n"
    root = site(
        tmp_path,
        {"content/p.md": page, "content/keep.md": KEEP_PAGE + "![k](/images/y.png)\n" * 2},
        # x.png.png, the one file `/images/x.png` can mean, is a copy of y.png
        {KEEP: (DUPLICATE,), "static/images/y.png": ("static/images/x.png.png",)},
    )
    site_, table = read_site(root)
    config = Config.from_table(table)
    plan = gallery.fixrefs.plan_fix_refs(site_, config, PurePosixPath("content"), scan_site(site_, config))
    assert [(str(p.page), len(p.edits)) for p in plan.pages] == [("content/p.md", 4)]
    assert {(str(m.duplicate), str(m.keep)) for m in plan.merges} == {
        (DUPLICATE, KEEP),
        ("static/images/x.png.png", "static/images/y.png"),
    }
    fix_refs(root)
    assert (root / "content/p.md").read_text() == (
        "![case](/images/a.jpg) ![doubled](/images/y.png) ![b](/images/a.jpg) ![other](/images/y.png)\n"
    )
    assert {status for status, _ in files_used(root).values()} == {"ok"}


def test_a_new_url_that_would_not_lead_to_the_kept_copy_is_reported_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = 'baseURL = "https://example.org/"\nstaticDir = ["static", "static2"]\n'
    root = site(tmp_path, {"content/p.md": "![a](/images/a.jpg)\n"}, {KEEP: ("static2/images/a.jpg",)}, config)
    # static2 is copied last, so its a.jpg is the one published at /images/a.jpg: no URL leads to the other.
    shadowed = DuplicateGroup(PurePosixPath(KEEP), (PurePosixPath("static2/images/a.jpg"),), "identical", 0)
    monkeypatch.setattr(gallery.fixrefs, "site_duplicates", lambda *args, **kwargs: (shadowed,))
    before = snapshot(root)
    out = fix_refs(root)
    assert (
        "static2/images/a.jpg: duplicate: not merged into static/images/a.jpg: content/p.md:1: the URL"
        " '/images/a.jpg' would lead to static2/images/a.jpg, not to static/images/a.jpg" in out
    )
    assert snapshot(root) == before


# --- perceptual duplicates: detection is not here yet, so the groups are given -------------------


def similar_png_copies(site_, config, scan_result, similar: bool = True, failed=None) -> tuple[DuplicateGroup, ...]:
    """Stands in for detection: a PNG is the same picture as the JPEG of the same stem (other bytes)."""
    if not similar:
        return ()
    paths = {image.path for image in scan_result.images}
    return tuple(
        DuplicateGroup(path.with_suffix(".jpg"), (path,), "perceptual", 0)
        for path in sorted(paths)
        if path.suffix == ".png" and path.with_suffix(".jpg") in paths
    )


def picture_as_png(root: Path, jpeg: str, png: str) -> None:
    from PIL import Image

    with Image.open(root / jpeg) as image:
        image.save(root / png, "PNG")


def test_merge_similar_moves_perceptual_duplicates_to_the_originals_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(gallery.fixrefs, "site_duplicates", similar_png_copies)
    root = site(tmp_path, {"content/p.md": '![b](/images/a.png)\n<img src="/images/a.png">\n'}, {KEEP: ()})
    picture_as_png(root, KEEP, "static/images/a.png")
    similar = (root / "static/images/a.png").read_bytes()
    out = fix_refs(root)  # identical only, by default
    assert "merge " not in out and (root / "static/images/a.png").exists()
    out = fix_refs(root, "--merge-similar")
    assert "merge static/images/a.png -> static/images/a.jpg (perceptual)" in out
    assert (root / "content/p.md").read_text() == '![b](/images/a.jpg)\n<img src="/images/a.jpg">\n'
    assert not (root / "static/images/a.png").exists()
    assert (root / ORIGINALS / "static/images/a.png").read_bytes() == similar
    assert set(files_used(root).values()) == {("ok", KEEP)}


def test_identical_copies_of_a_perceptual_duplicate_go_straight_to_the_picture_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pages = {"content/p.md": "![1](/images/a.png) ![2](/images/copy.png) ![3](/images/a.jpg)\n"}
    root = site(tmp_path, pages, {KEEP: ()})
    picture_as_png(root, KEEP, "static/images/a.png")
    copy(root, "static/images/a.png", "static/images/copy.png")
    png = (root / "static/images/a.png").read_bytes()
    groups = (  # what detection would find: copy.png is a.png, and a.png looks like a.jpg
        DuplicateGroup(
            PurePosixPath("static/images/a.png"), (PurePosixPath("static/images/copy.png"),), "identical", 0
        ),
        DuplicateGroup(PurePosixPath(KEEP), (PurePosixPath("static/images/a.png"),), "perceptual", 1),
    )
    monkeypatch.setattr(gallery.fixrefs, "site_duplicates", lambda *args, **kwargs: groups)
    out = fix_refs(root, "--merge-similar")
    assert "merge static/images/a.png -> static/images/a.jpg (perceptual)" in out
    assert "merge static/images/copy.png -> static/images/a.jpg (perceptual)" in out
    assert (root / "content/p.md").read_text() == "![1](/images/a.jpg) ![2](/images/a.jpg) ![3](/images/a.jpg)\n"
    assert sorted(p.name for p in (root / "static/images").iterdir()) == ["a.jpg"]
    assert (root / ORIGINALS / "static/images/copy.png").read_bytes() == png


# --- apply: what a merge does when the site changed since it was planned -----------------------


def planned(root: Path, merge: Merge, edits: dict[str, list[tuple[bytes, bytes]]]) -> Plan:
    """A plan by hand: the merge, and page edits replacing the first occurrence of each old text."""
    read = lambda path: read_site_bytes(root, path)  # noqa: E731
    by_page = {}
    for page, changes in edits.items():
        data = read(PurePosixPath(page))
        by_page[PurePosixPath(page)] = [
            Edit(data.index(old), data.index(old) + len(old), old, new, needs=merge.keep) for old, new in changes
        ]
    return Plan(pages=page_edits(read, by_page), merges=(merge,))


def apply(root: Path, plan: Plan):
    with site_lock(root):
        return apply_plan(root, plan, "fix-refs")


def test_apply_keeps_a_perceptual_duplicates_bytes_in_the_originals_store(tmp_path: Path) -> None:
    root = site(tmp_path, {"content/p.md": "![b](/images/b.png)\n"}, {KEEP: ()})
    picture_as_png(root, KEEP, "static/images/b.png")
    data = (root / "static/images/b.png").read_bytes()
    merge = Merge(PurePosixPath("static/images/b.png"), PurePosixPath(KEEP), identical=False)
    report = apply(root, planned(root, merge, {"content/p.md": [(b"/images/b.png", b"/images/a.jpg")]}))
    assert (report.failures, report.merged, report.pages_written) == ((), 1, 1)
    assert not (root / "static/images/b.png").exists()
    assert (root / ORIGINALS / "static/images/b.png").read_bytes() == data
    assert (root / "content/p.md").read_text() == "![b](/images/a.jpg)\n"


def test_apply_keeps_an_identical_duplicate_whose_bytes_changed(tmp_path: Path) -> None:
    root = site(tmp_path, {"content/p.md": "![b](/images/b.jpg)\n"}, {KEEP: (DUPLICATE,)})
    plan = planned(root, Merge(PurePosixPath(DUPLICATE), PurePosixPath(KEEP), True), {})
    make_image(root / DUPLICATE, pattern=2)  # edited meanwhile
    edited = (root / DUPLICATE).read_bytes()
    report = apply(root, plan)
    assert report.failures == ("static/images/b.jpg: kept, since its bytes no longer equal static/images/a.jpg's",)
    assert (root / DUPLICATE).read_bytes() == edited


def test_apply_keeps_pages_and_duplicate_when_the_kept_copy_is_gone(tmp_path: Path) -> None:
    root = site(tmp_path, {"content/p.md": "![b](/images/b.jpg)\n"}, {KEEP: (DUPLICATE,)})
    merge = Merge(PurePosixPath(DUPLICATE), PurePosixPath(KEEP), True)
    plan = planned(root, merge, {"content/p.md": [(b"/images/b.jpg", b"/images/a.jpg")]})
    (root / KEEP).unlink()  # removed meanwhile
    report = apply(root, plan)
    assert report.failures[-1] == "static/images/b.jpg: kept, since static/images/a.jpg is gone"
    assert (root / "content/p.md").read_text() == "![b](/images/b.jpg)\n"
    assert set(files_used(root).values()) == {("ok", DUPLICATE)}


def test_apply_keeps_a_duplicate_a_page_still_uses(tmp_path: Path) -> None:
    root = site(tmp_path, {"content/p.md": "![b](/images/b.jpg)\n"}, {KEEP: (DUPLICATE,)})
    merge = Merge(PurePosixPath(DUPLICATE), PurePosixPath(KEEP), True)
    plan = planned(root, merge, {"content/p.md": [(b"/images/b.jpg", b"/images/a.jpg")]})
    (root / "content/p.md").write_text("New line.\n![b](/images/b.jpg)\n")  # edited meanwhile
    report = apply(root, plan)
    assert report.failures == (
        "content/p.md: not updated: changed since it was read; run the command again",
        "static/images/b.jpg: kept, since a page that uses it was not pointed at static/images/a.jpg",
    )
    assert set(files_used(root).values()) == {("ok", DUPLICATE)}


def test_journals_carry_merges_and_journals_without_merges_still_read(tmp_path: Path) -> None:
    merge = Merge(PurePosixPath("static/b.png"), PurePosixPath("static/a.jpg"), identical=False)
    document = plan_to_json(Plan(merges=(merge,)), ())
    assert plan_from_json(json.loads(json.dumps(document)))[0].merges == (merge,)
    del document["merges"]  # as gallery wrote journals before merges
    assert plan_from_json(document)[0] == Plan()
