"""Scaled WebP decoding: libwebp resamples while it decodes, so a 100 MP WebP never exists whole in memory.

Pillow decodes a WebP through libwebp's animation decoder into a full-size RGBA canvas, then copies it
into the image: 1.2 GB for 100 MP. libwebp's advanced API (WebPDecode with `options.use_scaling`) emits
rows into an area-averaging rescaler instead, holding a few rows and the output. Pillow does not expose
it, so it is called here through ctypes, on the libwebp that Pillow's wheel bundles (the same library
Pillow decodes with). Whenever that library or its API version is not found, `scaled_webp` returns None
and the caller decodes with Pillow: slower and bigger, never wrong.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from pathlib import Path

from PIL import Image

_ABI_VERSION = 0x0200  # WEBP_DECODER_ABI_VERSION major 2: the struct layouts below (libwebp 0.5 to 1.6)
_MODE_RGB, _MODE_RGBA = 0, 1
_OK = 0
_LOSSLESS = 2  # WebPBitstreamFeatures.format


class _Features(ctypes.Structure):
    _fields_ = [(name, ctypes.c_int) for name in ("width", "height", "has_alpha", "has_animation", "format")] + [
        ("pad", ctypes.c_uint32 * 5)
    ]


class _RGBA(ctypes.Structure):
    _fields_ = [("rgba", ctypes.c_void_p), ("stride", ctypes.c_int), ("size", ctypes.c_size_t)]


class _YUVA(ctypes.Structure):
    _fields_ = [(name, ctypes.c_void_p) for name in ("y", "u", "v", "a")] + [
        *((name, ctypes.c_int) for name in ("y_stride", "u_stride", "v_stride", "a_stride")),
        *((name, ctypes.c_size_t) for name in ("y_size", "u_size", "v_size", "a_size")),
    ]


class _Buffers(ctypes.Union):
    _fields_ = [("RGBA", _RGBA), ("YUVA", _YUVA)]


class _DecBuffer(ctypes.Structure):
    _fields_ = [
        *((name, ctypes.c_int) for name in ("colorspace", "width", "height", "is_external_memory")),
        ("u", _Buffers),
        ("pad", ctypes.c_uint32 * 4),
        ("private_memory", ctypes.c_void_p),
    ]


class _Options(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_int)
        for name in (
            "bypass_filtering",
            "no_fancy_upsampling",
            "use_cropping",
            "crop_left",
            "crop_top",
            "crop_width",
            "crop_height",
            "use_scaling",
            "scaled_width",
            "scaled_height",
            "use_threads",
            "dithering_strength",
            "flip",
            "alpha_dithering_strength",
        )  # fmt: skip
    ] + [("pad", ctypes.c_uint32 * 5)]


class _Config(ctypes.Structure):
    _fields_ = [("input", _Features), ("output", _DecBuffer), ("options", _Options)]


@functools.cache
def _libwebp() -> ctypes.CDLL | None:
    """Pillow's libwebp (its wheels bundle it: pillow.libs/ on Linux, PIL/.dylibs/ on macOS), else the system's."""
    from PIL import _webp

    here = Path(_webp.__file__).parent
    found = [*sorted((here.parent / "pillow.libs").glob("libwebp-*")), *sorted((here / ".dylibs").glob("libwebp.*"))]
    name = str(found[0]) if found else ctypes.util.find_library("webp")
    if name is None:
        return None
    try:
        library = ctypes.CDLL(name)
        library.WebPInitDecoderConfigInternal.argtypes = [ctypes.POINTER(_Config), ctypes.c_int]
        library.WebPDecode.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Config)]
        library.WebPGetFeaturesInternal.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(_Features)]
    except (OSError, AttributeError):
        return None
    return library


def scaled_webp(data: bytes, size: tuple[int, int], alpha: bool) -> Image.Image | None:
    """The lossy still WebP `data` decoded straight to `size`, in RGBA if `alpha` else RGB; None for a lossless
    one or when libwebp cannot be called (the caller decodes with Pillow). ValueError when the data is corrupt."""
    library = _libwebp()
    config = _Config()
    if library is None or not library.WebPInitDecoderConfigInternal(ctypes.byref(config), _ABI_VERSION):
        return None
    status = library.WebPGetFeaturesInternal(data, len(data), ctypes.byref(config.input), _ABI_VERSION)
    if status != _OK or config.input.has_animation or config.input.format == _LOSSLESS:
        # Pillow says what is wrong, or decodes the animation; a lossless WebP (a screenshot, a drawing) is
        # decoded whole, as its colour count (a 256-colour one gets a PNG fallback) is that of every pixel.
        return None
    mode, channels = ("RGBA", 4) if alpha else ("RGB", 3)
    width, height = size
    pixels = ctypes.create_string_buffer(width * height * channels)
    output = config.output
    output.colorspace, output.is_external_memory = (_MODE_RGBA if alpha else _MODE_RGB), 1
    buffer = output.u.RGBA
    buffer.rgba, buffer.stride, buffer.size = ctypes.addressof(pixels), width * channels, len(pixels)
    config.options.use_scaling, config.options.scaled_width, config.options.scaled_height = 1, width, height
    status = library.WebPDecode(data, len(data), ctypes.byref(config))
    if status != _OK:
        raise ValueError(f"cannot decode WEBP image: libwebp status {status}")
    return Image.frombuffer(mode, size, pixels, "raw", mode, 0, 1).copy()
