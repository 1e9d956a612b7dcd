"""Bounded resources (issue 7, promise 6): one variant worker on a 100-megapixel camera JPEG stays under
400 MB. (Linear-time scanning of 10 MB and of adversarial Markdown is in test_scan.py.) Peak RSS, not time:
the figure does not depend on how busy the machine is. bench/memory_bench.py measures other formats."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from memory_bench import make_source, worker_peak_mb  # noqa: E402

LIMIT_MB = 400


def test_a_worker_renders_a_100_megapixel_jpeg_in_under_400_mb(tmp_path: Path) -> None:
    source = make_source(tmp_path, "JPEG", 100)
    assert worker_peak_mb(source) < LIMIT_MB
