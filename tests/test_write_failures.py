"""No original lost, no file half-written: a write that fails (disk full, permission denied) leaves
the old file as it was and no temporary file; the run names the file in one line, goes on with the
others, and exits 3. Each command runs in a process of its own, under a real limit: RLIMIT_FSIZE
(writes past it fail with EFBIG), a tiny tmpfs (ENOSPC) where one can be mounted, or file modes
that deny a non-root user (`nobody` when the tests run as root).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pwd
import re
import resource
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import piexif
import pytest
from conftest import REPO, make_image, write_site
from PIL import Image

from gallery.metadata import read_metadata

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="POSIX limits, modes and users")

MANIFEST = "data/gallery.json"
LIMIT = 300_000  # bytes per file: every file of the sites below fits, but for the noise photo and what holds it
CONFIG = (
    'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
    "[gallery.variants]\nwidths = [320, 1000]\n"  # the noise photo's 1000 px fallback is over LIMIT
)
GPS = piexif.dump({"GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((1, 1), (2, 1), (3, 1))}})
PAGE = """# Photos

![one](/images/IMG%201.JPG) ![two](/images/Photo%202.png)

![three](/images/locked/IMG%203.JPG)

![big](/images/big/Big%20Photo.JPG)
"""
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}


def with_gps(path: Path) -> Path:
    buffer = io.BytesIO()
    with Image.open(path) as image:
        image.save(buffer, "JPEG", quality=95, exif=GPS)
    path.write_bytes(buffer.getvalue())
    return path


def noise_photo(path: Path, gps: bool = True) -> Path:
    """A 1000x750 JPEG of random pixels: about 880 KB (over LIMIT), its 1000 px variants over it too."""
    pixels = np.random.default_rng(7).integers(0, 256, (750, 1000, 3), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG", quality=95, **({"exif": GPS} if gps else {}))
    return path


def build(root: Path, config: str = CONFIG) -> Path:
    """Renames and GPS to strip everywhere; one folder (`locked/`) and one photo (`big/`) to deny."""
    write_site(root, {"content/posts/a.md": PAGE, "content/b.md": "![one again](/images/IMG%201.JPG)\n"}, config)
    with_gps(make_image(root / "static/images/IMG 1.JPG", pattern=1, fmt="JPEG"))
    make_image(root / "static/images/Photo 2.png", pattern=2, fmt="PNG")
    with_gps(make_image(root / "static/images/locked/IMG 3.JPG", pattern=3, fmt="JPEG"))
    noise_photo(root / "static/images/big/Big Photo.JPG")
    return root


# --- running gallery under a limit ----------------------------------------------------------------


def limited(fsize: int) -> Callable[[], None]:
    """preexec_fn: files may grow to `fsize` bytes; a write past it fails with EFBIG instead of SIGXFSZ killing us."""

    def setup() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))

    return setup


# Runs gallery as another user. Python and its packages may live where that user cannot read
# (/root/.pyenv): imports, and only imports, are done with the saved root uid; every file of
# the site is opened as the user.
AS_USER = """
import importlib.machinery, os, sys

class AsRoot:
    def __enter__(self):
        self.euid = os.geteuid()
        os.seteuid(0)
    def __exit__(self, *exc):
        os.seteuid(self.euid)

class Loader:
    def __init__(self, loader):
        self.loader = loader
    def __getattr__(self, name):
        return getattr(self.loader, name)
    def create_module(self, spec):
        with AsRoot():
            return self.loader.create_module(spec)
    def exec_module(self, module):
        with AsRoot():
            return self.loader.exec_module(module)

class Finder:
    @staticmethod
    def find_spec(name, path=None, target=None):
        with AsRoot():
            spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and spec.loader is not None:
            spec.loader = Loader(spec.loader)
        return spec

uid, gid = int(sys.argv[1]), int(sys.argv[2])
sys.meta_path.insert(sys.meta_path.index(importlib.machinery.PathFinder), Finder)
os.setgroups([])
os.setresgid(gid, gid, gid)
os.setresuid(uid, uid, 0)
assert os.geteuid() == uid and os.getegid() == gid
from gallery.cli import cli
cli(sys.argv[3:], prog_name="gallery")
"""


def gallery(root: Path, *args: str, fsize: int | None = None, as_user: bool = False) -> tuple[int, str, str]:
    """`gallery ARGS` in a process of its own, in the site's folder."""
    command = [sys.executable, "-m", "gallery", *args]
    if as_user and os.geteuid() == 0:
        user = nobody()
        command = [sys.executable, "-c", AS_USER, str(user.pw_uid), str(user.pw_gid), *args]
    done = subprocess.run(
        command,
        cwd=root,
        env=ENV,
        capture_output=True,
        text=True,
        preexec_fn=limited(fsize) if fsize is not None else None,  # the test process runs no threads
        timeout=300,
    )
    return done.returncode, done.stdout, done.stderr


