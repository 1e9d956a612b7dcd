"""Near-duplicate search over 64-bit perceptual hashes: every pair within a Hamming distance, without all pairs.

Multi-index hashing (Norouzi, Punjani and Fleet, "Fast Search in Hamming Space with Multi-Index Hashing",
CVPR 2012; extended version https://arxiv.org/abs/1307.2982): the 64 bits are cut into blocks, each given a
radius, such that the radii plus one sum to more than the distance. Two hashes within the distance then differ
by at most its radius in some block (pigeonhole), so probing, for every hash and every block, the block values
within that block's radius finds every pair. Each block has a dense table over its 2**bits values; the probes
run vectorised, a batch of flip masks at a time over all hashes, and a candidate is kept only if its full
64-bit distance is within the limit. A cost model picks the blocks and radii.

Identical hashes (flat images all share one) are merged first and the search runs on distinct values, so
copies cost only the pairs they produce.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

HASH_BITS = 64
# Distances 0 to 64, and the most hashes whose pairs (i, j, distance) fit in one int64 (see _pair_codes).
DISTANCES = HASH_BITS + 1
MAX_HASHES = math.isqrt((2**63 - 1) // DISTANCES)
# A block's tables take 2**bits entries: 4 MB of occupancy and 32 MB of offsets at 22 bits.
MAX_BLOCK_BITS = 22
# Elements per vectorised step (probes or candidates): bounds the temporary arrays, to some 300 MB when
# candidates dominate (1 << 20 halves that and takes 20% longer; 1 << 18, 50% longer).
STEP = 1 << 21
# Seconds per table entry, probe, probe hit and candidate pair (the four terms of block_work), rounded from
# `bench/hashindex_bench.py --plans` runs on a 2-core machine (3,000 to 1,000,000 hashes, distances 6 to 16),
# where the plan they pick was always within a third of the fastest plan measured. Only their ratios matter.
COSTS = (4e-9, 2.5e-9, 20e-9, 8e-9)


@dataclass(frozen=True, slots=True)
class Block:
    """Bits [shift, shift + bits) of a hash, searched within `radius` flipped bits; radius -1 leaves it out."""

    shift: int
    bits: int
    radius: int


def hamming(a: int, b: int) -> int:
    """Number of bits that differ between two hashes."""
    return (a ^ b).bit_count()


def near_pairs(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i, j), i < j, of `hashes` (uint64 array) whose Hamming distance is at most max_distance.
    Returns (i, j, distance) as three int arrays of equal length, sorted by (i, j)."""
    hashes = np.asarray(hashes)
    if hashes.ndim != 1 or (hashes.size and hashes.dtype.kind not in "iu"):
        raise TypeError(f"hashes must be a 1-D integer array, not {hashes.dtype} with shape {hashes.shape}")
    if len(hashes) > MAX_HASHES:
        raise ValueError(f"at most {MAX_HASHES} hashes, not {len(hashes)}")
    if max_distance < 0:
        raise ValueError(f"max_distance must be at least 0, not {max_distance}")
    # Signed input wraps to the same 64 bits (a hash stored as int64 keeps its bit pattern).
    values, inverse, copies = np.unique(hashes.astype(np.uint64), return_inverse=True, return_counts=True)
    max_distance = min(max_distance, HASH_BITS)
    blocks = block_plan(len(values), max_distance)
    first, second, distance = distinct_pairs(values, max_distance, blocks)
    return _input_pairs(first, second, distance, inverse.ravel(), copies)


