"""`gallery check FILE...` and the pre-commit hook (.pre-commit-hooks.yaml) that passes it the staged files.

The hook tests run the real pre-commit on a real `git commit`: pre-commit fetches a snapshot of
this checkout (uncommitted changes included) and installs gallery into its own virtualenv from
the package index, once per module (13 s here; needs the index, as `pip install -e .[test]` does).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import REPO, git, git_env, make_image, require_program, run, snapshot_checkout, write_site

from gallery.config import DEFAULT_IMAGE_EXTENSIONS
from gallery.resolve import CONTENT_EXTENSIONS

CONFIG = 'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'


def make_site(root: Path, pages: dict[str, str], images: dict[str, int], config: str = CONFIG) -> Path:
    """A site whose images all differ (pattern and size), so none is a duplicate of another."""
    write_site(root, pages, config)
    for number, (name, pattern) in enumerate(images.items()):
        make_image(root / name, size=(64 + 8 * number, 48), pattern=pattern)
    return root


# `gallery check FILE...`: the whole site is scanned, only what the files answer for is reported.


def test_a_page_answers_for_its_own_references_only(tmp_path: Path) -> None:
    root = make_site(
        tmp_path / "site",
        {"content/broken.md": "# B\n\n![gone](/images/gone.jpg)\n", "content/fine.md": "![a](/images/a.jpg)\n"},
        {"static/images/a.jpg": 0},
    )
    assert run("check", str(root / "content/fine.md"))[:2] == (0, "no problems in 0 images\n")
    code, out, _ = run("check", str(root / "content/broken.md"), str(root / "content/fine.md"))
    assert code == 1
    assert out.splitlines()[0] == "content/broken.md:3: error: broken-ref: image not found: /images/gone.jpg"
    assert "fine.md" not in out


def test_an_image_answers_for_its_own_findings_not_the_pages_that_show_it(tmp_path: Path) -> None:
    config = CONFIG + "[gallery.check]\nmax_bytes = 100\n"
    root = make_site(
        tmp_path / "site", {"content/a.md": "text\n\n![a](/images/a.jpg)\n"}, {"static/images/a.jpg": 0}, config
    )
    # Editing a page that shows an oversized image is not the page's fault...
    assert run("check", str(root / "content/a.md"))[0] == 0
    # ...adding the image is, and the finding lands on the page line that shows it.
    code, out, _ = run("check", str(root / "static/images/a.jpg"))
    assert code == 1
    assert out.startswith("content/a.md:3: error: oversized: static/images/a.jpg is ")


def test_an_image_renamed_in_case_answers_for_the_pages_using_the_old_case(tmp_path: Path) -> None:
    root = make_site(tmp_path / "site", {"content/a.md": "![a](/images/Cat.jpg)\n"}, {"static/images/cat.jpg": 0})
    code, out, _ = run("check", str(root / "static/images/cat.jpg"))
    assert code == 1
    assert out.startswith("content/a.md:1: error: case-mismatch: /images/Cat.jpg differs")


def test_an_added_better_copy_answers_for_the_copy_it_is_kept_over(tmp_path: Path) -> None:
    root = write_site(tmp_path / "site", {"content/a.md": "![a](/images/small.jpg)\n"}, CONFIG)
    make_image(root / "static/images/small.jpg", size=(64, 48), pattern=1)
    make_image(root / "static/images/big.jpg", size=(128, 96), pattern=1)  # the same picture, more pixels: kept
    code, out, _ = run("check", str(root / "static/images/big.jpg"))
    assert code == 1
    assert out.startswith("content/a.md:1: error: duplicate: static/images/small.jpg is the same picture as")


def test_staged_removals_answer_for_pages_still_using_a_removed_image(tmp_path: Path) -> None:
    require_program("git")
    root = make_site(
        tmp_path / "site",
        {"content/a.md": "# A\n\n![cat](/images/cat.jpg)\n", "content/b.md": "![old](/images/never-was.jpg)\n"},
        {"static/images/cat.jpg": 0, "static/images/dog.jpg": 1},
    )
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "site")
    git(root, "mv", "static/images/cat.jpg", "static/images/kitty.jpg")
    kitty = str(root / "static/images/kitty.jpg")
    assert run("check", kitty)[0] == 0  # without the flag, the old name is unknown
    code, out, _ = run("check", "--staged-removals", kitty)
    assert code == 1
    # The page that still uses the old name, not the one broken before (no removed file of that name).
    assert out.splitlines()[:-1] == ["content/a.md:3: error: broken-ref: image not found: /images/cat.jpg"]


def test_files_outside_every_site_are_skipped_and_two_sites_are_refused(tmp_path: Path) -> None:
    make_image(tmp_path / "docs/screenshot.png")
    one = make_site(tmp_path / "one", {"content/a.md": "![x](/images/gone.jpg)\n"}, {})
    two = make_site(tmp_path / "two", {"content/b.md": "text\n"}, {})
    code, out, err = run("check", str(tmp_path / "docs/screenshot.png"), str(one / "content/a.md"))
    assert code == 1
    assert f"note: {tmp_path / 'docs/screenshot.png'}: in no Hugo site, not checked" in err
    assert out.startswith("content/a.md:1: error: broken-ref")
    assert run("check", str(tmp_path / "docs/screenshot.png"))[:2] == (0, "")
    code, _, err = run("check", str(one / "content/a.md"), str(two / "content/b.md"))
    assert code == 2 and "belong to 2 sites" in err
    code, _, err = run("check", str(one / "content"), str(one / "content/a.md"))
    assert code == 2 and "is a folder: give files, or one folder" in err


def test_hook_files_pattern_matches_every_page_and_image_gallery_reads() -> None:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert (hook["id"], hook["language"], hook["entry"]) == (
        "gallery-check",
        "python",
        "gallery check --staged-removals",
    )
    pattern = re.compile(hook["files"])
    for suffix in (*DEFAULT_IMAGE_EXTENSIONS, *CONTENT_EXTENSIONS):
        assert pattern.search(f"site/content/x{suffix}") and pattern.search(f"x{suffix.upper()}"), suffix
    for name in ("config.toml", "hugo.yaml", "layouts/_default/single.htmlx", "static/app.js", "md"):
        assert not pattern.search(name), name


# The hook, run by the real pre-commit on a real commit.


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, Path]:
    """A snapshot of this checkout as a repository pre-commit can fetch, its commit, and a PRE_COMMIT_HOME
    shared by the module's tests (pre-commit installs gallery there once)."""
    require_program("git")
    require_program("pre-commit")
    repo = tmp_path_factory.mktemp("gallery-repo")
    return repo, snapshot_checkout(repo), tmp_path_factory.mktemp("pre-commit-home")


