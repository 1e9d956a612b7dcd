"""Responsive variants: decode a source once, resize it to each width (largest first), encode AVIF, WebP and a fallback.

Speed comes from JPEG draft mode (libjpeg scales by 1/2, 1/4 or 1/8 while decoding), `reducing_gap`
(an integer box reduce before the final Lanczos pass), a cascade (each width from the next larger one)
and encoder settings chosen by measurement: bench/README.md has the sweep behind every default.
Everything here is pure: bytes and settings in, bytes out, so it runs unchanged in a process pool.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import logging
import re
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields
from io import BytesIO
from typing import IO, Any

from PIL import Image, ImageChops, ImageCms, ImageSequence, UnidentifiedImageError, features

from .errors import ConfigError, reject_unknown_keys
from .heif import SIGNATURE, is_heif
from .png_bands import PngLayout, png_bands, png_layout, trailing_info
from .webp_scaled import scaled_webp

FORMATS = ("avif", "webp", "fallback")
# The only formats gallery opens, headers or pixels (JPEG's opener also returns MPO). Never EPS: Pillow hands
# it to Ghostscript. Nor PSD, PCX and the other formats Pillow knows, which no browser shows.
# HEIF (iPhone HEIC) only with the extra gallery[heic]: pillow-heif's opener, registered when a HEIF file is met.
DECODED = ("JPEG", "PNG", "GIF", "WEBP", "AVIF", "TIFF", "BMP", "ICO", "HEIF")
# Image formats Pillow opens only with a plugin, by their first bytes, and what to do about it.
_PLUGIN_FORMATS = (
    (SIGNATURE, "HEIC/HEIF", "pillow-heif", "pip install 'gallery[heic]', or convert it to JPEG"),
    (re.compile(rb"\xff\x0a|\0\0\0\x0cJXL "), "JPEG XL", "pillow-jxl-plugin", "convert it to JPEG or PNG"),
)
_LOSSY = ("JPEG", "MPO", "HEIF")  # their colour count says nothing: the fallback of an opaque one is JPEG
# What Pillow raises on data cut short or corrupt: RuntimeError from its AVIF plugin, IndexError and struct.error
# from a GIF frame cut short, ValueError also for a PNG text chunk that would inflate past
# PngImagePlugin.MAX_TEXT_CHUNK (a zTXt or iTXt bomb: refused, never inflated).
PILLOW_ERRORS = (OSError, SyntaxError, EOFError, ValueError, IndexError, RuntimeError, struct.error)
_CHOICES = {"color": ("keep", "srgb"), "animated": ("keep", "passthrough")}
_RANGES = {
    "avif_quality": (0, 100), "avif_speed": (0, 10), "webp_quality": (0, 100), "webp_method": (0, 6),
    "jpeg_quality": (1, 100), "png_compress_level": (0, 9), "max_pixels": (1, 2**40),
}  # fmt: skip
_NOT_IN_KEY = ("formats", "animated", "max_pixels")
_ORIENTATION = 0x0112
# EXIF Orientation -> the transpose that makes the stored pixels upright (as ImageOps.exif_transpose does)
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_270, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}  # fmt: skip
# Formats whose frames are an animation; MPO's second frame is a preview and TIFF's are pages: both are stills.
_ANIMATED = ("GIF", "WEBP", "PNG", "AVIF")
_SVG = re.compile(rb"<svg\b[^>]*>", re.IGNORECASE)
_SVG_ATTR = re.compile(rb"""\b(width|height|viewBox)\s*=\s*["']([^"']*)["']""")
PLACEHOLDER_EDGE = 16  # px: 16x12 for a 4:3 photo, about 150 bytes of WebP
PLACEHOLDER_QUALITY = 60  # measured: bytes against colour error of the blurred preview (README)
_REDUCING_GAP = 3.0  # Pillow: "3.0 is indistinguishable from fair resampling"; measured in bench/README.md
_BAND_BYTES = 8 << 20  # what a band of a full-size image (4 bytes a pixel) holds while it is converted or reduced


@dataclass(frozen=True, slots=True)
class VariantSettings:
    """`[gallery.variants]`: which variants to build and how to encode them (defaults measured, bench/README.md)."""

    widths: tuple[int, ...] = (480, 960, 1600)
    formats: tuple[str, ...] = FORMATS  # "fallback" is JPEG for photos, PNG for alpha or few colours, GIF if animated
    avif_quality: int = 50
    avif_speed: int = 8  # 3.4x faster than 6 (sharp's effort 3) for +5% bytes and -0.004 SSIM
    webp_quality: int = 80
    webp_method: int = 4  # 2 costs +3% bytes, 5 and 6 are slower and no better by SSIM
    jpeg_quality: int = 80
    jpeg_progressive: bool = True  # -3% bytes against optimized baseline, same pixels
    png_compress_level: int = 6
    color: str = "keep"  # "keep" the ICC profile, or "srgb": convert to sRGB and drop it
    animated: str = "keep"  # "keep" the animation, or "passthrough": no variants, the source is used as is
    max_pixels: int = 200_000_000  # larger sources (all frames together, if animated) are refused

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "[gallery.variants]") -> VariantSettings:
        """Build VariantSettings from the `[gallery.variants]` table; unknown keys or bad values are a ConfigError."""
        reject_unknown_keys(table, (f.name for f in fields(cls)), where)
        return cls(**{key: _checked(key, value, where) for key, value in table.items()})

    def key(self) -> str:
        """Stable text of every setting that changes output bytes, and the codec versions, for content hashes."""
        # widths count: each width is resized from the next larger one. formats, animated and max_pixels
        # decide which variants exist, never their bytes.
        chosen = (f"{f.name}={getattr(self, f.name)}" for f in fields(self) if f.name not in _NOT_IN_KEY)
        return " ".join((*chosen, _LIBRARIES))


def _libraries() -> str:
    """Versions of the libraries that write variant bytes."""
    names = ("avif", "webp", "libjpeg_turbo", "zlib_ng", "zlib", "littlecms2")
    versions = [f"pillow={Image.__version__}", *(f"{name}={features.version(name)}" for name in names)]
    if features.check("avif"):
        from PIL import _avif  # private, but the only place Pillow names libavif's AV1 encoder and its version

        versions.append(f"av1={_avif.codec_versions()}")
    return " ".join(versions)


_LIBRARIES = _libraries()


@dataclass(frozen=True, slots=True)
class VariantSpec:
    """One variant to build: a width and a format ("avif", "webp", "jpeg", "png" or "gif")."""

    width: int
    format: str


@dataclass(frozen=True, slots=True)
class RenderedVariant:
    """An encoded variant and its pixel size."""

    spec: VariantSpec
    width: int
    height: int
    data: bytes


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """What render_variants learned about a source. `width`/`height` are upright (EXIF orientation applied)."""

    width: int  # 0 for an SVG without a size in px
    height: int
    format: str  # Pillow's name ("JPEG", "PNG", ...) or "SVG"
    fallback: str  # the <img> format: "jpeg", "png", "gif"; with no variants, the source's ("svg", "gif", ...)
    animated: bool
    placeholder: str = ""  # see `placeholder`: "" for SVG, animations and images with transparency


def variant_specs(width: int, height: int, fallback: str, settings: VariantSettings) -> tuple[VariantSpec, ...]:
    """The variants of a `width` x `height` source: no upscaling, its own width when below the largest; sorted."""
    del height  # widths only: a tall narrow source still gets every width it covers
    widths = {w for w in settings.widths if w <= width}
    if width < max(settings.widths):
        widths.add(width)
    formats = dict.fromkeys(fallback if f == "fallback" else f for f in settings.formats)
    return tuple(VariantSpec(w, f) for w in sorted(widths) for f in formats)


def fallback_format(image: Image.Image) -> str:
    """The fallback format: gif if animated, png for visible alpha or few colours (a 256-colour palette), else jpeg."""
    if _is_animated(image):
        return "gif"
    if _has_alpha(image):
        return "png"
    if image.format in _LOSSY:
        return "jpeg"
    # A palette or greyscale source always fits; getcolors stops counting past maxcolors (about 20 ms on 24 MP).
    if image.mode in ("1", "L", "LA", "P", "PA", "F") or image.mode.startswith("I") or image.getcolors(256):
        return "png"
    return "jpeg"


def render_variants(data: bytes, settings: VariantSettings) -> tuple[SourceInfo, tuple[RenderedVariant, ...]]:
    """Decode `data` once and encode every variant (none for SVG, passthrough); ValueError when undecodable."""
    svg = _svg_size(data)
    if svg is not None:
        return SourceInfo(svg[0], svg[1], "SVG", "svg", False), ()
    with pillow_limits(settings.max_pixels):
        image = open_image(data, settings.max_pixels)
        if _is_animated(image):
            return _render_animation(image, settings)
        return _render_still(image, data, settings)


def _checked(key: str, value: Any, where: str) -> Any:
    """A `[gallery.variants]` value as VariantSettings holds it, or a ConfigError saying what is allowed."""
    if key == "widths":
        if isinstance(value, list) and value and all(_whole(w, 1, 65535) for w in value):
            return tuple(sorted(set(value)))
        wanted = "a list of pixel widths (1 to 65535)"
    elif key == "formats":
        if isinstance(value, list) and value and set(value) <= set(FORMATS):
            return tuple(dict.fromkeys(value))
        wanted = f"a list of {', '.join(FORMATS)}"
    elif key == "jpeg_progressive":
        if isinstance(value, bool):
            return value
        wanted = "true or false"
    elif key in _CHOICES:
        if value in _CHOICES[key]:
            return value
        wanted = f"one of {', '.join(_CHOICES[key])}"
    else:
        low, high = _RANGES[key]
        if _whole(value, low, high):
            return value
        wanted = f"a whole number from {low} to {high}"
    raise ConfigError(f"{where} {key} must be {wanted}, got {value!r}")


def _whole(value: Any, low: int, high: int) -> bool:
    # bool is an int in Python, but `avif_speed = true` is a mistake
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _svg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) in px of an SVG (0, 0 when not given in px), or None when `data` is not SVG."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    if not head.startswith(b"<") or (tag := _SVG.search(head)) is None:
        return None
    attrs = {k.decode(): v.decode("ascii", "replace").strip() for k, v in _SVG_ATTR.findall(tag[0])}
    sizes = [attrs.get(k, "").removesuffix("px") for k in ("width", "height")]
    if all(re.fullmatch(r"\d+(\.\d+)?", s) for s in sizes):
        return round(float(sizes[0])), round(float(sizes[1]))
    box = attrs.get("viewBox", "").replace(",", " ").split()
    if len(box) == 4 and all(re.fullmatch(r"-?\d+(\.\d+)?", b) for b in box):
        return round(float(box[2])), round(float(box[3]))
    return 0, 0


@contextlib.contextmanager
def pillow_limits(max_pixels: int | None) -> Iterator[None]:
    """Decode under Pillow's decompression-bomb limit at `max_pixels` (None: off), its warning made an error.

    MAX_IMAGE_PIXELS is a module global that Pillow checks when it opens an image and again for some
    frames it loads: set for the block, then restored. Pillow's other warnings (corrupt EXIF, an odd APNG)
    and its log records (a TIFF's bad header, which logging's last resort prints) are silenced: they would
    be lines on stderr naming no file, about a problem gallery reports itself when it matters.
    """
    log = logging.getLogger("PIL")
    limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, max_pixels
    level = log.level
    log.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            yield
    finally:
        Image.MAX_IMAGE_PIXELS = limit
        log.setLevel(level)


@functools.cache
def decoded_formats() -> tuple[str, ...]:
    """DECODED, less the formats this Pillow was built without (Image.open raises KeyError for those)."""
    Image.init()
    return tuple(f for f in DECODED if f in Image.OPEN)


@functools.cache
def _heif_opener() -> bool:
    """Register pillow-heif's opener with Pillow (once, and only when a HEIF file is met: importing it takes
    about 20 ms); False when the extra gallery[heic] is not installed."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:
        return False
    # No thumbnails, depth maps or auxiliary images: gallery only reads the primary picture.
    register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    decoded_formats.cache_clear()
    return True