def nobody() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("the tests run as root and there is no user `nobody` to deny writes to (root may write anything)")


@pytest.fixture
def user_dir(tmp_path: Path) -> Iterator[Path]:
    """A folder the user gallery runs as (below) can reach: tmp_path itself when we are not root."""
    if os.geteuid() != 0:
        yield tmp_path
        with contextlib.suppress(OSError):
            for path in [tmp_path, *tmp_path.rglob("*")]:
                if path.is_dir() and not path.is_symlink():
                    path.chmod(0o755)  # so that pytest can remove it
        return
    nobody()
    folder = Path(tempfile.mkdtemp(prefix="gallery-nobody-"))  # /tmp/pytest-of-root is 0700
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def give_to_user(root: Path) -> None:
    """The site belongs to the user gallery runs as (when we are root: to nobody)."""
    if os.geteuid() == 0:
        user = nobody()
        for path in [root, *root.rglob("*")]:
            os.lchown(path, user.pw_uid, user.pw_gid)


def read_only(path: Path) -> None:
    path.chmod(stat.S_IMODE(path.stat().st_mode) & ~0o222)


@pytest.fixture
def mount_read_only() -> Iterator[Callable[[Path], None]]:
    """mount(folder): bind-mount `folder` read-only on itself (writes fail with EROFS); skips where none can be."""
    mounted: list[Path] = []

    def mount(folder: Path) -> None:
        done = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot bind-mount here (root with CAP_SYS_ADMIN needed): {done.stderr.decode().strip()}")
        mounted.append(folder)

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[int], Path]]:
    """mount(size) -> a fresh tmpfs of `size` bytes; skips where none can be mounted."""
    mounted: list[Path] = []

    def mount(size: int) -> Path:
        point = tmp_path / f"tmpfs-{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here (root with CAP_SYS_ADMIN needed): {done.stderr.decode().strip()}")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


# --- what a site holds ----------------------------------------------------------------------------


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def leftovers(root: Path) -> list[str]:
    """Temporary files, a journal or a lock: nothing of the kind may stay after a run, failed writes or not."""
    found = [p.relative_to(root).as_posix() for p in root.rglob("*") if "gallery-tmp" in p.name]
    found += [name for name in (".gallery/journal.json", ".gallery/lock") if (root / name).exists()]
    return found


def statuses(root: Path) -> set[str]:
    code, out, err = gallery(root, "scan", "--format", "json")
    assert code == 0, err
    return {ref["status"] for ref in json.loads(out)["refs"]}


def manifest(root: Path) -> dict[str, object]:
    return json.loads((root / MANIFEST).read_bytes())["images"]


def failure_lines(err: str) -> list[str]:
    """stderr, which must hold only one-line messages (no traceback), without the notes and progress."""
    lines = err.splitlines()
    assert all(re.match(r"(failed|error|warning|note): ", line) for line in lines), err
    return [line for line in lines if line.startswith(("failed: ", "error: "))]


def has_gps(path: Path) -> bool:
    return read_metadata(path.read_bytes()).has_gps


# --- disk full --------------------------------------------------------------------------------


def disk_full_site(kind: str, where: Path, tmpfs: Callable[[int], Path]) -> tuple[Path, dict[str, int | None]]:
    """The site, and how to run gallery on it so that a file over LIMIT cannot be written."""
    if kind == "RLIMIT_FSIZE":
        return build(where / "site"), {"fsize": LIMIT}
    site = build(where / "site")
    disk = tmpfs(3_000_000)
    root = Path(shutil.copytree(site, disk / "site"))
    # Fill the disk up to LIMIT bytes free: the small writes fit, a noise photo does not.
    free = os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize
    (disk / "filler").write_bytes(b"\0" * (free - LIMIT))
    assert LIMIT - 8192 <= os.statvfs(disk).f_bavail * os.statvfs(disk).f_frsize <= LIMIT + 8192
    return root, {}


