"""Oversized sources: shrink an original to `max_source_width` (or re-encode it when only its bytes are too many).

Pure, like variants.py, whose decoder (allowed formats, pixel limit, JPEG draft, EXIF orientation,
colour normalisation) it reuses: bytes and settings in, bytes out. The result keeps the source's
format (its name must not change, so every reference still resolves), is upright with no Orientation
tag, keeps the ICC profile and carries no other metadata.
"""

from __future__ import annotations

from io import BytesIO

from PIL import Image

from .variants import (
    _TRANSPOSE,
    VariantSettings,
    _decoded,
    _encode,
    _is_animated,
    _normalized,
    _open,
    _orientation,
    _resized,
    _svg_size,
)

# Formats rewritten, as the encoder that keeps their file extension true. WebP, AVIF, GIF, TIFF and BMP
# are left alone: re-encoding could turn a lossless WebP lossy or requantise a GIF palette.
_REWRITTEN = {"JPEG": "jpeg", "MPO": "jpeg", "PNG": "png"}
# Within the width, a source over the byte limit is re-encoded only for a real saving: a JPEG already at
# jpeg_quality re-encodes a few % smaller, and accepting that would degrade it again on every run.
_MIN_SAVING = 0.10


def upright_size(data: bytes, settings: VariantSettings) -> tuple[int, int] | None:
    """(width, height) with EXIF orientation applied, from the header; None for SVG, animations, other formats.

    A PNG's eXIf chunk may follow the pixel data: it is read only when it comes first, so that
    counting oversized sources never decodes pixels (downscaled_source decodes and sees it).
    """
    if _svg_size(data) is not None:
        return None
    image = _open(data, settings.max_pixels)
    if _is_animated(image) or image.format not in _REWRITTEN:
        return None
    # Pillow's PngImageFile.getexif() decodes the whole image when no eXIf chunk came before the pixels.
    orientation = _orientation(image) if image.format != "PNG" or "exif" in image.info else 1
    return (image.height, image.width) if orientation in (5, 6, 7, 8) else image.size


def is_oversized(data: bytes, max_width: int, max_bytes: int, settings: VariantSettings) -> bool:
    """Whether `data` is a rewritable source wider than `max_width` (upright) or bigger than `max_bytes`."""
    size = upright_size(data, settings)
    return size is not None and (size[0] > max_width or len(data) > max_bytes)


def downscaled_source(data: bytes, max_width: int, max_bytes: int, settings: VariantSettings) -> bytes | None:
    """`data` resized to `max_width` (or re-encoded at its size when only over `max_bytes` and that saves
    at least 10%), upright, in its own format; None when within both limits or not rewritable.

    ValueError when `data` cannot be decoded.
    """
    if _svg_size(data) is not None:
        return None
    image = _open(data, settings.max_pixels)
    source_format = image.format or ""
    if _is_animated(image) or source_format not in _REWRITTEN:
        return None
    fmt = _REWRITTEN[source_format]
    if fmt == "png":
        _decoded(image)  # no draft for PNG, and its EXIF may follow the pixel data
    orientation = _orientation(image)
    swap = orientation in (5, 6, 7, 8)
    width, height = (image.height, image.width) if swap else image.size
    if width <= max_width and len(data) <= max_bytes:
        return None
    if width > max_width:  # height rounded half up, as the variants' are
        size = (max_width, max(1, (2 * max_width * height + width) // (2 * width)))
    else:
        size = (width, height)
    stored = size[::-1] if swap else size
    if fmt == "jpeg":
        image.draft(image.mode, stored)  # the smallest DCT scale (1/8, 1/4, 1/2) still at least `stored`
        _decoded(image)
    current, icc = _normalized(image, source_format, fmt)
    current = _resized(current, stored)
    current = current.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else current
    encoded = _encode([current], "jpeg", icc, settings) if fmt == "jpeg" else _png(current, icc)
    if width <= max_width and len(encoded) > len(data) * (1 - _MIN_SAVING):
        return None
    return encoded


def _png(image: Image.Image, icc: bytes | None) -> bytes:
    """PNG with the smallest zlib output Pillow makes (optimize: level 9), `icc` embedded, nothing else."""
    out = BytesIO()
    image.save(out, "PNG", optimize=True, icc_profile=icc)
    return out.getvalue()
