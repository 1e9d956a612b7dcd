"""Applying a plan: the invariant under crashes (SIGKILL at random moments, and a crash at every write), the lock.

The invariant: whenever a run of `gallery optimize` stops, every reference that resolved still
resolves, every image's pixels exist under its old or its new name, and every page is either as
it was or fully rewritten; the next run completes the interrupted one and reaches the same state
as a run that was never interrupted.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import io
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from unittest import mock
from urllib.parse import quote

import piexif
import pytest
from conftest import REPO, make_image, run, write_site
from PIL import Image

import gallery.fixrefs
from gallery import apply as apply_module
from gallery.apply import apply_plan, recover
from gallery.config import Config, MergeMode
from gallery.dupes import site_duplicates
from gallery.fixrefs import plan_fix_refs
from gallery.fs import ORIGINALS
from gallery.journal import journal_path, site_lock
from gallery.metadata import read_metadata, strip_metadata
from gallery.model import DuplicateGroup, Report
from gallery.optimize import plan_optimize
from gallery.plan import scan_site
from gallery.site import read_site

# One variant format, not three: the variants step runs after every completed optimize here,
# and these tests are about names, metadata and pages (tests/test_variants.py is about variants).
CONFIG = (
    'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
    '[gallery.variants]\nformats = ["fallback"]\n'
)
GPS_EXIF = piexif.dump(
    {
        "0th": {piexif.ImageIFD.Make: b"Phone", piexif.ImageIFD.Orientation: 6},
        "Exif": {piexif.ExifIFD.BodySerialNumber: b"SN-1"},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((10, 1), (46, 1), (30, 1))},
    }
)

# Messy names as phones, screenshots and copies make them; {i} keeps each one distinct.
NAME_FORMS = (
    "IMG_{i:04d}.JPG",
    "Screen Shot 2025-11-17 at 9.{i:02d}.PNG",
    "Ảnh sự kiện {i}.jpeg",
    "diagram{i}.png.png",
    "Event2.{i}jpeg.jpeg",
    "photo ({i}).jpg",
    "Trip Photos/Day {d}/DSC {i}.JPG",
    "Event 3/A{i}.JPG",
    "Café/Crème {i}.webp",
    "clean/ok-{i}.jpg",
    "Misc/Ok-{i}.png",
    "Photo{i}.jpg",
)
KINDS = ("markdown", "angle", "reference", "html", "srcset", "link", "figure", "relative", "case")


def build_site(root: Path, images: int = 150, pages: int = 60, seed: int = 7) -> Path:
    """A site whose `static/images` needs renames (files and folders) and GPS stripping, used from pages of every kind."""
    rng = random.Random(seed)
    write_site(root, {}, CONFIG)
    names = []
    for i in range(images):
        name = NAME_FORMS[i % len(NAME_FORMS)].format(i=i, d=i % 3 + 1)
        names.append(name)
        path = root / "static/images" / name
        suffix = path.suffix.lower()
        fmt = {".png": "PNG", ".webp": "WEBP"}.get(suffix, "JPEG")
        make_image(path, size=(48, 32), pattern=i, fmt=fmt)
        # each image distinct: a pixel of its own
        with Image.open(path) as image:
            image = image.convert("RGB")
        image.putpixel((i % 48, i // 48), (i % 256, 255 - i % 256, 7))
        buffer = io.BytesIO()
        image.save(buffer, fmt, **({"exif": GPS_EXIF} if fmt == "JPEG" and i % 2 else {}))
        path.write_bytes(buffer.getvalue())
    order = names + rng.sample(names, len(names) // 3)  # some images used twice
    for j in range(pages):
        depth = j % 3
        folder = ["posts", "docs/guide", "docs/guide/deep"][depth]
        refs = order[j::pages]
        syntax = ("yaml", "toml", "json")[j % 3]
        body, front = [], []
        for n, name in enumerate(refs):
            kind = KINDS[(j + n) % len(KINDS)]
            url = "/images/" + name
            if kind == "markdown":
                body.append(f'Text ![m {n}]({quote(url)} "title") after.')
            elif kind == "angle":
                body.append(f"![a {n}](<{url}>)")
            elif kind == "reference":
                body.append(f"![r {n}][ref{n}]\n\n[ref{n}]: {quote(url)}")
            elif kind == "html":
                body.append(f'<img src="{url}" alt="h {n}">')
            elif kind == "srcset":
                body.append(f'<img srcset="{quote(url)} 480w, {quote(url)} 960w" src="{quote(url)}" alt="s">')
            elif kind == "link":
                body.append(f'<a href="{quote(url)}">full size</a>')
            elif kind == "figure":
                body.append(f'{{{{< figure src="{url}" alt="f {n}" >}}}}')
            elif kind == "relative":
                body.append(f"![rel]({'../' * (depth + 2)}images/{quote(name)}#x)")
            else:  # a case-mismatched URL: works on a Mac, not on the server, until the rename
                body.append(f"![c]({quote(url.lower())})")
            if n == 0:
                front.append(url)
        lines = "\n\n".join(body) + "\n"
        if syntax == "yaml":
            head = f'---\ntitle: Page {j}\nimage: "{front[0]}"\nimages:\n  - {front[0]}\ncover:\n  image: {front[0]}\n---\n'
        elif syntax == "toml":
            head = f"+++\ntitle = 'Page {j}'\nimage = '{front[0]}'\n[cover]\nimage = \"{front[0]}\"\n+++\n"
        else:
            head = json.dumps({"title": f"Page {j}", "images": [front[0]]}, ensure_ascii=False) + "\n\n"
        text = head + "\n" + lines
        if j % 5 == 0:
            text = "\ufeff" + text.replace("\n", "\r\n")
        path = root / "content" / folder / f"page-{j:02d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    return root


# --- what a site looks like ----------------------------------------------------------------------


def statuses(root: Path) -> dict[tuple[str, int], str]:
    """(page, n-th reference of the page) -> status, from `gallery scan --format json`."""
    code, out, err = run("scan", str(root), "--format", "json")
    assert code == 0, err
    found: dict[tuple[str, int], str] = {}
    for ref in json.loads(out)["refs"]:
        n = sum(page == ref["page"] for page, _ in found)
        found[(ref["page"], n)] = ref["status"]
    return found


def pixel_digests(root: Path) -> set[str]:
    """A digest per image of its bytes without metadata: the same pixels give the same digest (stripping is lossless)."""
    return {
        hashlib.sha256(strip_metadata(path.read_bytes())).hexdigest()
        for path in (root / "static/images").rglob("*")
        if path.is_file() and not path.name.endswith(apply_module.TEMPORARY_SUFFIX)
    }


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file (and folder, as None) of the site but gallery's own state folder and the variants manifest
    (which records the sources' mtimes)."""
    found: dict[str, bytes | None] = {}
    for path in root.rglob("*"):
        rel = path.relative_to(root).as_posix()
        if rel == ".gallery" or rel.startswith(".gallery/") or rel == Config().manifest:
            continue
        found[rel] = path.read_bytes() if path.is_file() else None
    return found


