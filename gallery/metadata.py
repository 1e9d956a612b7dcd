"""Lossless metadata stripping: EXIF, XMP, IPTC, comments and thumbnails out of JPEG, PNG, WebP and HEIF bytes.

Pixels are never re-encoded: the file is split into its container pieces (JPEG marker segments, PNG
chunks, RIFF chunks), metadata pieces are dropped and every other piece is copied byte for byte.
EXIF Orientation (when not 1) survives in a minimal EXIF block at the old EXIF's place, so every
viewer that rotated the photo before still does; `keep_tags` may add 0th/Exif IFD tags to it.
A HEIF (HEIC) file keeps its length: its EXIF and XMP items are overwritten in place (heif.py).
GIF, AVIF, TIFF and anything else are out of scope: `strip_metadata` returns them unchanged.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from dataclasses import dataclass
from enum import Enum

import piexif

from .heif import MetadataItem, is_heif, metadata_items, replaced


@dataclass(frozen=True, slots=True)
class Metadata:
    """What an image carries besides its pixels, and how many bytes `strip_metadata` would save."""

    format: str | None  # "JPEG", "PNG", "WEBP", "HEIF"; None when strip_metadata leaves the bytes alone or fails
    has_exif: bool = False
    has_gps: bool = False  # GPS in EXIF or XMP; also True for unreadable EXIF, which may hold it
    exif_tags: tuple[str, ...] = ()  # piexif names (hex ids for tags piexif doesn't know); () when unreadable
    has_thumbnail: bool = False  # EXIF 1st IFD or JFIF/JFXX: it may show the uncropped original
    has_xmp: bool = False
    has_iptc: bool = False  # JPEG APP13 Photoshop resources, where IPTC lives
    has_comment: bool = False  # JPEG COM, PNG text chunks other than XMP and EXIF
    has_icc: bool = False
    orientation: int | None = None  # EXIF Orientation 1-8 as viewers read it; None when absent or invalid
    removable_bytes: int = 0  # len(data) - len(strip_metadata(data))


class _Kind(Enum):
    """What a container piece holds, which decides whether strip keeps it."""

    IMAGE = "image"  # needed to decode or display: kept
    ICC = "icc"  # kept
    EXIF = "exif"
    XMP = "xmp"
    IPTC = "iptc"
    COMMENT = "comment"
    THUMBNAIL = "thumbnail"
    OTHER = "other"  # other metadata and bytes after the image: dropped


@dataclass(frozen=True, slots=True)
class _Piece:
    """One container piece: its bytes in the input and what strip writes in its place."""

    kind: _Kind
    kept: bytes  # the input bytes, b"" (dropped) or a cleaned copy
    payload: bytes = b""  # the metadata inside: the TIFF block for EXIF, the packet for XMP


_ORIENTATION = 0x0112
_GPS_VERSION = 0x0000
_POINTERS = {("0th", 0x8769): "Exif", ("0th", 0x8825): "GPS", ("Exif", 0xA005): "Interop"}
_TABLES = {"0th": "Image", "Exif": "Exif", "GPS": "GPS", "Interop": "Interop", "1st": "Image"}
_NAMES = {ifd: {tag: info["name"] for tag, info in piexif.TAGS[table].items()} for ifd, table in _TABLES.items()}
_NOT_KEEPABLE = frozenset(
    {"ExifTag", "GPSTag", "InteroperabilityTag", "JPEGInterchangeFormat", "JPEGInterchangeFormatLength"}
)  # pointers: piexif.dump writes them itself
_KEEPABLE = frozenset({*_NAMES["0th"].values(), *_NAMES["Exif"].values()}) - _NOT_KEEPABLE
# Bytes per value of each TIFF field type, https://www.media.mit.edu/pia/Research/deepview/exif.html
_TYPE_SIZES = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}
# piexif fails on odd values with these; UnboundLocalError from `_value_to_bytes` on a RATIONAL of another shape.
_PIEXIF_ERRORS = (ValueError, TypeError, IndexError, struct.error, UnboundLocalError)
_MAX_TEXT = 1 << 24  # bound on inflating a compressed PNG text chunk


def read_metadata(data: bytes) -> Metadata:
    """Report the metadata in `data` without raising, whatever the bytes are."""
    try:
        if is_heif(data):
            return _heif_metadata(data)
        parsed = _parse(data)
    except ValueError:
        return Metadata(format=None)
    if parsed is None:
        return Metadata(format=None)
    fmt, pieces = parsed
    kinds = {piece.kind for piece in pieces}
    tiff = next((piece.payload for piece in pieces if piece.kind is _Kind.EXIF), None)
    xmp = b"".join(piece.payload for piece in pieces if piece.kind is _Kind.XMP)
    removable = len(data) - len(_stripped(fmt, pieces, frozenset()))
    return _described(fmt, tiff, xmp if _Kind.XMP in kinds else None, kinds, removable)


def _described(fmt: str, tiff: bytes | None, xmp: bytes | None, kinds: set[_Kind], removable: int) -> Metadata:
    """Metadata from the EXIF TIFF block and XMP packet found (None: absent) and the other kinds of piece."""
    ifds = _exif_ifds(tiff) if tiff is not None else None
    # XMP from Lightroom and phones repeats the position as exif:GPSLatitude / exif:GPSLongitude.
    gps_in_xmp = xmp is not None and (b"GPSLatitude" in xmp or b"GPSLongitude" in xmp)
    gps_in_exif = tiff is not None and (ifds is None or any(tag != _GPS_VERSION for tag in ifds.get("GPS", ())))
    return Metadata(
        format=fmt,
        has_exif=tiff is not None,
        has_gps=gps_in_xmp or gps_in_exif,
        exif_tags=_tag_names(ifds) if ifds is not None else (),
        has_thumbnail=_Kind.THUMBNAIL in kinds or bool(ifds and ifds.get("1st")),
        has_xmp=xmp is not None,
        has_iptc=_Kind.IPTC in kinds,
        has_comment=_Kind.COMMENT in kinds,
        has_icc=_Kind.ICC in kinds,
        orientation=_orientation(tiff) if tiff is not None else None,
        removable_bytes=removable,
    )


def strip_metadata(data: bytes, keep_tags: tuple[str, ...] = ()) -> bytes:
    """Drop metadata from a JPEG, PNG or WebP without re-encoding; return `data` itself when nothing changes.

    Raises ValueError for an unknown name in `keep_tags`, and for a JPEG, PNG or WebP whose container
    is cut short or corrupt before its image data (a JPEG cut inside its scan data is stripped and the
    partial scan copied as is). Other formats come back unchanged.
    """
    unknown = sorted(set(keep_tags) - _KEEPABLE)
    if unknown:
        raise ValueError(
            f"cannot keep EXIF tags {unknown}: use piexif names from the 0th or Exif IFD, e.g. 'Copyright'"
        )
    if is_heif(data):
        stripped = _heif_stripped(data, frozenset(keep_tags))
        return data if stripped == data else stripped
    parsed = _parse(data)
    if parsed is None:
        return data
    stripped = _stripped(*parsed, frozenset(keep_tags))
    return data if stripped == data else stripped


def _parse(data: bytes) -> tuple[str, tuple[_Piece, ...]] | None:
    """Split a JPEG, PNG or WebP into pieces; None for other formats; ValueError when the container is broken."""
    if data.startswith(b"\xff\xd8\xff"):
        return "JPEG", _jpeg_pieces(data)
    if data.startswith(_PNG_SIGNATURE):
        return "PNG", _png_pieces(data)
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP", _webp_pieces(data)
    return None


def _stripped(fmt: str, pieces: tuple[_Piece, ...], keep: frozenset[str]) -> bytes:
    """The kept pieces, with a minimal EXIF block where the first EXIF piece was (when one is needed)."""
    first = next((i for i, piece in enumerate(pieces) if piece.kind is _Kind.EXIF), None)
    tiff = _minimal_exif(pieces[first].payload, keep) if first is not None else None
    if fmt == "WEBP" and not any(piece.kept.startswith(b"VP8X") for piece in pieces):
        tiff = None  # only the extended format (VP8X) may hold EXIF
    wrap = {"JPEG": _jpeg_exif, "PNG": _png_exif, "WEBP": _webp_exif}[fmt]
    body = b"".join(wrap(tiff) if i == first and tiff is not None else piece.kept for i, piece in enumerate(pieces))
    return _finish_webp(body, has_exif=tiff is not None) if fmt == "WEBP" else body


# --- EXIF ---------------------------------------------------------------------------------------


def _byte_order(tiff: bytes) -> str | None:
    """The struct byte order of a TIFF block, or None when it has no TIFF header."""
    return {b"II*\0": "<", b"MM\0*": ">"}.get(tiff[:4])


def _ifd(tiff: bytes, order: str, offset: int) -> tuple[tuple[int, int, int, bytes], ...] | None:
    """The (tag, type, count, value field) entries of the IFD at `offset`, or None when it lies outside `tiff`."""
    try:
        (count,) = struct.unpack_from(order + "H", tiff, offset)
        return tuple(struct.unpack_from(order + "HHI4s", tiff, offset + 2 + 12 * i) for i in range(count))
    except struct.error:
        return None


def _scalar(order: str, kind: int, count: int, field: bytes) -> int | None:
    """The value of a single SHORT or LONG entry, else None."""
    if count != 1 or kind not in (3, 4, 13):  # 13: IFD, LONG's alias for pointers (TIFF technical note 1)
        return None
    return int(struct.unpack_from(order + ("H" if kind == 3 else "I"), field)[0])


def _orientation(tiff: bytes) -> int | None:
    """Orientation from IFD0 alone, as browsers read it, so it survives damage elsewhere in the EXIF."""
    order = _byte_order(tiff)
    if order is None or len(tiff) < 8:
        return None
    for tag, kind, count, field in _ifd(tiff, order, struct.unpack_from(order + "I", tiff, 4)[0]) or ():
        if tag == _ORIENTATION:
            value = _scalar(order, kind, count, field)
            return value if value is not None and 1 <= value <= 8 else None
    return None


def _exif_ifds(tiff: bytes) -> dict[str, tuple[int, ...]] | None:
    """Tag ids per IFD as piexif reads them, or None when an IFD or a value lies outside the block.

    piexif.load must only see blocks that pass: it builds `struct` formats of `count` characters
    ("B" * count in `_ExifReader.convert_value`), so one forged count of 2**31 exhausts memory.
    """
    order = _byte_order(tiff)
    if order is None or len(tiff) < 8:
        return None
    offsets = {"0th": struct.unpack_from(order + "I", tiff, 4)[0]}
    ifds: dict[str, tuple[int, ...]] = {}
    for name in ("0th", "Exif", "GPS", "Interop", "1st"):
        if name not in offsets:
            continue
        entries = _ifd(tiff, order, offsets[name])
        if entries is None:
            return None
        for tag, kind, count, field in entries:
            size = _TYPE_SIZES.get(kind, 0) * count
            if size > 4 and struct.unpack_from(order + "I", field)[0] + size > len(tiff):
                return None
            if (name, tag) in _POINTERS:
                pointer = _scalar(order, kind, count, field)
                if pointer is None:
                    return None
                offsets[_POINTERS[name, tag]] = pointer
        ifds[name] = tuple(tag for tag, *_ in entries)
        if name == "0th":
            try:
                (next_ifd,) = struct.unpack_from(order + "I", tiff, offsets["0th"] + 2 + 12 * len(entries))
            except struct.error:
                return None
            if next_ifd:
                offsets["1st"] = next_ifd
    return ifds


def _tag_names(ifds: dict[str, tuple[int, ...]]) -> tuple[str, ...]:
    """Names of the tags in the 0th, Exif, GPS and Interop IFDs, without the pointers between IFDs."""
    names = (
        _NAMES[ifd].get(tag, f"0x{tag:04X}")
        for ifd in ("0th", "Exif", "GPS", "Interop")
        for tag in ifds.get(ifd, ())
        if (ifd, tag) not in _POINTERS
    )
    return tuple(dict.fromkeys(names))


def _minimal_exif(tiff: bytes, keep: frozenset[str]) -> bytes | None:
    """A TIFF block with Orientation (when not 1) and the `keep` tags piexif can copy, or None when empty."""
    ifds: dict[str, dict[int, object]] = {"0th": {}, "Exif": {}}
    orientation = _orientation(tiff)
    if orientation is not None and orientation != 1:
        ifds["0th"][_ORIENTATION] = orientation
    if keep and _exif_ifds(tiff) is not None:
        try:
            loaded = piexif.load(b"Exif\0\0" + tiff)  # the prefix: other bytes make piexif open() a file name
        except _PIEXIF_ERRORS:
            loaded = {}
        for ifd in ("0th", "Exif"):
            for tag, value in loaded.get(ifd, {}).items():
                if tag != _ORIENTATION and _NAMES[ifd].get(tag) in keep and _dumps({ifd: {tag: value}}):
                    ifds[ifd][tag] = value
    if not ifds["0th"] and not ifds["Exif"]:
        return None
    dumped: bytes = piexif.dump(ifds)
    return dumped[6:]  # without the JPEG APP1 "Exif\0\0" header


def _dumps(ifds: dict[str, dict[int, object]]) -> bool:
    """Whether piexif can write these values: it rejects ones stored with another type than its table's."""
    try:
        piexif.dump(ifds)
    except _PIEXIF_ERRORS:
        return False
    return True


