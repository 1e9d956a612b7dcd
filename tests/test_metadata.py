"""Tests for lossless metadata stripping: images built in code, containers checked with independent parsers."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import piexif
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms, ImageDraw, ImageOps
from PIL.PngImagePlugin import PngInfo

from gallery.metadata import Metadata, read_metadata, strip_metadata

SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="48,51.4N"'
    b' exif:GPSLongitude="2,21.0E"/></rdf:RDF></x:xmpmeta>'
)
CAMERA: dict[str, dict[int, Any]] = {
    "0th": {
        piexif.ImageIFD.Make: b"Canon",
        piexif.ImageIFD.Model: b"Canon EOS 40D",
        piexif.ImageIFD.Artist: b"Jane Doe",
        piexif.ImageIFD.Copyright: b"(c) Jane Doe",
    },
    "Exif": {
        piexif.ExifIFD.BodySerialNumber: b"0123456789",
        piexif.ExifIFD.LensSerialNumber: b"9876543210",
        piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 10:00:00",
    },
    "GPS": {
        piexif.GPSIFD.GPSVersionID: (2, 2, 0, 0),
        piexif.GPSIFD.GPSLatitudeRef: b"N",
        piexif.GPSIFD.GPSLatitude: ((48, 1), (51, 1), (2400, 100)),
        piexif.GPSIFD.GPSLongitudeRef: b"E",
        piexif.GPSIFD.GPSLongitude: ((2, 1), (21, 1), (0, 1)),
    },
}


def picture(size: tuple[int, int] = (64, 48), mode: str = "RGB") -> Image.Image:
    """A small deterministic picture with structure, so that decoding errors show."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    ImageDraw.Draw(image).ellipse([size[0] // 5, size[1] // 4, size[0] // 2, 3 * size[1] // 4], fill="red")
    return image.convert(mode)


def encode(image: Image.Image, fmt: str, **params: object) -> bytes:
    """The image saved to bytes."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def exif(*extra: dict[str, dict[int, object]], thumbnail: bool = False) -> bytes:
    """An EXIF block with the camera, serial and GPS tags, `extra` IFD entries, and optionally a thumbnail."""
    ifds: dict[str, Any] = {name: dict(tags) for name, tags in CAMERA.items()}
    for more in extra:
        for name, tags in more.items():
            ifds[name] = {**ifds.get(name, {}), **tags}
    if thumbnail:
        ifds["1st"] = {piexif.ImageIFD.XResolution: (72, 1), piexif.ImageIFD.YResolution: (72, 1)}
        ifds["thumbnail"] = encode(picture((16, 12)), "JPEG")
    return bytes(piexif.dump(ifds))


def decoded(data: bytes) -> tuple[str, tuple[int, int], bytes]:
    """Mode, size and pixels as Pillow decodes them."""
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.mode, image.size, image.tobytes()


def icc(data: bytes) -> bytes | None:
    """The ICC profile Pillow reads."""
    with Image.open(io.BytesIO(data)) as image:
        return image.info.get("icc_profile")


def jpeg_segments(data: bytes) -> list[tuple[int, bytes]]:
    """(marker, payload) of each segment before the first SOS: an oracle written apart from the module."""
    segments, pos = [], 2
    while data[pos + 1] != 0xDA:
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segments.append((data[pos + 1], data[pos + 4 : pos + 2 + length]))
        pos += 2 + length
    return segments


def jpeg_scan(data: bytes) -> bytes:
    """The bytes from the first SOS marker to the end."""
    pos = 2
    while data[pos + 1] != 0xDA:
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return data[pos:]


def png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(name, body) of each chunk, asserting every CRC."""
    chunks, pos = [], 8
    while pos < len(data):
        length, name = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        assert struct.unpack_from(">I", data, pos + 8 + length)[0] == zlib.crc32(name + body), name
        chunks.append((name, body))
        pos += 12 + length
    return chunks


def png_with(data: bytes, name: bytes, body: bytes) -> bytes:
    """The PNG with one more chunk right after IHDR."""
    chunk = struct.pack(">I", len(body)) + name + body + struct.pack(">I", zlib.crc32(name + body))
    return data[:33] + chunk + data[33:]