@pytest.fixture
def hooked_site(tmp_path: Path, hook_repo: tuple[Path, str, Path], monkeypatch: pytest.MonkeyPatch) -> Path:
    """A committed site whose .pre-commit-config.yaml is the documented example, pointed at the snapshot."""
    repo, rev, home = hook_repo
    monkeypatch.setenv("PRE_COMMIT_HOME", str(home))
    root = make_site(
        tmp_path / "site",
        {"content/posts/a.md": "# A\n\n![cat](/images/cat.jpg)\n", "content/posts/b.md": "# B\n"},
        {"static/images/cat.jpg": 0, "static/images/dog.jpg": 1},
    )
    config = yaml.safe_load((REPO / "examples/pre-commit-config.yaml").read_text(encoding="utf-8"))
    config["repos"][0].update(repo=str(repo), rev=rev)
    (root / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "site")
    subprocess.run([require_program("pre-commit"), "install"], cwd=root, env=git_env(), check=True, capture_output=True)
    return root


def commit(root: Path) -> tuple[int, str]:
    """`git commit` with the hook installed: its status and everything git and the hook printed."""
    done = git(root, "commit", "-m", "change", check=False)
    return done.returncode, done.stdout + done.stderr


def test_hook_fails_a_commit_whose_page_has_a_broken_reference(hooked_site: Path) -> None:
    head = git(hooked_site, "rev-parse", "HEAD").stdout
    (hooked_site / "content/posts/b.md").write_text("# B\n\nSee:\n![dog](/images/dgo.jpg)\n", encoding="utf-8")
    git(hooked_site, "add", "content/posts/b.md")
    code, out = commit(hooked_site)
    assert code != 0
    assert "gallery check" in out and "Failed" in out
    assert "content/posts/b.md:4: error: broken-ref: image not found: /images/dgo.jpg" in out
    assert git(hooked_site, "rev-parse", "HEAD").stdout == head  # nothing committed


def test_hook_passes_a_clean_commit_whatever_is_broken_outside_it(hooked_site: Path) -> None:
    # Broken, but not part of the commit: an unstaged edit (pre-commit stashes it) and an untracked page.
    (hooked_site / "content/posts/a.md").write_text("# A\n\n![cat](/images/gone.jpg)\n", encoding="utf-8")
    (hooked_site / "content/posts/draft.md").write_text("![x](/images/nowhere.jpg)\n", encoding="utf-8")
    make_image(hooked_site / "static/images/owl.jpg", size=(96, 48), pattern=2)
    (hooked_site / "content/posts/b.md").write_text("# B\n\n![owl](/images/owl.jpg)\n", encoding="utf-8")
    git(hooked_site, "add", "content/posts/b.md", "static/images/owl.jpg")
    code, out = commit(hooked_site)
    assert code == 0, out
    assert re.search(r"gallery check\.+Passed", out)
    assert "gone.jpg" not in out and "nowhere.jpg" not in out
    # The unstaged edit is back in the working tree, uncommitted.
    assert "gone.jpg" in (hooked_site / "content/posts/a.md").read_text(encoding="utf-8")
    assert git(hooked_site, "status", "--porcelain").stdout.splitlines() == [
        " M content/posts/a.md",
        "?? content/posts/draft.md",
    ]


def test_hook_fails_a_commit_renaming_an_image_its_pages_still_use(hooked_site: Path) -> None:
    git(hooked_site, "mv", "static/images/cat.jpg", "static/images/kitten.jpg")
    code, out = commit(hooked_site)
    assert code != 0
    assert "content/posts/a.md:3: error: broken-ref: image not found: /images/cat.jpg" in out
    (hooked_site / "content/posts/a.md").write_text("# A\n\n![cat](/images/kitten.jpg)\n", encoding="utf-8")
    git(hooked_site, "add", "content/posts/a.md")
    code, out = commit(hooked_site)
    assert code == 0, out