# --- HEIF: EXIF and XMP items overwritten in place (heif.py finds them) ------------------------------

_EMPTY_TIFF = b"MM\0*\0\0\0\x08\0\0\0\0\0\0"  # a big-endian TIFF header and an IFD0 with no entries
_EMPTY_XMP = (
    b'<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/"/>',
    b'<?xpacket end="w"?>',
)  # an empty packet, padded with spaces in between as XMP allows


def _heif_metadata(data: bytes) -> Metadata:
    """Metadata of a HEIF file. Its EXIF Orientation is left out: HEIF readers rotate by the file's `irot` and
    `imir` boxes alone (ISO/IEC 23008-12, A.2.1), and Pillow reports the size already rotated."""
    items = metadata_items(data)
    tiff = next((_exif_tiff(item.payload(data)) for item in items if item.kind == "exif"), None)
    xmp = b"".join(item.payload(data) for item in items if item.kind == "xmp")
    removable = sum(_heif_blanked(item, item.payload(data), frozenset())[1] for item in items)
    described = _described("HEIF", tiff, xmp if any(i.kind == "xmp" for i in items) else None, set(), removable)
    return dataclasses.replace(described, orientation=None)


def _heif_stripped(data: bytes, keep: frozenset[str]) -> bytes:
    """`data` with each EXIF item reduced to a minimal TIFF block and each XMP packet emptied, in place."""
    for item in metadata_items(data):
        data = replaced(data, item, _heif_blanked(item, item.payload(data), keep)[0])
    return data


