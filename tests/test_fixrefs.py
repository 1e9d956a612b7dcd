"""`gallery fix-refs`: certain fixes for broken references, written in the author's form; the rest reported."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import make_image, run, write_site

CONFIG = 'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'


def statuses(root: Path) -> dict[tuple[str, str], str]:
    """(page, URL as written) -> status, from `gallery scan --format json`."""
    code, out, err = run("scan", str(root), "--format", "json")
    assert code == 0, err
    return {(ref["page"], ref["url"]): ref["status"] for ref in json.loads(out)["refs"]}


def site(tmp_path: Path, pages: dict[str, str], images: list[str], config: str = CONFIG) -> Path:
    root = write_site(tmp_path / "site", pages, config)
    for n, name in enumerate(images):
        make_image(root / name, pattern=n, fmt="PNG" if name.lower().endswith(".png") else "JPEG")
    return root


def fix(root: Path) -> tuple[int, str]:
    code, out, err = run("fix-refs", str(root / "content"))
    assert code == 0, err
    return code, out


def test_case_mismatch_gets_the_file_spelling_in_the_form_written(tmp_path: Path) -> None:
    page = (
        "![a](/images/photo.jpg?w=2)\n"
        "![b](../../images/photo.jpg#top)\n"
        "![c](/IMAGES/event%203/a.jpg)\n"
        '<img src="https://example.org/images/photo.jpg">\n'
        "![e](<../../images/event 3/a.jpg>)\n"
    )
    root = site(tmp_path, {"content/posts/p.md": page}, ["static/images/Photo.JPG", "static/images/Event 3/A.JPG"])
    assert set(statuses(root).values()) == {"case-mismatch"}
    fix(root)
    assert (root / "content/posts/p.md").read_text() == (
        "![a](/images/Photo.JPG?w=2)\n"
        "![b](../../images/Photo.JPG#top)\n"
        "![c](/images/Event%203/A.JPG)\n"
        '<img src="https://example.org/images/Photo.JPG">\n'
        "![e](<../../images/Event%203/A.JPG>)\n"
    )
    assert set(statuses(root).values()) == {"ok"}


def test_case_mismatch_under_a_baseurl_path_keeps_the_path(tmp_path: Path) -> None:
    root = site(
        tmp_path,
        {"content/p.md": "![a](/docs/images/photo.jpg)\n"},
        ["static/images/Photo.JPG"],
        'baseURL = "https://example.org/docs/"\n',
    )
    assert set(statuses(root).values()) == {"case-mismatch"}
    fix(root)
    assert (root / "content/p.md").read_text() == "![a](/docs/images/Photo.JPG)\n"
    assert set(statuses(root).values()) == {"ok"}


def test_missing_files_with_one_candidate_are_fixed(tmp_path: Path) -> None:
    page = (
        "![doubled extension](/images/x.png)\n"
        "![doubled folder](/a/b//a/b/y.png)\n"
        "![elsewhere](/images/old/z.png)\n"
        "![relative](../../images/x.png)\n"
        "![relative elsewhere](../../img/z.png?v=1)\n"
    )
    root = site(
        tmp_path, {"content/posts/p.md": page}, ["static/images/x.png.png", "static/a/b/y.png", "static/pics/z.png"]
    )
    assert set(statuses(root).values()) == {"missing"}
    fix(root)
    assert (root / "content/posts/p.md").read_text() == (
        "![doubled extension](/images/x.png.png)\n"
        "![doubled folder](/a/b/y.png)\n"
        "![elsewhere](/pics/z.png)\n"
        "![relative](../../images/x.png.png)\n"
        "![relative elsewhere](../../pics/z.png?v=1)\n"
    )
    assert set(statuses(root).values()) == {"ok"}


def test_missing_ref_to_a_file_optimize_renamed_finds_its_clean_name(tmp_path: Path) -> None:
    page = "![a](/images/IMG_1.JPG)\n![b](</images/Photo Booth.png>)\n![c](/images/Two_X.JPG)\n"
    root = site(
        tmp_path,
        {"content/p.md": page},
        ["static/pics/img-1.jpg", "static/pics/photo-booth.jpg", "static/a/two-x.jpg", "static/b/two-x.jpg"],
    )
    _, out = fix(root)
    assert (root / "content/p.md").read_text() == (
        "![a](/pics/img-1.jpg)\n![b](</pics/photo-booth.jpg>)\n![c](/images/Two_X.JPG)\n"
    )
    assert "content/p.md:3: broken-ref: image not found: /images/Two_X.JPG; not fixed: 2 files could be meant" in out


def test_absolute_urls_keep_their_scheme_host_and_baseurl_path(tmp_path: Path) -> None:
    page = "![a](//example.org/docs/images/x.png)\n![b](https://Example.org/docs/images/x.png?a#b)\n"
    root = site(
        tmp_path, {"content/p.md": page}, ["static/images/x.png.png"], 'baseURL = "https://example.org/docs/"\n'
    )
    assert set(statuses(root).values()) == {"missing"}
    fix(root)
    assert (root / "content/p.md").read_text() == (
        "![a](//example.org/docs/images/x.png.png)\n![b](https://Example.org/docs/images/x.png.png?a#b)\n"
    )
    assert set(statuses(root).values()) == {"ok"}


def test_page_bundle_resource_refs_stay_relative(tmp_path: Path) -> None:
    pages = {"content/posts/trip/index.md": "![a](Photo.JPG)\n![b](./pics/map.png)\n![c](pics/map.png)\n"}
    root = site(tmp_path, pages, ["content/posts/trip/photo.jpg", "content/posts/trip/pics/map.png.png"])
    assert set(statuses(root).values()) == {"case-mismatch", "missing"}
    fix(root)
    assert (root / "content/posts/trip/index.md").read_text() == (
        "![a](photo.jpg)\n![b](./pics/map.png.png)\n![c](pics/map.png.png)\n"
    )
    assert set(statuses(root).values()) == {"ok"}


def test_ambiguous_or_hopeless_refs_are_reported_not_guessed(tmp_path: Path) -> None:
    page = "![two](/images/z.png)\n![none](/images/nothing.png)\n"
    root = site(tmp_path, {"content/p.md": page}, ["static/a/z.png", "static/b/z.png"])
    _, out = fix(root)
    assert (root / "content/p.md").read_text() == page
    assert "content/p.md:1: broken-ref: image not found: /images/z.png" in out
    assert "not fixed: 2 files could be meant" in out
    assert "content/p.md:2: broken-ref: image not found: /images/nothing.png; not fixed: no single file matches" in out
    assert out.splitlines()[-1] == "renamed 0 images, stripped metadata from 0 (0.0 KB saved), rewrote 0 pages"


def test_only_pages_under_the_folder_are_fixed(tmp_path: Path) -> None:
    pages = {"content/a/p.md": "![a](/images/photo.jpg)\n", "content/b/p.md": "![b](/images/photo.jpg)\n"}
    root = site(tmp_path, pages, ["static/images/Photo.JPG"])
    assert run("fix-refs", str(root / "content/a"))[0] == 0
    assert (root / "content/a/p.md").read_text() == "![a](/images/Photo.JPG)\n"
    assert (root / "content/b/p.md").read_text() == "![b](/images/photo.jpg)\n"


def test_check_passes_after_optimize_and_fix_refs(tmp_path: Path) -> None:
    page = (
        "---\nimage: /images/Cover%20Photo.jpg\n---\n"
        "![case](/images/screen%20shot.PNG)\n"
        "![doubled](/images/Diagram.png)\n"
        "![elsewhere](/images/IMG_1.JPG)\n"
    )
    root = site(
        tmp_path,
        {"content/p.md": page},
        [
            "static/images/Cover Photo.jpg",
            "static/images/Screen Shot.PNG",
            "static/images/Diagram.png.png",
            "static/pics/IMG_1.JPG",
        ],
    )
    assert run("check", str(root))[0] == 1
    assert run("optimize", str(root / "static"))[0] == 0
    fix(root)
    code, out, _ = run("check", str(root))
    assert (code, out.strip()) == (0, "no problems in 4 images")
    assert set(statuses(root).values()) == {"ok"}


def test_a_page_that_is_a_symbolic_link_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    # content/a.md -> ../shared/a.md, both inside the site: the shared file gets the fix, the link stays.
    root = site(tmp_path, {"shared/a.md": "![a](/images/photo.jpg)\n"}, ["static/images/Photo.JPG"])
    (root / "content").mkdir()
    (root / "content/a.md").symlink_to("../shared/a.md")
    assert statuses(root) == {("content/a.md", "/images/photo.jpg"): "case-mismatch"}
    fix(root)
    assert (root / "content/a.md").is_symlink() and (root / "content/a.md").readlink() == Path("../shared/a.md")
    assert (root / "shared/a.md").read_text() == "![a](/images/Photo.JPG)\n"
    assert statuses(root) == {("content/a.md", "/images/Photo.JPG"): "ok"}
