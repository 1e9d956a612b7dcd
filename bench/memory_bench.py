"""Peak memory of one variant worker on a 100-megapixel source (issue 7 goal: under 400 MB per worker).

    python bench/memory_bench.py [--megapixels 100] [--formats JPEG PNG PNG-RGBA WEBP WEBP-RGBA AVIF TIFF GIF]

Makes a 12000x8400 photo-like image per format in a child process, then runs `build._render_file` (what a
pool worker does for one source: read, render every variant, fingerprint for duplicates) in a fresh child
and prints its peak RSS (VmHWM). A format name ending in -RGBA is that format with a gradient alpha channel.
For a PNG it also times, in another fresh child, Pillow's whole decode against gallery's band decode.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

MAKE = """
import sys
from PIL import Image, ImageDraw
path, width, height, alpha = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4] == "1"
image = Image.linear_gradient("L").resize((width, height)).convert("RGB")
draw = ImageDraw.Draw(image)
for x in range(0, width, 400):
    draw.ellipse([x, height // 8, x + 300, height * 7 // 8], fill=(x % 255, 100, 200))
if alpha:
    image.putalpha(Image.linear_gradient("L").rotate(90).resize((width, height)))
if path.endswith(".gif"):
    image = image.quantize(64, method=Image.Quantize.FASTOCTREE)
# AVIF speed 10: encoding 100 MP at Pillow's default speed takes minutes
tiff = path.endswith(".tif")
image.save(path, **({"compression": "tiff_deflate"} if tiff else {"quality": 90, "compress_level": 1, "speed": 10}))
"""
# VmHWM, not ru_maxrss: Linux keeps ru_maxrss across exec, so a child of a big process (pytest) would
# report its parent's peak; the high-water mark belongs to the new address space.
RENDER = """
import resource, sys
from gallery.build import _render_file
from gallery.variants import VariantSettings
_render_file(sys.argv[1], sys.argv[2], VariantSettings())
try:
    print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) // 1024)
except OSError:
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""
PNG_DECODE = """
import sys, time
from io import BytesIO
from PIL import Image
from gallery.png_bands import png_bands, png_layout
from gallery.variants import band_rows
data = open(sys.argv[1], "rb").read()
Image.MAX_IMAGE_PIXELS = None
started = time.perf_counter()
Image.open(BytesIO(data)).load()
whole = time.perf_counter() - started
started = time.perf_counter()
image = Image.open(BytesIO(data))
for _ in png_bands(image, data, png_layout(data), band_rows(image.width, 2)):
    pass
print(f"{whole:.2f} {time.perf_counter() - started:.2f}")
"""
EXTENSIONS = {
    "JPEG": "jpg", "PNG": "png", "PNG-RGBA": "png", "WEBP": "webp", "WEBP-RGBA": "webp", "AVIF": "avif",
    "TIFF": "tif", "GIF": "gif",
}  # fmt: skip


def make_source(folder: Path, fmt: str, megapixels: int) -> Path:
    height = int((megapixels * 1e6 / (10 / 7)) ** 0.5)
    path = folder / f"{fmt.lower()}.{EXTENSIONS[fmt]}"
    alpha = "1" if fmt.endswith("-RGBA") else "0"
    subprocess.run([sys.executable, "-c", MAKE, str(path), str(height * 10 // 7), str(height), alpha], check=True)
    return path


def worker_peak_mb(path: Path) -> int:
    """Peak RSS, in MB, of a fresh process rendering `path` as a pool worker does."""
    found = subprocess.run(
        [sys.executable, "-c", RENDER, str(path.parent), path.name], check=True, capture_output=True, text=True
    )
    return int(found.stdout.split()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--megapixels", type=int, default=100)
    parser.add_argument("--formats", nargs="+", default=list(EXTENSIONS), choices=list(EXTENSIONS), type=str.upper)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        for fmt in args.formats:
            path = make_source(Path(folder), fmt, args.megapixels)
            size = path.stat().st_size / 1e6
            print(f"{fmt} {args.megapixels} MP ({size:.1f} MB file): peak RSS {worker_peak_mb(path)} MB")
            if fmt.startswith("PNG"):
                found = subprocess.run([sys.executable, "-c", PNG_DECODE, str(path)], check=True, capture_output=True)
                whole, banded = found.stdout.split()
                print(f"  decode: Pillow whole {whole.decode()} s, in bands {banded.decode()} s")


if __name__ == "__main__":
    main()
