"""One run at a time: `optimize` and `fix-refs` wait for the site's lock (`--wait SECONDS`, default 60),
saying once per owner which pid they wait for, then run in turn; past the wait they stop with exit
1 naming the owner. A dead owner's lock is free. Read-only commands take no lock and work on a
site that a run holds, or left half-applied.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import REPO, make_image, run, write_site
from PIL import Image
from test_apply import crash_at, dead_pid, temporaries

from gallery.journal import journal_path

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX locks and signals")

CONFIG = (
    'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
    "[gallery.variants]\nwidths = [64, 128]\n"
)
ENV = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
MANIFEST = "data/gallery.json"
# Holds the site's lock until its stdin is closed; prints "held" once it has it.
HOLDER = """
import sys
from collections.abc import Callable
from pathlib import Path
from gallery.journal import site_lock
with site_lock(Path(sys.argv[1])):
    print("held", flush=True)
    sys.stdin.read()
"""


def build(root: Path, images: int = 12) -> Path:
    """Renames, a byte-identical duplicate, a case mismatch and pages to write as <picture>."""
    lines = []
    for i in range(images):
        path = make_image(root / f"static/images/Photo {i}.JPG", (160, 120), pattern=i, fmt="PNG")
        with Image.open(path) as image:
            image.putpixel((i, 0), (255, 0, 0))  # each its own: make_image repeats every 4 patterns
            image.save(path, "JPEG")
        lines.append(f"![p{i}](/images/Photo%20{i}.JPG)")
    shutil.copy(root / "static/images/Photo 0.JPG", root / "static/images/Copy.JPG")
    lines += ["![copy](/images/Copy.JPG)", "![case](/images/photo%201.JPG)"]
    pages = {f"content/posts/p{n}.md": "\n\n".join(lines[n::3]) + "\n" for n in range(3)}
    return write_site(root, pages, CONFIG)


def state(root: Path) -> dict[str, object]:
    """Every file (bytes) and folder (None) of the site; the manifest without the sources' mtimes."""
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_dir():
            found[rel] = None
        elif rel == MANIFEST:
            document = json.loads(path.read_bytes())
            for entry in document["images"].values():
                entry.pop("mtime_ns")
            found[rel] = document
        else:
            found[rel] = path.read_bytes()
    return found


def start(root: Path, *args: str, log: Path) -> subprocess.Popen[bytes]:
    """`gallery ARGS` in the site's folder, stdout and stderr to files named after `log`."""
    return subprocess.Popen(
        [sys.executable, "-m", "gallery", *args],
        cwd=root,
        env=ENV,
        stdout=log.with_suffix(".out").open("wb"),
        stderr=log.with_suffix(".err").open("wb"),
    )


def output(log: Path) -> tuple[str, str]:
    return log.with_suffix(".out").read_text(), log.with_suffix(".err").read_text()


def hold(root: Path) -> subprocess.Popen[str]:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root)], env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def release(holder: subprocess.Popen[str]) -> None:
    assert holder.stdin is not None
    holder.stdin.close()
    assert holder.wait(timeout=30) == 0


def until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def finished(process: subprocess.Popen[bytes], timeout: float = 120.0) -> int:
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        raise


def waited_for(err: str) -> list[int]:
    return [int(pid) for pid in re.findall(r"^waiting for pid (\d+) to finish changing this site", err, re.M)]


@pytest.fixture
def reference(fast_dir: Path) -> dict[str, Path]:
    """A site with work for both commands, and what one run of each (optimize, then fix-refs) makes of it."""
    site = build(fast_dir / "site")
    optimized = shutil.copytree(site, fast_dir / "optimized")
    assert run("optimize", "--jobs", "1", str(optimized / "static/images"))[0] == 0
    done = shutil.copytree(optimized, fast_dir / "done")
    assert run("fix-refs", str(done / "content"))[0] == 0
    return {"site": site, "optimized": optimized, "done": done}


SUMMARIES = {
    "optimize": "renamed 13 images, stripped metadata from 0 (0.0 KB saved), rewrote 3 pages",
    "fix-refs": "renamed 0 images, stripped metadata from 0 (0.0 KB saved), rewrote 3 pages, merged 1 duplicate image",
}
COMMANDS = {
    "optimize": ("site", ("optimize", "--jobs", "1", "static/images"), "optimized"),
    "fix-refs": ("optimized", ("fix-refs", "content"), "done"),
}


