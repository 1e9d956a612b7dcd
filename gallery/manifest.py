"""The variants manifest: what each source became. It is also the cache of `optimize`. Pure.

Default path `data/gallery.json`, so Hugo templates can read it as `site.Data.gallery`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import PurePosixPath
from typing import Any

# 2: `fingerprint` (similar.Fingerprint) replaced a single pHash. `placeholder` came later without a new
# version: a new version would re-render every source, when the smallest variant is enough to fill it.
MANIFEST_VERSION = 2
EXTENSIONS = {"avif": "avif", "webp": "webp", "jpeg": "jpg", "png": "png", "gif": "gif"}


@dataclass(frozen=True, slots=True)
class VariantEntry:
    """One variant file: its size in pixels and bytes, where it is and its URL."""

    width: int
    height: int
    format: str
    bytes: int
    path: str  # relative to the site root
    url: str  # site-relative URL path (without the baseURL path)


@dataclass(frozen=True, slots=True)
class SourceEntry:
    """A source image as it was when its variants were made."""

    sha256: str
    bytes: int
    mtime_ns: int
    width: int
    height: int
    format: str
    fallback: str
    animated: bool
    fingerprint: str  # similar.Fingerprint.to_text(): duplicate detection's hashes; "" for SVG
    key: str  # the encoder settings (VariantSettings.key) the variants were made with
    variants: tuple[VariantEntry, ...]
    # variants.placeholder: a data URI; "" for none (SVG, animation, transparency); None in an entry written
    # before placeholders were: `optimize` fills it from the smallest variant, re-rendering nothing.
    placeholder: str | None = None

    def describes(self, stat: os.stat_result) -> bool:
        """Whether the file as `stat` finds it now is the source this entry was made from (no reading)."""
        return (self.bytes, self.mtime_ns) == (stat.st_size, stat.st_mtime_ns)


def variant_name(source: PurePosixPath, digest: str, width: int, fmt: str) -> str:
    """`event2-1.3f9a1c2b.960.avif`: the hash covers the source bytes and the encoder settings."""
    return f"{source.stem}.{digest[:8]}.{width}.{EXTENSIONS[fmt]}"


def manifest_to_json(entries: Mapping[str, SourceEntry]) -> bytes:
    """The manifest file's bytes (sorted, stable, so an unchanged run writes identical bytes)."""
    document = {"version": MANIFEST_VERSION, "images": {path: asdict(entries[path]) for path in sorted(entries)}}
    return (json.dumps(document, indent=1, ensure_ascii=False) + "\n").encode()


def manifest_from_json(data: bytes) -> dict[str, SourceEntry]:
    """Read a manifest; an unreadable or older one is an empty cache (everything is rebuilt)."""
    try:
        document = json.loads(data)
        if document.get("version") != MANIFEST_VERSION:
            return {}
        return {path: _source(entry) for path, entry in document["images"].items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        return {}


def _source(entry: dict[str, Any]) -> SourceEntry:
    variants = tuple(VariantEntry(**variant) for variant in entry.pop("variants"))
    return SourceEntry(**entry, variants=variants)
