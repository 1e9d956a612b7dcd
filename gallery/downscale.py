"""Oversized sources: the size budget of an original, and shrinking an original to fit it.

Pure, like variants.py, whose decoder (allowed formats, pixel limit, JPEG draft, EXIF orientation,
colour normalisation) it reuses: bytes and settings in, bytes out. The result keeps the source's
format (its name must not change, so every reference still resolves), is upright with no Orientation
tag, keeps the ICC profile and carries no other metadata.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from io import BytesIO

from PIL import Image

from .variants import (
    _TRANSPOSE,
    VariantSettings,
    _decoded,
    _encode,
    _is_animated,
    _normalized,
    _orientation,
    _resized,
    _svg_size,
    open_image,
    pillow_limits,
)

# Formats rewritten, as the encoder that keeps their file extension true. WebP, AVIF, GIF, TIFF and BMP
# are left alone: re-encoding could turn a lossless WebP lossy or requantise a GIF palette.
_REWRITTEN = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png"}
REWRITTEN_FORMATS = frozenset(_REWRITTEN)
# Encoded bytes grow about with the pixel count, so a result over max_bytes is scaled by
# sqrt(max_bytes / bytes), times this margin: detail is not spread evenly, and a second pass costs time.
_BYTES_MARGIN = 0.95
_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class SizeLimits:
    """`[gallery.check]` max_bytes, max_edge and max_pixels: the budget of one source image."""

    # Sources are published as they are (full-size links, og:image): 500 KB is a common budget for one
    # image of a page. A detailed 2560 px photo at JPEG quality 80 can weigh 1 MB, and is made smaller.
    max_bytes: int = 500_000
    # The long edge, upright: 2560 px covers a 1280 px layout at 2x, and no default variant is wider than 1600 px.
    max_edge: int = 2560
    # 2560x1920 (4:3 at max_edge) is 4.9 MP, while a square at that edge (6.6 MP) is held to about 2236 px.
    max_pixels: int = 5_000_000

    def fits(self, width: int | None, height: int | None, size: int) -> bool:
        """Whether an image of `size` bytes and (width, height) px (None: unknown, e.g. SVG) is within every limit."""
        if size > self.max_bytes:
            return False
        if width is None or height is None:
            return True
        return max(width, height) <= self.max_edge and width * height <= self.max_pixels


def upright_size(data: bytes, settings: VariantSettings) -> tuple[int, int] | None:
    """(width, height) with EXIF orientation applied, from the header; None for SVG, animations, other formats.

    A PNG's eXIf chunk may follow the pixel data: it is read only when it comes first, so that
    counting oversized sources never decodes pixels (downscaled_source decodes and sees it).
    """
    if _svg_size(data) is not None:
        return None
    with pillow_limits(settings.max_pixels):
        image = open_image(data, settings.max_pixels)
        if _is_animated(image) or image.format not in _REWRITTEN:
            return None
        # Pillow's PngImageFile.getexif() decodes the whole image when no eXIf chunk came before the pixels.
        orientation = _orientation(image) if image.format != "PNG" or "exif" in image.info else 1
    return (image.height, image.width) if orientation in (5, 6, 7, 8) else image.size


def is_oversized(data: bytes, limits: SizeLimits, settings: VariantSettings) -> bool:
    """Whether `data` is a rewritable source over any of `limits`."""
    size = upright_size(data, settings)
    return size is not None and not limits.fits(*size, len(data))


def downscaled_source(data: bytes, limits: SizeLimits, settings: VariantSettings) -> bytes | None:
    """`data` within `limits`, upright, in its own format; None when already within them or not rewritable.

    The long edge and pixel count are brought within max_edge and max_pixels (aspect kept); a result
    still over max_bytes is made smaller again, a few times, and the smallest one made is returned.
    ValueError when `data` cannot be decoded.
    """
    if _svg_size(data) is not None:
        return None
    with pillow_limits(settings.max_pixels):
        return _downscaled(open_image(data, settings.max_pixels), len(data), limits, settings)


def _downscaled(image: Image.Image, size_in_bytes: int, limits: SizeLimits, settings: VariantSettings) -> bytes | None:
    """What downscaled_source returns, for the opened `image` of a file of `size_in_bytes`."""
    source_format = image.format or ""
    if _is_animated(image) or source_format not in _REWRITTEN:
        return None
    fmt = _REWRITTEN[source_format]
    if fmt == "png":
        _decoded(image)  # no draft for PNG, and its EXIF may follow the pixel data
    orientation = _orientation(image)
    swap = orientation in (5, 6, 7, 8)
    width, height = (image.height, image.width) if swap else image.size
    if limits.fits(width, height, size_in_bytes):
        return None
    size = _fitted(width, height, 1.0, limits)
    if fmt == "jpeg":
        image.draft(image.mode, size[::-1] if swap else size)  # the smallest DCT scale still at least that
        _decoded(image)
    pixels, icc = _normalized(image, source_format, fmt)
    pixels = pixels.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else pixels
    for _ in range(_ATTEMPTS):
        resized = _resized(pixels, size)
        encoded = _encode([resized], "jpeg", icc, settings) if fmt == "jpeg" else _png(resized, icc)
        if len(encoded) <= limits.max_bytes:
            break
        scale = max(size) / max(width, height) * math.sqrt(limits.max_bytes / len(encoded)) * _BYTES_MARGIN
        size = _fitted(width, height, scale, limits)
    return encoded


def _fitted(width: int, height: int, scale: float, limits: SizeLimits) -> tuple[int, int]:
    """(width, height) times at most `scale`, within max_edge and max_pixels, aspect kept (short edge rounded
    half up, as the variants' heights are), at least 1x1."""
    long, short = max(width, height), min(width, height)
    new_long = max(1, min(int(long * scale), limits.max_edge, math.isqrt(limits.max_pixels * long // short)))
    while True:
        new_short = max(1, (2 * new_long * short + long) // (2 * long))
        if new_long * new_short <= limits.max_pixels or new_long == 1:  # rounding up may cross the limit
            break
        new_long -= 1
    return (new_long, new_short) if width >= height else (new_short, new_long)


def _png(image: Image.Image, icc: bytes | None) -> bytes:
    """PNG with the smallest zlib output Pillow makes (optimize: level 9), `icc` embedded, nothing else."""
    out = BytesIO()
    image.save(out, "PNG", optimize=True, icc_profile=icc)
    return out.getvalue()