@pytest.mark.parametrize("name", COMMANDS)
def test_three_runs_at_once_wait_their_turn_and_leave_what_one_run_leaves(
    reference: dict[str, Path], fast_dir: Path, name: str
) -> None:
    begin, command, end = COMMANDS[name]
    root = shutil.copytree(reference[begin], fast_dir / "busy")
    logs = [fast_dir / f"run-{n}" for n in range(3)]
    processes = [start(root, *command, log=log) for log in logs]
    codes = [finished(p) for p in processes]
    outputs = [output(log) for log in logs]

    assert codes == [0, 0, 0], outputs
    pids = {p.pid for p in processes}
    worked = [out for out, err in outputs if "nothing changed" not in err]
    assert len(worked) == 1, outputs  # the first to hold the lock did everything; the others found nothing to do
    assert SUMMARIES[name] in worked[0].splitlines(), worked[0]
    for process, (_, err) in zip(processes, outputs, strict=True):
        owners = waited_for(err)
        assert len(owners) == len(set(owners)) and set(owners) <= pids - {process.pid}, err  # once per owner
        assert "error" not in err and "Traceback" not in err, err
    assert state(root) == state(reference[end])
    assert not (root / ".gallery/lock").exists() and not journal_path(root).exists() and temporaries(root) == []


def test_runs_started_while_the_lock_is_held_each_say_whom_they_wait_for_then_run_in_turn(
    reference: dict[str, Path], fast_dir: Path
) -> None:
    root = shutil.copytree(reference["site"], fast_dir / "held")
    holder = hold(root)
    logs = [fast_dir / f"run-{n}" for n in range(3)]
    processes = [start(root, "optimize", "--jobs", "1", "static/images", log=log) for log in logs]
    # All three are waiting (and said so) before the holder lets go.
    until(lambda: all(holder.pid in waited_for(output(log)[1]) for log in logs))
    assert all(p.poll() is None for p in processes)
    assert state(root) == state(reference["site"]) | {".gallery": None, ".gallery/lock": f"{holder.pid}\n".encode()}
    release(holder)
    codes = [finished(p) for p in processes]
    outputs = [output(log) for log in logs]

    assert codes == [0, 0, 0], outputs
    assert sorted(err.splitlines()[-1] == "nothing changed" for _, err in outputs) == [False, True, True]
    for process, (_, err) in zip(processes, outputs, strict=True):
        owners = waited_for(err)
        assert owners[0] == holder.pid and len(owners) == len(set(owners)), err
        assert set(owners) <= {holder.pid} | {p.pid for p in processes} - {process.pid}, err
    assert state(root) == state(reference["optimized"])
    assert not (root / ".gallery/lock").exists()


@pytest.mark.parametrize("command", [("optimize", "static/images"), ("fix-refs", "content")])
def test_past_the_wait_a_run_stops_with_exit_1_naming_the_owner_and_changes_nothing(
    reference: dict[str, Path], fast_dir: Path, command: tuple[str, ...]
) -> None:
    root = shutil.copytree(reference["site"], fast_dir / "held")
    holder = hold(root)
    try:
        before = state(root)
        began = time.monotonic()
        code, out, err = gallery_in(root, *command, "--wait", "0")
        assert code == 1
        assert f".gallery/lock: another gallery run (pid {holder.pid}) is changing this site" in err
        assert "waiting" not in err and time.monotonic() - began < 5

        began = time.monotonic()
        code, out, err = gallery_in(root, *command, "--wait", "1.5")
        assert code == 1 and time.monotonic() - began >= 1.5
        assert waited_for(err) == [holder.pid], err  # said once, not once per try
        assert f"(pid {holder.pid}) is changing this site, still after waiting 1.5 s (--wait SECONDS" in err
        assert state(root) == before
    finally:
        release(holder)
    assert not (root / ".gallery/lock").exists()


def gallery_in(root: Path, *args: str) -> tuple[int, str, str]:
    """`gallery ARGS` in a process of its own (the lock is per process), in the site's folder."""
    done = subprocess.run([sys.executable, "-m", "gallery", *args], cwd=root, env=ENV, capture_output=True, text=True)
    return done.returncode, done.stdout, done.stderr


