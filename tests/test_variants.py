"""Responsive variants: width selection, settings, and real decoding and encoding checked on pixels and bytes."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from io import BytesIO

import piexif
import pytest
from conftest import REPO
from PIL import Image, ImageChops, ImageDraw

from gallery.errors import ConfigError
from gallery.metadata import read_metadata
from gallery.variants import (
    RenderedVariant,
    VariantSettings,
    VariantSpec,
    fallback_format,
    render_variants,
    variant_specs,
)

SMALL = VariantSettings(widths=(40,))
QUADRANTS = ((255, 0, 0), (0, 200, 0), (0, 0, 255), (255, 255, 255))  # top-left, top-right, bottom-left, bottom-right
# The transpose that stores an upright image under EXIF Orientation o (the inverse of what a viewer applies)
STORED = {
    1: None, 2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180, 4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE, 6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}  # fmt: skip


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def decoded(variant: RenderedVariant) -> Image.Image:
    image = Image.open(BytesIO(variant.data))
    assert image.size == (variant.width, variant.height)
    assert image.format == variant.spec.format.upper()
    return image


def quadrants(size: tuple[int, int]) -> Image.Image:
    """An upright RGB image with four coloured quadrants, so every flip and rotation shows."""
    image = Image.new("RGB", size)
    w, h = size
    draw = ImageDraw.Draw(image)
    for (x, y), colour in zip(((0, 0), (1, 0), (0, 1), (1, 1)), QUADRANTS):
        draw.rectangle([x * w // 2, y * h // 2, (x + 1) * w // 2, (y + 1) * h // 2], fill=colour)
    return image


def photo(size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A photo-like RGB image: noise over gradients, thousands of colours."""
    noise = Image.effect_noise(size, 30)
    return Image.merge("RGB", (Image.linear_gradient("L").resize(size), noise, Image.radial_gradient("L").resize(size)))


def near(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 48) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected))


def srgb_icc(swap_red_green: bool = False) -> bytes:
    """An ICC v2 RGB matrix/TRC profile: sRGB's D50 primaries and gamma 2.2, red and green swapped if asked."""
    primaries = [(0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)]
    if swap_red_green:
        primaries[0], primaries[1] = primaries[1], primaries[0]

    def xyz(values: tuple[float, ...]) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(struct.pack(">i", round(v * 65536)) for v in values)

    text = b"test profile\0"
    desc = b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 8 + b"\0\0\0" + b"\0" * 67
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0233) + b"\0\0"  # gamma 2.2 in u8Fixed8
    tags = [(b"desc", desc), (b"wtpt", xyz((0.9642, 1.0, 0.8249)))]
    tags += [(name, xyz(p)) for name, p in zip((b"rXYZ", b"gXYZ", b"bXYZ"), primaries)]
    tags += [(name, curve) for name in (b"rTRC", b"gTRC", b"bTRC")]
    offset, table, body = 128 + 4 + 12 * len(tags), b"", b""
    for name, data in tags:
        data += b"\0" * (-len(data) % 4)
        table += name + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = 128 + 4 + len(table) + len(body)
    header = struct.pack(">I4sI4s4s4s12s4s", size, b"lcms", 0x02100000, b"mntr", b"RGB ", b"XYZ ", b"\0" * 12, b"acsp")
    header += b"\0" * (68 - len(header)) + xyz((0.9642, 1.0, 0.8249))[8:]
    header += b"\0" * (128 - len(header))
    return header + struct.pack(">I", len(tags)) + table + body


def without_segment(jpeg: bytes, marker: int) -> bytes:
    """`jpeg` with every segment of `marker` (e.g. 0xEE, Adobe APP14) removed from its header."""
    out, at = bytearray(jpeg[:2]), 2
    while jpeg[at + 1] != 0xDA:  # up to the start of scan
        length = struct.unpack(">H", jpeg[at + 2 : at + 4])[0]
        if jpeg[at + 1] != marker:
            out += jpeg[at : at + 2 + length]
        at += 2 + length
    return bytes(out + jpeg[at:])


