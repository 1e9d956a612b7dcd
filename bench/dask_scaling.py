"""`gallery optimize` on N images: the process pool (--jobs 1, 2) against a Dask LocalCluster (1, 2 workers).

    python bench/dask_scaling.py                                    # 48 generated 6 MP photos
    python bench/dask_scaling.py --images 96 --megapixels 12
    python bench/dask_scaling.py --corpus ../shared/corpus/exif/ianare --repeat 2

Builds a site in a temporary folder whose names and metadata `optimize` already cleaned (so every run
does the same work: the variants of every image), then times each way in a fresh process, from a fresh
copy of that site, wall clock from start to exit (a LocalCluster's start and shutdown included).
`--repeat N` interleaves the ways and keeps each one's fastest run, because the machine is shared.
Prints images/s and the speedup over `--jobs 1`.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

REPO = Path(__file__).resolve().parent.parent
WAYS = {
    "process pool, --jobs 1": ("--jobs", "1"),
    "process pool, --jobs 2": ("--jobs", "2"),
    "dask LocalCluster, 1 worker": ("--executor", "dask", "--jobs", "1"),
    "dask LocalCluster, 2 workers": ("--executor", "dask", "--jobs", "2"),
}
ENV = {**os.environ, "PYTHONPATH": str(REPO)}
CONFIG = 'baseURL = "https://example.org/"\n'


def photo(seed: int, megapixels: float) -> Image.Image:
    """Photo-like: a gradient, soft shapes and sensor noise (flat synthetic images encode unrealistically fast)."""
    rng = random.Random(seed)
    height = int((megapixels * 1e6 / 1.5) ** 0.5)
    width = height * 3 // 2
    image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(24):
        x, y, r = rng.randrange(width), rng.randrange(height), rng.randrange(height // 20, height // 4)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(rng.randrange(256) for _ in range(3)))
    image = image.filter(ImageFilter.GaussianBlur(3))
    noise = Image.effect_noise((width, height), 24).convert("RGB")
    return Image.blend(image, noise, 0.15)


def build_site(root: Path, images: int, megapixels: float, corpus: Path | None) -> int:
    """A site of `images` generated photos (or the corpus' JPEGs), cleaned by one optimize, variants removed."""
    folder = root / "static/images"
    folder.mkdir(parents=True)
    (root / "config.toml").write_text(CONFIG)
    if corpus is not None:
        sources = sorted(p for p in corpus.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
        for n, path in enumerate(sources):
            shutil.copyfile(path, folder / f"c{n:04}.jpg")
    else:
        for n in range(images):
            photo(n, megapixels).save(folder / f"p{n:04}.jpg", quality=90)
    subprocess.run(gallery("--jobs", str(os.cpu_count() or 1)), cwd=root, env=ENV, check=True, capture_output=True)
    shutil.rmtree(root / "static/_gallery")
    (root / "data/gallery.json").unlink()
    return len(list(folder.iterdir()))


def gallery(*options: str) -> list[str]:
    return [sys.executable, "-m", "gallery", "optimize", "static/images", *options]


def timed(base: Path, scratch: Path, options: tuple[str, ...]) -> float:
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(base, scratch)
    began = time.perf_counter()
    result = subprocess.run(gallery(*options), cwd=scratch, env=ENV, capture_output=True, text=True)
    seconds = time.perf_counter() - began
    if result.returncode != 0:
        sys.exit(f"{' '.join(options)} failed ({result.returncode}): {result.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--megapixels", type=float, default=6.0)
    parser.add_argument("--corpus", type=Path, help="time these JPEGs instead of generated photos")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="gallery-dask-bench-") as folder:
        base, scratch = Path(folder) / "base", Path(folder) / "run"
        count = build_site(base, args.images, args.megapixels, args.corpus)
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            for name, options in WAYS.items():
                seconds = timed(base, scratch, options)
                best[name] = min(best.get(name, seconds), seconds)
    print(f"{count} images, {os.cpu_count()} cores, best of {args.repeat}")
    print("| way | wall s | images/s | speedup over --jobs 1 |\n| --- | ---: | ---: | ---: |")
    for name, seconds in best.items():
        speedup = best["process pool, --jobs 1"] / seconds
        print(f"| {name} | {seconds:.1f} | {count / seconds:.2f} | {speedup:.2f}x |")


if __name__ == "__main__":
    main()
