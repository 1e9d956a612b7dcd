"""Perceptual duplicates: the same picture in other bytes. Pure: bytes in, groups out.

Two stages, because a whole-image hash cannot tell a copy from a look-alike (two screenshots of
one console page that differ in one line of text hash the same):

1. **Candidates.** Each image is turned upright (EXIF orientation), grey, and trimmed of uniform
   borders (letterboxes, margins). Its fingerprint is the 64-bit pHash (imagehash) of that picture
   and of nine windows of it missing 8% at a side, at a corner or all round, so that a cropped copy's
   whole-picture hash meets one of its original's window hashes. hashindex.near_pairs finds every
   pair of hashes within CANDIDATE_DISTANCE without comparing all pairs.
2. **Verification.** A candidate pair is aligned (scale and offset searched by normalised cross-
   correlation, then refined to a fraction of a pixel by phase correlation on a 3x3 grid of patches,
   which also corrects scale), tone-matched, and compared block by block at the smaller copy's size: a copy
   differs a little everywhere (resampling, compression), a look-alike a lot somewhere (a changed
   word, a moved subject). Both a plain and a high-pass difference must stay under their limits.

Flat and nearly flat pictures (blank screenshots, a page with one word) carry too little to tell
copies from look-alikes, so they are never perceptual duplicates; identical bytes still are.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import PurePosixPath

import imagehash
import numpy as np
from PIL import Image

from .hashindex import near_pairs
from .model import ImageFile, ScanWarning
from .variants import PILLOW_ERRORS, VariantSettings, open_image, pillow_limits, shrunk, upright
from .workers import die_with_parent

# Pictures are compared at up to this size: a changed word in 10 px type stays visible in a
# 1920 px screenshot (at 768 px, a changed alarm name in a real console screenshot did not).
PICTURE_SIDE = 2048
REFINE_SIDE = 768  # alignment is refined at this size first (sub-pixel there), then once at full size
HASH_SIDE = 512  # pHash looks at 32x32: a larger decode only costs time (a JPEG decodes at 1/4 or 1/8)
# Crop hypotheses (left, top, right, bottom fractions cut) whose hashes a cropped copy can meet.
_CUT = 0.08
WINDOWS = (
    (0, 0, 0, 0),
    (_CUT, 0, 0, 0), (0, _CUT, 0, 0), (0, 0, _CUT, 0), (0, 0, 0, _CUT),
    (_CUT, _CUT, 0, 0), (0, _CUT, _CUT, 0), (0, 0, _CUT, _CUT), (_CUT, 0, 0, _CUT),
    (_CUT / 2, _CUT / 2, _CUT / 2, _CUT / 2),
)  # fmt: skip
# Measured on tests/dupeset.py (bench/dupes_eval.py): copies' best window distance is <= 10 for 94%
# of pairs; verification, not the hash, decides, so the limit errs on the generous side.
CANDIDATE_DISTANCE = 10
# Verification limits in grey levels per block (24 px plain, 8 px high-pass), chosen on the labelled
# set and checked on real console screenshots: copies at full size reach ~10 high-pass (two AWS
# screenshots showing the same settings: 7.8 and 8.1), a changed alarm name in 10 px type 29.5,
# a moved subject 19, one changed word in the labelled set 50+; a copy at half size 6.4, a
# changed word seen through one 11-15. A changed badge colour shows in the plain difference (20+).
MAX_BLOCK_DIFFERENCE = 19.5
DETAIL_AT_NO_SIZE = 9.0
DETAIL_PER_SCALE = 3.0  # 12 for copies compared at full size, 10.5 for a copy at half size
FLOOR_ALLOWANCE = 5.0
# A picture whose grey levels vary less than this is blank or nearly so.
FLAT_STD = 8.0
_BORDER_TOLERANCE = 12  # grey levels a border line may vary (JPEG noise)
_BORDER_SHARE = 0.99  # share of a line that must be border colour


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the candidate stage needs of an image: its window hashes, or none when it is flat."""

    hashes: tuple[int, ...]

    def to_text(self) -> str:
        """For the manifest: the hashes in hex, "flat" for a flat picture."""
        return ".".join(f"{h:016x}" for h in self.hashes) or "flat"

    @classmethod
    def from_text(cls, text: str) -> Fingerprint | None:
        """The fingerprint `to_text` wrote; None for anything else (an older manifest: recompute)."""
        if text == "flat":
            return cls(())
        parts = text.split(".")
        if len(parts) != len(WINDOWS) or not all(len(p) == 16 for p in parts):
            return None
        try:
            return cls(tuple(int(p, 16) for p in parts))
        except ValueError:
            return None


