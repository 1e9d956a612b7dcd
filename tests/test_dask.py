"""`optimize --executor dask`: the variants rendered on a Dask cluster are the bytes `--jobs 1` writes.

A LocalCluster of worker processes (started by the run), and an existing cluster reached by its
scheduler's address; errors stay one line (a bad source, an unreachable scheduler, Dask missing); a
killed run leaves no Dask worker behind.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import distributed
import pytest
from conftest import REPO, make_image, run, write_site
from distributed.diagnostics.plugin import SchedulerPlugin
from test_hostile import truncated_jpeg
from test_hugo_e2e import copy_demo
from test_kill import assert_all_die, children, working_in

from gallery.build import render_source
from gallery.executors import _ForeignWorker, _render_checked
from gallery.variants import VariantSettings

OUTPUT = "static/_gallery"
MANIFEST = "data/gallery.json"
RUN_TIMEOUT = 300  # seconds: a hung run fails the test instead of blocking the suite
KILLS = 3
SEED = 20251128
ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def gallery(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a process of its own (the LocalCluster's workers are its children), in the site."""
    argv = [sys.executable, "-m", "gallery", *args]
    return subprocess.run(argv, cwd=root, env=ENV, capture_output=True, text=True, timeout=RUN_TIMEOUT)


def files(root: Path) -> dict[str, bytes]:
    """Every file of the site and its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def twins(site: Path, tmp_path: Path) -> tuple[Path, Path]:
    """Two copies of a site, with the same mtimes (the manifest records them)."""
    return shutil.copytree(site, tmp_path / "a"), shutil.copytree(site, tmp_path / "b")


def small_site(root: Path) -> Path:
    """Clean names and no metadata (optimize only renders variants), a photo, a screenshot-like PNG, a bundle."""
    write_site(
        root,
        {"content/posts/a.md": "![a](/images/a.jpg)\n![b](/images/b.png)\n", "content/c/index.md": "![c](c.jpg)\n"},
    )
    make_image(root / "static/images/a.jpg", size=(700, 500), pattern=1, fmt="JPEG")
    make_image(root / "static/images/b.png", size=(300, 200), pattern=2, fmt="PNG")
    make_image(root / "content/c/c.jpg", size=(520, 390), pattern=3, fmt="JPEG")
    return root


class RenderedJobs(SchedulerPlugin):
    """Counts the variant jobs a scheduler has run (its task records are dropped once a result is fetched)."""

    def __init__(self) -> None:
        self.count = 0

    def transition(self, key: object, start: str, finish: str, *args: object, **kwargs: object) -> None:
        if finish in ("memory", "erred") and str(key).startswith("_render_checked-"):
            self.count += 1


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[distributed.LocalCluster, RenderedJobs]]:
    """An existing cluster, as a user's would be: the runs reach it by its scheduler's tcp address."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=":0"
    ) as it:
        jobs = RenderedJobs()
        it.scheduler.add_plugin(jobs)
        yield it, jobs


@pytest.fixture
def dashboard_port_taken() -> Iterator[None]:
    """Dask's default dashboard port in use, as by another run or cluster: gallery must not warn about it."""
    with socket.socket() as busy:
        try:
            busy.bind(("", 8787))
            busy.listen()
        except OSError:
            pass  # taken already
        yield


@pytest.mark.usefixtures("dashboard_port_taken")
def test_demo_site_through_a_local_cluster_is_byte_identical_to_jobs_1(tmp_path: Path) -> None:
    demo = copy_demo(tmp_path / "demo")
    for folder in ("static/images", "content"):  # names, metadata, oversized sources: done once, for both
        assert gallery(demo, "optimize", folder, "--jobs", "1").returncode == 0
    shutil.rmtree(demo / OUTPUT)
    (demo / MANIFEST).unlink()
    process_pool, dask = twins(demo, tmp_path)
    for folder in ("static/images", "content"):
        by_pool = gallery(process_pool, "optimize", folder, "--jobs", "1")
        by_dask = gallery(dask, "optimize", folder, "--executor", "dask", "--jobs", "2")
        assert by_pool.returncode == 0, by_pool.stderr
        assert by_dask.returncode == 0, by_dask.stderr
        assert by_dask.stderr == "", by_dask.stderr  # Dask's own logging stays quiet
    expected = files(process_pool)
    assert sum(name.startswith(OUTPUT) for name in expected) > 100
    assert files(dask) == expected


def test_existing_cluster_by_scheduler_address_writes_the_bytes_of_jobs_1(
    tmp_path: Path, cluster: tuple[distributed.LocalCluster, RenderedJobs]
) -> None:
    scheduler, jobs = cluster[0].scheduler_address, cluster[1]
    process_pool, dask = twins(small_site(tmp_path / "site"), tmp_path)
    before = jobs.count
    for folder in ("static/images", "content"):
        assert run("optimize", str(process_pool / folder), "--jobs", "1")[0] == 0
        code, out, err = run("optimize", str(dask / folder), "--executor", "dask", "--scheduler", scheduler)
        assert code == 0, out + err
    assert jobs.count - before == 3  # each source once, on the cluster
    expected = files(process_pool)
    assert sum(name.startswith(OUTPUT) for name in expected) == (2 + 1 + 2) * 3  # widths each covers x 3 formats
    assert files(dask) == expected
    # A second run finds everything current: no cluster work at all.
    assert (
        run("optimize", str(dask / "static/images"), "--executor", "dask", "--scheduler", "tcp://127.0.0.1:1")[0] == 0
    )


