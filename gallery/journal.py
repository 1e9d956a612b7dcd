"""One run at a time, and a record of the run in progress so a killed run can be completed.

Both live in the site's `.gallery/` folder: `lock` is locked by its owner and holds its pid;
`journal.json` holds the plan being applied. The journal is written (atomically) before the
first change and removed after the last, so its presence means "a run was interrupted here".
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import GalleryError
from .fs import write_atomic

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

STATE_DIR = ".gallery"
JOURNAL_VERSION = 1


class SiteBusy(GalleryError):
    """Another gallery run holds the site's lock."""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by someone else
    return True


@contextmanager
def site_lock(root: Path) -> Iterator[None]:
    """Hold the site's lock for the block; the lock of a run that died is taken over."""
    state = root / STATE_DIR
    state.mkdir(exist_ok=True)
    path = state / "lock"
    fd = _lock_file(path) if fcntl is not None else _create_pid_file(path)
    try:
        yield
    finally:
        # Removed while still held, so that whoever opens the path next gets a new file.
        _remove(path)
        os.close(fd)


def _busy(path: Path) -> SiteBusy:
    owner = _read_pid(path)
    return SiteBusy(
        f"{path}: another gallery run{f' (pid {owner})' if owner else ''} is changing this site; wait for it to finish"
    )


def _lock_file(path: Path) -> int:
    """An open descriptor of `path` holding its POSIX lock, with our pid written in it.

    The kernel lets go of the lock when its process dies, however it dies: a killed run's lock
    is free at once, and no two runs can both decide a lock is stale and take it. A POSIX
    (fcntl) lock, not a flock: the processes a run forks (its variant renderers) do not
    inherit it, so they cannot keep holding it once the run is killed.
    """
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.EACCES, errno.EAGAIN):
                raise
            raise _busy(path) from None
        # The holder before us removes the file as it lets go: we may hold the lock of a removed file.
        try:
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return fd


def _create_pid_file(path: Path) -> int:
    """Where there is no flock (Windows): a pid file created exclusively; a dead owner's file is removed.

    Two runs that find the same dead owner at once may both take the lock.
    """
    for _ in range(2):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            owner = _read_pid(path)
            if owner is not None and _pid_alive(owner) and owner != os.getpid():
                raise _busy(path) from None
            _remove(path)  # stale: its owner is gone
            continue
        os.write(fd, f"{os.getpid()}\n".encode())
        return fd
    raise SiteBusy(f"{path}: could not take the lock")


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
    (root / STATE_DIR).mkdir(exist_ok=True)
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
    """The run is complete: forget it."""
    try:
        journal_path(root).unlink()
    except OSError as e:
        if e.errno != errno.ENOENT:
            raise