def page_bytes(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in (root / "content").rglob("*.md")}


def temporaries(root: Path) -> list[str]:
    return [p.name for p in root.rglob(f"*{apply_module.TEMPORARY_SUFFIX}")]


def optimize(root: Path) -> None:
    """`gallery optimize static/images` in this process, to completion (one process renders variants)."""
    code, out, err = run("optimize", "--jobs", "1", str(root / "static/images"))
    assert code == 0, (out, err)


def normalize(root: Path) -> tuple[Report | None, Report]:
    """The names-and-metadata part of `gallery optimize static/images`, as cli._change_site runs it:
    under the lock, complete an interrupted run, then plan and apply. The reports of both."""
    site, table = read_site(root)
    config = Config.from_table(table)
    with site_lock(root):
        recovered = recover(root)
        plan = plan_optimize(site, config, PurePosixPath("static/images"), scan_site(site, config))
        report = apply_plan(root, plan, "optimize", config.keep_exif_tags) if plan else Report()
    return (recovered[1] if recovered is not None else None), report


class Site:
    """A pristine site and what an uninterrupted run makes of it, to compare interrupted runs with."""

    def __init__(self, root: Path, complete: Callable[[Path], object] = optimize) -> None:
        self.root = root
        self.statuses = statuses(root)
        self.contents = self.content_digests(root)
        self.pages = page_bytes(root)
        done = self.copy(root.with_name(root.name + "-reference"))
        complete(done)
        self.final = self.final_state(done)
        self.final_pages = page_bytes(done)
        assert statuses(done) == {key: "ok" for key in self.statuses}
        shutil.rmtree(done)

    def content_digests(self, root: Path) -> set[str]:
        return pixel_digests(root)

    def final_state(self, root: Path) -> object:
        return tree(root)

    def copy(self, to: Path) -> Path:
        shutil.copytree(self.root, to)
        return to

    def assert_safe(self, root: Path) -> None:
        """The invariant at any moment: references resolve (as well as before), no picture is lost,
        pages are old or new."""
        now = statuses(root)
        assert now.keys() == self.statuses.keys()
        for key, before in self.statuses.items():
            assert now[key] in (("ok",) if before == "ok" else ("ok", before)), key
        assert self.contents <= self.content_digests(root)
        for page, data in page_bytes(root).items():
            assert data in (self.pages[page], self.final_pages[page]), page

    def assert_complete(self, root: Path) -> None:
        """The state after a completed run: the same as an uninterrupted run's, nothing left over."""
        assert temporaries(root) == []
        assert not journal_path(root).exists()
        assert not (root / ".gallery/lock").exists()
        assert self.final_state(root) == self.final