def test_a_waiting_run_goes_on_as_soon_as_the_owner_dies(reference: dict[str, Path], fast_dir: Path) -> None:
    root = shutil.copytree(reference["site"], fast_dir / "killed")
    holder = hold(root)
    log = fast_dir / "run"
    process = start(root, "optimize", "--jobs", "1", "static/images", log=log)
    until(lambda: waited_for(output(log)[1]) == [holder.pid])
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    assert (root / ".gallery/lock").read_text() == f"{holder.pid}\n"  # left behind by the dead owner
    assert finished(process) == 0, output(log)
    assert state(root) == state(reference["optimized"])
    assert not (root / ".gallery/lock").exists()


@pytest.mark.parametrize("content", ["dead pid", "", "garbage\n"])
@pytest.mark.parametrize("name", COMMANDS)
def test_a_stale_lock_is_taken_over_at_once(
    reference: dict[str, Path], fast_dir: Path, name: str, content: str
) -> None:
    begin, command, end = COMMANDS[name]
    root = shutil.copytree(reference[begin], fast_dir / "stale")
    (root / ".gallery").mkdir(exist_ok=True)
    (root / ".gallery/lock").write_text(f"{dead_pid()}\n" if content == "dead pid" else content)
    began = time.monotonic()
    code, out, err = gallery_in(root, *command)
    assert code == 0, out + err
    assert "waiting" not in err and time.monotonic() - began < 30
    assert state(root) == state(reference[end])
    assert not (root / ".gallery/lock").exists()


READERS = [("scan", "--format", "json"), ("check",), ("dupes",)]


def statuses(root: Path) -> dict[tuple[str, int], str]:
    """(page, n-th reference of the page outside gallery's <picture> variant URLs) -> status."""
    code, out, err = run("scan", str(root), "--format", "json")
    assert code == 0, err
    found: dict[tuple[str, int], str] = {}
    for ref in json.loads(out)["refs"]:
        if ref["picture"] != "variant":
            n = sum(page == ref["page"] for page, _ in found)
            found[(ref["page"], n)] = ref["status"]
    return found


def test_read_only_commands_take_no_lock(reference: dict[str, Path], fast_dir: Path) -> None:
    root = shutil.copytree(reference["site"], fast_dir / "held")
    holder = hold(root)
    try:
        for command in READERS:
            began = time.monotonic()
            code, out, err = gallery_in(root, *command)
            assert code in (0, 1) and "waiting" not in err and "Traceback" not in err, err
            assert time.monotonic() - began < 30
        assert (root / ".gallery/lock").read_text() == f"{holder.pid}\n"
    finally:
        release(holder)


@pytest.mark.parametrize("name", COMMANDS)
def test_read_only_commands_work_on_a_half_applied_site(
    fast_dir: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A run that died at each write step (the journal left behind, a torn temporary file or not):
    scan, check and dupes read the site as it is, every reference resolving as before, and exit as usual."""
    begin, (command, *options, folder), _ = COMMANDS[name]
    site = build(fast_dir / "site", images=4)
    if begin == "optimized":
        assert run("optimize", "--jobs", "1", str(site / "static/images"))[0] == 0
    before = statuses(site)

    def crashed(root: Path) -> Path:
        return shutil.copytree(site, root)

    with monkeypatch.context() as m:
        steps = crash_at(m, -1, torn=False)
        assert run(command, *options, str(crashed(fast_dir / "probe") / folder))[0] == 0
    assert len(steps) >= 4
    tried = 0
    for when in range(len(steps)):
        for torn in (False, True) if steps[when] == "write_atomic" else (False,):
            root = crashed(fast_dir / f"crash-{when}-{torn}")
            with monkeypatch.context() as m:
                crash_at(m, when, torn)
                with pytest.raises(BaseException, match=steps[when]):
                    run(command, *options, str(root / folder))
            assert journal_path(root).exists()
            now = statuses(root)
            assert now.keys() == before.keys() and all(now[k] in ("ok", before[k]) for k in now), (when, torn)
            for readonly in (("check", str(root)), ("dupes", str(root))):
                code, out, err = run(*readonly)
                assert code in (0, 1), (readonly, out, err)
            tried += 1
            shutil.rmtree(root)
    assert tried > len(steps)
    print(f"{name}: {tried} half-applied states read ({len(steps)} write steps)")