def distinct_pairs(
    values: np.ndarray, max_distance: int, blocks: tuple[Block, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (u, v, distance), u < v in no particular order, of distinct uint64 `values` within max_distance,
    searched through `blocks` (any plan whose radii plus one sum to more than max_distance)."""
    found = [(np.empty(0, np.intp), np.empty(0, np.intp), np.empty(0, np.intp))]
    searched: list[Block] = []
    for block in blocks:
        if block.radius < 0:
            continue
        order, probes = _block_probes(values, block)
        block_values = values[order]
        for queries, starts, stops in probes:
            for row, position in _chunked_ranges(starts, stops - starts):
                query = queries[row]
                xor = block_values[query] ^ block_values[position]
                distance = np.bitwise_count(xor)
                keep = distance <= max_distance
                # A pair within the radius of an earlier block was found there already.
                for other in searched:
                    keep &= np.bitwise_count((xor >> np.uint64(other.shift)) & _low_bits(other.bits)) > other.radius
                kept = np.flatnonzero(keep)
                first, second = order[query[kept]], order[position[kept]]
                found.append((np.minimum(first, second), np.maximum(first, second), distance[kept].astype(np.intp)))
        searched.append(block)
    return tuple(np.concatenate(column) for column in zip(*found, strict=True))


def block_plan(count: int, max_distance: int) -> tuple[Block, ...]:
    """The plan with the least expected time for `count` distinct random hashes."""
    return min(candidate_plans(max_distance), key=lambda blocks: expected_seconds(count, blocks))


def candidate_plans(max_distance: int) -> Iterator[tuple[Block, ...]]:
    """Every split of the bits into equal blocks, with radii that find every pair within max_distance.

    Radii r_b with sum(r_b + 1) > max_distance guarantee that a pair within max_distance is within r_b in some
    block. More blocks mean fewer probes per hash (smaller radii) but more chance collisions (narrower blocks).
    """
    for block_count in range(math.ceil(HASH_BITS / MAX_BLOCK_BITS), HASH_BITS + 1):
        narrow, wider = divmod(HASH_BITS, block_count)
        widths = [narrow + 1] * wider + [narrow] * (block_count - wider)
        shifts = [sum(widths[:index]) for index in range(block_count)]
        base, raised = divmod(max_distance - block_count + 1, block_count)
        # When the widths differ, the extra radius costs differently on the wider or the narrower blocks.
        for radii in (
            [base + 1] * raised + [base] * (block_count - raised),
            [base] * (block_count - raised) + [base + 1] * raised,
        ):
            yield tuple(Block(*fields) for fields in zip(shifts, widths, radii, strict=True))


def expected_seconds(count: int, blocks: tuple[Block, ...]) -> float:
    """Time to search `count` distinct random hashes through `blocks`, by the cost model COSTS."""
    return sum(cost * work for block in blocks for cost, work in zip(COSTS, block_work(count, block), strict=True))


def block_work(count: int, block: Block) -> tuple[float, float, float, float]:
    """Table entries, probes, probe hits and candidate pairs expected in one block for `count` random hashes."""
    if block.radius < 0:
        return (0.0, 0.0, 0.0, 0.0)
    masks = sum(math.comb(block.bits, k) for k in range(min(block.radius, block.bits) + 1))
    # The same-bucket pass takes one probe per hash; each flip mask, one for half the hashes.
    probes = count * (1 + (masks - 1) / 2)
    occupancy = 1 - math.exp(-count / 2**block.bits)
    candidates = count * (count - 1) / 2 * masks / 2**block.bits
    return (2**block.bits, probes, probes * occupancy, candidates)


def _block_probes(values: np.ndarray, block: Block) -> tuple[np.ndarray, Iterator[tuple[np.ndarray, ...]]]:
    """`order`, the indices of `values` sorted by their `block` bits, and the _probe_chunks in that order."""
    keys = ((values >> np.uint64(block.shift)) & _low_bits(block.bits)).astype(np.intp)
    order = np.argsort(keys, kind="stable")
    return order, _probe_chunks(keys[order], block)


def _probe_chunks(sorted_keys: np.ndarray, block: Block) -> Iterator[tuple[np.ndarray, ...]]:
    """Chunks of (queries, starts, stops): for each query position, the range of positions [start, stop) whose
    keys differ from its key in at most block.radius bits; every unordered pair in exactly one range."""
    per_key = np.bincount(sorted_keys, minlength=1 << block.bits)
    occupied = per_key > 0
    # Positions offsets[k] to offsets[k + 1] hold the values whose block bits are k.
    offsets = np.zeros(len(per_key) + 1, np.intp)
    np.cumsum(per_key, out=offsets[1:])
    del per_key

    # Same block bits: each value pairs with the ones after it in its bucket.
    positions = np.arange(len(sorted_keys))
    yield positions, positions + 1, offsets[sorted_keys + 1]

    # Flipped bits: of the two values of a pair, only the one with a 0 under the mask's highest bit probes the
    # other's bucket, so each pair is found once and half the probes are skipped.
    # Probing in key order keeps the table reads of nearby probes close together in memory.
    masks = flip_masks(block.bits, block.radius)[1:]
    highest = np.array([int(mask).bit_length() - 1 for mask in masks], np.intp)
    for bit in np.unique(highest):
        queries = np.flatnonzero((sorted_keys >> bit) & 1 == 0)
        query_keys = sorted_keys[queries]
        bit_masks = masks[highest == bit]
        masks_per_step = max(1, STEP // max(1, len(queries)))
        for start in range(0, len(bit_masks), masks_per_step):
            probes = (query_keys[None, :] ^ bit_masks[start : start + masks_per_step, None]).ravel()
            hits = np.flatnonzero(occupied[probes])
            probed = probes[hits]
            yield queries[hits % len(queries)], offsets[probed], offsets[probed + 1]


def flip_masks(bits: int, radius: int) -> np.ndarray:
    """Every `bits`-wide mask with at most `radius` bits set, by popcount (0 first), as intp."""
    level = [0]
    masks = [0]
    for _ in range(min(radius, bits)):
        # Extend each mask by one bit above its highest, so each mask is made once.
        level = [mask | 1 << bit for mask in level for bit in range(mask.bit_length(), bits)]
        masks += level
    return np.array(masks, np.intp)


def _chunked_ranges(starts: np.ndarray, lengths: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """_ranges in chunks of whole rows, about STEP positions each (more when a single row is longer)."""
    ends = np.cumsum(lengths)
    row = 0
    while row < len(lengths):
        done = ends[row - 1] if row else 0
        stop = max(row + 1, int(np.searchsorted(ends, done + STEP, side="right")))
        rows, positions = _ranges(starts[row:stop], lengths[row:stop])
        yield rows + row, positions
        row = stop


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row r and position starts[r] + k for every row r and 0 <= k < lengths[r], row by row."""
    owner = np.repeat(np.arange(len(lengths)), lengths)
    # Position k of row r is its start plus k: the running index minus where the row's run begins.
    run_starts = np.cumsum(lengths) - lengths
    return owner, np.arange(len(owner)) + np.repeat(starts - run_starts, lengths)


def _input_pairs(
    first: np.ndarray, second: np.ndarray, distance: np.ndarray, inverse: np.ndarray, copies: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of distinct values turned into pairs of input positions, plus the pairs among copies of a value."""
    count = len(inverse)
    # members[group_starts[v] : group_starts[v] + copies[v]] are the input positions holding value v, ascending.
    members = np.argsort(inverse, kind="stable")
    group_starts = np.cumsum(copies) - copies
    chunks = [np.empty(0, np.int64)]

    # Copies of one value: each member pairs with the later members of its group, at distance 0.
    positions = np.arange(count)
    later = np.repeat(group_starts + copies, copies) - positions - 1
    for row, position in _chunked_ranges(positions + 1, later):
        chunks.append(_pair_codes(members[row], members[position], 0, count))

    # Two distinct values: every member of one with every member of the other.
    pair, member_first = _ranges(group_starts[first], copies[first])
    for combo, member_second in _chunked_ranges(group_starts[second[pair]], copies[second[pair]]):
        left, right = members[member_first[combo]], members[member_second]
        lower, upper = np.minimum(left, right), np.maximum(left, right)
        chunks.append(_pair_codes(lower, upper, distance[pair[combo]], count))

    codes = np.concatenate(chunks)
    del chunks  # so that decoding holds the output and nothing of its size besides
    return _decoded_pairs(codes, count)


def _pair_codes(first: np.ndarray, second: np.ndarray, distance: np.ndarray | int, count: int) -> np.ndarray:
    """Each pair packed into one int64 whose order is that of (first, second), so one in-place sort orders
    the output and 8 bytes per pair is all the sorting needs (copies of a value can make 10**8 pairs)."""
    return (first.astype(np.int64) * count + second) * DISTANCES + distance


def _decoded_pairs(codes: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(first, second, distance) from the codes of _pair_codes, sorted. `codes` becomes `second`, and the
    decoding goes a step at a time, so memory peaks at the output's own size."""
    codes.sort()
    first, distance = np.empty_like(codes), np.empty_like(codes)
    for start in range(0, len(codes), STEP):
        step = slice(start, start + STEP)
        np.divmod(codes[step], DISTANCES, out=(codes[step], distance[step]))
        np.floor_divide(codes[step], count, out=first[step])
        codes[step] -= first[step] * count
    return first, codes, distance


def _low_bits(bits: int) -> np.uint64:
    return np.uint64((1 << bits) - 1)
