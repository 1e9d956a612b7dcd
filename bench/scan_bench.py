"""Benchmark: `gallery scan` on a generated 10,000-page Hugo site (goal: under 2 s on one core).

    python bench/scan_bench.py [--pages 10000] [--images 1000] [--keep DIR] [--profile]

Builds the site in a temporary folder (pages shaped like a real event report: YAML front
matter, Vietnamese prose, lists, raw HTML image blocks, Markdown images, a figure shortcode,
a code block), then times `scan_site` in this process, pinned to one core where the OS
allows, and prints wall time, CPU time, time per page and peak memory.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import resource
import tempfile
import time
from pathlib import Path

from PIL import Image

from gallery.config import Config
from gallery.plan import scan_site
from gallery.site import read_site

PROSE = (
    "Hội thảo chuyên sâu về vận hành hệ thống trên nền tảng đám mây, từ thiết kế đến giám sát.",
    "- **Tự động hóa:** một quy trình CI/CD tốt giúp giảm rủi ro khi triển khai phiên bản mới.",
    "- **Hạ tầng dưới dạng mã:** giữ môi trường nhất quán, tránh cấu hình trôi dạt giữa các lần sửa.",
    "Nhóm đã thử nghiệm chuyển một module nhỏ sang công cụ mới và ghi lại *kết quả* đo được.",
)


def page_text(number: int, images: int, rng: random.Random) -> str:
    """One content page in the shape of ../shared/seed-page.md."""
    pick = [f"/images/s{i % 50}/photo-{i}.jpg" for i in (rng.randrange(images) for _ in range(6))]
    lines = [
        "---",
        f'title: "Sự kiện {number}"',
        f"date: 2025-11-{number % 28 + 1:02d}",
        f"weight: {number}",
        "chapter: false",
        f'pre: " <b> 4.{number}. </b> "',
        "---",
        "",
        f"### Sự kiện số {number}",
        "",
        "**- Ngày:** 17 tháng 11, 2025",
        "",
    ]
    for paragraph in range(8):
        lines += [rng.choice(PROSE) for _ in range(3)] + [""]
        if paragraph == 3:
            lines += ["```yaml", "image: ![not an image](/images/code.png)", "```", ""]
    lines += [f'![Ảnh {i}]({url} "Ảnh")' for i, url in enumerate(pick[:2])] + [""]
    lines += [f'{{{{< figure src="{pick[2]}" alt="Sân khấu" >}}}}', ""]
    lines += ["#### Ảnh sự kiện"]
    for url in pick[3:]:
        lines += ['<div style="text-align: center;">', f'  <img src="{url}"  style="width:100%" />', "</div>"]
    return "\n".join(lines) + "\n"


def build_site(root: Path, pages: int, images: int) -> None:
    """Write config, pages and small real images under `root`."""
    rng = random.Random(42)
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.toml").write_text('baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n')
    tile = Image.linear_gradient("L").resize((64, 48)).convert("RGB")
    for index in range(images):
        path = root / "static" / "images" / f"s{index % 50}" / f"photo-{index}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        tile.save(path, quality=70)
    for number in range(pages):
        path = root / "content" / f"section-{number % 100}" / f"page-{number}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page_text(number, images, rng), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--images", type=int, default=1_000)
    parser.add_argument("--keep", type=Path, help="build the site here and keep it")
    parser.add_argument("--profile", action="store_true", help="print the 25 costliest functions")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or Path(tmp)
        started = time.perf_counter()
        build_site(root, args.pages, args.images)
        print(f"built {args.pages} pages and {args.images} images in {time.perf_counter() - started:.1f} s")
        site, table = read_site(root)
        config = Config.from_table(table)
        profiler = cProfile.Profile() if args.profile else None
        wall, cpu = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        result = scan_site(site, config)
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"scan: {len(result.refs)} refs, {len(result.images)} images, {len(result.orphans)} orphans\n"
            f"wall {wall:.2f} s, cpu {cpu:.2f} s, {wall / args.pages * 1e6:.0f} us/page, peak RSS {peak_mb:.0f} MB"
            f" (goal: wall < 2 s on one core)"
        )
        if profiler:
            pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


if __name__ == "__main__":
    main()