DISK_FULL = {"RLIMIT_FSIZE": "File too large", "tmpfs": "No space left on device"}


@pytest.mark.parametrize("kind", DISK_FULL)
def test_optimize_on_a_full_disk_keeps_the_photo_it_cannot_rewrite_and_does_the_rest(
    tmp_path: Path, tmpfs: Callable[[int], Path], kind: str
) -> None:
    root, limit = disk_full_site(kind, tmp_path, tmpfs)
    big_before = (root / "static/images/big/Big Photo.JPG").read_bytes()
    why = DISK_FULL[kind]

    code, out, err = gallery(root, "optimize", "--jobs", "1", "static/images", **limit)

    assert code == 3, out + err
    big = root / "static/images/big/big-photo.jpg"
    assert failure_lines(err) == [
        f"failed: static/images/big/big-photo.jpg: metadata not removed: {why}",
        f"error: static/images/big/big-photo.jpg: no variants: OSError: {why}",
    ]
    assert big.read_bytes() == big_before and has_gps(big)  # renamed (a second link), bytes as they were
    # the rest is done: names, metadata, pages, variants and the manifest
    for name in ("img-1.jpg", "photo-2.png", "locked/img-3.jpg"):
        assert (root / "static/images" / name).is_file()
    assert not has_gps(root / "static/images/img-1.jpg") and not has_gps(root / "static/images/locked/img-3.jpg")
    assert "/images/locked/img-3.jpg" in (root / "content/posts/a.md").read_text()
    assert statuses(root) == {"ok"}
    assert sorted(manifest(root)) == [
        "static/images/img-1.jpg",
        "static/images/locked/img-3.jpg",
        "static/images/photo-2.png",
    ]
    assert not (root / "static/_gallery/images/big").exists()  # the variants it did write are gone again
    assert leftovers(root) == []

    # with room again, the next run finishes the job
    if kind == "tmpfs":
        (root.parent / "filler").unlink()
    code, out, err = gallery(root, "optimize", "--jobs", "1", "static/images")
    assert code == 0, out + err
    assert not has_gps(big) and "static/images/big/big-photo.jpg" in manifest(root)


def test_downscale_on_a_full_disk_keeps_the_photo_whose_original_cannot_be_stored(tmp_path: Path) -> None:
    config = CONFIG.replace("widths = [320, 1000]", "widths = [64]") + "[gallery.check]\nmax_edge = 600\n"
    root = write_site(tmp_path / "site", {"content/a.md": "![n](/images/noise.jpg) ![w](/images/wide.jpg)\n"}, config)
    noise = noise_photo(root / "static/images/noise.jpg", gps=False)
    make_image(root / "static/images/wide.jpg", (1200, 300), fmt="JPEG")
    before = files(root)

    code, out, err = gallery(root, "optimize", "--downscale-sources", "static/images", fsize=LIMIT)

    assert code == 3, out + err
    assert failure_lines(err) == ["error: static/images/noise.jpg: not downscaled: OSError: File too large"]
    assert noise.read_bytes() == before["static/images/noise.jpg"]
    assert not (root / ".gallery/originals/static/images/noise.jpg").exists()  # the copy that failed is gone
    assert "downscaled static/images/wide.jpg: 1200x300 " in out and "downscaled 1 of 2 images" in out
    assert (root / ".gallery/originals/static/images/wide.jpg").read_bytes() == before["static/images/wide.jpg"]
    with Image.open(root / "static/images/wide.jpg") as image:
        assert image.size == (600, 150)
    assert sorted(manifest(root)) == ["static/images/noise.jpg", "static/images/wide.jpg"]
    assert leftovers(root) == []


BIG_PAGE = "# Big\n\n" + "A line of text that makes the page big.\n" * 10_000 + "\n![d](/images/harbour.jpg)\n"


def picture_site(root: Path) -> Path:
    """Pages to write as <picture> (one of them over LIMIT), and a byte-identical duplicate to merge:
    harbour.jpg into copy.jpg, the more used."""
    pages = {
        "content/posts/a.md": "![h](/images/harbour.jpg)\n\n![c](/images/copy.jpg) ![c2](/images/copy.jpg)\n",
        "content/big.md": BIG_PAGE,
        "content/locked/b.md": "![h again](/images/HARBOUR.jpg)\n\n![c again](/images/copy.jpg)\n",
    }
    write_site(root, pages, CONFIG.replace("widths = [320, 1000]", "widths = [32, 64]"))
    make_image(root / "static/images/harbour.jpg", (96, 64), fmt="JPEG")
    shutil.copy(root / "static/images/harbour.jpg", root / "static/images/copy.jpg")
    code, out, err = gallery(root, "optimize", "--jobs", "1", "static/images")
    assert code == 0, out + err
    return root