def picture(data: bytes, side: int = PICTURE_SIDE, max_pixels: int = VariantSettings().max_pixels) -> np.ndarray:
    """The image upright, grey (transparency over white), at most `side` px, uniform borders trimmed.

    Opened like a variant source (allowed decoders only, pixel limit). ValueError when the bytes are
    not a decodable image.
    """
    with pillow_limits(max_pixels):
        image = open_image(data, max_pixels)
        try:
            image.draft("L", (side, side))  # JPEG: decode at 1/2, 1/4 or 1/8 scale
            # Grey and box-reduced before anything else (as thumbnail's reducing_gap=2 would), a band at a
            # time: a large picture is never copied whole to turn it, composite it or make it grey.
            factor = max(1, int(max(image.size) / side / 2))
            pixels = upright(shrunk(image, data, (factor, factor), _grey), image)
            pixels.thumbnail((side, side), Image.Resampling.LANCZOS)
        except PILLOW_ERRORS as e:  # truncated or corrupt pixel data
            raise ValueError(f"cannot decode {image.format} image: {e}") from e
    return trimmed(np.asarray(pixels, dtype=np.uint8))


def _grey(image: Image.Image) -> Image.Image:
    """`image` in grey, transparency over white."""
    if image.mode in ("RGBA", "LA", "PA", "P", "RGBa", "La"):
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return image.convert("L")


def trimmed(pixels: np.ndarray) -> np.ndarray:
    """`pixels` without uniform lines at its edges: letterbox bars, then the margin they hid.

    A line counts as border when 99% of it is within a few grey levels of the edge's colour, so JPEG
    ringing along a bar does not stop the trim. A side is trimmed again only when the colour now at
    its edge is another one (a margin inside a bar), never along a gradient one band at a time.
    """
    trimmed_colours: list[float | None] = [None] * 4  # top, bottom, left, right
    while True:
        height, width = pixels.shape
        if height < 16 or width < 16:
            return pixels
        sides = (pixels, pixels[::-1], pixels.T, pixels.T[::-1])
        counts = []
        for index, side in enumerate(sides):
            colour = float(np.median(side[0]))
            before = trimmed_colours[index]
            fresh = before is None or abs(colour - before) > 2 * _BORDER_TOLERANCE
            counts.append(_border_lines(side, colour) if fresh else 0)
            if counts[-1]:
                trimmed_colours[index] = colour
        top, bottom, left, right = counts
        if top + bottom >= height - 8 or left + right >= width - 8 or not any(counts):
            return pixels  # nothing (more) to trim, or (nearly) nothing but border: flat
        pixels = pixels[top : height - bottom, left : width - right]


def _border_lines(pixels: np.ndarray, colour: float) -> int:
    """How many leading rows of `pixels` are `colour`."""
    share = (np.abs(pixels.astype(np.int16) - colour) <= _BORDER_TOLERANCE).mean(axis=1)
    inside = np.flatnonzero(share < _BORDER_SHARE)
    return int(inside[0]) if inside.size else len(share)


def fingerprint(data: bytes, max_pixels: int = VariantSettings().max_pixels) -> Fingerprint:
    """The image's window hashes (ValueError when it cannot be decoded, or has more than `max_pixels` pixels)."""
    return fingerprint_of(picture(data, HASH_SIDE, max_pixels))