def _heif_blanked(item: MetadataItem, payload: bytes, keep: frozenset[str]) -> tuple[bytes, int]:
    """The item's bytes without metadata, padded to its length, and how many metadata bytes that removes."""
    if item.kind == "exif":
        # An EXIF item: the offset of the TIFF header after these 4 bytes (usually 6, past "Exif\0\0"), then TIFF.
        start = 4 + int.from_bytes(payload[:4], "big") if len(payload) >= 4 else len(payload)
        head, tiff = payload[:start], payload[start:]
        kept = next((t for t in (_minimal_exif(tiff, keep), _EMPTY_TIFF) if t is not None and len(t) <= len(tiff)), b"")
        blank = head + kept + bytes(len(tiff) - len(kept))
    else:
        begin, end = _EMPTY_XMP
        room = len(payload) - len(begin) - len(end)
        blank = begin + b" " * room + end if room >= 0 else b" " * len(payload)
    return blank, (_content(payload) - _content(blank) if blank != payload else 0)


def _content(data: bytes) -> int:
    """Bytes that are not padding (zeros, spaces)."""
    return len(data) - data.count(0) - data.count(32)


def _exif_tiff(payload: bytes) -> bytes:
    return payload[4 + int.from_bytes(payload[:4], "big") :] if len(payload) >= 4 else b""


