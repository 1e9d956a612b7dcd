"""SIGKILL at random moments of every command that writes, in real processes: the site keeps working.

`gallery optimize` (renames, metadata, variants), `optimize --downscale-sources`, `gallery fix-refs`
(case fixes, duplicate merges, <picture> markup) and `fix-refs --revert` are each killed at 30
seeded moments spread over their measured run, and the run that completes an interrupted one is
killed too. After every kill: each reference resolves as well as before, no picture is lost, each
page is as it was or as an uninterrupted run writes it, and no process of the run is left. After
the run that completes it: exactly the site an uninterrupted run leaves, without temporary files,
journal or lock.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import REPO, make_image, run, write_site
from test_apply import build_site, page_bytes

from gallery.config import Config
from gallery.fs import ORIGINALS
from gallery.journal import journal_path
from gallery.metadata import strip_metadata

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGKILL, and processes read in /proc")

SEED = 20251127
KILLS = 30  # per command, besides the kills of runs completing an interrupted one
CONFIG = (
    'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
    "[gallery.variants]\nwidths = [32, 64]\n"  # small variants: the writes matter here, not the pixels
    "[gallery.check]\nmax_edge = 120\n"  # Big Photo.jpg and big-plan.png are oversized
)
# A duplicate (fix-refs merges it once optimize has stripped both copies), a case mismatch that
# optimize leaves to fix-refs, oversized images in a figure and an <img>, a picture inside a link.
EXTRA_PAGE = """---
title: Extra
---

![copy](/images/Copies/Copy%209.jpg)

![case](/images/clean/OK-9.jpg)

{{< figure src="/images/Big Photo.jpg" alt="big" >}}

<img src="/images/big-plan.png" alt="plan">

[![thumb](/images/clean/ok-9.jpg)](/images/big-plan.png)
"""
MANIFEST = Config().manifest
OUTPUT = Config().output_dir


def build_kill_site(root: Path, images: int = 18, pages: int = 8) -> Path:
    """test_apply's messy site (renames of files and folders, GPS, references of every kind) and the extras."""
    build_site(root, images=images, pages=pages)
    (root / "config.toml").write_text(CONFIG)
    (root / "static/images/Copies").mkdir()
    shutil.copyfile(root / "static/images/clean/ok-9.jpg", root / "static/images/Copies/Copy 9.jpg")
    make_image(root / "static/images/Big Photo.jpg", size=(200, 150), pattern=1, fmt="JPEG")
    make_image(root / "static/images/big-plan.png", size=(160, 200), pattern=2, fmt="PNG")
    (root / "content/extra.md").write_text(EXTRA_PAGE)
    return root


@dataclass(frozen=True)
class Command:
    """A command that writes, and the commands whose uninterrupted runs make the site it starts from."""

    name: str
    words: tuple[str, ...]  # after `gallery`, before FOLDER
    folder: str
    after: tuple[str, ...] = ()
    variants: bool = False  # a variants step (not journalled) follows the journalled changes

    def argv(self, root: Path | None = None) -> list[str]:
        """In a process of its own (cwd: the site), or in this one (`root` given: the paths are absolute)."""
        folder = self.folder if root is None else str(root / self.folder)
        # Two renderers in a real run (a pool to kill); one in this process, where forking pytest costs.
        jobs = ["--jobs", "1" if root is not None else "2"] if self.variants else []
        return [*self.words, folder, *jobs]


COMMANDS = {
    command.name: command
    for command in (
        Command("optimize", ("optimize",), "static/images", variants=True),
        Command("optimize --downscale-sources", ("optimize", "--downscale-sources"), "static/images", variants=True),
        Command("fix-refs", ("fix-refs",), "content", after=("optimize",)),
        Command("fix-refs --revert", ("fix-refs", "--revert"), "content", after=("optimize", "fix-refs")),
    )
}


def complete(root: Path, command: Command) -> str:
    """Run `command` to completion in this process; its stderr."""
    code, out, err = run(*command.argv(root))
    assert code == 0, out + err
    return err


# --- what a site looks like ----------------------------------------------------------------------


def references(root: Path) -> tuple[dict[tuple[str, int], str], set[str]]:
    """The status of each reference, keyed by (page, n-th of the page), but for the variant URLs of
    gallery's <picture> markup (which come and go with it); and the statuses of those."""
    code, out, err = run("scan", str(root), "--format", "json")
    assert code == 0, err
    found: dict[tuple[str, int], str] = {}
    counts: collections.Counter[str] = collections.Counter()
    variants = set()
    for ref in json.loads(out)["refs"]:
        if ref["picture"] == "variant":
            variants.add(ref["status"])
        else:
            found[(ref["page"], counts[ref["page"]])] = ref["status"]
            counts[ref["page"]] += 1
    return found, variants