def fingerprint_of(pixels: np.ndarray) -> Fingerprint:
    if is_flat(pixels):
        return Fingerprint(())
    height, width = pixels.shape
    hashes = []
    for left, top, right, bottom in WINDOWS:
        window = pixels[
            round(height * top) : height - round(height * bottom), round(width * left) : width - round(width * right)
        ]
        bits = imagehash.phash(Image.fromarray(window)).hash.flatten()
        hashes.append(int("".join("1" if b else "0" for b in bits), 2))
    return Fingerprint(tuple(hashes))


def is_flat(pixels: np.ndarray) -> bool:
    """Blank, nearly blank, or too small to compare."""
    return min(pixels.shape) < 16 or float(pixels.std()) < FLAT_STD


@dataclass(frozen=True, slots=True)
class Verdict:
    """How far apart two aligned pictures are, and whether that makes them copies."""

    block: float  # worst block's mean grey-level difference
    detail: float  # the same for the high-pass difference (edges, text)
    floor: float  # the median block's: what re-encoding and toning did everywhere
    scale: float  # compared size / the larger copy's size (1: compared at full size)

    @property
    def same(self) -> bool:
        # A brightened photo clips each colour channel on its own, which no grey tone curve undoes:
        # its difference is raised everywhere. A change is a block standing out from that floor.
        block_limit = MAX_BLOCK_DIFFERENCE + FLOOR_ALLOWANCE * self.floor
        # A copy shrunk to the other's size lost fine detail, and so did any change in it.
        detail_limit = DETAIL_AT_NO_SIZE + DETAIL_PER_SCALE * self.scale
        return self.block <= block_limit and self.detail <= detail_limit


def compare(a: np.ndarray, b: np.ndarray) -> Verdict:
    """Align the two pictures (either may be a crop of the other) and measure what differs.

    Most copies show the whole picture (resized, re-encoded, toned): aligning them as they are is
    tried first; only when that finds a difference is a crop searched for.
    """
    whole, part = (a, b) if a.size >= b.size else (b, a)
    seen = part.astype(np.float32)
    as_is = _verdict(whole, seen, _refined(whole, seen, (0.0, 0.0, float(whole.shape[1]), float(whole.shape[0]))))
    if as_is.same:
        return as_is
    forward, backward = _coarse_alignment(a, b), _coarse_alignment(b, a)
    (_, _, fraction), (whole, part) = (forward, (a, b)) if forward[0] >= backward[0] else (backward, (b, a))
    # the same search at 256 px around the best fraction; the refinement then corrects a fraction of a pixel
    _, box, _ = _search(whole, part, fraction + np.linspace(-0.015, 0.015, 7), 256)
    seen = part.astype(np.float32)
    cropped = _verdict(whole, seen, _refined(whole, seen, box))
    return min(as_is, cropped, key=lambda verdict: (verdict.block, verdict.detail))


def _verdict(whole: np.ndarray, seen: np.ndarray, box: Sequence[float]) -> Verdict:
    """How much `seen` differs from the `box` of `whole`, once tones are matched."""
    shown = _resized(whole, (seen.shape[1], seen.shape[0]), box)
    matched = _tone_matched(seen, shown)
    from scipy import ndimage  # 0.2 s to import: here, so that commands that verify no pair start without it

    plain = np.abs(ndimage.gaussian_filter(shown, 0.7) - ndimage.gaussian_filter(matched, 0.7))
    detail = np.abs(ndimage.gaussian_filter(_high_pass(shown) - _high_pass(matched), 0.7))
    # Where one copy clipped a highlight (or a shadow) that is bright (dark) in the other, its detail
    # is lost: nothing to compare there. Dark text on white is not that: it stays compared.
    clipped = (
        _clipped(seen, shown)
        | _clipped(shown, seen)
        | _clipped(255 - seen, 255 - shown)
        | _clipped(255 - shown, 255 - seen)
    )
    plain[clipped] = 0
    detail[clipped] = 0
    blocks = _blocks(plain, 24)
    scale = min(1.0, seen.shape[1] / max(box[2] - box[0], 1.0))
    return Verdict(float(blocks.max()), float(_blocks(detail, 8).max()), float(np.median(blocks)), scale)