# --- JPEG: https://www.w3.org/Graphics/JPEG/itu-t81.pdf annex B ------------------------------------

_XMP_NAMESPACES = (b"http://ns.adobe.com/xap/1.0/\0", b"http://ns.adobe.com/xmp/extension/\0")  # standard, extended
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})  # TEM and RSTn carry no length
_SOS, _EOI = 0xDA, 0xD9


def _jpeg_pieces(data: bytes) -> tuple[_Piece, ...]:
    """SOI, the marker segments before the first scan, the image from SOS to its EOI, and any trailer."""
    pieces = [_Piece(_Kind.IMAGE, data[:2])]
    pos = 2
    while True:
        start = pos
        while data[pos : pos + 2] == b"\xff\xff":  # fill bytes may precede any marker
            pos += 1
        if data[pos : pos + 1] != b"\xff" or pos + 2 > len(data) or data[pos + 1] in (0x00, 0xD8):
            raise ValueError(f"JPEG: no marker at byte {pos}: the header is truncated or corrupt")
        marker = data[pos + 1]
        if marker in (_SOS, _EOI):
            end = _image_end(data, pos)
            pieces.append(_Piece(_Kind.IMAGE, data[start:end]))
            if end < len(data):
                pieces.append(_Piece(_Kind.OTHER, b""))
            return tuple(pieces)
        if marker in _STANDALONE:
            pieces.append(_Piece(_Kind.IMAGE, data[start : pos + 2]))
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            raise ValueError(f"JPEG: segment at byte {pos} runs past the end: the file is truncated")
        pos += 2 + length
        pieces.append(_jpeg_segment(marker, data[start:pos], data[pos - length + 2 : pos]))