# --- width selection and settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "expected"),
    [
        (4000, (480, 960, 1600)),
        (1600, (480, 960, 1600)),
        (1599, (480, 960, 1599)),
        (1000, (480, 960, 1000)),
        (960, (480, 960)),  # its own width is already one of the widths: no duplicate
        (700, (480, 700)),
        (480, (480,)),
        (300, (300,)),
        (1, (1,)),
    ],
)
def test_variant_specs_never_upscale(width: int, expected: tuple[int, ...]) -> None:
    specs = variant_specs(width, 500, "jpeg", VariantSettings())
    assert specs == tuple(VariantSpec(w, f) for w in expected for f in ("avif", "webp", "jpeg"))


def test_variant_specs_formats_follow_settings_and_fallback() -> None:
    settings = VariantSettings(widths=(100, 200), formats=("fallback", "webp"))
    assert variant_specs(150, 10, "png", settings) == (
        VariantSpec(100, "png"), VariantSpec(100, "webp"), VariantSpec(150, "png"), VariantSpec(150, "webp"),
    )  # fmt: skip


def test_from_table_reads_every_key() -> None:
    settings = VariantSettings.from_table(
        {"widths": [960, 320, 960], "formats": ["webp", "fallback", "webp"], "avif_quality": 60, "avif_speed": 6,
         "webp_quality": 70, "webp_method": 6, "jpeg_quality": 85, "jpeg_progressive": False,
         "png_compress_level": 9, "color": "srgb", "animated": "passthrough", "max_pixels": 1000}
    )  # fmt: skip
    assert settings == VariantSettings(
        widths=(320, 960), formats=("webp", "fallback"), avif_quality=60, avif_speed=6, webp_quality=70,
        webp_method=6, jpeg_quality=85, jpeg_progressive=False, png_compress_level=9, color="srgb",
        animated="passthrough", max_pixels=1000,
    )  # fmt: skip
    assert VariantSettings.from_table({}) == VariantSettings()


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"width": [480]}, "unknown key width"),
        ({"widths": []}, "widths must be a list"),
        ({"widths": [0]}, "widths must be a list"),
        ({"widths": 480}, "widths must be a list"),
        ({"formats": ["jpeg"]}, "formats must be a list of avif, webp, fallback"),
        ({"avif_speed": 11}, "avif_speed must be a whole number from 0 to 10"),
        ({"avif_quality": True}, "avif_quality must be a whole number"),
        ({"webp_method": 4.0}, "webp_method must be a whole number"),
        ({"jpeg_progressive": "yes"}, "jpeg_progressive must be true or false"),
        ({"color": "p3"}, "color must be one of keep, srgb"),
        ({"animated": "drop"}, "animated must be one of keep, passthrough"),
    ],
)
def test_from_table_rejects(table: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        VariantSettings.from_table(table)


def test_key_covers_what_changes_bytes() -> None:
    base = VariantSettings()
    assert base.key() == VariantSettings().key()
    assert f"pillow={Image.__version__}" in base.key()
    for changed in (VariantSettings(avif_speed=6), VariantSettings(jpeg_quality=81), VariantSettings(color="srgb"),
                    VariantSettings(widths=(480, 1600))):  # fmt: skip
        assert changed.key() != base.key()
    assert VariantSettings(formats=("webp",), max_pixels=5).key() == base.key()


# --- fallback format ----------------------------------------------------------------------------------------


def few_colours() -> Image.Image:
    image = Image.new("RGB", (64, 48), "white")
    ImageDraw.Draw(image).rectangle([8, 8, 40, 30], fill=(200, 30, 30))
    return image


def with_hole(image: Image.Image) -> Image.Image:
    image = image.convert("RGBA")
    image.putpixel((0, 0), (0, 0, 0, 0))
    return image


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (encoded(few_colours(), "JPEG"), "jpeg"),  # a JPEG is a photo, whatever its colours
        (encoded(photo(), "PNG"), "jpeg"),
        (encoded(few_colours(), "PNG"), "png"),
        (encoded(photo().convert("RGBA"), "PNG"), "jpeg"),  # alpha channel, all opaque
        (encoded(with_hole(photo()), "PNG"), "png"),
        (encoded(photo().convert("P"), "PNG"), "png"),
        (encoded(photo().convert("L"), "PNG"), "png"),
        (encoded(photo(), "WEBP", lossless=True), "jpeg"),
    ],
)
def test_fallback_format(data: bytes, expected: str) -> None:
    assert fallback_format(Image.open(BytesIO(data))) == expected