# --- a crash at every write, in process ----------------------------------------------------------


WRITE_STEPS = ("link_or_copy", "write_atomic", "fsync_folder")


class Crash(BaseException):
    """Stands for the process dying: nothing in gallery catches it."""


def crash_at(monkeypatch: pytest.MonkeyPatch, when: int, torn: bool, names: tuple[str, ...] = WRITE_STEPS) -> list[str]:
    """Make the `when`-th write step of apply die (after the step, or, when torn, halfway through a write_atomic)."""
    steps: list[str] = []

    def step(name: str, real, *args):
        steps.append(name)
        if len(steps) - 1 == when and torn and name == "write_atomic":
            path, data = args[:2]
            path.with_name(f".{path.name}{apply_module.TEMPORARY_SUFFIX}").write_bytes(data[: len(data) // 2])
            raise Crash(name)
        result = real(*args)
        if len(steps) - 1 == when:
            raise Crash(name)
        return result

    for name in names:
        real = getattr(apply_module, name)
        monkeypatch.setattr(apply_module, name, lambda *args, _n=name, _r=real: step(_n, _r, *args))
    return steps


def test_a_crash_at_any_write_step_keeps_the_site_working_and_the_next_run_completes_it(
    fast_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(build_site(fast_dir / "site", images=24, pages=10), complete=normalize)
    with monkeypatch.context() as m:
        steps = crash_at(m, -1, torn=False)
        normalize(site.copy(fast_dir / "count"))
    kinds = {name: steps.count(name) for name in set(steps)}
    assert kinds["link_or_copy"] > 15 and kinds["write_atomic"] > 10 and kinds["fsync_folder"] > 15
    recoveries_crashed = 0
    for when in range(len(steps)):
        for torn in (False, True) if steps[when] == "write_atomic" else (False,):
            root = site.copy(fast_dir / f"crash-{when}-{torn}")
            with monkeypatch.context() as m:
                crash_at(m, when, torn)
                with pytest.raises(Crash):
                    normalize(root)
            assert journal_path(root).exists()
            site.assert_safe(root)
            # the recovery dies too, at a step of its own (when it has that many), before a run completes it
            with monkeypatch.context() as m:
                crash_at(m, when % 7, torn=False)
                try:
                    normalize(root)
                except Crash:
                    recoveries_crashed += 1
            site.assert_safe(root)
            interrupted = journal_path(root).exists()
            recovered, report = normalize(root)
            assert (recovered is not None) == interrupted
            assert (recovered or Report()).failures == report.failures == (), when
            site.assert_complete(root)
            shutil.rmtree(root)
    assert recoveries_crashed > len(steps) // 2


def test_a_page_edited_between_a_killed_run_and_its_recovery_keeps_working(
    fast_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = Site(build_site(fast_dir / "site", images=12, pages=4), complete=normalize)
    with monkeypatch.context() as m:
        steps = crash_at(m, -1, torn=False)
        normalize(site.copy(fast_dir / "count"))
    root = site.copy(fast_dir / "edited")
    with monkeypatch.context() as m:
        crash_at(m, steps.index("write_atomic") - 1, torn=False)  # after the new names, before any page is written
        with pytest.raises(Crash):
            normalize(root)
    page = root / "content/posts/page-00.md"
    page.write_bytes(b"A line the author added.\r\n" + page.read_bytes())
    recovered, _ = normalize(root)
    # every reference still resolves: the edited page through the old names that were kept
    assert set(statuses(root).values()) == {"ok"}
    assert site.contents <= pixel_digests(root)
    assert recovered is not None
    assert (
        "content/posts/page-00.md: not updated: changed since it was read; run the command again" in recovered.failures
    )
    assert any(
        f.startswith("static/images/IMG_0000.JPG: kept beside static/images/img-0000.jpg") for f in recovered.failures
    )
    assert page.read_bytes().startswith(b"A line the author added.\r\n")
    # the same run then planned afresh; what it leaves is stable
    state = tree(root)
    assert normalize(root) == (None, Report())
    assert tree(root) == state


def test_a_dry_run_after_a_killed_run_notes_it_and_writes_nothing(
    fast_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build_site(fast_dir / "site", images=8, pages=3)
    with monkeypatch.context() as m:
        crash_at(m, 3, torn=False)
        with pytest.raises(Crash):
            run("optimize", str(root / "static/images"))
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}
    code, _, err = run("optimize", "--dry-run", str(root / "static/images"))
    assert code == 0
    assert "note: an interrupted run will be completed before this plan is applied" in err
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()} == before


def test_failures_of_a_completed_interrupted_run_set_the_exit_status(
    fast_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build_site(fast_dir / "site", images=4, pages=2)
    with monkeypatch.context() as m:
        crash_at(m, 0, torn=False)
        with pytest.raises(Crash):
            run("optimize", str(root / "static/images"))
    page = root / "content/posts/page-00.md"
    page.write_bytes(page.read_bytes() + b"\nMore text.\n")
    code, _, err = run("optimize", str(root / "static/images"))
    assert "failed: content/posts/page-00.md: not updated" in err
    assert code == 3


# --- SIGKILL at random moments, in a real process ------------------------------------------------

SEED = 20251126
KILLS_ON_FRESH_COPIES = 14
KILLS_ON_DAMAGED_SITES = 13  # each run first completing the one killed before (at least so many of each)


OPTIMIZE = (sys.executable, "-m", "gallery", "optimize", "static/images")


def start(root: Path, command: tuple[str, ...] = OPTIMIZE) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def journal_window(root: Path, command: tuple[str, ...] = OPTIMIZE) -> tuple[float, float, float]:
    """Seconds from start until the journal appears, until it is gone, and until the process exits."""
    process, began = start(root, command), time.perf_counter()
    appeared = gone = None
    while process.poll() is None:
        now, exists = time.perf_counter() - began, journal_path(root).exists()
        if exists and appeared is None:
            appeared = now
        if not exists and appeared is not None and gone is None:
            gone = now
        time.sleep(0.0002)
    ended = time.perf_counter() - began
    assert process.returncode == 0
    return appeared if appeared is not None else 0.0, gone if gone is not None else ended, ended


def kill(root: Path, trigger: str, delay: float, command: tuple[str, ...] = OPTIMIZE) -> bool:
    """Run `command` on `root`; SIGKILL it `delay` seconds after the trigger. True if it was still running.

    Triggers: "start"; "lock", when the process holds the site lock (a recovery starts right
    then); "journal", when the journal of its own plan appears (its changes start right then).
    On tmpfs the changes take ~20 ms, so a delay from the start alone would rarely land in them.
    """
    lock, journal = root / ".gallery/lock", journal_path(root)
    stale = journal.read_bytes() if journal.exists() else None
    process = start(root, command)
    while trigger != "start" and process.poll() is None:
        try:
            if trigger == "lock" and lock.read_text().strip() == str(process.pid):
                break
            if trigger == "journal" and journal.read_bytes() != stale:
                break
        except FileNotFoundError:
            pass
        time.sleep(0.0001)
    time.sleep(delay)
    running = process.poll() is None
    process.send_signal(signal.SIGKILL)
    process.wait()
    return running


def phase(root: Path, site: Site) -> str:
    """Where in a run the kill landed, read from what it left."""
    try:
        plan = json.loads(journal_path(root).read_bytes())["plan"]
    except FileNotFoundError:
        now = tree(root)
        if all(now.get(k) == v for k, v in site.final.items() if k.startswith("content/")):
            return "after the journal"
        return "before the journal"
    renames = [(root / old, root / new) for old, new in plan["renames"]]
    pages = page_bytes(root)
    if not all(new.exists() for _, new in renames):
        return "linking"
    if all(pages[p] == site.pages[p] for p in pages):
        return "stripping"
    if not all(pages[p] == site.final_pages[p] for p in pages):
        return "rewriting pages"
    if any(old.exists() for old, _ in renames):
        return "unlinking"
    return "clearing the journal"


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_at_random_moments_never_breaks_the_site(fast_dir: Path) -> None:
    began = time.perf_counter()
    rng = random.Random(SEED)
    site = Site(build_site(fast_dir / "site"))
    appeared, gone, ended = journal_window(site.copy(fast_dir / "timed"))
    changes = gone - appeared
    print(f"\nrun: journal {appeared:.3f}-{gone:.3f} s, exit {ended:.3f} s")
    phases: dict[str, int] = {}
    torn = 0  # kills that left a temporary file behind

    def killed(root: Path, trigger: str, delay: float) -> bool:
        """Kill a run as told and check the site; True if the kill landed while the run was changing it."""
        nonlocal torn
        recovering = journal_path(root).exists()
        where = phase(root, site) if kill(root, trigger, delay) else "exited before the kill"
        torn += bool(temporaries(root))
        label = ("recovery, " if recovering else "") + where
        phases[label] = phases.get(label, 0) + 1
        site.assert_safe(root)
        return where not in ("before the journal", "after the journal", "exited before the kill")

    def completed(root: Path) -> None:
        optimize(root)
        site.assert_complete(root)
        shutil.rmtree(root)

    # fresh copies: a third at any moment of the run, the rest spread over its changes; timings
    # shift on a busy machine, so go on (up to twice as long) until enough kills land mid-run
    fresh = fresh_mid = 0
    while fresh < KILLS_ON_FRESH_COPIES or (
        fresh_mid < KILLS_ON_FRESH_COPIES // 2 and fresh < 2 * KILLS_ON_FRESH_COPIES
    ):
        u = (fresh // 3 % 5 + rng.random()) / 5  # stratified: spread over the window, yet seeded
        root = site.copy(fast_dir / f"fresh-{fresh}")
        fresh_mid += killed(root, "start", u * ended) if fresh % 3 == 0 else killed(root, "journal", u * changes)
        fresh += 1
        completed(root)

    # a damaged site killed again (up to 3 times) while its runs complete the interrupted one
    chains = damaged = damaged_mid = 0
    while damaged < KILLS_ON_DAMAGED_SITES or (
        damaged_mid < KILLS_ON_DAMAGED_SITES // 2 and damaged < 2 * KILLS_ON_DAMAGED_SITES
    ):
        root = site.copy(fast_dir / f"chain-{chains}")
        chains += 1
        damaged_mid += killed(root, "journal", rng.random() * changes)
        damaged += 1
        for _ in range(3):
            if not journal_path(root).exists():
                break
            damaged_mid += killed(root, "lock", rng.random() * changes)
            damaged += 1
        completed(root)

    print(
        f"kills by phase: {dict(sorted(phases.items()))}; {fresh} on fresh copies, {damaged} on {chains} damaged"
        f" sites; {torn} left temporary files; {time.perf_counter() - began:.1f} s"
    )
    assert fresh_mid + damaged_mid >= 10


# --- one run at a time ---------------------------------------------------------------------------


def dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_three_runs_at_once_one_applies_the_others_wait_their_turn_or_stop(fast_dir: Path) -> None:
    site = Site(build_site(fast_dir / "site", images=40, pages=12))
    root = site.copy(fast_dir / "busy")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "gallery", "optimize", "static/images"]
    processes = [
        subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [(p.wait(), *p.communicate()) for p in processes]
    applied = [out for code, out, _ in results if code == 0 and "rewrote 12 pages" in out]
    assert len(applied) == 1
    for code, out, err in results:
        if code == 0:
            summary = next(line for line in out.splitlines() if line.startswith("renamed "))
            assert summary.endswith("rewrote 12 pages") or summary.startswith("renamed 0 images,")
        else:
            assert code == 1 and ".gallery/lock: another gallery run" in err and "is changing this site" in err
    site.assert_complete(root)


def test_a_stale_lock_is_taken_over(fast_dir: Path) -> None:
    site = Site(build_site(fast_dir / "site", images=6, pages=3))
    root = site.copy(fast_dir / "stale")
    (root / ".gallery").mkdir()
    (root / ".gallery/lock").write_text(f"{dead_pid()}\n")
    optimize(root)
    site.assert_complete(root)


HOLD_THE_LOCK = """
import os, sys, time
from pathlib import Path
import gallery.journal as journal
from gallery.journal import SiteBusy, site_lock

read_pid = journal._read_pid
def slow_read_pid(path):  # a busy machine: a long pause between reading the owner and acting on it
    pid = read_pid(path)
    time.sleep(0.2)
    return pid
journal._read_pid = slow_read_pid
root, log = Path(sys.argv[1]), Path(sys.argv[2])
try:
    with site_lock(root):
        with log.open("a") as f:
            f.write(f"{time.monotonic()} in\\n")
        time.sleep(0.5)
        with log.open("a") as f:
            f.write(f"{time.monotonic()} out\\n")
except SiteBusy as e:
    print(e)
"""


@pytest.mark.skipif(
    sys.platform == "win32", reason="without flock, the pid-file lock has this race (journal.py says so)"
)
def test_runs_taking_over_a_stale_lock_at_once_do_not_both_hold_it(fast_dir: Path) -> None:
    root = write_site(fast_dir / "site", {})
    (root / ".gallery").mkdir()
    (root / ".gallery/lock").write_text(f"{dead_pid()}\n")
    log = fast_dir / "holders.log"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", HOLD_THE_LOCK, str(root), str(log)], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    outputs = [p.communicate()[0] for p in processes]
    events = sorted((float(t), what) for t, what in (line.split() for line in log.read_text().splitlines()))
    holders = 0
    for _, what in events:
        holders += 1 if what == "in" else -1
        assert holders <= 1, events
    assert sum("another gallery run" in out for out in outputs) == 3 - len(events) // 2
    assert not (root / ".gallery/lock").exists()


def test_a_new_name_taken_after_planning_keeps_the_old_name_working_and_still_strips_it(fast_dir: Path) -> None:
    root = write_site(fast_dir / "site", {"content/a.md": "![a](/images/IMG_1.JPG) ![b](/images/IMG_2.JPG)\n"}, CONFIG)
    for n in (1, 2):
        path = make_image(root / f"static/images/IMG_{n}.JPG", pattern=n, fmt="JPEG")
        with Image.open(path) as image:
            image.save(path, "JPEG", exif=GPS_EXIF)
    site, table = read_site(root)
    config = Config.from_table(table)
    plan = plan_optimize(site, config, PurePosixPath("static/images"), scan_site(site, config))
    assert [str(r.new) for r in plan.renames] == ["static/images/img-1.jpg", "static/images/img-2.jpg"]
    make_image(root / "static/images/img-1.jpg", pattern=3, fmt="JPEG")  # another process, meanwhile
    taken = (root / "static/images/img-1.jpg").read_bytes()
    with site_lock(root):
        report = apply_plan(root, plan, "optimize")
    assert report.failures == (
        "static/images/img-1.jpg: exists with other content; static/images/IMG_1.JPG keeps its name",
    )
    assert (root / "content/a.md").read_text() == "![a](/images/IMG_1.JPG) ![b](/images/img-2.jpg)\n"
    assert (root / "static/images/img-1.jpg").read_bytes() == taken
    assert not read_metadata((root / "static/images/IMG_1.JPG").read_bytes()).has_gps
    assert not read_metadata((root / "static/images/img-2.jpg").read_bytes()).has_gps
    assert set(statuses(root).values()) == {"ok"}


# --- merging duplicates: the same invariant, and no image's content lost -------------------------


def similar_pngs(site, config, scan, similar: bool = True, failed=None) -> tuple[DuplicateGroup, ...]:
    """Duplicate detection with perceptual groups given (detection of those is not here yet):
    static/similar/s-{i}.png shows the picture of static/images/k-{i}.jpg, in other bytes."""
    found = site_duplicates(site, config, scan, similar=False)
    if not similar:
        return found
    paths = {image.path for image in scan.images}
    similar_groups = [
        DuplicateGroup(PurePosixPath(f"static/images/k-{path.stem[2:]}.jpg"), (path,), "perceptual", 0)
        for path in sorted(paths)
        if path.parent == PurePosixPath("static/similar")
    ]
    return found + tuple(group for group in similar_groups if group.keep in paths)


# `gallery fix-refs content --merge-similar` in a process of its own, with the PNGs as perceptual duplicates.
MERGE_SIMILAR = (
    sys.executable,
    "-c",
    "import sys; sys.path.insert(0, sys.argv[1]); import gallery.fixrefs, test_apply;"
    " gallery.fixrefs.site_duplicates = test_apply.similar_pngs;"
    " from gallery.cli import cli; cli(['fix-refs', 'content', '--merge-similar'])",
    str(REPO / "tests"),
)


def build_merge_site(root: Path, pictures: int = 24, pages: int = 8) -> Path:
    """Pictures static/images/k-{i}.jpg, each with a byte-identical copy (in folders merging empties), a PNG of
    the same picture, and for some an unused copy; pages use all of them, in references of every kind, some
    case-mismatched. The k-{i}.jpg are the most used, so they are the copies kept."""
    write_site(root, {}, CONFIG)
    uses: list[list[str]] = [[] for _ in range(pages)]
    for i in range(pictures):
        keep = make_image(root / f"static/images/k-{i}.jpg", size=(48, 32), pattern=i, fmt="JPEG")
        with Image.open(keep) as image:
            image = image.convert("RGB")
        image.putpixel((i % 48, i // 48), (i % 256, 255 - i % 256, 7))  # each picture distinct
        image.save(keep, "JPEG")
        copies = [f"static/copies/{i % 4}/c-{i}.jpg"] + ([f"static/copies/unused/u-{i}.jpg"] if i % 5 == 0 else [])
        for path in copies:
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(keep, root / path)
        (root / "static/similar").mkdir(parents=True, exist_ok=True)
        image.save(root / f"static/similar/s-{i}.png", "PNG")
        copy_url = f"/copies/{i % 4}/C-{i}.JPG" if i % 6 == 0 else f"/copies/{i % 4}/c-{i}.jpg"
        for n, url in enumerate((f"/images/k-{i}.jpg", copy_url, f"/similar/s-{i}.png")):
            uses[(i + n) % pages].append(url)
    kinds = ("markdown", "reference", "html", "srcset", "link", "figure", "relative")
    for j, urls in enumerate(uses):
        depth = j % 3
        body = []
        for n, url in enumerate(urls):
            kind = kinds[(j + n) % len(kinds)]
            if kind == "markdown":
                body.append(f'![m {n}]({url} "title")')
            elif kind == "reference":
                body.append(f"![r {n}][ref{n}]\n\n[ref{n}]: {url}")
            elif kind == "html":
                body.append(f'<img src="{url}" alt="h {n}">')
            elif kind == "srcset":
                body.append(f'<img srcset="{url} 480w, {url} 960w" src="{url}" alt="s">')
            elif kind == "link":
                body.append(f'<a href="{url}">full size</a>')
            elif kind == "figure":
                body.append(f'{{{{< figure src="{url}" alt="f {n}" >}}}}')
            else:
                body.append(f"![rel]({'../' * (depth + 2)}{url[1:]}#x)")
        text = f"---\ntitle: Page {j}\nimage: {urls[0]}\n---\n\n" + "\n\n".join(body) + "\n"
        folder = ["posts", "docs/guide", "docs/guide/deep"][depth]
        path = root / "content" / folder / f"page-{j:02d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    (root / "content/kept.md").write_text("".join(f"![k](/images/k-{i}.jpg)\n" * 2 for i in range(pictures)))
    return root


def merge_duplicates(root: Path) -> tuple[Report | None, Report]:
    """`gallery fix-refs content --merge-similar`, as cli._change_site runs it, in this process. The reports of
    the interrupted run it completed (if any) and of its own plan."""
    site, table = read_site(root)
    config = dataclasses.replace(Config.from_table(table), merge_duplicates=MergeMode.SIMILAR)
    with site_lock(root), mock.patch.object(gallery.fixrefs, "site_duplicates", similar_pngs):
        recovered = recover(root)
        plan = plan_fix_refs(site, config, PurePosixPath("content"), scan_site(site, config))
        report = apply_plan(root, plan, "fix-refs") if plan else Report()
    return (recovered[1] if recovered is not None else None), report


def image_contents(root: Path) -> set[str]:
    """A digest of every image the site holds, in its folders or in the originals store."""
    return {
        hashlib.sha256(path.read_bytes()).hexdigest()
        for path in root.rglob("*")
        if path.is_file() and path.suffix in (".jpg", ".png")  # a temporary file ends in .gallery-tmp
    }


def originals(root: Path) -> dict[str, bytes]:
    store = root / ORIGINALS
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in store.rglob("*") if path.is_file()}


class MergeSite(Site):
    """A pristine site with duplicates and what an uninterrupted merge makes of it; every image's
    bytes count, wherever they end up (the originals store included)."""

    def __init__(self, root: Path) -> None:
        copies = len(list((root / "static/images").iterdir()))

        def complete(done: Path) -> None:
            assert merge_duplicates(done)[1].merged > 2 * copies
            assert image_contents(done) == self.contents

        super().__init__(root, complete)

    def content_digests(self, root: Path) -> set[str]:
        return image_contents(root)

    def final_state(self, root: Path) -> object:
        return tree(root), originals(root)

    def copy(self, to: Path) -> Path:
        shutil.copytree(self.root, to, symlinks=True)
        return to


def test_a_crash_at_any_step_of_a_merge_keeps_every_reference_and_picture(
    fast_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = MergeSite(build_merge_site(fast_dir / "site", pictures=6, pages=3))
    steps_of_merging = (*WRITE_STEPS, "keep_original")
    with monkeypatch.context() as m:
        steps = crash_at(m, -1, torn=False, names=steps_of_merging)
        merge_duplicates(site.copy(fast_dir / "count"))
    assert steps.count("keep_original") == 6 and steps.count("write_atomic") == 3
    for when in range(len(steps)):
        for torn in (False, True) if steps[when] == "write_atomic" else (False,):
            root = site.copy(fast_dir / f"crash-{when}-{torn}")
            with monkeypatch.context() as m:
                crash_at(m, when, torn, names=steps_of_merging)
                with pytest.raises(Crash):
                    merge_duplicates(root)
            site.assert_safe(root)
            with monkeypatch.context() as m:  # the recovery dies too, at a step of its own
                crash_at(m, when % 5, torn=False, names=steps_of_merging)
                with contextlib.suppress(Crash):
                    merge_duplicates(root)
            site.assert_safe(root)
            recovered, report = merge_duplicates(root)
            assert (recovered or Report()).failures == report.failures == (), when
            site.assert_complete(root)
            shutil.rmtree(root)


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_while_merging_duplicates_never_breaks_the_site(fast_dir: Path) -> None:
    rng = random.Random(SEED)
    site = MergeSite(build_merge_site(fast_dir / "site"))
    appeared, gone, ended = journal_window(site.copy(fast_dir / "timed"), MERGE_SIMILAR)
    changes = gone - appeared
    # a kill at any moment, then kills spread over the changes; timings shift on a busy machine, so go on
    # (up to four times as long) until enough kills land while the run is changing the site
    kills = killed_mid_run = 0
    while kills < 8 or (killed_mid_run < 4 and kills < 32):
        root = site.copy(fast_dir / f"kill-{kills}")
        if kills % 4 == 0:
            kill(root, "start", rng.random() * ended, MERGE_SIMILAR)
        else:
            kill(root, "journal", (kills % 4 - 1 + rng.random()) / 3 * changes, MERGE_SIMILAR)
        interrupted = journal_path(root).exists()
        killed_mid_run += interrupted
        site.assert_safe(root)
        if interrupted and kills % 2:  # the run completing it is killed too
            kill(root, "lock", rng.random() * changes, MERGE_SIMILAR)
            site.assert_safe(root)
        merge_duplicates(root)
        site.assert_complete(root)
        shutil.rmtree(root)
        kills += 1
    print(f"\nmerge run: journal {appeared:.3f}-{gone:.3f} s; {killed_mid_run} of {kills} kills mid-run")
    assert killed_mid_run >= 4