def pictures(root: Path) -> set[str]:
    """A digest per source image, in the static folders or the originals store, of its bytes without
    metadata (stripping keeps the rest byte for byte)."""
    found = set()
    for folder in (root / "static", root / ORIGINALS):
        for path in folder.rglob("*"):
            if path.is_file() and OUTPUT not in path.relative_to(root).as_posix() and "gallery-tmp" not in path.name:
                found.add(hashlib.sha256(strip_metadata(path.read_bytes())).hexdigest())
    return found


def temporaries(root: Path) -> list[str]:
    """Temporary files gallery writes (and renames) beside a file it replaces, left by a killed run."""
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if ".gallery-tmp" in path.name)


def without_mtimes(value: object) -> object:
    """The manifest records its sources' mtimes: a completed interrupted run wrote them at other moments."""
    if isinstance(value, dict):
        return {k: without_mtimes(v) for k, v in value.items() if k != "mtime_ns"}
    if isinstance(value, list):
        return [without_mtimes(v) for v in value]
    return value


def state(root: Path) -> dict[str, object]:
    """Every file (its bytes) and folder (None) of the site, but the lock and the journal."""
    found: dict[str, object] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel in (".gallery", ".gallery/lock", ".gallery/journal.json"):
            continue
        if path.is_dir():
            found[rel] = None
        elif rel == MANIFEST:
            found[rel] = without_mtimes(json.loads(path.read_bytes()))
        else:
            found[rel] = path.read_bytes()
    return found


class Expected:
    """A site before a command, and what an uninterrupted run of the command makes of it."""

    def __init__(self, root: Path, command: Command, scratch: Path) -> None:
        self.root = root
        self.refs, variants = references(root)
        assert variants <= {"ok"}
        self.pictures = pictures(root)
        self.pages = page_bytes(root)
        self.start = state(root)
        done = self.copy(scratch)
        complete(done, command)
        self.final = state(done)
        self.final_pages = page_bytes(done)
        assert self.final != self.start and self.final_pages != self.pages
        self.assert_safe(done)
        shutil.rmtree(done)

    def copy(self, to: Path) -> Path:
        shutil.copytree(self.root, to)  # with mtimes, which the manifest holds
        return to

    def assert_safe(self, root: Path) -> None:
        """At any moment: references resolve as well as before, no picture is lost, pages are old or new."""
        now, variants = references(root)
        assert now.keys() == self.refs.keys()
        for key, before in self.refs.items():
            assert now[key] in (("ok",) if before == "ok" else ("ok", before)), key
        assert variants <= {"ok"}
        assert self.pictures <= pictures(root)
        pages = page_bytes(root)
        assert pages.keys() == self.pages.keys()
        for page, data in pages.items():
            assert data in (self.pages[page], self.final_pages[page]), page

    def assert_complete(self, root: Path) -> None:
        """After a completed run: the uninterrupted run's site, nothing left over."""
        assert temporaries(root) == []
        assert not journal_path(root).exists()
        assert not (root / ".gallery/lock").exists()
        assert page_bytes(root) == self.final_pages
        assert state(root) == self.final


@pytest.fixture(scope="module")
def starts() -> Iterator[dict[str, Path]]:
    """The site each command starts from: the messy site, after an optimize, after an optimize and a fix-refs."""
    shm = Path("/dev/shm")
    base = Path(shm if shm.is_dir() and os.access(shm, os.W_OK) else os.environ.get("TMPDIR", "/tmp"))
    folder = base / f"gallery-kill-{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    made: dict[tuple[str, ...], Path] = {(): build_kill_site(folder / "start", images=40, pages=40)}
    for steps in (("optimize",), ("optimize", "fix-refs")):
        made[steps] = shutil.copytree(made[steps[:-1]], folder / "-then-".join(steps))
        complete(made[steps], COMMANDS[steps[-1]])
    try:
        yield {name: made[command.after] for name, command in COMMANDS.items()}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- processes ---------------------------------------------------------------------------------


def start(root: Path, argv: list[str]) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(argv, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def gallery(command: Command) -> list[str]:
    return [sys.executable, "-m", "gallery", *command.argv()]


def _stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process, from /proc; None once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1]), int(fields[19])