# --- orientation, sizes, colour -------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_is_upright_in_every_variant(fmt: str, orientation: int) -> None:
    upright = quadrants((640, 480))
    transpose = STORED[orientation]
    stored = upright if transpose is None else upright.transpose(transpose)
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: orientation}})
    data = encoded(stored, fmt, exif=exif, **({"quality": 95} if fmt == "JPEG" else {}))
    info, variants = render_variants(data, VariantSettings(widths=(80,)))
    assert (info.width, info.height) == (640, 480)
    assert [v.spec.format for v in variants] == ["avif", "webp", "jpeg" if fmt == "JPEG" else "png"]
    for variant in variants:
        image = decoded(variant).convert("RGB")
        for (x, y), colour in zip(((20, 15), (60, 15), (20, 45), (60, 45)), QUADRANTS):
            assert near(image.getpixel((x, y)), colour), (variant.spec, (x, y))


@pytest.mark.parametrize(
    ("size", "expected"),
    [
        ((1000, 667), [(480, 320), (960, 640), (1000, 667)]),
        ((3001, 2000), [(480, 320), (960, 640), (1600, 1066)]),  # 319.89 -> 320, 1066.31 -> 1066
        ((2000, 1001), [(480, 240), (960, 480), (1600, 801)]),  # 240.24 -> 240, 800.8 -> 801
        ((1001, 1), [(480, 1), (960, 1), (1001, 1)]),  # never 0 high
        ((10, 4000), [(10, 4000)]),
    ],
)
def test_variant_sizes_keep_the_aspect_ratio(size: tuple[int, int], expected: list[tuple[int, int]]) -> None:
    _, variants = render_variants(encoded(photo(size), "JPEG"), VariantSettings(formats=("fallback",)))
    assert [(v.width, v.height) for v in variants] == expected
    for variant in variants:
        decoded(variant)


def test_icc_profile_is_kept_byte_for_byte() -> None:
    icc = srgb_icc(swap_red_green=True)
    for fmt in ("JPEG", "PNG"):
        source = quadrants((80, 60)) if fmt == "PNG" else photo((80, 60))
        _, variants = render_variants(encoded(source, fmt, icc_profile=icc), SMALL)
        assert {v.spec.format for v in variants} == {"avif", "webp", "png" if fmt == "PNG" else "jpeg"}
        for variant in variants:
            assert decoded(variant).info.get("icc_profile") == icc, variant.spec


def test_srgb_mode_converts_through_the_profile_and_drops_it() -> None:
    red = Image.new("RGB", (80, 60), (200, 0, 0))  # red in a profile whose red primary is sRGB's green
    data = encoded(red, "PNG", icc_profile=srgb_icc(swap_red_green=True))
    _, kept = render_variants(data, SMALL)
    _, converted = render_variants(data, VariantSettings(widths=(40,), color="srgb"))
    for variant in kept:
        assert near(decoded(variant).convert("RGB").getpixel((20, 15)), (200, 0, 0), 24)
    for variant in converted:
        image = decoded(variant)
        assert "icc_profile" not in image.info
        assert near(image.convert("RGB").getpixel((20, 15)), (0, 200, 0), 24), variant.spec