def _jpeg_segment(marker: int, segment: bytes, payload: bytes) -> _Piece:
    """Classify one marker segment: keep JFIF, ICC, Adobe and every non-APPn segment; drop the rest."""
    if marker == 0xE1 and payload.startswith(b"Exif\0"):
        return _Piece(_Kind.EXIF, b"", payload[6:])
    if marker == 0xE1 and payload.startswith(_XMP_NAMESPACES):
        return _Piece(_Kind.XMP, b"", payload)
    if marker == 0xED:
        return _Piece(_Kind.IPTC, b"")
    if marker == 0xFE:
        return _Piece(_Kind.COMMENT, b"")
    if marker == 0xE2 and payload.startswith(b"ICC_PROFILE\0"):
        return _Piece(_Kind.ICC, segment)  # every chunk, in order: readers join them by sequence number
    if marker == 0xE0 and payload.startswith(b"JFIF\0") and len(payload) >= 14:
        # JFIF may end with an RGB thumbnail (Xthumbnail, Ythumbnail, pixels): keep the 14-byte header
        # with a 0x0 thumbnail. https://www.w3.org/Graphics/JPEG/jfif3.pdf
        if len(payload) == 14 and payload[12:14] == b"\0\0":
            return _Piece(_Kind.IMAGE, segment)
        kind = _Kind.THUMBNAIL if len(payload) > 14 else _Kind.IMAGE
        return _Piece(kind, b"\xff\xe0\x00\x10" + payload[:12] + b"\0\0")
    if marker == 0xEE and payload.startswith(b"Adobe"):
        # APP14 Adobe's transform flag tells libjpeg whether CMYK/YCCK data needs a colour transform
        # (libjpeg-turbo jdapimin.c default_decompress_parms): without it colours change.
        return _Piece(_Kind.IMAGE, segment)
    if 0xE0 <= marker <= 0xEF:
        # JFXX thumbnails, MPF (MPO/Ultra HDR index), FlashPix, Ducky, maker APPn: metadata only.
        return _Piece(_Kind.THUMBNAIL if payload.startswith(b"JFXX\0") else _Kind.OTHER, b"")
    return _Piece(_Kind.IMAGE, segment)


