"""What a browser downloads for the images of a page: the originals, or a variant from gallery's `<picture>`. Pure.

The markup (picture.py) offers each format as a srcset of `w` candidates with one `sizes` value. A browser
takes the first `<source>` whose type it supports (AVIF in every current browser), works out the slot the
image fills from `sizes` at its viewport width, and downloads the narrowest candidate at least slot x device
pixel ratio wide, or the widest when none is that wide. That is Chromium's choice at DPR 1, which
tests/test_browser_demo.py checks against a real Chromium; above DPR 1 Chromium may settle for a smaller one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from .manifest import SourceEntry, VariantEntry
from .model import RefKind, ScanResult, Status
from .picture import FORMAT_TYPES

# What a page shows (and the rewriter turns into <picture>); links and front matter covers are not loaded
# by the page's own markup, and a srcset candidate is an alternative to its <img>'s src, not another image.
SHOWN_KINDS = frozenset({RefKind.MARKDOWN, RefKind.REFERENCE, RefKind.HTML, RefKind.SHORTCODE})
EM_PX = 16  # an `em` in a media query is the browser's default font size, whatever the page's CSS says

_LENGTH = re.compile(r"(?:^|\s)(\d+(?:\.\d+)?|\.\d+)(px|vw|em|rem)$")
_CONDITION = re.compile(r"\(\s*(min|max)-width\s*:\s*(\d+(?:\.\d+)?|\.\d+)(px|em|rem)\s*\)")


@dataclass(frozen=True, slots=True)
class Viewport:
    """A browser window: CSS px wide, and device pixels per CSS px."""

    width: int
    dpr: float = 1.0

    def __str__(self) -> str:
        return f"{self.width} px" + (f" x{self.dpr:g}" if self.dpr != 1 else "")


VIEWPORTS = (Viewport(390), Viewport(1440))  # a phone and a laptop


def slot_width(sizes: str, viewport: int) -> float:
    """The CSS px width `sizes` gives an image in a viewport `viewport` px wide.

    The first entry whose media condition holds wins; 100vw when none does. Conditions are `(min-width: X)`
    and `(max-width: X)` in px or em, joined by `and`; lengths are px, vw, em or rem. An entry outside that
    (calc(), other media features) is skipped, as a browser skips an invalid one.
    """
    for entry in _entries(sizes):
        length = _LENGTH.search(entry)
        if length is None:
            continue
        condition = entry[: length.start()].strip()
        holds = _condition_holds(condition, viewport)
        if holds is None:
            continue
        if holds:
            number, unit = float(length[1]), length[2]
            return number * viewport / 100 if unit == "vw" else number * (EM_PX if unit in ("em", "rem") else 1)
    return float(viewport)


def _entries(sizes: str) -> list[str]:
    """The comma-separated entries of `sizes`, commas inside parentheses kept."""
    entries, depth, start = [], 0, 0
    for i, char in enumerate(sizes):
        depth += (char == "(") - (char == ")")
        if char == "," and depth == 0:
            entries.append(sizes[start:i].strip())
            start = i + 1
    entries.append(sizes[start:].strip())
    return entries


def _condition_holds(condition: str, viewport: int) -> bool | None:
    """Whether a media condition holds at `viewport` px; None when it is not one we can read."""
    if not condition:
        return True
    parts = re.split(r"\s+and\s+", condition, flags=re.IGNORECASE)
    results = []
    for part in parts:
        match = _CONDITION.fullmatch(part.strip())
        if match is None:
            return None
        limit = float(match[2]) * (EM_PX if match[3] in ("em", "rem") else 1)
        results.append(viewport >= limit if match[1] == "min" else viewport <= limit)
    return all(results)


def chosen_variant(entry: SourceEntry, slot: float, dpr: float) -> VariantEntry | None:
    """The variant a browser downloads for a slot `slot` CSS px wide; None when the image has no variants."""
    if not entry.variants:
        return None
    formats = {variant.format for variant in entry.variants}
    shown = next((f for f in (*FORMAT_TYPES, entry.fallback) if f in formats), min(formats))
    candidates = sorted((v for v in entry.variants if v.format == shown), key=lambda v: v.width)
    return next((v for v in candidates if v.width >= slot * dpr), candidates[-1])


@dataclass(frozen=True, slots=True)
class ImageWeight:
    """One image a page shows: its original's bytes, and what a browser downloads at each viewport."""

    file: PurePosixPath
    before: int
    after: tuple[int, ...]  # one per viewport
    chosen: tuple[VariantEntry | None, ...]  # one per viewport; None: the original is downloaded


@dataclass(frozen=True, slots=True)
class PageWeight:
    """The images one page shows, each counted once."""

    page: PurePosixPath
    sizes: str
    images: tuple[ImageWeight, ...]

    @property
    def before(self) -> int:
        return sum(image.before for image in self.images)

    @property
    def after(self) -> tuple[int, ...]:
        return tuple(map(sum, zip(*(image.after for image in self.images), strict=True)))


def page_weights(
    scan: ScanResult,
    variants: Callable[[PurePosixPath], SourceEntry | None],
    sizes: Mapping[PurePosixPath, str],
    viewports: tuple[Viewport, ...] = VIEWPORTS,
) -> tuple[PageWeight, ...]:
    """The weight of every page that shows images, in scan order.

    `variants` gives an image's current manifest entry (None without one: the original is downloaded);
    `sizes` the `sizes` value of each page's markup. A page with gallery's markup counts the image its
    `data-gallery` names, as written before; its variant URLs are not images of their own.
    """
    bytes_of = {image.path: image.bytes for image in scan.images}
    shown: dict[PurePosixPath, dict[PurePosixPath, None]] = {}
    for ref in scan.refs:
        raw = ref.ref
        if raw.kind in SHOWN_KINDS and not raw.generated and ref.status == Status.OK and ref.file in bytes_of:
            shown.setdefault(ref.page, {})[ref.file] = None
    weights = []
    for page in scan.pages:
        files = shown.get(page.path)
        if not files:
            continue
        slots = [slot_width(sizes[page.path], viewport.width) for viewport in viewports]
        images = []
        for file in files:
            entry = variants(file)
            chosen = tuple(
                chosen_variant(entry, slot, viewport.dpr) if entry is not None else None
                for slot, viewport in zip(slots, viewports, strict=True)
            )
            after = tuple(bytes_of[file] if variant is None else variant.bytes for variant in chosen)
            images.append(ImageWeight(file, bytes_of[file], after, chosen))
        weights.append(PageWeight(page.path, sizes[page.path], tuple(images)))
    return tuple(weights)