@pytest.mark.parametrize("adobe", [True, False])
def test_cmyk_jpeg_becomes_the_right_rgb(adobe: bool) -> None:
    cmyk = Image.new("CMYK", (80, 60), (255, 0, 0, 0))  # cyan
    ImageDraw.Draw(cmyk).rectangle([40, 0, 80, 60], fill=(0, 255, 0, 0))  # magenta
    if adobe:  # Pillow writes CMYK inverted, with Adobe's APP14 marker, as Photoshop does
        data = encoded(cmyk, "JPEG", quality=95)
    else:  # plain CMYK: invert before Pillow inverts on writing, then drop the marker
        data = without_segment(encoded(ImageChops.invert(cmyk), "JPEG", quality=95), 0xEE)
        assert "adobe" not in Image.open(BytesIO(data)).info
    _, variants = render_variants(data, SMALL)
    for variant in variants:
        image = decoded(variant).convert("RGB")
        assert near(image.getpixel((8, 15)), (0, 255, 255)), variant.spec
        assert near(image.getpixel((32, 15)), (255, 0, 255)), variant.spec


def test_16_bit_grey_png_is_not_white() -> None:
    ramp = b"".join(struct.pack("<H", x * 256) for _ in range(64) for x in range(256))
    source = Image.frombytes("I;16", (256, 64), ramp)
    data = encoded(source, "PNG")
    assert Image.open(BytesIO(data)).mode == "I;16"
    info, variants = render_variants(data, VariantSettings(widths=(128,)))
    assert info.fallback == "png"
    for variant in variants:
        image = decoded(variant).convert("L")
        left, middle, right = (image.getpixel((x, 16)) for x in (2, 64, 125))
        assert left < 30 and 100 < middle < 156 and right > 225, (variant.spec, left, middle, right)


@pytest.mark.parametrize("mode", ["P", "LA"])
def test_alpha_is_kept(mode: str) -> None:
    if mode == "P":
        source = Image.new("P", (64, 48), 1)
        source.putpalette([0, 0, 0, 255, 0, 0])
        ImageDraw.Draw(source).rectangle([0, 0, 31, 47], fill=0)
        data = encoded(source, "PNG", transparency=0)
        opaque = (255, 0, 0, 255)
    else:
        source = Image.new("LA", (64, 48), (200, 255))
        ImageDraw.Draw(source).rectangle([0, 0, 31, 47], fill=(0, 0))
        data = encoded(source, "PNG")
        opaque = (200, 200, 200, 255)
    info, variants = render_variants(data, VariantSettings(widths=(32,)))
    assert info.fallback == "png"
    assert [v.spec.format for v in variants] == ["avif", "webp", "png"]
    for variant in variants:
        image = decoded(variant).convert("RGBA")
        assert image.getpixel((4, 12))[3] < 16, variant.spec
        assert near(image.getpixel((28, 12)), opaque, 24), variant.spec


def animation() -> bytes:
    frames = [Image.new("RGB", (64, 48), colour) for colour in ("red", "lime", "blue")]
    return encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=120, loop=0)


def test_animated_gif_keeps_its_frames() -> None:
    info, variants = render_variants(animation(), VariantSettings(widths=(32,)))
    assert (info.width, info.height, info.format, info.fallback, info.animated) == (64, 48, "GIF", "gif", True)
    assert [v.spec.format for v in variants] == ["avif", "webp", "gif"]
    for variant in variants:
        image = decoded(variant)
        assert image.n_frames == 3, variant.spec
        for index, colour in enumerate(((255, 0, 0), (0, 255, 0), (0, 0, 255))):
            image.seek(index)
            assert near(image.convert("RGB").getpixel((16, 12)), colour), (variant.spec, index)


def test_animated_passthrough_yields_nothing() -> None:
    info, variants = render_variants(animation(), VariantSettings(animated="passthrough"))
    assert variants == ()
    assert (info.format, info.fallback, info.animated) == ("GIF", "gif", True)