def _image_end(data: bytes, pos: int) -> int:
    """Offset just past the first image's EOI, from the SOS marker at `pos`; len(data) when it is cut short.

    In entropy-coded data 0xFF is followed by 0x00 (stuffing), 0xFF (fill) or RSTn; any other marker
    (DHT, DQT and SOS between progressive scans) has a length to skip, so 0xFFD9 found this way is EOI.
    Bytes after it are not shown by browsers: the second image of an MPO (CIPA DC-007), an Ultra HDR
    gain map, a motion photo's video, Samsung's trailer. They are dropped.
    """
    while (pos := data.find(b"\xff", pos)) != -1 and pos + 1 < len(data):
        marker = data[pos + 1]
        if marker == _EOI:
            return pos + 2
        if marker == 0xFF:
            pos += 1
        elif marker == 0x00 or marker in _STANDALONE:
            pos += 2
        elif pos + 4 <= len(data):
            pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
        else:
            break
    return len(data)


def _jpeg_exif(tiff: bytes) -> bytes:
    """An APP1 Exif segment."""
    return b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\0\0" + tiff


# --- PNG: https://www.w3.org/TR/png-3/ ---------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_TEXT = frozenset({b"tEXt", b"zTXt", b"iTXt"})


def _png_pieces(data: bytes) -> tuple[_Piece, ...]:
    """The signature, every chunk up to IEND, and any trailer."""
    pieces = [_Piece(_Kind.IMAGE, data[:8])]
    pos = 8
    while pos < len(data):
        if pos + 12 > len(data):
            raise ValueError(f"PNG: chunk header at byte {pos} is cut short: the file is truncated")
        length, name = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            raise ValueError(f"PNG: {name!r} chunk at byte {pos} runs past the end: the file is truncated")
        pieces.append(_png_chunk(name, data[pos:end], data[pos + 8 : end - 4]))
        pos = end
        if name == b"IEND":
            if pos < len(data):
                pieces.append(_Piece(_Kind.OTHER, b""))
            break
    return tuple(pieces)


def _png_chunk(name: bytes, chunk: bytes, body: bytes) -> _Piece:
    """Classify one chunk: drop eXIf, text and tIME; keep everything else (iCCP, pHYs, tRNS, APNG...) as is."""
    if name == b"eXIf":
        # Some writers keep JPEG's "Exif\0\0" prefix, which the chunk should not have.
        return _Piece(_Kind.EXIF, b"", body[6:] if body.startswith(b"Exif\0\0") else body)
    if name in _PNG_TEXT:
        keyword, text = _png_text(name, body)
        if keyword == b"XML:com.adobe.xmp":
            return _Piece(_Kind.XMP, b"", text)
        if keyword in (b"Raw profile type exif", b"Raw profile type APP1"):
            # ImageMagick's EXIF before eXIf existed, as hex text; Safari honours its Orientation
            # (https://zpl.fi/exif-orientation-in-different-formats/), so it counts as EXIF.
            return _Piece(_Kind.EXIF, b"", _raw_profile(text))
        return _Piece(_Kind.COMMENT, b"")
    if name == b"tIME":
        return _Piece(_Kind.OTHER, b"")
    return _Piece(_Kind.ICC if name == b"iCCP" else _Kind.IMAGE, chunk)