def open_header(fp: IO[bytes], max_pixels: int) -> Image.Image:
    """Open lazily (the header only) with the allowed decoders; ValueError saying why when it cannot be,
    or when the image has more than `max_pixels` pixels."""
    if is_heif(fp.read(12)):
        _heif_opener()
    fp.seek(0)
    # Pillow's own limit is off while it reads the header, so that the size is known for the message;
    # nothing is decoded before the test below, but for an ICO file, tested first.
    largest = max(_ico_sizes(fp), key=lambda size: size[0] * size[1], default=(0, 0))
    if largest[0] * largest[1] > max_pixels:
        raise ValueError(_too_large(*largest, max_pixels))
    try:
        with pillow_limits(None):
            image = Image.open(fp, formats=decoded_formats())
    except PILLOW_ERRORS as e:
        fp.seek(0)
        raise ValueError(unreadable_reason(fp.read(64), e)) from e
    if image.width * image.height > max_pixels:
        raise ValueError(_too_large(image.width, image.height, max_pixels))
    return image


def _too_large(width: int, height: int, max_pixels: int) -> str:
    return (
        f"too large: {width}x{height} px is over the decompression-bomb limit,"
        f" [gallery.variants] max_pixels = {max_pixels}: not decoded"
    )


def _ico_sizes(fp: IO[bytes]) -> list[tuple[int, int]]:
    """The size of each image an ICO file holds, from its PNG or BMP header; [] for other files.

    Pillow decodes an ICO's largest image while it opens the file, with no pixel limit: a PNG inside
    may claim any size, whatever the ICO's own directory says.
    """
    fp.seek(0)
    head = fp.read(6)
    if head[:4] != b"\0\0\1\0":
        fp.seek(0)
        return []
    entries = fp.read(16 * int.from_bytes(head[4:6], "little"))
    sizes = []
    for at in range(0, len(entries) - 15, 16):
        fp.seek(int.from_bytes(entries[at + 12 : at + 16], "little"))  # where the image's data starts
        image = fp.read(24)
        if image.startswith(b"\x89PNG"):  # IHDR: width, height
            sizes.append((int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")))
        else:  # BITMAPINFOHEADER: signed width and height, the height twice (colour, then mask)
            width, height = (abs(int.from_bytes(image[i : i + 4], "little", signed=True)) for i in (4, 8))
            sizes.append((width, height // 2))
    fp.seek(0)
    return sizes


def unreadable_reason(head: bytes, error: Exception) -> str:
    """Why a file starting with `head` did not open (`error`, Pillow's words): empty, a format gallery does not
    read (named when known), or a corrupt header."""
    if not head:
        return "empty file, not an image"
    Image.init()  # every plugin, not only the few Pillow loads first
    known = next((name for name in Image.ID if _accepts(name, head)), None)
    if known in DECODED:
        # Pillow's "cannot identify image file <_io.BytesIO ...>" says no more than that the header is bad.
        detail = "corrupt header" if isinstance(error, UnidentifiedImageError) else error
        return f"cannot open {known} image: {detail}"
    if known is not None:
        return f"{known} image: gallery reads only {', '.join(DECODED)} and SVG"
    for signature, name, plugin, fix in _PLUGIN_FORMATS:
        if signature.match(head):
            return f"{name} image: Pillow decodes it only with a plugin ({plugin}); {fix}"
    return f"not an image Pillow can read (gallery reads {', '.join(DECODED)} and SVG)"


def _accepts(name: str, head: bytes) -> bool:
    """Whether Pillow's plugin `name` claims bytes starting with `head` (its accept test looks at bytes only)."""
    accept = Image.OPEN[name][1]
    try:
        return accept is not None and bool(accept(head))
    except Exception:  # noqa: BLE001 - some accept tests fail on a short head instead of saying no
        return False


def open_image(data: bytes, max_pixels: int) -> Image.Image:
    """Open `data` lazily with the allowed decoders; ValueError saying why when it cannot be, or when it
    (all frames together, if animated) has more than `max_pixels` pixels."""
    image = open_header(BytesIO(data), max_pixels)
    try:
        frames = getattr(image, "n_frames", 1) if _is_animated(image) else 1  # a GIF's frames are read to count them
    except PILLOW_ERRORS as e:
        raise ValueError(f"cannot read the frames of {image.format} image (cut short or corrupt): {e}") from e
    if frames * image.width * image.height > max_pixels:
        raise ValueError(
            f"animation too large: {frames} frames of {image.width}x{image.height} px are over"
            f" [gallery.variants] max_pixels = {max_pixels}: not decoded"
        )
    return image


def _is_animated(image: Image.Image) -> bool:
    return image.format in _ANIMATED and getattr(image, "n_frames", 1) > 1


def _decoded(image: Image.Image) -> None:
    """Load the pixels; data cut short or corrupt is a ValueError (Pillow's verify() misses a truncated JPEG)."""
    try:
        image.load()
    except PILLOW_ERRORS as e:
        raise ValueError(f"cannot decode {image.format} image: {e}") from e


def _sizes(specs: tuple[VariantSpec, ...], width: int, height: int) -> list[tuple[int, int]]:
    """(width, height) of each variant width, largest first; heights rounded half up, at least 1."""
    widths = sorted({spec.width for spec in specs}, reverse=True)
    return [(w, max(1, (2 * w * height + width) // (2 * width))) for w in widths]


def _resized(
    image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float] | None = None
) -> Image.Image:
    """`image` (or its `box`) resized to `size` with Lanczos, after an integer box reduce (reducing_gap)."""
    if image.size == size and box is None:
        return image
    return image.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=_REDUCING_GAP)


def reduction(size: tuple[int, int], target: tuple[int, int], gap: float) -> tuple[int, int]:
    """The integer box reduction (per axis) that Pillow's resize(target, reducing_gap=gap) applies first."""
    return max(1, int(size[0] / target[0] / gap)), max(1, int(size[1] / target[1] / gap))


def band_rows(width: int, multiple: int = 1) -> int:
    """The rows of a band of an image `width` px wide: a few MB at 4 bytes a pixel, a `multiple` of rows."""
    return max(1, _BAND_BYTES // (4 * width * multiple)) * multiple


def bands(image: Image.Image, multiple: int = 1) -> Iterator[tuple[int, Image.Image]]:
    """(top row, copy of those rows) of a loaded `image`, a few MB at a time, each band a `multiple` of rows high."""
    rows = band_rows(image.width, multiple)
    for top in range(0, image.height, rows):
        yield top, image.crop((0, top, image.width, min(image.height, top + rows)))


def reduced(
    image: Image.Image, factor: tuple[int, int], convert: Callable[[Image.Image], Image.Image],
    decoded: Iterator[tuple[int, Image.Image]] | None = None,
) -> Image.Image:  # fmt: skip
    """`convert(image).reduce(factor)`, made a band at a time: neither a full-size converted copy nor the
    full-size premultiplied copy Pillow's reduce makes of RGBA and LA ever exists. Same pixels, as `convert`
    works pixel by pixel and bands are whole blocks of `factor` rows. The bands are cut from the loaded
    `image`, or come `decoded` a band at a time (a large PNG), each a multiple of `factor` rows high."""
    out: Image.Image | None = None
    for top, band in bands(image, factor[1]) if decoded is None else decoded:
        small = convert(band)
        small = small if factor == (1, 1) else small.reduce(factor)
        if out is None:
            out = Image.new(small.mode, (-(-image.width // factor[0]), -(-image.height // factor[1])))
        out.paste(small, (0, top // factor[1]))
    assert out is not None  # an image has at least one row
    return out


def shrunk(
    image: Image.Image, data: bytes, factor: tuple[int, int], convert: Callable[[Image.Image], Image.Image]
) -> Image.Image:
    """`convert` of `image`'s pixels (`data`) box-reduced by `factor`: libwebp scales a lossy WebP while it decodes
    it, a PNG is decoded and reduced a band at a time; other images are decoded whole (a JPEG at its draft
    scale) and reduced a band at a time."""
    scaled = _scaled_webp(image, data, factor) if image.format == "WEBP" and factor != (1, 1) else None
    if scaled is not None:
        return convert(scaled)
    layout = _png_layout(image, data) if factor != (1, 1) else None
    if layout is not None:
        return reduced(image, factor, convert, png_bands(image, data, layout, band_rows(image.width, factor[1])))
    _decoded(image)
    return convert(image) if factor == (1, 1) else reduced(image, factor, convert)


def _png_layout(image: Image.Image, data: bytes) -> PngLayout | None:
    """Where the pixels of PNG `image` (`data`) are, for png_bands, with the EXIF and text that follow them read
    into `image.info`; None when it is to be decoded whole (not a PNG, or one png_bands does not read)."""
    if image.format != "PNG" or not image.tile or (layout := png_layout(data)) is None:
        return None
    if (image.mode, image.size, image.tile[0][2]) != (layout.mode, (layout.width, layout.height), layout.idat[0][0]):
        return None  # Pillow read the header otherwise: let it decode
    try:
        image.info.update(trailing_info(data, layout))
    except (*PILLOW_ERRORS, zlib.error):
        return None  # Pillow's decode says what is wrong with the chunk
    # PngImageFile.getexif decodes the whole image unless info has "exif" (an eXIf chunk may follow the
    # pixels, and Pillow reads those chunks only then): they were read above; None is "no EXIF" to getexif.
    image.info.setdefault("exif", None)
    return layout


def upright(pixels: Image.Image, source: Image.Image) -> Image.Image:
    """`pixels` of `source` (maybe reduced) turned as `source`'s EXIF orientation says."""
    orientation = _orientation(source)
    return pixels.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else pixels


def _reduced_box(size: tuple[int, int], factor: tuple[int, int]) -> tuple[float, float, float, float]:
    """The whole source, in the coordinates of its reduction by `factor` (the last block may be partial)."""
    return 0.0, 0.0, size[0] / factor[0], size[1] / factor[1]


def _orientation(image: Image.Image) -> int:
    """EXIF Orientation 1-8 (1 when absent or invalid), as browsers read it."""
    value = image.getexif().get(_ORIENTATION, 1)
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _has_alpha(image: Image.Image) -> bool:
    """Whether some pixel is not fully opaque."""
    if not image.has_transparency_data:
        return False
    for _, band in bands(image):  # a band at a time: a palette image converted whole to RGBA is 4 bytes a pixel
        low, _ = (band if band.mode in ("RGBA", "LA") else band.convert("RGBA")).getchannel("A").getextrema()
        if isinstance(low, int) and low < 255:
            return True
    return False


def _render_still(
    image: Image.Image, data: bytes, settings: VariantSettings
) -> tuple[SourceInfo, tuple[RenderedVariant, ...]]:
    """Decode once, at the smallest scale the decoder offers (JPEG's DCT scaling, libwebp's rescaler), reduce
    by an integer factor a band at a time, then resize largest first and encode each width. At most one
    full-size buffer exists (the decoded image of a TIFF, AVIF, GIF, lossless WebP or a PNG png_bands does not
    read: a large 8-bit one is decoded a band at a time); see bench/README.md."""
    source_format = image.format or ""
    layout = _png_layout(image, data)
    if source_format not in ("JPEG", "MPO", "WEBP") and layout is None:
        _decoded(image)  # no draft for these; PNG may also keep its EXIF after the pixel data
    orientation = _orientation(image)
    swap = orientation in (5, 6, 7, 8)
    width, height = (image.height, image.width) if swap else image.size
    widest = _sizes(variant_specs(width, height, "jpeg", settings), width, height)[0]  # whatever the fallback
    largest = widest[::-1] if swap else widest  # as stored
    if source_format in ("JPEG", "MPO"):
        image.draft(image.mode, largest)  # the smallest DCT scale (1/8, 1/4, 1/2) still at least `largest`
        _decoded(image)
    factor = reduction(image.size, largest, _REDUCING_GAP)
    if layout is not None and factor == (1, 1):
        _decoded(image)  # not much larger than the largest variant: as fast, and no band to gain
        layout = None
    scaled = _scaled_webp(image, data, factor) if source_format == "WEBP" and factor != (1, 1) else None
    if scaled is None and source_format == "WEBP":
        _decoded(image)
    if layout is not None:
        survey = _Survey(image)
        banded = png_bands(image, data, layout, band_rows(image.width, factor[1]))
        current, fallback = reduced(image, factor, survey, banded), survey.fallback()
    else:
        fallback = fallback_format(image if scaled is None else scaled)
    specs = variant_specs(width, height, fallback, settings)
    sizes = _sizes(specs, width, height)
    box = None
    if factor != (1, 1):
        if layout is None:
            alpha = fallback == "png" and _has_alpha(image if scaled is None else scaled)
            reducible = functools.partial(_reducible, alpha=alpha)
            current = reducible(scaled) if scaled is not None else reduced(image, factor, reducible)
        current.info = {k: v for k, v in image.info.items() if k != "transparency"}  # the profile, Adobe's marker
        box = _reduced_box(image.size, factor)
    current, icc = _normalized(image if box is None else current, source_format, fallback)
    # The largest width is resized before transposing and colour conversion (fewer pixels to move), and
    # each smaller width from the one before it.
    current = _resized(current, largest, box)
    current = current.transpose(_TRANSPOSE[orientation]) if orientation in _TRANSPOSE else current
    current, icc = _colour_managed(current, icc, settings.color)
    rendered: list[RenderedVariant] = []
    for size in sizes:
        current = _resized(current, size)
        rendered += [
            RenderedVariant(spec, *size, _encode([current], spec.format, icc, settings))
            for spec in specs
            if spec.width == size[0]
        ]
    info = SourceInfo(width, height, source_format, fallback, False, placeholder(current, icc))
    return info, tuple(sorted(rendered, key=lambda r: specs.index(r.spec)))


def placeholder(image: Image.Image, icc: bytes | None) -> str:
    """A `data:` URI of `image` at most PLACEHOLDER_EDGE px on its long edge, sRGB WebP without metadata (about
    200 characters): shown behind the <img> while it loads, a browser's smooth upscaling blurs it. "" for an
    image with transparency, which would show it through."""
    if "A" in image.mode:
        return ""
    scale = PLACEHOLDER_EDGE / max(image.size)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    small = image.resize(size, Image.Resampling.BOX) if scale < 1 else image
    # No profile in 200 bytes: the colours themselves go to sRGB, as browsers show untagged images.
    small = _to_srgb(small, icc, "RGB") if icc is not None else small.convert("RGB")
    out = BytesIO()
    small.save(out, "WEBP", quality=PLACEHOLDER_QUALITY, method=6)
    return "data:image/webp;base64," + base64.b64encode(out.getvalue()).decode("ascii")


def placeholder_of(data: bytes, max_pixels: int) -> str:
    """The placeholder of a variant (upright, no EXIF): for one made before placeholders were, nothing re-rendered."""
    with pillow_limits(max_pixels):
        image = open_image(data, max_pixels)
        if _is_animated(image):
            return ""
        image.draft("RGB", (PLACEHOLDER_EDGE, PLACEHOLDER_EDGE))  # JPEG: decoded at 1/8 scale
        _decoded(image)
        current, icc = _normalized(image, image.format or "", fallback_format(image))
        return placeholder(current, icc)


class _Survey:
    """Converts the bands of a still for `reduced` as `_reducible` does, keeping the alpha channel while some
    pixel may use it, and learns on the way what `fallback_format` asks of the whole image: whether some
    pixel is transparent, and whether it has at most 256 colours. One pass over a PNG decoded in bands.
    Reducing with an opaque alpha channel gives the pixels reducing without it does (premultiplying by 255
    changes nothing); `_normalized` then drops the channel."""

    def __init__(self, image: Image.Image) -> None:
        self._truecolour = image.mode in ("RGB", "RGBA")  # grey and palette images always fit in a PNG
        self._maybe_alpha = image.has_transparency_data
        self._alpha = False
        self._colours: set[Any] | None = set() if self._truecolour else None  # None: more than 256 or not counted

    def __call__(self, band: Image.Image) -> Image.Image:
        converted = _reducible(band, alpha=self._maybe_alpha)
        if self._maybe_alpha and not self._alpha:
            low, _ = converted.getchannel("A").getextrema()
            self._alpha = isinstance(low, int) and low < 255
        if self._colours is not None and not self._alpha:
            found = converted.getcolors(256)
            self._colours = None if found is None else self._colours.union(colour for _, colour in found)
            self._colours = None if self._colours is None or len(self._colours) > 256 else self._colours
        return converted

    def fallback(self) -> str:
        """fallback_format of the image whose bands were all converted."""
        return "png" if self._alpha or not self._truecolour or self._colours is not None else "jpeg"


def _reducible(image: Image.Image, alpha: bool) -> Image.Image:
    """`image` in a mode Pillow can box-reduce (not P, 1 or 16-bit): the mode `_normalized` would convert it to,
    or, for CMYK, 32-bit and float pixels (converted after), the same."""
    if image.mode in ("CMYK", "I", "F"):
        return image
    if image.mode.startswith("I"):
        return image.convert("I")
    target = _target_mode(image.mode, alpha)
    return image if image.mode == target else image.convert(target)


def _target_mode(mode: str, alpha: bool) -> str:
    """L, LA, RGB or RGBA: grey stays grey, an alpha channel is kept only when some pixel uses it."""
    grey = mode in ("1", "L", "LA", "La")
    return ("LA" if alpha else "L") if grey else ("RGBA" if alpha else "RGB")


def _scaled_webp(image: Image.Image, data: bytes, factor: tuple[int, int]) -> Image.Image | None:
    """A lossy still WebP decoded by libwebp straight to its size reduced by `factor` (None: decode with Pillow)."""
    size = (-(-image.width // factor[0]), -(-image.height // factor[1]))
    return scaled_webp(data, size, image.mode == "RGBA")


def _normalized(image: Image.Image, source_format: str, fallback: str) -> tuple[Image.Image, bytes | None]:
    """Loaded pixels in L, LA, RGB or RGBA with no metadata attached, and the ICC profile they are in."""
    icc = image.info.get("icc_profile") or None
    mode = image.mode
    if mode == "CMYK":
        # Pillow always reads CMYK JPEGs with Adobe's inverted polarity (JpegImagePlugin: "assume adobe
        # conventions"); files without an Adobe APP14 marker store plain CMYK, as browsers assume.
        if source_format in ("JPEG", "MPO") and "adobe" not in image.info:
            image = ImageChops.invert(image)
        # A CMYK profile cannot describe RGB pixels: convert through it, and the pixels are sRGB.
        image, icc = (_to_srgb(image, icc, "RGB") if icc else image.convert("RGB")), None
    elif mode.startswith("I") or mode == "F":
        # 16-bit grey (I;16, I;16B, I) and float: convert("L") clips every value above 255 to white, and
        # so do the WebP and AVIF savers. Scale 0-65535 down to 0-255 first.
        image = image.convert("I").point(lambda v: v / 256).convert("L")
    else:
        alpha = fallback == "png" and _has_alpha(image)  # an opaque alpha channel is dropped
        target = _target_mode(mode, alpha)
        image = image if mode == target else image.convert(target)
    if icc is not None and (image.mode in ("L", "LA") or icc[16:20] != b"RGB "):  # ICC header: colour space
        # A grey profile does not survive WebP (which stores grey as RGB), and a profile of another colour
        # space than the pixels' is ignored or misread by browsers: convert such pixels to sRGB instead.
        image, icc = _to_srgb(image, icc, "RGBA" if "A" in image.mode else "RGB"), None
    image.info.clear()  # EXIF, XMP, comments, transparency: nothing reaches an encoder but pixels and `icc`
    return image, icc


_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _to_srgb(image: Image.Image, icc: bytes, mode: str) -> Image.Image:
    """`image` converted from profile `icc` to sRGB in `mode`; a profile LittleCMS cannot read counts as sRGB."""
    try:
        source = ImageCms.ImageCmsProfile(BytesIO(icc))
        converted = ImageCms.profileToProfile(
            image, source, _SRGB, renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC, outputMode=mode
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        converted = None
    return image.convert(mode) if converted is None else converted


def _colour_managed(image: Image.Image, icc: bytes | None, color: str) -> tuple[Image.Image, bytes | None]:
    """With color = "srgb", the pixels converted to sRGB and no profile; else unchanged, with their profile."""
    if color != "srgb" or icc is None:
        return image, icc
    return _to_srgb(image, icc, image.mode), None


def _encode(
    frames: list[Image.Image], fmt: str, icc: bytes | None, settings: VariantSettings,
    durations: tuple[int, ...] = (), loop: int = 0,
) -> bytes:  # fmt: skip
    """Still or animated image in `fmt`, with `icc` embedded when there is one, and no other metadata."""
    s = settings
    savers: dict[str, tuple[str, dict[str, Any]]] = {
        # max_threads=1: aom's output changes with its thread count, and a process pool already uses every core
        "avif": ("AVIF", {"quality": s.avif_quality, "speed": s.avif_speed, "max_threads": 1}),
        "webp": ("WEBP", {"quality": s.webp_quality, "method": s.webp_method}),
        "jpeg": ("JPEG", {"quality": s.jpeg_quality, "optimize": True, "progressive": s.jpeg_progressive}),
        "png": ("PNG", {"compress_level": s.png_compress_level}),
        # disposal 2 (restore to background) so a pixel that turns transparent does not show the frame before
        "gif": ("GIF", {"disposal": 2}),
    }
    name, options = savers[fmt]
    if len(frames) > 1:
        options |= {"save_all": True, "append_images": frames[1:], "duration": list(durations), "loop": loop}
    out = BytesIO()
    frames[0].save(out, name, icc_profile=icc, **options)
    return out.getvalue()


def _render_animation(image: Image.Image, settings: VariantSettings) -> tuple[SourceInfo, tuple[RenderedVariant, ...]]:
    """Every frame decoded once and resized to each width; encoded as animated AVIF, WebP and GIF (ICC dropped)."""
    source_format = image.format or ""
    width, height = image.size
    if settings.animated == "passthrough":
        return SourceInfo(width, height, source_format, source_format.lower(), True), ()
    specs = variant_specs(width, height, "gif", settings)
    sizes = _sizes(specs, width, height)
    frames: dict[tuple[int, int], list[Image.Image]] = {size: [] for size in sizes}
    durations: list[int] = []
    try:
        for frame in ImageSequence.Iterator(image):
            delay = int(frame.info.get("duration") or 0)
            # Chromium and Firefox play a GIF delay of 0 or 10 ms as 100 ms; WebP and AVIF players don't.
            durations.append(100 if source_format == "GIF" and delay <= 10 else delay)
            current = frame.convert("RGBA")
            for size in sizes:
                current = _resized(current, size)
                frames[size].append(current)
    except PILLOW_ERRORS as e:
        raise ValueError(f"cannot decode {source_format} animation: {e}") from e
    loop = int(image.info.get("loop", 0))
    rendered = tuple(
        RenderedVariant(spec, *size, _encode(frames[size], spec.format, None, settings, tuple(durations), loop))
        for spec in specs
        for size in sizes
        if size[0] == spec.width
    )
    return SourceInfo(width, height, source_format, "gif", True), rendered
