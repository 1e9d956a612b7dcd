"""Bounded resources (issue 7, promise 6): one variant worker on a 100-megapixel source stays under 400 MB.
(Linear-time scanning of 10 MB and of adversarial Markdown is in test_scan.py.) Peak RSS, not time: the figure
does not depend on how busy the machine is. bench/memory_bench.py measures every format, including those
still over the limit (TIFF and AVIF are decoded whole: 403 MB for 100 MP RGB before any work)."""

from __future__ import annotations

import sys
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from gallery.variants import VariantSettings, render_variants

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from memory_bench import make_source, worker_peak_mb  # noqa: E402

LIMIT_MB = 400


# JPEG: DCT-scaled decode. WEBP: libwebp's scaled decode (Pillow's own decode peaks at 1.6 GB). PNG: decoded
# and reduced a band at a time (png_bands.py; 542 MB for RGB and 638 MB for RGBA decoded whole). GIF (the
# palette converted and reduced a band at a time: 1.3 GB before, 256 MB now) is left to the bench: 12 s more.
@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "PNG", "PNG-RGBA"])
def test_a_worker_renders_a_100_megapixel_source_in_under_400_mb(tmp_path: Path, fmt: str) -> None:
    source = make_source(tmp_path, fmt, 100)
    assert worker_peak_mb(source) < LIMIT_MB


def test_a_scaled_webp_decode_gives_the_variants_of_a_whole_decode() -> None:
    """libwebp's rescaler replaces Pillow's decode and box reduce: same size, orientation and alpha, and
    pixels within JPEG-noise of the variants of the same picture stored losslessly."""
    picture = Image.linear_gradient("L").resize((4000, 2400)).convert("RGB")
    ImageDraw.Draw(picture).ellipse([800, 400, 2400, 2000], fill=(200, 40, 90))
    picture.putalpha(Image.linear_gradient("L").rotate(90).resize(picture.size))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the variants must come out upright
    lossy, whole = BytesIO(), BytesIO()
    picture.save(lossy, "WEBP", quality=95, exif=exif)
    picture.save(whole, "PNG", exif=exif)
    settings = VariantSettings(widths=(240,), formats=("fallback",))  # 1/10: libwebp scales by 3
    (scaled_info, (scaled,)), (whole_info, (reference,)) = (
        render_variants(data.getvalue(), settings) for data in (lossy, whole)
    )
    assert (scaled_info.width, scaled_info.height, scaled_info.fallback) == (2400, 4000, "png") == (
        whole_info.width, whole_info.height, whole_info.fallback
    )  # fmt: skip
    shown, expected = (Image.open(BytesIO(v.data)) for v in (scaled, reference))
    assert shown.size == expected.size == (240, 400) and shown.mode == expected.mode == "RGBA"
    difference = ImageChops.difference(shown, expected)
    assert max(ImageStat.Stat(difference).mean) < 2