def test_fix_refs_on_a_full_disk_keeps_the_page_it_cannot_write_and_the_duplicate_it_uses(tmp_path: Path) -> None:
    root = picture_site(tmp_path / "site")
    big = (root / "content/big.md").read_bytes()
    assert len(big) > LIMIT

    code, out, err = gallery(root, "fix-refs", "content", fsize=LIMIT)

    assert code == 3, out + err
    assert failure_lines(err) == ["failed: content/big.md: not updated: File too large", KEPT]
    assert (root / "content/big.md").read_bytes() == big
    assert (root / "static/images/harbour.jpg").is_file()  # the duplicate the big page still uses
    for page in ("content/posts/a.md", "content/locked/b.md"):  # the other pages: pictures of the kept copy
        text = (root / page).read_text()
        assert text.count("<picture") == text.count("/images/copy.jpg)") > 1 and "harbour" not in text.lower(), text
    assert statuses(root) == {"ok"} and leftovers(root) == []

    code, out, err = gallery(root, "fix-refs", "content")  # with room again, the next run finishes the job
    assert code == 0, out + err
    assert "<picture" in (root / "content/big.md").read_text() and not (root / "static/images/harbour.jpg").exists()


KEPT = "failed: static/images/harbour.jpg: kept, since a page that uses it was not pointed at static/images/copy.jpg"


# --- permission denied ------------------------------------------------------------------------


def test_optimize_with_a_read_only_image_folder_leaves_it_as_it_was(user_dir: Path) -> None:
    root = build(user_dir / "site")
    give_to_user(root)
    locked = root / "static/images/locked"
    read_only(locked)
    before = files(root)

    code, out, err = gallery(root, "optimize", "--jobs", "1", "static/images", as_user=True)

    assert code == 3, out + err
    assert failure_lines(err) == [
        "failed: static/images/locked/IMG 3.JPG: cannot create static/images/locked/img-3.jpg: Permission denied",
        "failed: static/images/locked/IMG 3.JPG: metadata not removed: Permission denied",
    ]
    assert sorted(p.name for p in locked.iterdir()) == ["IMG 3.JPG"]
    assert (locked / "IMG 3.JPG").read_bytes() == before["static/images/locked/IMG 3.JPG"]
    page = (root / "content/posts/a.md").read_text()
    assert "(/images/locked/IMG%203.JPG)" in page and "(/images/img-1.jpg)" in page  # its URL alone stays
    assert not has_gps(root / "static/images/img-1.jpg") and not has_gps(root / "static/images/big/big-photo.jpg")
    assert "static/images/locked/IMG 3.JPG" in manifest(root)  # its variants are elsewhere: made
    assert (root / MANIFEST).stat().st_uid == (nobody().pw_uid if os.geteuid() == 0 else os.geteuid())
    assert statuses(root) == {"ok"} and leftovers(root) == []


@pytest.mark.parametrize("what", ["folder", "file"])
def test_optimize_that_cannot_write_the_manifest_keeps_the_old_one_and_its_variants(user_dir: Path, what: str) -> None:
    root = build(user_dir / "site")
    give_to_user(root)
    assert gallery(root, "optimize", "--jobs", "1", "static/images", as_user=True)[0] == 0
    old_manifest = (root / MANIFEST).read_bytes()
    old_variants = {v["path"] for entry in manifest(root).values() for v in entry["variants"]}
    make_image(root / "static/images/new.png", pattern=4, fmt="PNG")
    (root / "content/new.md").write_text("![new](/images/new.png)\n")
    give_to_user(root)
    read_only(root / "data" if what == "folder" else root / MANIFEST)

    code, out, err = gallery(root, "optimize", "--jobs", "1", "static/images", as_user=True)

    assert code == 3, out + err
    assert failure_lines(err) == [f"error: {MANIFEST}: not written: Permission denied"]
    assert (root / MANIFEST).read_bytes() == old_manifest
    assert all((root / path).is_file() for path in old_variants)
    assert any((root / "static/_gallery/images").glob("new.*.png"))  # the new image's variants: written
    assert leftovers(root) == []


