"""PNG decoded a band at a time (png_bands.py): the pixels, metadata and errors of Pillow's whole decode."""

from __future__ import annotations

import struct
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from io import BytesIO

import numpy as np
import pytest
from PIL import Image, ImageCms, ImageDraw

import gallery.variants
from gallery.png_bands import png_bands, png_layout
from gallery.similar import picture
from gallery.variants import VariantSettings, render_variants

SIGNATURE = b"\x89PNG\r\n\x1a\n"
CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # IHDR colour type -> bytes per pixel at 8 bits
SMALL = VariantSettings(widths=(120,))  # a 1500x1000 source, even sideways, is box-reduced first: decoded in bands


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def chunks(png: bytes) -> list[tuple[bytes, bytes]]:
    """(type, whole chunk bytes) of each chunk of `png`."""
    found, at = [], len(SIGNATURE)
    while at < len(png):
        length = int.from_bytes(png[at : at + 4], "big")
        found.append((png[at + 4 : at + 8], png[at : at + 12 + length]))
        at += 12 + length
    return found


def filtered(row: np.ndarray, above: np.ndarray, kind: int, bpp: int) -> bytes:
    """`row` filtered with PNG filter `kind` (0 none, 1 Sub, 2 Up, 3 Average, 4 Paeth; 5 and up are invalid)
    against the row `above`."""
    x, b = row.astype(np.int16), above.astype(np.int16)
    a, c = (np.concatenate([np.zeros(bpp, np.int16), v[:-bpp]]) for v in (x, b))
    pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
    paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
    predictions = [np.zeros_like(x), a, b, (a + b) // 2, paeth]
    predicted = predictions[kind] if kind < len(predictions) else predictions[0]  # an unknown type: the row as is
    return bytes([kind]) + ((x - predicted) % 256).astype(np.uint8).tobytes()


def crafted_png(pixels: np.ndarray, colour: int, filters: Callable[[int], int], extra: bytes = b"") -> bytes:
    """An 8-bit PNG of `pixels` (height x width x channels) with row y filtered by `filters(y)`, its IDAT split
    in three chunks; `extra` chunks (PLTE, tRNS, ...) go before the pixels."""
    height, width, bpp = pixels.shape
    rows, above = [], np.zeros(width * bpp, np.uint8)
    for y in range(height):
        row = pixels[y].reshape(-1)
        rows.append(filtered(row, above, filters(y), bpp))
        above = row
    stream = zlib.compress(b"".join(rows), 6)
    third = len(stream) // 3 + 1
    idat = b"".join(chunk(b"IDAT", stream[i : i + third]) for i in range(0, len(stream), third))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    return SIGNATURE + chunk(b"IHDR", ihdr) + extra + idat + chunk(b"IEND", b"")


def busy_pixels(size: tuple[int, int], channels: int, seed: int = 0) -> np.ndarray:
    """Gradients and noise: every filter type has something to predict."""
    width, height = size
    rng = np.random.default_rng(seed)
    ramp = (np.add.outer(np.arange(height), np.arange(width)) * 3 % 256).astype(np.uint8)
    noise = rng.integers(0, 256, (height, width, channels), dtype=np.uint8)
    return np.where(rng.random((height, width, 1)) < 0.3, noise, ramp[..., None]).astype(np.uint8)


def decoded_in_bands(data: bytes, rows: int) -> Image.Image:
    image = Image.open(BytesIO(data))
    layout = png_layout(data)
    assert layout is not None, "not read in bands"
    whole: Image.Image | None = None
    for top, band in png_bands(image, data, layout, rows):
        assert band.mode == image.mode and band.info.get("transparency") == image.info.get("transparency")
        band = band.convert("RGBA") if band.mode == "P" else band  # the palette and tRNS applied
        whole = whole or Image.new(band.mode, image.size)
        whole.paste(band, (0, top))
    assert whole is not None
    return whole


def pillow_decode(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    return image.convert("RGBA") if image.mode == "P" else image  # the palette and tRNS applied


EXTRA = {
    0: chunk(b"tRNS", struct.pack(">H", 7)),
    2: chunk(b"tRNS", struct.pack(">HHH", 9, 9, 9)),
    3: chunk(b"PLTE", bytes(range(256)) * 3) + chunk(b"tRNS", bytes(range(0, 256, 2))),
    4: b"",
    6: b"",
}


@pytest.mark.parametrize("colour", sorted(CHANNELS))
@pytest.mark.parametrize("filter_of", [0, 1, 2, 3, 4, "each"])
def test_every_colour_type_and_filter_decodes_as_pillow_does(colour: int, filter_of: int | str) -> None:
    # 4-row bands: rows filtered against the row above cross a band boundary every 4 rows.
    pixels = busy_pixels((37, 29), CHANNELS[colour])
    data = crafted_png(
        pixels, colour, (lambda y: y % 5) if filter_of == "each" else (lambda y: filter_of), EXTRA[colour]
    )
    expected = pillow_decode(data)
    for rows in (1, 4, 29):
        assert decoded_in_bands(data, rows).tobytes() == expected.tobytes()


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P"])
def test_pngs_saved_by_pillow_decode_as_pillow_does(mode: str) -> None:
    """Pillow's encoder picks a filter per row (adaptive filtering); compress_level 0 writes stored blocks."""
    picture = Image.fromarray(busy_pixels((301, 203), 3, seed=2))
    image = picture.quantize(200) if mode == "P" else picture.convert(mode)
    for level in (0, 1, 9):
        out = BytesIO()
        image.save(out, "PNG", compress_level=level)
        assert decoded_in_bands(out.getvalue(), 16).tobytes() == pillow_decode(out.getvalue()).tobytes()


# --- variants of a large PNG: the same as from Pillow's whole decode -------------------------------------


def photo(size: tuple[int, int] = (1500, 1000)) -> Image.Image:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], size[0] // 6):
        draw.ellipse([x, size[1] // 8, x + size[0] // 8, size[1] * 7 // 8], fill=(x % 255, 100, 200))
    return Image.blend(image, Image.fromarray(busy_pixels(size, 3, seed=3)), 0.1)


def with_exif_after_pixels(png: bytes, orientation: int) -> bytes:
    """`png` with an eXIf chunk (Orientation) after its IDAT chunks, where Pillow reads it only once it decodes."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    tail = chunk(b"eXIf", exif.tobytes()[6:])  # without "Exif\0\0", as the PNG spec has it
    return png[:-12] + tail + png[-12:]


def saved(image: Image.Image, **options: object) -> bytes:
    out = BytesIO()
    image.save(out, "PNG", compress_level=1, **options)
    return out.getvalue()


SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
LARGE = {
    "rgb photo": lambda: saved(photo()),
    "rgb with icc": lambda: saved(photo(), icc_profile=SRGB),
    "rgba, alpha used": lambda: saved(Image.merge("RGBA", (*photo().split(), photo().convert("L")))),
    "rgba, opaque": lambda: saved(photo().convert("RGBA")),
    "rgb, 6 colours": lambda: saved(photo().quantize(6).convert("RGB")),
    "la": lambda: saved(Image.merge("LA", (photo().convert("L"), photo().rotate(180).convert("L")))),
    "l with trns": lambda: saved(photo().convert("L"), transparency=40),
    "p with trns": lambda: saved(photo().quantize(64), transparency=bytes(range(0, 256, 4))),
    "p, opaque trns": lambda: saved(photo().quantize(64), transparency=bytes([255] * 64)),
    "rgb sideways": lambda: with_exif_after_pixels(saved(photo()), 6),
    "rgba sideways": lambda: with_exif_after_pixels(saved(photo().convert("RGBA")), 8),
}


@pytest.fixture
def band_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many times a source was decoded in bands."""
    calls: list[int] = []

    def counted(*args: object) -> Iterator[tuple[int, Image.Image]]:
        calls.append(1)
        return png_bands(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(gallery.variants, "png_bands", counted)
    return calls


def decoded_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gallery.variants, "png_layout", lambda data: None)


@pytest.mark.parametrize("name", list(LARGE))
def test_variants_of_a_large_png_are_those_of_a_whole_decode(
    name: str, band_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = LARGE[name]()
    info, variants = render_variants(data, SMALL)
    assert band_calls == [1]
    decoded_whole(monkeypatch)
    expected_info, expected = render_variants(data, SMALL)
    assert info == expected_info
    assert [(v.spec, v.width, v.height) for v in variants] == [(v.spec, v.width, v.height) for v in expected]
    assert [v.data for v in variants] == [v.data for v in expected]  # same encoder input: same bytes


def test_sideways_png_comes_out_upright_with_its_profile(band_calls: list[int]) -> None:
    info, variants = render_variants(with_exif_after_pixels(saved(photo(), icc_profile=SRGB), 6), SMALL)
    assert band_calls == [1] and (info.width, info.height) == (1000, 1500)
    shown = Image.open(BytesIO(variants[0].data))
    assert shown.size == (120, 180) and shown.info["icc_profile"] == SRGB


def test_the_duplicate_fingerprint_picture_is_that_of_a_whole_decode(
    band_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = LARGE["rgba sideways"]()
    seen = picture(data, side=256)  # 1500 px: reduced by 2 first
    assert band_calls == [1] and seen.shape[0] > seen.shape[1]  # upright: taller than wide
    decoded_whole(monkeypatch)
    assert np.array_equal(seen, picture(data, side=256))


def test_a_png_near_the_largest_width_is_decoded_whole(band_calls: list[int]) -> None:
    render_variants(saved(photo((700, 500))), SMALL)  # 700 / 120 < 6: reduced by 1 first, that is not at all
    assert band_calls == []


def sixteen_bit() -> bytes:
    return saved(photo().convert("L").point(lambda v: v * 257, "I").convert("I;16"))


def with_ihdr_byte(png: bytes, offset: int, value: int) -> bytes:
    ihdr = bytearray(png[16:29])
    ihdr[offset] = value
    return png[:8] + chunk(b"IHDR", bytes(ihdr)) + png[33:]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(sixteen_bit, id="16-bit"),
        pytest.param(lambda: with_ihdr_byte(saved(photo()), 12, 1), id="interlaced"),
        pytest.param(lambda: saved(photo(), save_all=True, append_images=[photo()]), id="apng"),
        pytest.param(lambda: saved(photo())[:-12] + chunk(b"QUUX", b"") + saved(photo())[-12:], id="unknown critical"),
        pytest.param(lambda: saved(photo())[:30], id="cut in its header"),
    ],
)
def test_other_pngs_are_left_to_pillow(make: Callable[[], bytes]) -> None:
    assert png_layout(make()) is None


def test_a_16_bit_png_still_gets_its_variants(band_calls: list[int]) -> None:
    info, variants = render_variants(sixteen_bit(), SMALL)
    assert band_calls == [] and info.fallback == "png" and variants


# --- corrupt and hostile data -----------------------------------------------------------------------


def large_crafted(filters: Callable[[int], int] = lambda y: y % 5) -> bytes:
    return crafted_png(busy_pixels((1500, 1000), 3), 2, filters)


def stream_of(png: bytes) -> bytes:
    return b"".join(whole[8:-4] for kind, whole in chunks(png) if kind == b"IDAT")


def with_stream(png: bytes, stream: bytes) -> bytes:
    found = chunks(png)
    head = b"".join(whole for kind, whole in found if kind not in (b"IDAT", b"IEND"))
    return SIGNATURE + head + chunk(b"IDAT", stream) + chunk(b"IEND", b"")


CORRUPT = {
    "bad zlib header": lambda: with_stream(large_crafted(), b"\x78\x00" + stream_of(large_crafted())[2:]),
    "stream ends early": lambda: with_stream(
        large_crafted(), stream_of(large_crafted())[: len(stream_of(large_crafted())) // 2]
    ),
    "no zlib data": lambda: with_stream(large_crafted(), b""),
    "unknown filter type": lambda: large_crafted(lambda y: 7 if y == 600 else 1),
}


@pytest.mark.parametrize("name", list(CORRUPT))
def test_corrupt_pixel_data_is_one_line_valueerror_as_from_pillow(
    name: str, band_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = CORRUPT[name]()
    assert png_layout(data) is not None
    with pytest.raises(ValueError, match=r"^cannot decode PNG image: [^\n]+$"):
        render_variants(data, SMALL)
    assert band_calls == [1]
    decoded_whole(monkeypatch)
    with pytest.raises(ValueError, match=r"^cannot decode PNG image: [^\n]+$"):  # as Pillow's own decode
        render_variants(data, SMALL)


def test_a_file_cut_in_its_pixel_data_is_truncated_as_pillow_says(
    band_calls: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = saved(photo())[:-5000]
    with pytest.raises(ValueError, match=r"^cannot decode PNG image: image file is truncated[^\n]*$"):
        render_variants(data, SMALL)
    assert band_calls == [1]
    decoded_whole(monkeypatch)
    with pytest.raises(ValueError, match=r"^cannot decode PNG image: image file is truncated[^\n]*$"):
        render_variants(data, SMALL)


def test_a_deflate_bomb_in_the_pixel_data_is_inflated_no_further_than_the_image() -> None:
    """An IDAT stream of 256 MiB of zeros (250 kB of zlib) for a 1500x1000 RGB image (4.5 MB of rows): the
    rows are black, the rest is never inflated."""
    zeros = zlib.compressobj(9)
    stream = b"".join(zeros.compress(bytes(1 << 20)) for _ in range(256)) + zeros.flush()
    data = with_stream(large_crafted(), stream)
    tracemalloc.start()
    try:
        info, variants = render_variants(data, VariantSettings(widths=(120,), formats=("fallback",)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 48 << 20, f"{peak / 2**20:.0f} MiB allocated at the peak"
    assert Image.open(BytesIO(variants[0].data)).convert("RGB").getextrema() == ((0, 0),) * 3