def _clipped(pixels: np.ndarray, other: np.ndarray) -> np.ndarray:
    return (pixels >= 250) & (other >= 200)


def _high_pass(pixels: np.ndarray) -> np.ndarray:
    from scipy import ndimage  # imported where used: see _verdict

    return pixels - ndimage.gaussian_filter(pixels, 3)


def _blocks(difference: np.ndarray, side: int) -> np.ndarray:
    """Mean difference per square block of `side` px (a line of small type is about 8 px tall)."""
    inner = difference[3:-3, 3:-3]  # resampling at the very edge differs between any two encoders
    rows, cols = inner.shape[0] // side, inner.shape[1] // side
    if rows == 0 or cols == 0:
        return np.array([float(inner.mean()) if inner.size else 0.0])
    return inner[: rows * side, : cols * side].reshape(rows, side, cols, side).mean(axis=(1, 3))


_PAD = 64  # a box may reach past a trimmed picture: trimmed lines were uniform, so repeat the edge


def _resized(pixels: np.ndarray, size: tuple[int, int], box: Sequence[float] | None = None) -> np.ndarray:
    if box is not None:
        height, width = pixels.shape
        pixels = np.pad(pixels, _PAD, mode="edge")
        limits = (width, height) * 2
        x0, y0, x1, y1 = (min(max(v + _PAD, 0.0), limit + 2.0 * _PAD) for v, limit in zip(box, limits, strict=True))
        box = (x0, y0, max(x1, x0 + 1), max(y1, y0 + 1))  # a diverged refinement gives a poor match, not an error
    return np.asarray(Image.fromarray(pixels).resize(size, Image.Resampling.BILINEAR, box=box), dtype=np.float32)


def _coarse_alignment(whole: np.ndarray, part: np.ndarray) -> tuple[float, tuple[float, ...], float]:
    """Where in `whole` `part` is, if `part` is `whole` cropped by up to 30%: (score, box, crop fraction).

    Searched over the crop fraction in 2% steps at 96 px; each fraction's offset comes from
    normalised cross-correlation over every position at once (FFT).
    """
    return _search(whole, part, np.linspace(1.0, 0.7, 16), 96)


def _search(
    whole: np.ndarray, part: np.ndarray, fractions: Iterable[float], side: int
) -> tuple[float, tuple[float, ...], float]:
    whole_small = _shrunk(whole, side * 2)
    part_small = _shrunk(part, side)
    hw, ww = whole.shape
    hp, wp = part.shape
    tight = max(wp / ww, hp / hw)  # part's scale relative to whole when nothing is cropped
    best: tuple[float, tuple[float, ...], float] = (-2.0, (0.0, 0.0, float(ww), float(hw)), 1.0)
    for fraction in fractions:
        if not 0.5 < fraction <= 1.0:
            continue
        scale = tight / fraction * part_small.shape[1] / wp  # whole's pixels -> part_small's pixels
        target = (max(4, round(ww * scale)), max(4, round(hw * scale)))
        if target[0] < part_small.shape[1] or target[1] < part_small.shape[0]:
            continue
        stage = np.asarray(Image.fromarray(whole_small).resize(target, Image.Resampling.BILINEAR), dtype=np.float32)
        score, dy, dx = _best_offset(stage, part_small)
        if score > best[0]:
            box = (dx / scale, dy / scale, (dx + part_small.shape[1]) / scale, (dy + part_small.shape[0]) / scale)
            best = (score, box, float(fraction))
    return best


def _shrunk(pixels: np.ndarray, side: int) -> np.ndarray:
    image = Image.fromarray(pixels)
    image.thumbnail((side, side), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.uint8)


