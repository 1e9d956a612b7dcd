"""What a browser downloads from gallery's markup: the slot `sizes` gives, and the candidate for it.

tests/test_browser_demo.py checks the same choice against a real Chromium on the demo site."""

from __future__ import annotations

from pathlib import PurePosixPath

import pytest

from gallery.config import DEFAULT_SIZES
from gallery.manifest import SourceEntry, VariantEntry
from gallery.model import ImageFile, ImageRef, PageContext, RawRef, RefKind, ScanResult, Status
from gallery.weight import Viewport, chosen_variant, page_weights, slot_width


@pytest.mark.parametrize(
    ("sizes", "viewport", "slot"),
    [
        (DEFAULT_SIZES, 390, 390),
        (DEFAULT_SIZES, 839, 839),
        (DEFAULT_SIZES, 840, 800),
        (DEFAULT_SIZES, 1440, 800),
        ("100vw", 1440, 1440),
        ("50vw", 390, 195),
        ("(max-width: 600px) 90vw, (max-width: 1000px) 40em, 1000px", 390, 351),
        ("(max-width: 600px) 90vw, (max-width: 1000px) 40em, 1000px", 800, 640),
        ("(max-width: 600px) 90vw, (max-width: 1000px) 40em, 1000px", 1440, 1000),
        ("(min-width: 40em) and (max-width: 100em) 300px, 20rem", 1000, 300),
        ("(min-width: 40em) and (max-width: 100em) 300px, 20rem", 390, 320),
        # What this model cannot evaluate is skipped, as a browser skips an invalid entry.
        ("(orientation: landscape) 10px, calc(100vw - 2em), 200px", 1440, 200),
        ("(min-width: 600px)", 1440, 1440),  # no length: invalid, and nothing else: 100vw
        ("", 390, 390),
    ],
)
def test_slot_width(sizes: str, viewport: int, slot: float) -> None:
    assert slot_width(sizes, viewport) == pytest.approx(slot)


def variant(width: int, fmt: str) -> VariantEntry:
    return VariantEntry(width, width * 3 // 4, fmt, width * 10 + len(fmt), f"v/{width}.{fmt}", f"/v/{width}.{fmt}")


def entry(*variants: VariantEntry, fallback: str = "jpeg") -> SourceEntry:
    return SourceEntry("0" * 64, 100_000, 0, 1600, 1200, "JPEG", fallback, False, "", "", variants)


EVERY = entry(*(variant(w, f) for w in (480, 960, 1600) for f in ("avif", "webp", "jpeg")))


@pytest.mark.parametrize(
    ("slot", "dpr", "width"),
    [(390, 1, 480), (480, 1, 480), (481, 1, 960), (800, 1, 960), (800, 2, 1600), (2000, 1, 1600), (1, 1, 480)],
)
def test_the_narrowest_avif_at_least_slot_times_dpr_wide_else_the_widest(slot: int, dpr: float, width: int) -> None:
    chosen = chosen_variant(EVERY, slot, dpr)
    assert chosen is not None and (chosen.width, chosen.format) == (width, "avif")


def test_without_avif_the_next_source_then_the_fallback_and_none_without_variants() -> None:
    assert chosen_variant(entry(variant(480, "webp"), variant(480, "png"), fallback="png"), 100, 1).format == "webp"
    assert chosen_variant(entry(variant(480, "png"), fallback="png"), 100, 1).format == "png"
    assert chosen_variant(entry(), 100, 1) is None


def ref(page: str, url: str, file: str | None, kind: RefKind = RefKind.MARKDOWN, **flags: bool) -> ImageRef:
    status = Status.OK if file is not None else Status.MISSING
    path = PurePosixPath(file) if file is not None else None
    return ImageRef(PurePosixPath(page), RawRef(kind, url, 0, 1, 1, 1, **flags), status, path)


def test_page_weights_count_each_shown_image_once_and_only_shown_ones() -> None:
    a, b = PurePosixPath("static/a.jpg"), PurePosixPath("static/b.jpg")
    scan = ScanResult(
        pages=(PageContext(PurePosixPath("p.md"), "/p/", "en"), PageContext(PurePosixPath("q.md"), "/q/", "en")),
        refs=(
            ref("p.md", "/a.jpg", str(a)),
            ref("p.md", "/a.jpg", str(a), RefKind.HTML),  # the same image again: downloaded once
            ref("p.md", "/b.jpg", str(b), RefKind.LINK),  # a link: not loaded by the page
            ref("p.md", "/b.jpg", str(b), RefKind.FRONTMATTER),  # a cover: up to the theme
            ref("p.md", "/v/480.avif", "v/480.avif", RefKind.SRCSET, generated=True),  # gallery's own markup
            ref("p.md", "/gone.jpg", None),
            ref("q.md", "/b.jpg", str(b)),
        ),
        images=(ImageFile(a, 100_000, 1600, 1200, "JPEG"), ImageFile(b, 7_000, 10, 10, "JPEG")),
        orphans=(),
        warnings=(),
    )
    sizes = {PurePosixPath("p.md"): DEFAULT_SIZES, PurePosixPath("q.md"): "10px"}
    weights = page_weights(scan, {a: EVERY}.get, sizes, (Viewport(390), Viewport(1440)))
    assert [(w.page.name, [i.file.name for i in w.images], w.before, w.after) for w in weights] == [
        ("p.md", ["a.jpg"], 100_000, (480 * 10 + 4, 960 * 10 + 4)),
        ("q.md", ["b.jpg"], 7_000, (7_000, 7_000)),  # no variants: the original
    ]
