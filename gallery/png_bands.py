"""PNG decoding a band of rows at a time, so that a 100 MP PNG never exists whole in memory.

Pillow decodes a PNG whole, at 4 bytes a pixel for RGB and RGBA: 403 MB for 100 MP. Here the IDAT stream
is inflated with Python's zlib a piece at a time (never more than the image can hold: a deflate bomb
stops there), and each band of still-filtered rows goes back through Pillow's own PNG decoder to be
unfiltered, so the pixels are Pillow's. The Up, Average and Paeth filters refer to the row above, so each
band is handed over behind a copy of the previous band's last row, unfiltered (filter type 0).
Only 8-bit, non-interlaced, non-animated PNGs with the usual chunks are read so: `png_layout` returns None
for any other, and the caller decodes it whole with Pillow, as before.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from PIL import Image, PngImagePlugin

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# IHDR colour type at 8 bits a sample -> Pillow's mode (its raw mode too) and bytes per pixel
_MODES = {0: ("L", 1), 2: ("RGB", 3), 3: ("P", 1), 4: ("LA", 2), 6: ("RGBA", 4)}
# Critical chunks Pillow reads; any other critical chunk (and APNG's frame chunks) sends the file to Pillow.
_KNOWN_CRITICAL = (b"IHDR", b"PLTE", b"IDAT", b"IEND")
_ANIMATION = (b"acTL", b"fcTL", b"fdAT")
_PIECE = 1 << 20  # bytes inflated at a time


@dataclass(frozen=True, slots=True)
class PngLayout:
    """Where the pixels of a PNG that can be decoded in bands are: its IDAT payloads and the chunks after them."""

    width: int
    height: int
    mode: str  # Pillow's mode, also the raw mode of the rows
    pixel_bytes: int
    idat: tuple[tuple[int, int], ...]  # (offset, length) of each IDAT payload, in order
    trailing: tuple[tuple[bytes, int, int], ...]  # (type, offset, length) of each chunk after them, to IEND

    @property
    def row_bytes(self) -> int:
        """A filtered row: its filter type byte, then its pixels."""
        return 1 + self.width * self.pixel_bytes


def png_layout(data: bytes) -> PngLayout | None:
    """The layout of an 8-bit, non-interlaced, non-animated PNG whose chunks up to the pixel data are whole;
    None for any other data (Pillow decodes it whole, and says what is wrong with it)."""
    if len(data) < 33 or not data.startswith(_SIGNATURE) or data[8:16] != b"\0\0\0\x0dIHDR":
        return None
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    depth, colour, compression, filtering, interlace = data[24:29]
    if depth != 8 or colour not in _MODES or (compression, filtering, interlace) != (0, 0, 0) or not width * height:
        return None
    chunks = list(_chunks(data, 33))
    types = [kind for kind, _, _ in chunks]
    if b"IDAT" not in types:
        return None
    first = types.index(b"IDAT")
    last = first
    while last + 1 < len(types) and types[last + 1] == b"IDAT":
        last += 1
    before, after = types[:first], types[last + 1 :]
    odd = [t for t in types if t in _ANIMATION or (t[:1].isupper() and t not in _KNOWN_CRITICAL)]
    if odd or b"IDAT" in after or (colour == 3 and b"PLTE" not in before):
        return None
    mode, pixel_bytes = _MODES[colour]
    idat = tuple((start, length) for _, start, length in chunks[first : last + 1])
    return PngLayout(width, height, mode, pixel_bytes, idat, tuple(chunks[last + 1 :]))


def _chunks(data: bytes, at: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload offset, payload length) of each whole chunk from `at` to IEND or the first broken one."""
    while at + 12 <= len(data):
        length, kind = int.from_bytes(data[at : at + 4], "big"), data[at + 4 : at + 8]
        if not kind.isalpha() or at + 12 + length > len(data):
            return
        yield kind, at + 8, length
        if kind == b"IEND":
            return
        at += 12 + length