def _best_offset(stage: np.ndarray, part: np.ndarray) -> tuple[float, int, int]:
    """Normalised cross-correlation of `part` at every position inside `stage`: (best score, dy, dx)."""
    hs, ws = stage.shape
    hp, wp = part.shape
    template = part.astype(np.float64) - part.mean()
    norm = np.sqrt((template**2).sum()) + 1e-6
    shape = (hs + hp, ws + wp)
    product = np.fft.rfft2(stage, s=shape) * np.fft.rfft2(template[::-1, ::-1], s=shape)
    correlation = np.fft.irfft2(product, s=shape)[hp - 1 : hs, wp - 1 : ws]
    total = _window_sums(stage.astype(np.float64), hp, wp)
    squares = _window_sums(stage.astype(np.float64) ** 2, hp, wp)
    variance = np.maximum(squares - total**2 / (hp * wp), 1e-6)
    score = correlation / (np.sqrt(variance) * norm)
    dy, dx = np.unravel_index(int(np.argmax(score)), score.shape)
    return float(score[dy, dx]), int(dy), int(dx)


def _window_sums(values: np.ndarray, height: int, width: int) -> np.ndarray:
    table = np.pad(values, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return table[height:, width:] - table[:-height, width:] - table[height:, :-width] + table[:-height, :-width]


def _refined(whole: np.ndarray, seen: np.ndarray, box: Sequence[float]) -> tuple[float, ...]:
    """The box corrected to a fraction of a pixel: three rounds at up to 768 px, one at full size."""
    small = _shrunk(seen.astype(np.uint8), REFINE_SIDE).astype(np.float32) if max(seen.shape) > REFINE_SIDE else seen
    return _refined_at(whole, seen, _refined_at(whole, small, box, rounds=3), rounds=1)


def _refined_at(whole: np.ndarray, seen: np.ndarray, box: Sequence[float], rounds: int) -> tuple[float, ...]:
    """Each of 3x3 patches says how far the box is off (phase correlation), and a line through
    those offsets gives the shift and the scale error; the box is in `whole`'s pixels at any size."""
    x0, y0, x1, y1 = box
    size = width, height = seen.shape[1], seen.shape[0]
    for _ in range(rounds):
        shown = _resized(whole, size, (x0, y0, x1, y1))
        step_x, step_y = (x1 - x0) / width, (y1 - y0) / height
        offsets = []
        for row in range(3):
            for col in range(3):
                rows = slice(row * height // 3, (row + 1) * height // 3)
                cols = slice(col * width // 3, (col + 1) * width // 3)
                a, b = shown[rows, cols], seen[rows, cols]
                if min(a.shape) < 8 or a.std() < 2 or b.std() < 2:
                    continue  # nothing to lock on to
                (dy, dx), peak = _phase_offset(a, b)
                offsets.append(((cols.start + cols.stop) / 2, (rows.start + rows.stop) / 2, dx, dy, max(peak, 1e-3)))
        if len(offsets) < 2:
            break
        found = np.array(offsets)
        slope_x, shift_x = _line(found[:, 0], found[:, 2], found[:, 4])
        slope_y, shift_y = _line(found[:, 1], found[:, 3], found[:, 4])
        x0, step_x = x0 - shift_x * step_x, (1 - slope_x) * step_x
        y0, step_y = y0 - shift_y * step_y, (1 - slope_y) * step_y
        x1, y1 = x0 + step_x * width, y0 + step_y * height
    return (x0, y0, x1, y1)


def _line(where: np.ndarray, offset: np.ndarray, weight: np.ndarray) -> tuple[float, float]:
    """Weighted least-squares slope and intercept of offset against where (slope 0 if all in one place)."""
    if np.ptp(where) < 1:
        return 0.0, float(np.average(offset, weights=weight))
    root = np.sqrt(weight)
    design = np.vstack([where, np.ones_like(where)]).T * root[:, None]
    (slope, intercept), *_ = np.linalg.lstsq(design, offset * root, rcond=None)
    return float(slope), float(intercept)


def _phase_offset(a: np.ndarray, b: np.ndarray) -> tuple[tuple[float, float], float]:
    """Sub-pixel (dy, dx) that moves `a` onto `b`, and the correlation peak (how sure)."""
    cross = np.fft.rfft2(b - b.mean()) * np.conj(np.fft.rfft2(a - a.mean()))
    cross /= np.abs(cross) + 1e-9
    surface = np.fft.irfft2(cross, s=a.shape)
    peak = np.unravel_index(int(np.argmax(surface)), surface.shape)
    offset = []
    for axis in (0, 1):
        n, i = surface.shape[axis], peak[axis]
        before, after = list(peak), list(peak)
        before[axis], after[axis] = (i - 1) % n, (i + 1) % n
        low, mid, high = surface[tuple(before)], surface[peak], surface[tuple(after)]
        curve = low - 2 * mid + high
        position = i + (0.5 * (low - high) / curve if abs(curve) > 1e-12 else 0.0)
        offset.append(position - n if position > n / 2 else position)
    return (offset[0], offset[1]), float(surface[peak])


def _tone_matched(pixels: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """`pixels` with each grey level mapped to the mean of the reference levels at the same ranks.

    Undoes brightness, contrast and gamma changes and grey-scaling; equal levels stay equal.
    """
    levels = np.clip(np.rint(pixels), 0, 255).astype(np.intp).ravel()
    counts = np.bincount(levels, minlength=256)
    sorted_reference = np.concatenate([[0.0], np.sort(reference, axis=None).astype(np.float64).cumsum()])
    edges = np.concatenate([[0], counts.cumsum()])
    with np.errstate(invalid="ignore", divide="ignore"):
        table = (sorted_reference[edges[1:]] - sorted_reference[edges[:-1]]) / counts
    return np.nan_to_num(table)[levels].reshape(pixels.shape).astype(np.float32)


# --- grouping --------------------------------------------------------------------------------


Failed = Callable[[ScanWarning], None]


def similar_groups(
    images: Sequence[ImageFile],
    read: Callable[[PurePosixPath], bytes],
    preference: Callable[[ImageFile], object],
    known: Mapping[PurePosixPath, Fingerprint] | None = None,
    max_pixels: int = VariantSettings().max_pixels,
    failed: Failed | None = None,
) -> Iterator[tuple[list[ImageFile], int]]:
    """Groups of images showing the same picture, best copy first, with the largest hash distance.

    `known` holds fingerprints computed before (the manifest's); the others are computed here. An
    image that cannot be read or decoded (or has more than `max_pixels` pixels) is in no group, and
    is passed to `failed` with the reason.
    """
    known = known or {}
    missing = [image.path for image in images if image.path not in known]
    computed = {}
    for path, found in zip(missing, _fingerprints(missing, read, max_pixels), strict=True):
        if isinstance(found, str):
            if failed is not None:
                failed(ScanWarning(path, found))
            found = Fingerprint(())  # flat: never a candidate
        computed[path] = found
    fingerprints = [known.get(image.path) or computed[image.path] for image in images]
    pictures = _Pictures(images, read, max_pixels)
    for members, distance in group_similar(fingerprints, pictures.load, lambda i: preference(images[i])):
        yield [images[i] for i in members], distance


def _fingerprints(
    paths: Sequence[PurePosixPath], read: Callable[[PurePosixPath], bytes], max_pixels: int
) -> list[Fingerprint | str]:
    """Fingerprints of the files (or why one cannot be made), decoded in one process per core when there
    are enough of them."""
    fingerprint_file = functools.partial(_fingerprint_file, max_pixels=max_pixels)
    if len(paths) < 8 or (os.cpu_count() or 1) < 2:
        return [fingerprint_file(path, read) for path in paths]
    with ProcessPoolExecutor(initializer=_start_worker, initargs=(read, os.getpid())) as pool:
        return list(pool.map(fingerprint_file, paths, chunksize=4))


_worker_read: Callable[[PurePosixPath], bytes] | None = None


def _start_worker(read: Callable[[PurePosixPath], bytes], parent: int) -> None:
    """Pool initializer: the worker dies with the run that started it (as variant workers do), and reads."""
    die_with_parent(parent)
    _set_reader(read)


def _set_reader(read: Callable[[PurePosixPath], bytes]) -> None:
    global _worker_read  # one reader per worker process, not one copy per file
    _worker_read = read


def _fingerprint_file(
    path: PurePosixPath, read: Callable[[PurePosixPath], bytes] | None = None, *, max_pixels: int
) -> Fingerprint | str:
    """The file's fingerprint, or why it cannot be read or decoded."""
    try:
        return fingerprint((read or _worker_read)(path), max_pixels)
    except (OSError, ValueError) as e:
        return getattr(e, "strerror", None) or str(e)


class _Pictures:
    """Decoded pictures by index, the most recent few kept: verification reuses the kept copy's."""

    def __init__(
        self, images: Sequence[ImageFile], read: Callable[[PurePosixPath], bytes], max_pixels: int, keep: int = 32
    ) -> None:
        self.images, self.read, self.max_pixels, self.keep = images, read, max_pixels, keep
        self.cache: dict[int, np.ndarray | None] = {}

    def load(self, index: int) -> np.ndarray | None:
        if index in self.cache:
            self.cache[index] = self.cache.pop(index)  # most recently used last
            return self.cache[index]
        try:
            pixels: np.ndarray | None = picture(self.read(self.images[index].path), max_pixels=self.max_pixels)
        except (OSError, ValueError):
            pixels = None
        self.cache[index] = pixels
        if len(self.cache) > self.keep:
            del self.cache[next(iter(self.cache))]
        return pixels


def candidate_pairs(fingerprints: Sequence[Fingerprint]) -> dict[tuple[int, int], int]:
    """(i, j) -> smallest window-hash distance, for every pair whose whole-picture hash is within
    CANDIDATE_DISTANCE of any window hash of the other; flat pictures have no hashes and no pairs."""
    owners, hashes, whole = [], [], []
    for index, found in enumerate(fingerprints):
        for window, value in enumerate(found.hashes):
            owners.append(index)
            hashes.append(value)
            whole.append(window == 0)
    if not hashes:
        return {}
    owner = np.array(owners)
    is_whole = np.array(whole)
    first, second, distance = near_pairs(np.array(hashes, dtype=np.uint64), CANDIDATE_DISTANCE)
    keep = (owner[first] != owner[second]) & (is_whole[first] | is_whole[second])
    pairs: dict[tuple[int, int], int] = {}
    for i, j, d in zip(owner[first[keep]], owner[second[keep]], distance[keep], strict=True):
        key = (int(min(i, j)), int(max(i, j)))
        pairs[key] = min(pairs.get(key, 64), int(d))
    return pairs


def group_similar(
    fingerprints: Sequence[Fingerprint],
    load: Callable[[int], np.ndarray | None],
    preference: Callable[[int], object],
) -> Iterator[tuple[list[int], int]]:
    """Groups of indices showing the same picture, each with its largest distance to the kept copy.

    Within each connected set of candidates, images are taken best first (`preference`); each
    joins the first group whose kept copy it verifies against, or starts a group. Every member is
    thus verified against the copy kept, never only through a chain of look-alikes.
    """
    pairs = candidate_pairs(fingerprints)
    linked: dict[int, set[int]] = {}
    for i, j in pairs:
        linked.setdefault(i, set()).add(j)
        linked.setdefault(j, set()).add(i)
    seen: set[int] = set()
    for start in sorted(linked):
        if start in seen:
            continue
        component = _component(start, linked)
        seen |= component
        groups: list[list[int]] = []
        for member in sorted(component, key=preference):
            pixels = load(member)
            if pixels is None:
                continue
            for group in groups:
                keep = group[0]
                if (min(keep, member), max(keep, member)) in pairs and compare(load(keep), pixels).same:
                    group.append(member)
                    break
            else:
                groups.append([member])
        for group in groups:
            if len(group) > 1:
                keep = group[0]
                yield group, max(pairs[(min(keep, m), max(keep, m))] for m in group[1:])


def _component(start: int, linked: dict[int, set[int]]) -> set[int]:
    found, todo = {start}, [start]
    while todo:
        for other in linked[todo.pop()]:
            if other not in found:
                found.add(other)
                todo.append(other)
    return found