def test_a_corrupt_image_is_one_error_and_exit_3_while_the_others_get_their_variants(
    tmp_path: Path, cluster: tuple[distributed.LocalCluster, RenderedJobs]
) -> None:
    scheduler = cluster[0].scheduler_address
    site = small_site(tmp_path / "site")
    (site / "static/images/cut.jpg").write_bytes(truncated_jpeg())
    code, out, err = run("optimize", str(site / "static/images"), "--executor", "dask", "--scheduler", scheduler)
    assert code == 3, out + err
    [line] = err.splitlines()
    assert line.startswith("error: static/images/cut.jpg: no variants: ValueError: cannot decode JPEG image"), line
    manifest = (site / MANIFEST).read_text()
    assert '"static/images/a.jpg"' in manifest and '"static/images/b.png"' in manifest
    assert '"static/images/cut.jpg"' not in manifest
    assert len(list((site / OUTPUT / "images").iterdir())) == (2 + 1) * 3  # a.jpg: 480 and 700 px; b.png: 300


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:{port}", "udp://127.0.0.1:{port}"])
def test_an_unreachable_scheduler_is_one_line_naming_it(tmp_path: Path, address: str) -> None:
    site = small_site(tmp_path / "site")
    address = address.format(port=unused_port())
    result = gallery(site, "optimize", "static/images", "--executor", "dask", "--scheduler", address)
    assert result.returncode == 1
    assert result.stderr.startswith(f"Error: dask scheduler {address}: ")
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert not (site / MANIFEST).exists()


def test_without_dask_installed_the_error_names_the_extra_and_nothing_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = write_site(tmp_path / "site", {"static/images/Cat Photo.JPG": None})
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed raises ImportError
    before = files(site)
    code, out, err = run("optimize", str(site / "static/images"), "--executor", "dask")
    assert code == 1
    assert err == "Error: --executor dask needs dask.distributed, which is not installed: pip install 'gallery[dask]'\n"
    assert files(site) == before  # not even the rename


def test_scheduler_without_dask_executor_is_a_usage_error(tmp_path: Path) -> None:
    site = small_site(tmp_path / "site")
    code, _, err = run("optimize", str(site / "static/images"), "--scheduler", "tcp://127.0.0.1:8786")
    assert code == 2
    assert "--scheduler is for --executor dask" in err


def dask_workers(pid: int) -> list[int]:
    """The worker processes a run spawned (besides multiprocessing's resource tracker)."""
    found = []
    for child, _ in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
        except OSError:
            continue  # gone meanwhile
    return found


def busy_site(root: Path) -> Path:
    """Enough work that a run is still rendering a few seconds after it started."""
    site = small_site(root)
    for n in range(16):
        make_image(site / f"static/images/p{n}.jpg", size=(1800, 1200), pattern=n, fmt="JPEG")
    return site


def test_a_scheduler_lost_mid_run_is_one_line_and_the_next_run_completes(tmp_path: Path) -> None:
    site = busy_site(tmp_path / "site")
    argv = [sys.executable, "-m", "gallery", "optimize", "static/images", "--executor", "dask", "--scheduler"]
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=":0"
    ) as cluster:
        address = cluster.scheduler_address
        process = subprocess.Popen([*argv, address], cwd=site, env=ENV, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + RUN_TIMEOUT
        while not (site / OUTPUT).exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
    assert process.poll() is None, "the run ended before its scheduler went: give it more images"
    _, err = process.communicate(timeout=RUN_TIMEOUT)
    assert process.returncode == 1
    assert err.startswith(f"Error: dask scheduler {address}: tasks cancelled ("), err
    assert len(err.splitlines()) == 1, err
    assert gallery(site, "optimize", "static/images", "--executor", "dask", "--jobs", "2").returncode == 0
    assert json.loads((site / MANIFEST).read_text())["images"].keys() == {
        f"static/images/{name}" for name in ("a.jpg", "b.png", *(f"p{n}.jpg" for n in range(16)))
    }


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="processes read in /proc")
def test_a_killed_run_leaves_no_dask_worker_behind(tmp_path: Path) -> None:
    site = busy_site(tmp_path / "site")
    rng = random.Random(SEED)
    argv = [sys.executable, "-m", "gallery", "optimize", "static/images", "--executor", "dask", "--jobs", "2"]
    for _ in range(KILLS):
        process = subprocess.Popen(argv, cwd=site, env=ENV, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while len(dask_workers(process.pid)) < 2 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(dask_workers(process.pid)) == 2, "the LocalCluster's workers never started"
        time.sleep(rng.uniform(0, 1.5))
        assert process.poll() is None, "the run ended before it was killed: give it more images"
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert_all_die(lambda: working_in(site), within=15.0)
    assert gallery(site, "optimize", "static/images", "--executor", "dask", "--jobs", "2").returncode == 0


def test_a_worker_with_other_image_libraries_refuses_to_render(
    tmp_path: Path, cluster: tuple[distributed.LocalCluster, RenderedJobs]
) -> None:
    settings = VariantSettings(widths=(32,))
    data = make_image(tmp_path / "a.png", fmt="PNG").read_bytes()
    with distributed.Client(cluster[0].scheduler_address, set_as_default=False) as client:
        good = client.submit(_render_checked, render_source, data, settings, settings.key(), pure=False)
        assert good.result() == render_source(data, settings)
        foreign = settings.key().replace("pillow=", "pillow=0.0+")
        bad = client.submit(_render_checked, render_source, data, settings, foreign, pure=False)
        with pytest.raises(_ForeignWorker, match=r"dask worker tcp://127\.0\.0\.1:\d+ has other image libraries"):
            bad.result()