def processes(where: Callable[[int, tuple[str, int, int]], bool]) -> set[tuple[int, int]]:
    """The (pid, start time) of each process for which `where(pid, stat)` holds."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (stat := _stat(int(entry))) is not None and where(int(entry), stat):
            found.add((int(entry), stat[2]))
    return found


def children(pid: int) -> set[tuple[int, int]]:
    return processes(lambda _, stat: stat[1] == pid)


def working_in(folder: Path) -> set[tuple[int, int]]:
    """The processes whose current folder is `folder`: a run of the site's, and the workers it forked
    (orphans are adopted by another parent, so the parent pid no longer finds them)."""

    def inside(pid: int, _: tuple[str, int, int]) -> bool:
        try:
            return os.readlink(f"/proc/{pid}/cwd") == str(folder)
        except OSError:
            return False  # gone, or a zombie

    return processes(inside)


def alive(process: tuple[int, int]) -> bool:
    """Whether the process is still running (a zombie is not: nobody may reap an orphan in a container)."""
    stat = _stat(process[0])
    return stat is not None and stat[2] == process[1] and stat[0] not in ("Z", "X")


def assert_all_die(found: Callable[[], set[tuple[int, int]]], within: float) -> None:
    """Wait until none of the processes `found` lists is running; fail if some still are after `within` s."""
    deadline = time.monotonic() + within
    while (left := {p for p in found() if alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.02)
    for pid, _ in left:  # the test started them: it does not leave them behind either
        os.kill(pid, signal.SIGKILL)
    assert not left, f"processes of a killed run still running {within} s later: {sorted(left)}"


@dataclass(frozen=True)
class Timeline:
    """Seconds from the start of a run until it holds the lock, its journal appears, is gone, and it exits."""

    lock: float
    journal: float
    cleared: float
    exit: float


def measure(root: Path, command: Command) -> Timeline | None:
    """The timeline of a run to completion; None when this process, busy or not scheduled, missed its journal."""
    process, began = start(root, gallery(command)), time.perf_counter()
    lock = journal = cleared = None
    while process.poll() is None:
        now = time.perf_counter() - began
        if lock is None and holds_lock(root, process.pid):
            lock = now
        exists = journal_path(root).exists()
        if exists and journal is None:
            journal = now
        if journal is not None and not exists and cleared is None:
            cleared = now
        time.sleep(0.0002)
    ended = time.perf_counter() - began
    assert process.returncode == 0
    if lock is None or journal is None:
        return None
    return Timeline(lock, journal, cleared or ended, ended)


def holds_lock(root: Path, pid: int) -> bool:
    try:
        return (root / ".gallery/lock").read_text().strip() == str(pid)
    except FileNotFoundError:
        return False


def kill(root: Path, argv: list[str], trigger: str, delay: float) -> bool:
    """Run `argv` on the site; SIGKILL it `delay` seconds after the trigger, and check that none of
    its processes outlives it. True if it was still running.

    Triggers: "start"; "lock", when it holds the site lock (a run completing an interrupted one
    starts on that right then); "journal", when its own journal appears (its first change);
    "cleared", when that journal is gone again (the journalled changes are done: then come the
    variants). On tmpfs the journalled changes take a few ms of a run of about a second: a delay
    from the start alone would seldom land in them.
    """
    journal = journal_path(root)
    stale = journal.read_bytes() if journal.exists() else None
    process = start(root, argv)
    seen = False
    while trigger != "start" and process.poll() is None:
        try:
            if trigger == "lock" and holds_lock(root, process.pid):
                break
            current = journal.read_bytes()
        except FileNotFoundError:
            current = None
        if current is not None and current != stale:
            seen = True
            if trigger == "journal":
                break
        if trigger == "cleared" and seen and current is None:
            break
        time.sleep(0.0001)
    time.sleep(delay)
    running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    # 15 s, not less: on a loaded CI machine multiprocessing's resource tracker (cwd: the site) exits only
    # once it has read the end of its pipe, after the killed run's workers are gone.
    assert_all_die(lambda: working_in(root), within=15.0)
    return running


# --- the invariant under SIGKILL, for each command that writes ---------------------------------


def where(root: Path, expected: Expected, running: bool) -> str:
    """Where in the run the kill landed, from what it left."""
    if not running:
        return "after it exited"
    if journal_path(root).exists():
        return "journalled changes"
    now = state(root)
    if now == expected.start:
        return "before any change"
    if now == expected.final:
        return "after the last change"
    return "between changes"  # unjournalled: downscaled sources, variants, the manifest


MID_WRITE = ("journalled changes", "between changes")


@pytest.mark.parametrize("name", list(COMMANDS))
def test_sigkill_at_random_moments_never_breaks_the_site(name: str, starts: dict[str, Path], fast_dir: Path) -> None:
    began = time.perf_counter()
    command = COMMANDS[name]
    rng = random.Random(f"{SEED} {name}")
    expected = Expected(starts[name], command, fast_dir / "reference")
    runs: list[Timeline] = []
    for n in range(10):  # three runs whose journal was seen; the quickest counts (a busy machine stretches some)
        timed = expected.copy(fast_dir / f"timed-{n}")
        if (measured := measure(timed, command)) is not None:
            runs.append(measured)
        expected.assert_complete(timed)  # a real run leaves what the run in this process left
        if len(runs) == 3:
            break
    assert runs, "the journal of 10 runs went unseen"
    times = min(runs, key=lambda t: t.cleared - t.journal)
    # Delays from each trigger, spread over what follows it: the whole run; the journalled changes
    # (a few ms on tmpfs); the variants step of optimize. A run completing an interrupted one is
    # killed, from the moment it holds the lock, during the completion or during the whole rest.
    changes = times.cleared - times.journal
    windows = {"start": times.exit, "journal": changes}
    if command.variants:
        windows["cleared"] = times.exit - times.cleared
    recovery_windows = (2 * changes, times.exit - times.lock)
    outcomes: collections.Counter[str] = collections.Counter()
    torn = 0

    def killed(root: Path, trigger: str, delay: float) -> str:
        nonlocal torn
        recovering = journal_path(root).exists()
        landed = where(root, expected, kill(root, gallery(command), trigger, delay))
        torn += bool(temporaries(root))
        outcomes[("recovery: " if recovering else "") + landed] += 1
        expected.assert_safe(root)
        return landed

    kills = recovery_kills = chains = 0
    root: Path | None = None
    per_trigger: collections.Counter[str] = collections.Counter()
    mid = 0
    # Timings shift on a busy machine: go on (up to twice as long) until enough kills land mid-write.
    while kills < KILLS or (mid < KILLS // 3 and kills < 2 * KILLS):
        if root is None:
            root = expected.copy(fast_dir / f"chain-{chains}")
            chains += 1
        trigger = list(windows)[kills % len(windows)]
        u = (per_trigger[trigger] % 5 + rng.random()) / 5  # stratified over the window, yet seeded
        per_trigger[trigger] += 1
        landed = killed(root, trigger, u * windows[trigger])
        kills += 1
        mid += landed in MID_WRITE
        if trigger == "journal" and landed in ("after the last change", "after it exited"):
            windows["journal"] *= 0.8  # the changes took less than measured: aim earlier
        if landed == "before any change":
            continue  # the same site takes the next kill (with a stale lock, maybe)
        for _ in range(2):  # the run completing an interrupted one is killed too
            if not journal_path(root).exists():
                break
            killed(root, "lock", rng.random() * recovery_windows[recovery_kills % 2])
            recovery_kills += 1
        interrupted = journal_path(root).exists()
        err = complete(root, command)
        assert ("completed an interrupted" in err) == interrupted, err
        expected.assert_complete(root)
        shutil.rmtree(root)
        root = None
    print(  # shown with -s
        f"\n{name}: run {times.exit:.2f} s (lock {times.lock:.2f}, journal {times.journal:.3f}-{times.cleared:.3f});"
        f" {kills} kills and {recovery_kills} of runs completing one, on {chains} sites, {mid} mid-write,"
        f" {torn} left a temporary file: {dict(sorted(outcomes.items()))}; {time.perf_counter() - began:.1f} s"
    )
    assert mid >= KILLS // 3


# --- a killed run leaves no renderer behind ------------------------------------------------------

# `gallery` with the worker's fallback: a thread watching for the parent's death instead of the kernel.
WATCHING_THREAD = (
    "import sys, gallery.workers; gallery.workers._kill_when_orphaned = lambda: False;"
    " from gallery.cli import cli; cli(sys.argv[1:])"
)


@pytest.mark.parametrize("watch", ["kernel", "thread"])
def test_killing_optimize_mid_render_kills_its_workers(watch: str, fast_dir: Path) -> None:
    root = write_site(fast_dir / "site", {"content/a.md": "".join(f"![{i}](/images/p{i}.jpg)\n" for i in range(6))})
    for i in range(6):
        make_image(root / f"static/images/p{i}.jpg", size=(1600, 1200), pattern=i)
    python = [sys.executable, "-m", "gallery"] if watch == "kernel" else [sys.executable, "-c", WATCHING_THREAD]
    process = start(root, [*python, "optimize", "static/images", "--jobs", "3"])
    deadline = time.monotonic() + 60
    while len(children(process.pid)) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.3)  # well into the first renders (each takes over a second)
    workers = children(process.pid)
    assert process.poll() is None and len(workers) == 3, "the run ended before its workers were seen"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert_all_die(lambda: workers, within=3.0)


def test_a_worker_whose_run_died_before_it_started_exits_at_once() -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    code = f"from gallery.workers import die_with_parent; die_with_parent({gone.pid}); print('still here')"
    found = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert (found.returncode, found.stdout) == (1, "")
