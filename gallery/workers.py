"""Process-pool workers that die with the run that started them.

A killed run (SIGKILL, out of memory) never shuts its pool down, and its workers would wait on
the pool's queue forever, orphans holding memory.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_PARENT_POLL_SECONDS = 0.2


def die_with_parent(parent: int) -> None:
    """Pool initializer: the worker dies when the run that started it (pid `parent`) dies.

    A killed run (SIGKILL, out of memory) never shuts its pool down, and its workers would wait
    on the pool's queue forever, orphans holding memory. On Linux the kernel sends the worker
    SIGKILL when its parent exits (prctl PR_SET_PDEATHSIG, man 2 prctl); elsewhere, or if that
    fails, a daemon thread of the worker watches for its parent's death.
    """
    # The parent is `parent` itself (fork, spawn), or the forkserver, which exits with `parent`.
    ppid = os.getppid()
    if ppid != parent and os.name == "posix" and not pid_alive(parent):
        os._exit(1)  # the run died before this worker started
    if not _kill_when_orphaned():
        threading.Thread(target=_exit_when_orphaned, args=(ppid,), daemon=True).start()
    if os.getppid() != ppid:
        os._exit(1)  # the parent died meanwhile, before the kernel or the thread watched it


def _kill_when_orphaned() -> bool:
    """Ask Linux to SIGKILL this process when its parent exits; False where that cannot be done.

    Strictly, when the parent's thread that forked it ends: the pool is made and fed from one thread,
    which lives as long as the run (and no max_tasks_per_child, whose replacements another thread forks).
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        return ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _exit_when_orphaned(ppid: int) -> None:
    """Worker thread: end the process once its parent is gone (an orphan gets another parent)."""
    while os.getppid() == ppid:
        time.sleep(_PARENT_POLL_SECONDS)
    os._exit(1)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (of any user)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    return True
