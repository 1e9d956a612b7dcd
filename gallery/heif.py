"""Where a HEIF (HEIC) file keeps its EXIF and XMP: byte ranges found from its boxes alone. Pure.

A HEIF file is an ISO base media file (ISO/IEC 14496-12): a `meta` box lists items (`iinf`) and
where their bytes are (`iloc`); EXIF is an item of type `Exif`, XMP one of type `mime` with the
content type `application/rdf+xml` (ISO/IEC 23008-12, 6.4 and A.2). Their bytes are usually in
`mdat`, next to the picture. Overwriting them in place with bytes of the same length leaves every
offset in the file valid, so metadata goes without touching the coded picture or any box.
No pillow-heif needed: `check` finds GPS in a HEIC on a machine without it.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass

# `ftyp` then a major brand of a HEIF still image (HEVC-coded: heic, heix; any codec: mif1) or sequence.
SIGNATURE = re.compile(rb"....ftyp(?:heic|heix|hevc|hevx|heim|heis|mif1|msf1)", re.DOTALL)


@dataclass(frozen=True, slots=True)
class MetadataItem:
    """An EXIF or XMP item: its kind and the file byte ranges holding its bytes, in order."""

    kind: str  # "exif" or "xmp"
    extents: tuple[tuple[int, int], ...]  # (start, end) offsets in the file

    def payload(self, data: bytes) -> bytes:
        return b"".join(data[start:end] for start, end in self.extents)

    @property
    def size(self) -> int:
        return sum(end - start for start, end in self.extents)


def is_heif(data: bytes) -> bool:
    return SIGNATURE.match(data[:12]) is not None


def metadata_items(data: bytes) -> tuple[MetadataItem, ...]:
    """The EXIF and XMP items of a HEIF file; ValueError when its boxes are cut short or inconsistent."""
    try:
        meta = next((box for box in _boxes(data, 0, len(data)) if box[0] == b"meta"), None)
        if meta is None:
            return ()
        _, start, end = meta
        children = {name: (s, e) for name, s, e in _boxes(data, start + 4, end)}  # meta is a FullBox
        if b"iinf" not in children or b"iloc" not in children:
            return ()
        kinds = _item_kinds(data, *children[b"iinf"])
        idat = children.get(b"idat")
        items = []
        for item_id, extents in _locations(data, *children[b"iloc"], idat):
            kind = kinds.get(item_id)
            if kind is not None:
                if any(e > len(data) or s > e for s, e in extents):
                    raise ValueError(f"the {kind} item lies outside the file")
                items.append(MetadataItem(kind, extents))
        return tuple(items)
    except struct.error as e:
        raise ValueError(f"HEIF boxes cut short: {e}") from e


def replaced(data: bytes, item: MetadataItem, payload: bytes) -> bytes:
    """`data` with the item's bytes overwritten by `payload`, which must be exactly as long."""
    if len(payload) != item.size:
        raise ValueError(f"a HEIF item is replaced in place: {len(payload)} bytes for {item.size}")
    out = bytearray(data)
    at = 0
    for start, end in item.extents:
        out[start:end] = payload[at : at + end - start]
        at += end - start
    return bytes(out)


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of each box in `data[start:end]`."""
    at = start
    while at + 8 <= end:
        size, name = struct.unpack_from(">I4s", data, at)
        header = 8
        if size == 1:
            (size,) = struct.unpack_from(">Q", data, at + 8)
            header = 16
        elif size == 0:
            size = end - at  # to the end of the enclosing box
        if size < header or at + size > end:
            raise ValueError(f"HEIF box {name!r} at {at} claims {size} bytes")
        yield name, at + header, at + size
        at += size


def _item_kinds(data: bytes, start: int, end: int) -> dict[int, str]:
    """Item id -> "exif" or "xmp", from the `infe` entries of `iinf` (versions 2 and 3; older ones name no type)."""
    version = data[start]
    at = start + 4 + (2 if version == 0 else 4)  # FullBox header, entry count
    kinds = {}
    for name, s, e in _boxes(data, at, end):
        if name != b"infe" or data[s] < 2:
            continue
        id_size = 2 if data[s] == 2 else 4
        item_id = int.from_bytes(data[s + 4 : s + 4 + id_size], "big")
        at = s + 4 + id_size + 2  # protection index
        item_type = data[at : at + 4]
        if item_type == b"Exif":
            kinds[item_id] = "exif"
        elif item_type == b"mime":
            name_end = data.index(b"\0", at + 4, e)
            content_type = data[name_end + 1 : e].split(b"\0", 1)[0]
            if content_type == b"application/rdf+xml":
                kinds[item_id] = "xmp"
    return kinds


def _locations(
    data: bytes, start: int, end: int, idat: tuple[int, int] | None
) -> Iterator[tuple[int, tuple[tuple[int, int], ...]]]:
    """(item id, file extents) from `iloc`, for items stored in the file or in `idat` (not in other items)."""
    version = data[start]
    sizes = data[start + 4], data[start + 5]
    offset_size, length_size = sizes[0] >> 4, sizes[0] & 15
    base_size, index_size = sizes[1] >> 4, (sizes[1] & 15 if version in (1, 2) else 0)
    at = start + 6

    def number(size: int) -> int:
        nonlocal at
        value = int.from_bytes(data[at : at + size], "big")
        if at + size > end:
            raise ValueError("HEIF iloc box cut short")
        at += size
        return value

    for _ in range(number(2 if version < 2 else 4)):
        item_id = number(2 if version < 2 else 4)
        method = number(2) & 15 if version in (1, 2) else 0
        number(2)  # data reference index: 0, this file
        base = number(base_size)
        extents = []
        for _ in range(number(2)):
            number(index_size)
            offset, length = number(offset_size), number(length_size)
            extents.append((base + offset, base + offset + length))
        if method == 0:
            yield item_id, tuple(extents)
        elif method == 1 and idat is not None:
            yield item_id, tuple((idat[0] + s, idat[0] + e) for s, e in extents)