@pytest.mark.parametrize("command", [("fix-refs", "content"), ("fix-refs", "--revert", "content")])
@pytest.mark.parametrize("what", ["folder", "file", "file system"])
def test_fix_refs_with_a_read_only_page_leaves_it_as_it_was(
    user_dir: Path, what: str, command: tuple[str, ...], mount_read_only: Callable[[Path], None]
) -> None:
    root = picture_site(user_dir / "site")
    (root / "content/big.md").unlink()
    if "--revert" in command:
        assert gallery(root, "fix-refs", "content")[0] == 0
    give_to_user(root)
    page = root / "content/locked/b.md"
    if what == "file system":
        mount_read_only(page.parent)  # gallery runs as root then: only the mount denies the write
    else:
        read_only(page.parent if what == "folder" else page)
    before = files(root)

    code, out, err = gallery(root, *command, as_user=what != "file system")

    assert code == 3, out + err
    why = "Read-only file system" if what == "file system" else "Permission denied"
    expected = [f"failed: content/locked/b.md: not updated: {why}"]
    assert failure_lines(err) == expected + ([] if "--revert" in command else [KEPT])
    assert page.read_bytes() == before["content/locked/b.md"]
    assert (root / "content/posts/a.md").read_bytes() != before["content/posts/a.md"]  # the other page: written
    if "--revert" not in command:  # the duplicate the locked page uses stays, as does its case mismatch
        assert (root / "static/images/harbour.jpg").is_file() and statuses(root) == {"ok", "case-mismatch"}
    else:
        assert statuses(root) == {"ok"}
    assert leftovers(root) == []


def test_downscale_in_a_read_only_folder_leaves_the_photo_as_it_was(user_dir: Path) -> None:
    config = CONFIG.replace("widths = [320, 1000]", "widths = [64]") + "[gallery.check]\nmax_edge = 600\n"
    page = "![a](/images/locked/wide.jpg) ![b](/images/wide.jpg)\n"
    root = write_site(user_dir / "site", {"content/a.md": page}, config)
    make_image(root / "static/images/locked/wide.jpg", (1200, 300), pattern=1, fmt="JPEG")
    make_image(root / "static/images/wide.jpg", (1200, 300), fmt="JPEG")
    give_to_user(root)
    read_only(root / "static/images/locked")
    before = files(root)

    code, out, err = gallery(root, "optimize", "--downscale-sources", "static/images", as_user=True)

    assert code == 3, out + err
    assert failure_lines(err) == [
        "error: static/images/locked/wide.jpg: not downscaled: PermissionError: Permission denied"
    ]
    assert (root / "static/images/locked/wide.jpg").read_bytes() == before["static/images/locked/wide.jpg"]
    with Image.open(root / "static/images/wide.jpg") as image:
        assert image.size == (600, 150)
    assert leftovers(root) == []


def test_a_site_whose_state_folder_cannot_be_made_is_one_line_and_exit_3(user_dir: Path) -> None:
    root = build(user_dir / "site")
    give_to_user(root)
    read_only(root)
    before = files(root)
    code, out, err = gallery(root, "optimize", "--jobs", "1", "static/images", as_user=True)
    assert code == 3 and err.splitlines() == [f"error: {root / '.gallery'}: Permission denied"], err
    assert files(root) == before


def test_a_journal_that_cannot_be_written_stops_the_run_before_any_change(tmp_path: Path) -> None:
    root = build(tmp_path / "site")
    before = files(root)
    code, out, err = gallery(root, "optimize", "--jobs", "1", "static/images", fsize=200)  # the pid fits
    assert code == 3 and err.splitlines() == [f"error: {root / '.gallery/journal.json'}: File too large"], err
    assert files(root) == before and leftovers(root) == []


# --- every writer goes through fs.write_atomic ------------------------------------------------

# Calls that write or replace a file's bytes; fs.py holds the one safe way to do it.
WRITERS = re.compile(
    r"\.write_(?:bytes|text)\(|\bopen\([^)]*[\"'][wax+]b?[\"']|shutil\.(?:copy|copyfile|copy2|move)\(|os\.replace\("
)


def test_every_writer_in_gallery_goes_through_write_atomic() -> None:
    found = []
    for path in sorted((REPO / "gallery").glob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if WRITERS.search(line) and path.name != "fs.py":
                found.append(f"{path.name}:{n}: {line.strip()}")
    assert found == []
