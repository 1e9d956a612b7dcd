"""A second run changes nothing: after any command, running it again leaves every file and folder of
the site as it was, bytes, inode and mtime (manifest, variants, originals store and config
included), and a command that writes says `nothing changed`. Read-only commands change nothing
even the first time.
"""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import piexif
import pytest
from conftest import make_image, run, write_site
from PIL import Image

CONFIG = (
    'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
    "[gallery.variants]\nwidths = [320, 640]\n"
    "[gallery.check]\nmax_edge = 1000\n"  # Harbour.jpg and its copy (1200 px) are oversized
)
GPS = piexif.dump({"GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((1, 1), (2, 1), (3, 1))}})
# Renames (Map.PNG, Big%20One.jpg), a case mismatch (HARBOUR.jpg), a byte-identical duplicate
# (copy.jpg), GPS (big one), <picture> markup for every image, a front matter image.
TRIP = """---
title: Trip
image: /images/Map.PNG
---

# Trip

![Harbour](/images/harbour.jpg) and ![Map](../../images/Map.PNG "the map")

![Copy](/images/copy.jpg)

<img src="/images/Big%20One.jpg" alt="big" class="wide">
"""
MORE = """![Case](/images/HARBOUR.jpg)

{{< figure src="/images/copy.jpg" alt="again" >}}
"""


def build(root: Path) -> Path:
    write_site(root, {"content/posts/trip.md": TRIP, "content/more.md": MORE}, CONFIG)
    make_image(root / "static/images/harbour.jpg", (1200, 800), fmt="JPEG")
    shutil.copy(root / "static/images/harbour.jpg", root / "static/images/copy.jpg")
    make_image(root / "static/images/Map.PNG", (700, 500), pattern=2, fmt="PNG")
    buffer = io.BytesIO()
    with Image.open(make_image(root / "static/images/Big One.jpg", (900, 600), pattern=3, fmt="JPEG")) as image:
        image.save(buffer, "JPEG", exif=GPS)
    (root / "static/images/Big One.jpg").write_bytes(buffer.getvalue())
    return root


Snapshot = dict[str, tuple[bytes | None, int, int]]


def snapshot(root: Path) -> Snapshot:
    """Every file and folder under the site, the root included: (bytes or None for a folder, inode, mtime)."""
    found: Snapshot = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        data = path.read_bytes() if path.is_file() else None
        found[path.relative_to(root).as_posix()] = (data, st.st_ino, st.st_mtime_ns)
    return found


def differences(before: Snapshot, after: Snapshot) -> list[str]:
    changed = []
    for path in sorted(before.keys() | after.keys()):
        old, new = before.get(path), after.get(path)
        if old is None or new is None:
            changed.append(f"{path}: {'added' if old is None else 'removed'}")
        elif old != new:
            what = [name for name, a, b in zip(("bytes", "inode", "mtime"), old, new, strict=True) if a != b]
            changed.append(f"{path}: {', '.join(what)} changed")
    return changed


def gallery(root: Path, *args: str) -> tuple[int, str, str]:
    """`gallery ARGS` run in the site's folder, as a user types it."""
    with pytest.MonkeyPatch.context() as m:
        m.chdir(root)
        return run(*args, *(["--jobs", "1"] if args[0] == "optimize" and "--dry-run" not in args else []))


@pytest.fixture(scope="module")
def sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The site as it comes, after `optimize --downscale-sources`, and after that plus `fix-refs`."""
    folder = tmp_path_factory.mktemp("second-run")
    pristine = build(folder / "pristine")
    optimized = shutil.copytree(pristine, folder / "optimized")
    assert gallery(optimized, "optimize", "--downscale-sources", "static/images")[0] == 0
    done = shutil.copytree(optimized, folder / "done")
    assert gallery(done, "fix-refs", "content")[0] == 0
    return {"pristine": pristine, "optimized": optimized, "done": done}


# (the site it starts from, the command): each writes on its first run.
WRITERS = [
    ("pristine", ("optimize", "static/images")),
    ("pristine", ("optimize", "--downscale-sources", "static/images")),
    ("optimized", ("fix-refs", "content")),  # case fix, a merge, <picture> markup
    ("optimized", ("fix-refs", "--merge-similar", "content")),
    ("done", ("fix-refs", "--revert", "content")),
    ("done", ("optimize", "--downscale-sources", "static/images")),  # nothing left to do: a no-op at once
    ("done", ("optimize", "static")),  # all static images, the variants folder left out
]


@pytest.mark.parametrize(("start", "command"), WRITERS, ids=[f"{s}:{' '.join(c)}" for s, c in WRITERS])
def test_a_second_run_of_a_writing_command_changes_nothing_and_says_so(
    sites: dict[str, Path], tmp_path: Path, start: str, command: tuple[str, ...]
) -> None:
    root = shutil.copytree(sites[start], tmp_path / "site", symlinks=True)
    code, out, err = gallery(root, *command)
    assert code == 0, out + err
    first = snapshot(root)
    # What the second run must keep: the pieces of state a run may rewrite.
    assert (root / "config.toml").is_file()
    if command[0] == "optimize":
        assert (root / "data/gallery.json").is_file() and any((root / "static/_gallery").rglob("*.avif"))
    if "--downscale-sources" in command or start != "pristine":
        assert any((root / ".gallery/originals").rglob("*.jpg"))

    code, out, err = gallery(root, *command)

    assert code == 0, out + err
    assert err.splitlines()[-1] == "nothing changed", out + err  # on stderr: stdout may end in JSON
    assert "waiting" not in err and "failed" not in err and "error" not in err, err
    assert differences(first, snapshot(root)) == []


def test_each_first_run_above_does_change_the_site(sites: dict[str, Path], tmp_path: Path) -> None:
    """The cases above are not vacuous: from its starting point, each command but the two no-ops writes."""
    changing = [(start, command) for start, command in WRITERS if start != "done" or "--revert" in command]
    for n, (start, command) in enumerate(changing):
        root = shutil.copytree(sites[start], tmp_path / f"site-{n}", symlinks=True)
        before = snapshot(root)
        code, out, err = gallery(root, *command)
        assert code == 0, out + err
        assert "nothing changed" not in err, command
        assert differences(before, snapshot(root)), command


READERS = [
    ("check",),
    ("check", "--format", "json"),
    ("scan",),
    ("scan", "--format", "json"),
    ("dupes",),
    ("dupes", "static/images"),
    ("optimize", "--dry-run", "static/images"),
    ("fix-refs", "--dry-run", "content"),
]


@pytest.mark.parametrize("start", ["pristine", "optimized", "done"])
@pytest.mark.parametrize("command", READERS, ids=[" ".join(c) for c in READERS])
def test_a_read_only_command_changes_nothing_even_the_first_time(
    sites: dict[str, Path], start: str, command: tuple[str, ...]
) -> None:
    root = sites[start]  # shared: a command that wrote would fail every later case too
    before = snapshot(root)
    for _ in range(2):
        code, out, err = gallery(root, *command)
        assert code in (0, 1), out + err  # check exits 1 on findings (the pristine site has some)
        assert differences(before, snapshot(root)) == [], command