def _png_text(name: bytes, body: bytes) -> tuple[bytes, bytes]:
    """Keyword and inflated text of a tEXt, zTXt or iTXt chunk (iTXt: flag, method, language, translation, text)."""
    keyword, _, rest = body.partition(b"\0")
    if name == b"tEXt":
        return keyword, rest
    compressed, text = (True, rest[1:]) if name == b"zTXt" else (rest[:1] == b"\1", rest[2:].split(b"\0", 2)[-1])
    if not compressed:
        return keyword, text
    try:
        return keyword, zlib.decompressobj().decompress(text, _MAX_TEXT)
    except zlib.error:
        return keyword, b""


def _raw_profile(text: bytes) -> bytes:
    """The TIFF block in an ImageMagick raw profile: "\\nexif\\n   <length>\\n<hex lines>"; b"" when malformed."""
    try:
        data = bytes.fromhex(text.split(None, 2)[2].decode("ascii"))
    except (IndexError, ValueError):
        return b""
    return data[6:] if data.startswith(b"Exif\0\0") else data


def _png_exif(tiff: bytes) -> bytes:
    """An eXIf chunk, at the old EXIF's place: browsers may ignore one after IDAT (w3c/csswg-drafts#4929).

    Chromium honours its Orientation since 2024 (https://crrev.com/c/5249880), Safari before that.
    """
    return struct.pack(">I", len(tiff)) + b"eXIf" + tiff + struct.pack(">I", zlib.crc32(b"eXIf" + tiff))


# --- WebP: https://developers.google.com/speed/webp/docs/riff_container ---------------------------------

_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04


def _webp_pieces(data: bytes) -> tuple[_Piece, ...]:
    """The RIFF header, every chunk (with its padding byte) and any bytes after the RIFF size."""
    riff_end = 8 + int.from_bytes(data[4:8], "little")
    if not 12 <= riff_end <= len(data):
        raise ValueError(f"WebP: RIFF size says {riff_end} bytes, the file has {len(data)}: it is truncated")
    pieces = [_Piece(_Kind.IMAGE, data[:12])]
    pos = 12
    while pos < riff_end:
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        end = pos + 8 + size + (size & 1)
        if pos + 8 > riff_end or end > riff_end:
            raise ValueError(f"WebP: chunk at byte {pos} runs past the RIFF size: the file is truncated")
        name, body = data[pos : pos + 4], data[pos + 8 : pos + 8 + size]
        if name == b"EXIF":
            # Some writers keep JPEG's "Exif\0\0" prefix; Pillow's reader accepts both.
            pieces.append(_Piece(_Kind.EXIF, b"", body[6:] if body.startswith(b"Exif\0\0") else body))
        elif name == b"XMP ":
            pieces.append(_Piece(_Kind.XMP, b"", body))
        else:
            pieces.append(_Piece(_Kind.ICC if name == b"ICCP" else _Kind.IMAGE, data[pos:end]))
        pos = end
    if riff_end < len(data):
        pieces.append(_Piece(_Kind.OTHER, b""))
    return tuple(pieces)


def _webp_exif(tiff: bytes) -> bytes:
    """An EXIF chunk, padded to an even size.

    No browser honoured Orientation in WebP when https://zpl.fi/exif-orientation-in-different-formats/
    tested it; it is kept anyway, so that viewers which do honour it show the photo as before.
    """
    return b"EXIF" + struct.pack("<I", len(tiff)) + tiff + b"\0" * (len(tiff) & 1)


def _finish_webp(body: bytes, has_exif: bool) -> bytes:
    """Set the RIFF size and the VP8X EXIF and XMP flags to match the chunks that are left."""
    chunks = body[12:]
    if chunks.startswith(b"VP8X"):
        flags = chunks[8] & ~(_VP8X_EXIF | _VP8X_XMP) | (_VP8X_EXIF if has_exif else 0)
        chunks = chunks[:8] + bytes([flags]) + chunks[9:]
    return b"RIFF" + struct.pack("<I", len(chunks) + 4) + b"WEBP" + chunks