def riff_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """(fourcc, body) of each WebP chunk, asserting the RIFF size."""
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    chunks, pos = [], 12
    while pos < len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunks.append((data[pos : pos + 4], data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + (size & 1)
    return chunks


def frames(data: bytes) -> list[bytes]:
    """The pixels of every frame."""
    with Image.open(io.BytesIO(data)) as image:
        out = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            out.append(image.convert("RGBA").tobytes())
        return out


@pytest.fixture(scope="module")
def phone_jpeg() -> bytes:
    """A JPEG as a phone writes it: camera, serial and GPS EXIF with a thumbnail, XMP, a comment, an ICC profile."""
    return encode(picture(), "JPEG", exif=exif(thumbnail=True), xmp=XMP, comment=b"shot on holiday", icc_profile=SRGB)


def test_jpeg_loses_gps_camera_thumbnail_xmp_and_comment(phone_jpeg: bytes) -> None:
    before = read_metadata(phone_jpeg)
    assert before.format == "JPEG" and before.has_exif and before.has_gps and before.has_thumbnail
    assert {"Make", "Model", "BodySerialNumber", "GPSLatitude", "GPSLongitude"} <= set(before.exif_tags)
    assert before.has_xmp and before.has_comment and before.has_icc and before.orientation is None

    stripped = strip_metadata(phone_jpeg)

    assert read_metadata(stripped) == Metadata(format="JPEG", has_icc=True)
    assert [marker for marker, _ in jpeg_segments(stripped) if 0xE0 <= marker <= 0xEF or marker == 0xFE] == [0xE0, 0xE2]
    assert b"Canon" not in stripped and b"0123456789" not in stripped and b"holiday" not in stripped
    assert icc(stripped) == SRGB
    assert jpeg_scan(stripped) == jpeg_scan(phone_jpeg)
    assert decoded(stripped) == decoded(phone_jpeg)
    assert before.removable_bytes == len(phone_jpeg) - len(stripped) > 0


def test_jpeg_keeps_orientation_only() -> None:
    data = encode(picture(), "JPEG", exif=exif({"0th": {piexif.ImageIFD.Orientation: 6}}, thumbnail=True))

    stripped = strip_metadata(data)

    kept = piexif.load(stripped)
    assert kept["0th"] == {piexif.ImageIFD.Orientation: 6}
    assert kept["Exif"] == kept["GPS"] == kept["1st"] == {} and kept["thumbnail"] is None
    assert read_metadata(stripped).exif_tags == ("Orientation",)
    assert read_metadata(stripped).orientation == 6 and not read_metadata(stripped).has_gps
    with Image.open(io.BytesIO(stripped)) as image:
        assert ImageOps.exif_transpose(image).size == (48, 64)
    assert decoded(stripped) == decoded(data) and jpeg_scan(stripped) == jpeg_scan(data)


def test_orientation_1_is_dropped_with_the_rest() -> None:
    data = encode(picture(), "JPEG", exif=exif({"0th": {piexif.ImageIFD.Orientation: 1}}))

    assert read_metadata(data).orientation == 1
    assert read_metadata(strip_metadata(data)) == Metadata(format="JPEG")


def test_keep_tags_keeps_copyright_artist_and_exif_ifd_tags(phone_jpeg: bytes) -> None:
    stripped = strip_metadata(phone_jpeg, keep_tags=("Copyright", "Artist", "DateTimeOriginal"))

    kept = piexif.load(stripped)
    assert kept["0th"] == {
        piexif.ImageIFD.Copyright: b"(c) Jane Doe",
        piexif.ImageIFD.Artist: b"Jane Doe",
        piexif.ImageIFD.ExifTag: kept["0th"][piexif.ImageIFD.ExifTag],
    }
    assert kept["Exif"] == {piexif.ExifIFD.DateTimeOriginal: b"2024:05:01 10:00:00"}
    assert kept["GPS"] == {} and kept["thumbnail"] is None
    assert strip_metadata(stripped, keep_tags=("Copyright", "Artist", "DateTimeOriginal")) is stripped


@pytest.mark.parametrize("name", ["Copyrite", "GPSLatitude", "GPSTag", "ExifTag"])
def test_keep_tags_rejects_names_outside_the_0th_and_exif_ifds(name: str, phone_jpeg: bytes) -> None:
    with pytest.raises(ValueError, match=name):
        strip_metadata(phone_jpeg, keep_tags=(name,))


def with_app1(data: bytes, payload: bytes) -> bytes:
    """The JPEG with an APP1 segment holding `payload` right after SOI."""
    return data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def test_garbage_exif_is_reported_as_possibly_holding_gps_and_removed() -> None:
    plain = encode(picture(), "JPEG")
    data = with_app1(plain, b"Exif\0\0" + bytes(range(256)) * 3)

    meta = read_metadata(data)

    assert meta.has_exif and meta.has_gps and meta.exif_tags == () and meta.orientation is None
    assert strip_metadata(data, keep_tags=("Copyright",)) == plain


def test_broken_gps_pointer_keeps_the_readable_orientation() -> None:
    tiff = bytearray(piexif.dump({"0th": {piexif.ImageIFD.Orientation: 6}, "GPS": {piexif.GPSIFD.GPSAltitudeRef: 0}}))
    gps_entry = tiff.index(struct.pack(">H", piexif.ImageIFD.GPSTag), 6)
    tiff[gps_entry + 8 : gps_entry + 12] = struct.pack(">I", 10**6)  # GPS IFD far past the end
    data = with_app1(encode(picture(), "JPEG"), bytes(tiff))
    with pytest.raises(struct.error):
        piexif.load(bytes(tiff))

    assert read_metadata(data).has_gps and read_metadata(data).orientation == 6
    assert piexif.load(strip_metadata(data))["0th"] == {piexif.ImageIFD.Orientation: 6}


def test_forged_value_count_is_refused_before_piexif_allocates_it() -> None:
    # piexif.load builds struct.unpack("B" * count, ...): a count of 2**31 would take gigabytes.
    tiff = bytearray(piexif.dump({"0th": {piexif.ImageIFD.Copyright: b"(c) Jane Doe", piexif.ImageIFD.Orientation: 3}}))
    entry = tiff.index(struct.pack(">HH", piexif.ImageIFD.Copyright, 2), 6)
    tiff[entry + 2 : entry + 8] = struct.pack(">HI", 1, 2**31)
    data = with_app1(encode(picture(), "JPEG"), bytes(tiff))

    assert read_metadata(data).exif_tags == () and read_metadata(data).orientation == 3
    assert piexif.load(strip_metadata(data, keep_tags=("Copyright",)))["0th"] == {piexif.ImageIFD.Orientation: 3}


def test_truncated_header_is_a_value_error_and_format_none(phone_jpeg: bytes) -> None:
    cut = phone_jpeg[: len(phone_jpeg) - len(jpeg_scan(phone_jpeg)) - 20]  # inside the last table before SOS

    assert read_metadata(cut) == Metadata(format=None)
    with pytest.raises(ValueError, match="truncated"):
        strip_metadata(cut)


def test_truncated_scan_is_stripped_and_copied_as_is(phone_jpeg: bytes) -> None:
    cut = phone_jpeg[:-200]

    stripped = strip_metadata(cut)

    assert read_metadata(stripped) == Metadata(format="JPEG", has_icc=True)
    assert jpeg_scan(stripped) == jpeg_scan(cut)


def test_mpo_keeps_the_first_image_only() -> None:
    first, second = picture(), picture().rotate(90)
    data = encode(first, "MPO", save_all=True, append_images=[second], exif=exif())
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "MPO" and getattr(image, "n_frames", 1) == 2
    assert 0xE2 in [marker for marker, _ in jpeg_segments(data)]  # APP2 MPF

    stripped = strip_metadata(data)

    with Image.open(io.BytesIO(stripped)) as image:
        assert image.format == "JPEG" and getattr(image, "n_frames", 1) == 1
    assert all(not payload.startswith(b"MPF\0") for _, payload in jpeg_segments(stripped))
    assert stripped.endswith(b"\xff\xd9") and stripped.count(b"\xff\xd8") == 1
    first_image = jpeg_scan(data)[: len(jpeg_scan(stripped))]
    assert jpeg_scan(stripped) == first_image and first_image.endswith(b"\xff\xd9")
    with Image.open(io.BytesIO(data)) as image:
        assert decoded(stripped) == (image.mode, image.size, image.tobytes())


def test_jfif_thumbnail_and_jfxx_are_dropped() -> None:
    data = encode(picture(), "JPEG")
    app0 = data[6:20]  # JFIF\0 version units densities, then 0x0 thumbnail
    assert app0.startswith(b"JFIF\0") and app0.endswith(b"\0\0")
    jfif = app0[:12] + b"\x02\x01" + b"\x80" * 6  # a 2x1 RGB thumbnail
    jfxx = b"JFXX\0\x13" + b"\x01\x01" + b"\x80" * 3
    segments = b"".join(b"\xff\xe0" + struct.pack(">H", len(p) + 2) + p for p in (jfif, jfxx))
    with_thumbnails = data[:2] + segments + data[20:]
    assert read_metadata(with_thumbnails).has_thumbnail

    stripped = strip_metadata(with_thumbnails)

    assert stripped == data
    assert read_metadata(data) == Metadata(format="JPEG")


def test_cmyk_keeps_the_adobe_segment() -> None:
    data = encode(picture(mode="CMYK"), "JPEG", exif=exif())
    adobe = [payload for marker, payload in jpeg_segments(data) if marker == 0xEE]

    stripped = strip_metadata(data)

    assert [payload for marker, payload in jpeg_segments(stripped) if marker == 0xEE] == adobe != []
    assert decoded(stripped) == decoded(data)


def test_multi_segment_icc_profile_is_kept_in_order() -> None:
    profile = SRGB + bytes(range(256)) * 600  # ~150 kB: Pillow splits it over three APP2 segments
    data = encode(picture(), "JPEG", icc_profile=profile, exif=exif())

    stripped = strip_metadata(data)

    assert [p[12:14] for m, p in jpeg_segments(stripped) if m == 0xE2] == [b"\x01\x03", b"\x02\x03", b"\x03\x03"]
    assert icc(stripped) == profile


@pytest.fixture(scope="module")
def screenshot_png() -> bytes:
    """A PNG like a macOS screenshot: eXIf, iTXt XMP, iCCP, pHYs, iDOT, plus tEXt and tIME."""
    info = PngInfo()
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    info.add_text("Software", "Screenshot")
    info.add(b"tIME", b"\x07\xe8\x05\x01\x0a\x00\x00")
    screenshot_exif = piexif.dump({"Exif": {piexif.ExifIFD.UserComment: b"ASCII\0\0\0Screenshot"}})
    data = encode(picture(), "PNG", exif=screenshot_exif, icc_profile=SRGB, pnginfo=info, dpi=(144, 144))
    return png_with(data, b"iDOT", bytes(28))  # Apple's private chunk: harmless, kept


def test_png_screenshot_keeps_only_what_decodes(screenshot_png: bytes) -> None:
    before = read_metadata(screenshot_png)
    assert before.format == "PNG" and before.has_exif and before.has_xmp and before.has_comment and before.has_icc
    assert before.has_gps  # from the XMP

    stripped = strip_metadata(screenshot_png)

    names = [name for name, _ in png_chunks(stripped)]
    assert names == [b"IHDR", b"iDOT", b"iCCP", b"pHYs", b"IDAT", b"IEND"]
    assert dict(png_chunks(stripped))[b"iCCP"] == dict(png_chunks(screenshot_png))[b"iCCP"]
    assert icc(stripped) == SRGB and decoded(stripped) == decoded(screenshot_png)
    with Image.open(io.BytesIO(stripped)) as image:
        image.verify()
    assert read_metadata(stripped) == Metadata(format="PNG", has_icc=True)
    assert before.removable_bytes == len(screenshot_png) - len(stripped)


def test_png_keeps_a_minimal_exif_with_orientation() -> None:
    data = encode(picture(), "PNG", exif=exif({"0th": {piexif.ImageIFD.Orientation: 6}}))

    stripped = strip_metadata(data)

    (body,) = [body for name, body in png_chunks(stripped) if name == b"eXIf"]
    assert piexif.load(b"Exif\0\0" + body)["0th"] == {piexif.ImageIFD.Orientation: 6}
    with Image.open(io.BytesIO(stripped)) as image:
        assert ImageOps.exif_transpose(image).size == (48, 64)
    assert decoded(stripped) == decoded(data)


def test_apng_keeps_its_animation_chunks() -> None:
    info = PngInfo()
    info.add_text("Comment", "made by hand")
    data = encode(picture(), "PNG", save_all=True, append_images=[picture().rotate(180)], pnginfo=info)

    stripped = strip_metadata(data)

    assert [n for n, _ in png_chunks(stripped)] == [n for n, _ in png_chunks(data) if n != b"tEXt"]
    assert {b"acTL", b"fcTL", b"fdAT"} <= {n for n, _ in png_chunks(stripped)}
    assert frames(stripped) == frames(data)


VP8X_ICC, VP8X_EXIF, VP8X_XMP, VP8X_ANIM = 0x20, 0x08, 0x04, 0x02


def test_webp_drops_exif_and_xmp_and_clears_their_flags() -> None:
    data = encode(picture(), "WEBP", lossless=True, exif=exif(), xmp=XMP, icc_profile=SRGB)
    assert riff_chunks(data)[0][1][0] & (VP8X_EXIF | VP8X_XMP | VP8X_ICC) == VP8X_EXIF | VP8X_XMP | VP8X_ICC

    stripped = strip_metadata(data)

    chunks = riff_chunks(stripped)
    assert [name for name, _ in chunks] == [b"VP8X", b"ICCP", b"VP8L"]
    assert chunks[0][1][0] == VP8X_ICC
    assert icc(stripped) == SRGB and decoded(stripped) == decoded(data)
    assert read_metadata(stripped) == Metadata(format="WEBP", has_icc=True)


def test_webp_keeps_a_minimal_exif_with_orientation() -> None:
    data = encode(picture(), "WEBP", lossless=True, exif=exif({"0th": {piexif.ImageIFD.Orientation: 8}}), xmp=XMP)

    stripped = strip_metadata(data)

    chunks = dict(riff_chunks(stripped))
    assert chunks[b"VP8X"][0] == VP8X_EXIF and b"XMP " not in chunks
    assert piexif.load(b"Exif\0\0" + chunks[b"EXIF"])["0th"] == {piexif.ImageIFD.Orientation: 8}
    with Image.open(io.BytesIO(stripped)) as image:
        assert ImageOps.exif_transpose(image).size == (48, 64)


def test_animated_webp_keeps_its_frames() -> None:
    data = encode(picture(), "WEBP", save_all=True, append_images=[picture().rotate(180)], lossless=True, exif=exif())

    stripped = strip_metadata(data)

    assert [name for name, _ in riff_chunks(stripped)] == [b"VP8X", b"ANIM", b"ANMF", b"ANMF"]
    assert riff_chunks(stripped)[0][1][0] & (VP8X_ANIM | VP8X_EXIF | VP8X_XMP) == VP8X_ANIM
    assert frames(stripped) == frames(data)


@pytest.mark.parametrize(
    ("fmt", "params"),
    [
        ("JPEG", {"exif": exif({"0th": {piexif.ImageIFD.Orientation: 3}}), "xmp": XMP, "icc_profile": SRGB}),
        ("PNG", {"exif": exif({"0th": {piexif.ImageIFD.Orientation: 3}}), "icc_profile": SRGB}),
        ("WEBP", {"exif": exif({"0th": {piexif.ImageIFD.Orientation: 3}}), "xmp": XMP, "icc_profile": SRGB}),
    ],
)
@pytest.mark.parametrize("keep_tags", [(), ("Copyright", "Artist")])
def test_stripping_is_idempotent(fmt: str, params: dict[str, object], keep_tags: tuple[str, ...]) -> None:
    once = strip_metadata(encode(picture(), fmt, **params), keep_tags)

    assert strip_metadata(once, keep_tags) is once
    assert read_metadata(strip_metadata(once)).removable_bytes == 0


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_nothing_to_strip_returns_the_same_object(fmt: str) -> None:
    data = encode(picture(), fmt, icc_profile=SRGB)

    assert strip_metadata(data) is data
    assert read_metadata(data) == Metadata(format=fmt, has_icc=True)


@pytest.mark.parametrize("fmt", ["GIF", "TIFF", "AVIF", "BMP"])
def test_other_formats_are_left_alone(fmt: str) -> None:
    data = encode(picture(), fmt, **({"exif": exif()} if fmt in ("TIFF", "AVIF") else {}))

    assert strip_metadata(data) is data
    assert read_metadata(data) == Metadata(format=None)


PREFIXES = [b"", b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF\x20\0\0\0WEBP"]


@settings(deadline=None)
@given(prefix=st.sampled_from(PREFIXES), body=st.binary(max_size=400))
def test_any_bytes_read_without_raising(prefix: bytes, body: bytes) -> None:
    data = prefix + body
    assert isinstance(read_metadata(data), Metadata)
    try:
        assert isinstance(strip_metadata(data), bytes)
    except ValueError:
        assert read_metadata(data).format is None


@settings(deadline=None)
@given(data=st.data())
def test_every_truncation_reads_without_raising(phone_jpeg: bytes, screenshot_png: bytes, data: st.DataObject) -> None:
    webp = encode(picture(), "WEBP", exif=exif(), xmp=XMP, icc_profile=SRGB)
    source = data.draw(st.sampled_from([phone_jpeg, screenshot_png, webp]))
    cut = source[: data.draw(st.integers(0, len(source) - 1))]
    meta = read_metadata(cut)
    try:
        stripped = strip_metadata(cut)
    except ValueError:
        assert meta.format is None
    else:
        assert meta.removable_bytes == len(cut) - len(stripped)


@settings(deadline=None)
@given(data=st.data())
def test_damaged_exif_never_breaks_the_image(phone_jpeg: bytes, data: st.DataObject) -> None:
    start = phone_jpeg.index(b"Exif\0\0") + 6
    end = start + int.from_bytes(phone_jpeg[start - 8 : start - 6], "big") - 8
    damaged = bytearray(phone_jpeg)
    for _ in range(data.draw(st.integers(1, 8))):
        damaged[data.draw(st.integers(start, end - 1))] = data.draw(st.integers(0, 255))

    meta = read_metadata(bytes(damaged))
    stripped = strip_metadata(bytes(damaged), keep_tags=("Copyright", "Artist", "DateTimeOriginal"))

    assert meta.format == "JPEG" and meta.has_exif
    assert jpeg_scan(stripped) == jpeg_scan(phone_jpeg) and icc(stripped) == SRGB


def test_png_imagemagick_raw_exif_profile_counts_as_exif() -> None:
    tiff = exif({"0th": {piexif.ImageIFD.Orientation: 6}})
    hexed = tiff.hex()
    text = f"\nexif\n{len(tiff):8d}\n" + "\n".join(hexed[i : i + 72] for i in range(0, len(hexed), 72)) + "\n"
    info = PngInfo()
    info.add_text("Raw profile type exif", text, zip=True)
    data = encode(picture(), "PNG", pnginfo=info)

    meta = read_metadata(data)
    stripped = strip_metadata(data)

    assert meta.has_exif and meta.has_gps and meta.orientation == 6 and not meta.has_comment
    assert [name for name, _ in png_chunks(stripped)] == [b"IHDR", b"eXIf", b"IDAT", b"IEND"]
    with Image.open(io.BytesIO(stripped)) as image:
        assert ImageOps.exif_transpose(image).size == (48, 64)
    assert decoded(stripped) == decoded(data)