def trailing_info(data: bytes, layout: PngLayout) -> dict[Any, Any]:
    """What Pillow adds to `info` from the chunks after the pixel data (EXIF, text, XMP) when it decodes the
    image, read by Pillow's own chunk readers as its `load_end` reads them, without decoding the pixels."""
    stream = PngImagePlugin.PngStream(BytesIO(data))
    for kind, start, length in layout.trailing:
        if kind == b"IEND":
            break
        stream.fp.seek(start)
        try:
            stream.call(kind, start, length)
        except UnicodeDecodeError:  # load_end stops there too
            break
        except (AttributeError, EOFError):  # a chunk Pillow does not read
            continue
    return stream.im_info


def png_bands(image: Image.Image, data: bytes, layout: PngLayout, rows: int) -> Iterator[tuple[int, Image.Image]]:
    """(top row, pixels of `rows` rows) of the PNG `data`, opened as `image`, as Pillow would decode them: same
    mode, palette and transparency. ValueError when the pixel data is corrupt or cut short."""
    stream = _Inflated(data, layout)
    previous = b""
    for top in range(0, layout.height, rows):
        count = min(rows, layout.height - top)
        band = _unfiltered(layout, previous, stream.read(count * layout.row_bytes))
        previous = band.crop((0, count - 1, layout.width, count)).tobytes()
        if image.palette is not None:
            band.putpalette(image.palette)
        if "transparency" in image.info:
            band.info["transparency"] = image.info["transparency"]
        yield top, band


class _Inflated:
    """The zlib stream of a PNG's IDAT payloads, inflated on demand: a piece at a time, and never past the
    rows asked for (so never past the image's rows, whatever the stream would inflate to)."""

    def __init__(self, data: bytes, layout: PngLayout) -> None:
        self._payloads = (memoryview(data)[start : start + length] for start, length in layout.idat)
        self._pending = memoryview(b"")
        self._inflater = zlib.decompressobj()

    def _inflated(self, data: memoryview | bytes, wanted: int) -> bytes:
        piece = self._inflater.decompress(data, min(wanted, _PIECE))  # wanted > 0: max_length 0 is no limit
        self._pending = memoryview(self._inflater.unconsumed_tail)
        return piece

    def read(self, size: int) -> bytearray:
        """The next `size` inflated bytes; ValueError when the stream is corrupt or ends before them."""
        out = bytearray()
        try:
            while len(out) < size and not self._inflater.eof:
                if not self._pending:
                    payload = next(self._payloads, None)
                    if payload is None:
                        # past the last payload, zlib may still hold output it had no room for; then nothing
                        if not (piece := self._inflated(b"", size - len(out))):
                            break
                        out += piece
                        continue
                    self._pending = payload
                out += self._inflated(self._pending, size - len(out))
        except zlib.error as e:
            raise ValueError(f"cannot decode PNG image: corrupt pixel data ({e})") from e
        if len(out) < size:
            raise ValueError("cannot decode PNG image: image file is truncated (the pixel data ends early)")
        return out


def _unfiltered(layout: PngLayout, previous: bytes, filtered: bytearray) -> Image.Image:
    """Rows still filtered as PNG stores them, unfiltered by Pillow's own PNG decoder (its "zip" decoder takes
    a zlib stream: stored, not compressed again). `previous`, the unfiltered row above, goes first with
    filter type 0 (none), so that rows filtered against it come out right; it is then cropped off."""
    packer = zlib.compressobj(0)
    stream = b"".join(
        (packer.compress(b"\0" + previous if previous else b""), packer.compress(filtered), packer.flush())
    )
    above = 1 if previous else 0
    size = (layout.width, len(filtered) // layout.row_bytes + above)
    try:
        band = Image.frombytes(layout.mode, size, stream, "zip", layout.mode)
    except ValueError as e:  # "cannot decode image data": an unknown filter type
        raise ValueError(f"cannot decode PNG image: corrupt pixel data ({e})") from e
    return band.crop((0, above, *size)) if above else band
