"""`optimize --executor dask`: the variant jobs on a Dask cluster (dask.distributed), or on a LocalCluster.

Workers of a remote cluster do not share the site's file system, so the client reads each source,
sends its bytes, and gets the rendered bytes back; all writing stays in the client. Only a window of
sources is in flight at once (by count and by bytes), so a 100k-image archive never sits in memory.
A task whose worker dies is run again on another worker by Dask (`distributed.scheduler.allowed-failures`,
3 by default); a source that kills that many workers is reported as failed, like any bad source.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import GalleryError
from .variants import VariantSettings

if TYPE_CHECKING:
    from distributed import Client

Job = TypeVar("Job")
Result = TypeVar("Result")

INSTALL_HINT = "pip install 'gallery[dask]'"
CONNECT_TIMEOUT_SECONDS = 10.0
JOBS_PER_THREAD = 2  # one running, one sent ahead: no worker thread waits for the client
WINDOW_BYTES = 512 * 1024 * 1024  # source bytes in flight; one larger source still goes, alone


@dataclass(frozen=True, slots=True)
class DaskExecutor:
    """Where the variant jobs run: the scheduler at `scheduler`, or (None) a LocalCluster of `workers` processes."""

    scheduler: str | None
    workers: int  # of the LocalCluster, one thread each (the encoders are single-threaded)


class _ForeignWorker(Exception):
    """A worker whose image libraries differ from the client's: its bytes would not match the variants' names."""


def require_dask() -> None:
    """Fail with the install command when dask.distributed is not installed."""
    try:
        import distributed  # noqa: F401
    except ImportError as e:
        raise GalleryError(f"--executor dask needs dask.distributed, which is not installed: {INSTALL_HINT}") from e


def dask_results(
    executor: DaskExecutor,
    todo: Sequence[Job],
    size: Callable[[Job], int],
    read: Callable[[Job], bytes],
    render: Callable[[bytes, VariantSettings], Result],
    settings: VariantSettings,
) -> Iterator[tuple[Job, Result | Exception]]:
    """`render(read(job), settings)` of every job on the cluster, as each completes; errors are returned, not raised.

    `read` runs here, `render` on the workers, which must have gallery (and the same Pillow) installed.
    """
    from distributed import wait
    from distributed.client import FutureCancelledError, FuturesCancelledError
    from distributed.scheduler import KilledWorker

    with _client(executor) as client:
        window = JOBS_PER_THREAD * sum(client.nthreads().values())
        key = settings.key()  # the variants' names carry this machine's library versions
        waiting = list(reversed(todo))  # popped from the end: the biggest first, as plan_builds sorted them
        in_flight: dict[Any, tuple[Job, int]] = {}
        while waiting or in_flight:
            while waiting and (not in_flight or _fits(in_flight, size(waiting[-1]), window)):
                job = waiting.pop()
                try:
                    data = read(job)
                except Exception as e:  # noqa: BLE001 - one unreadable source must not stop the others
                    yield job, e
                    continue
                # A task argument, not scattered: a task runs where its scattered data is, which left one of two
                # workers idle much of the time (144 photos: 68 s against 35 s; bench/dask_scaling.py).
                future = client.submit(_render_checked, render, data, settings, key, pure=False)
                in_flight[future] = (job, len(data))
                del data  # the cluster holds it until the task is done
            if not in_flight:
                continue  # the last sources were unreadable
            try:
                done, _ = wait(list(in_flight), return_when="FIRST_COMPLETED")
            except FuturesCancelledError as e:
                raise _lost(executor, e.error_groups[0].reason) from None
            for future in done:
                job, _ = in_flight.pop(future)
                try:
                    result = future.result()
                except _ForeignWorker as e:
                    raise GalleryError(str(e)) from e
                except KilledWorker:
                    yield job, RuntimeError("every Dask worker that tried to render it died (out of memory?)")
                except FutureCancelledError as e:
                    raise _lost(executor, e.reason) from None
                except Exception as e:  # noqa: BLE001 - one bad source must not stop the others
                    yield job, e
                else:
                    yield job, result
                future.release()


def _lost(executor: DaskExecutor, reason: str) -> GalleryError:
    """The scheduler is gone, and every task with it: the run stops (the variants written so far stay)."""
    where = executor.scheduler or "(LocalCluster)"
    return GalleryError(f"dask scheduler {where}: tasks cancelled ({reason}); run again to render the rest")


def _fits(in_flight: dict[Any, tuple[Any, int]], size: int, window: int) -> bool:
    return len(in_flight) < window and sum(n for _, n in in_flight.values()) + size <= WINDOW_BYTES


def _render_checked(
    render: Callable[[bytes, VariantSettings], Result], data: bytes, settings: VariantSettings, key: str
) -> Result:
    """Worker: refuse to render with other library versions than the client's (the bytes would differ)."""
    if settings.key() != key:
        from distributed import get_worker

        theirs, ours = set(settings.key().split()), set(key.split())
        raise _ForeignWorker(
            f"dask worker {get_worker().address} has other image libraries than this machine"
            f" ({' '.join(sorted(theirs - ours))}; here: {' '.join(sorted(ours - theirs))}): install the same there"
        )
    return render(data, settings)


@contextlib.contextmanager
def _client(executor: DaskExecutor) -> Iterator[Client]:
    """A Client of the scheduler, or of a LocalCluster started (and closed) here; Dask's own logging silenced
    (every error reaches the user as one line of gallery's)."""
    import dask
    from distributed import Client, LocalCluster
    from distributed.utils import silence_logging_cmgr

    # The scheduler warns about task graphs over 10 MB: a large photo as a task argument is meant.
    large_graph = {"distributed.admin.large-graph-warning-threshold": "1TB"}
    with silence_logging_cmgr(logging.CRITICAL), dask.config.set(large_graph), contextlib.ExitStack() as stack:
        address = executor.scheduler
        try:
            if address is None:
                # Spawned worker processes, which exit when this one does (distributed's parent_alive_pipe).
                cluster = LocalCluster(
                    n_workers=executor.workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=":0",  # any free port: with None it still tries 8787, and warns when busy
                    silence_logs=logging.CRITICAL,  # a bad source is reported once, by build_variants
                )
                stack.enter_context(cluster)
                address = cluster.scheduler_address
            client = stack.enter_context(Client(address, timeout=CONNECT_TIMEOUT_SECONDS))
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_SECONDS)
        # ValueError: an address Dask cannot parse; RuntimeError: a LocalCluster whose workers did not start
        except (OSError, TimeoutError, ValueError, RuntimeError) as e:
            what = str(e).splitlines()[0] if str(e) else f"no answer within {CONNECT_TIMEOUT_SECONDS:g} s"
            raise GalleryError(f"dask scheduler {address or '(LocalCluster)'}: {what}") from None
        yield client