def test_svg_is_passed_through() -> None:
    svg = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="120px" height="80"><rect/></svg>'
    assert render_variants(svg, VariantSettings())[0] == render_variants(svg, VariantSettings())[0]
    info, variants = render_variants(svg, VariantSettings())
    assert (info.width, info.height, info.format, info.fallback, info.animated, variants) == (
        120, 80, "SVG", "svg", False, ())  # fmt: skip
    boxed = b'<svg viewBox="0 0 300 150" xmlns="http://www.w3.org/2000/svg"/>'
    assert render_variants(boxed, VariantSettings())[0].width == 300


# --- metadata, errors, determinism, hashes, memory ---------------------------------------------------------------


def test_no_metadata_in_any_variant() -> None:
    exif = piexif.dump({
        "0th": {piexif.ImageIFD.Make: b"Camera", piexif.ImageIFD.Orientation: 1},
        "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((52, 1), (22, 1), (0, 1))},
    })  # fmt: skip
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><exif:GPSLatitude>52,22N</exif:GPSLatitude></x:xmpmeta>'
    for source in (encoded(photo(), "JPEG", exif=exif, xmp=xmp, comment=b"secret"),
                   encoded(few_colours(), "PNG", exif=exif, pnginfo=None)):  # fmt: skip
        _, variants = render_variants(source, SMALL)
        for variant in variants:
            image = decoded(variant)
            assert not {"exif", "xmp", "XML:com.adobe.xmp", "comment"} & set(image.info), variant.spec
            if variant.spec.format != "avif":
                meta = read_metadata(variant.data)
                assert not (meta.has_exif or meta.has_gps or meta.has_xmp or meta.has_comment), variant.spec
            assert b"Camera" not in variant.data and b"secret" not in variant.data and b"GPS" not in variant.data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (encoded(photo(), "JPEG")[:6000], "cannot decode JPEG image"),  # opens, and fails only on load
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "EPS image: gallery reads only"),  # no Ghostscript
        (b"hello", "not an image Pillow can read"),
        (b"", "empty file"),
    ],
)
def test_undecodable_input_is_a_value_error(data: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        render_variants(data, VariantSettings())


def test_max_pixels_refuses_large_sources_and_leaves_pillow_as_it_was() -> None:
    before = Image.MAX_IMAGE_PIXELS
    for data in (encoded(photo((64, 48)), "PNG"), animation()):
        with pytest.raises(ValueError, match="too large"):
            render_variants(data, VariantSettings(max_pixels=3000))
    assert Image.MAX_IMAGE_PIXELS == before
    render_variants(encoded(photo((64, 48)), "PNG"), VariantSettings(max_pixels=3072))


def test_output_is_deterministic_across_processes() -> None:
    data = encoded(photo((1200, 900)), "JPEG")
    settings = VariantSettings(widths=(300, 600))
    here = render_variants(data, settings)
    assert render_variants(data, settings) == here
    with ProcessPoolExecutor(2) as pool:
        assert list(pool.map(render_variants, [data, data], [settings, settings])) == [here, here]


RENDER = """
import sys
from pathlib import Path
from gallery.variants import VariantSettings, render_variants
print(len(render_variants(Path(sys.argv[1]).read_bytes(), VariantSettings())[1]))
"""
# ru_maxrss survives execve (getrusage(2)): a child of this big pytest process would report pytest's peak
# as its own. A small go-between starts the render, and its RUSAGE_CHILDREN holds only the render's peak.
PEAK = """
import json, resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True, check=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"variants": int(done.stdout), "rss_mb": peak}))
"""


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_24_megapixel_photo_stays_under_400_mb(tmp_path, fmt: str) -> None:
    path = tmp_path / f"big.{fmt.lower()}"
    photo((6000, 4000)).convert("RGBA" if fmt == "PNG" else "RGB").save(path, fmt, compress_level=1, quality=90)
    command = [sys.executable, "-c", PEAK, sys.executable, "-c", RENDER, str(path)]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True, cwd=REPO).stdout)
    assert result["variants"] == 9
    assert result["rss_mb"] < 400, result
