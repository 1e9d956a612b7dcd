"""One run at a time, and a record of the run in progress so a killed run can be completed.

Both live in the site's `.gallery/` folder: `lock` is locked by its owner and holds its pid;
`journal.json` holds the plan being applied. The journal is written (atomically) before the
first change and removed after the last, so its presence means "a run was interrupted here".
"""

from __future__ import annotations

import errno
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NamedTuple

from .errors import GalleryError
from .fs import fsync_folder, make_folders, write_atomic
from .workers import pid_alive

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

STATE_DIR = ".gallery"
JOURNAL_VERSION = 1
POLL_SECONDS = 0.05  # how often a waiting run tries the lock again
QUIET_SECONDS = 0.5  # a lock without a pid yet (its owner is writing it) is waited on this long before saying so


class SiteBusy(GalleryError):
    """Another gallery run holds the site's lock."""


class _Held(Exception):
    """The lock is held by another process right now."""


@contextmanager
def site_lock(root: Path, wait: float = 0.0, waiting: Callable[[int | None], None] | None = None) -> Iterator[None]:
    """Hold the site's lock for the block; the lock of a run that died is taken over.

    While another run holds it, try again for up to `wait` seconds, calling `waiting(owner pid)`
    once per owner (None: not known), then raise SiteBusy naming the owner. When the block
    changed nothing else in `.gallery/`, its modification time is put back as it was, so that
    a run that changed nothing leaves every mtime of the site as it found it.
    """
    state = root / STATE_DIR
    make_folders(state)
    path = state / "lock"
    deadline = time.monotonic() + wait
    told: set[int | None] = set()
    began = time.monotonic()
    while True:
        try:
            fd, before = _lock_file(path, state) if fcntl is not None else _create_pid_file(path, state)
            break
        except _Held:
            owner = _read_pid(path)
            now = time.monotonic()
            if now >= deadline:
                raise _busy(path, owner, wait) from None
            if waiting is not None and owner not in told and (owner is not None or now - began >= QUIET_SECONDS):
                told.add(owner)
                waiting(owner)
            time.sleep(min(POLL_SECONDS, max(deadline - now, 0.0)))
    try:
        yield
    finally:
        # Removed while still held, so that whoever opens the path next gets a new file.
        _remove(path)
        try:
            _put_back_mtime(state, before)
        finally:
            os.close(fd)


class _Folder(NamedTuple):
    """`.gallery/` just before our lock file was made in it."""

    entries: dict[str, int]
    mtime_ns: int


def _entries(state: Path) -> dict[str, int]:
    """The folder's names (but the lock) and their inodes: the same means the folder holds the same files."""
    with os.scandir(state) as found:
        return {entry.name: entry.inode() for entry in found if entry.name != "lock"}


def _before(state: Path) -> _Folder:
    return _Folder(_entries(state), os.stat(state).st_mtime_ns)


def _put_back_mtime(state: Path, before: _Folder | None) -> None:
    """Undo what making and removing our lock file did to the folder's mtime, when nothing else changed in it."""
    if before is None:
        return
    try:
        if _entries(state) == before.entries:
            os.utime(state, ns=(os.stat(state).st_atime_ns, before.mtime_ns))
    except OSError:
        pass  # only a timestamp: never a reason to fail a run that did its work


def _busy(path: Path, owner: int | None, waited: float) -> SiteBusy:
    who = f" (pid {owner})" if owner else ""
    after = f", still after waiting {waited:g} s (--wait SECONDS waits longer)" if waited > 0 else ""
    return SiteBusy(f"{path}: another gallery run{who} is changing this site{after}; wait for it to finish")


def _lock_file(path: Path, state: Path) -> tuple[int, _Folder | None]:
    """An open descriptor of `path` holding its POSIX lock, with our pid written in it; _Held if another has it.

    Also the folder as it was before we made the file (None when the file was there already).
    The kernel lets go of the lock when its process dies, however it dies: a killed run's lock
    is free at once, and no two runs can both decide a lock is stale and take it. A POSIX
    (fcntl) lock, not a flock: the processes a run forks (its variant renderers) do not
    inherit it, so they cannot keep holding it once the run is killed.
    """
    while True:
        before: _Folder | None = _before(state)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        except FileExistsError:
            before = None
            try:
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # its holder removed it meanwhile
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            raise _Held from None
        # The holder before us removes the file as it lets go: we may hold the lock of a removed file.
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd, before


def _create_pid_file(path: Path, state: Path) -> tuple[int, _Folder | None]:
    """Where there is no flock (Windows): a pid file created exclusively; a dead owner's file is removed.

    Two runs that find the same dead owner at once may both take the lock.
    """
    for _ in range(2):
        before = _before(state)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            owner = _read_pid(path)
            if owner is not None and pid_alive(owner) and owner != os.getpid():
                raise _Held from None
            _remove(path)  # stale: its owner is gone
            continue
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd, before
    raise _Held


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip() or "0") or None
    except (OSError, ValueError):
        return None  # half-written by a run killed right after creating it: stale


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def journal_path(root: Path) -> Path:
    return root / STATE_DIR / "journal.json"


def write_journal(root: Path, command: str, plan: dict[str, Any]) -> None:
    """Record the plan about to be applied (atomically, before any change)."""
    document = {"version": JOURNAL_VERSION, "command": command, "plan": plan}
    write_atomic(journal_path(root), json.dumps(document, ensure_ascii=True, indent=1).encode())


def read_journal(root: Path) -> tuple[str, dict[str, Any]] | None:
    """The interrupted run's command and plan, or None when there is none."""
    try:
        document = json.loads(journal_path(root).read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise GalleryError(f"{journal_path(root)}: unreadable journal of an interrupted run: {e}") from e
    if document.get("version") != JOURNAL_VERSION:
        raise GalleryError(f"{journal_path(root)}: journal version {document.get('version')} is not supported")
    return document["command"], document["plan"]


def clear_journal(root: Path) -> None:
    """The run is complete: forget it (durably: a journal back after a power cut would redo the run)."""
    try:
        journal_path(root).unlink()
    except FileNotFoundError:
        return
    fsync_folder(root / STATE_DIR)
