"""near_pairs: exactly the pairs that brute force finds, for random, clustered, repeated and sign-bit hashes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gallery import hashindex
from gallery.hashindex import HASH_BITS, candidate_plans, distinct_pairs, hamming, near_pairs

TOP_BIT = np.uint64(1 << 63)


def brute_force(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair compared: (i, j, distance) for i < j, in row-major order, hence sorted by (i, j)."""
    hashes = np.asarray(hashes, np.uint64)
    distance = np.bitwise_count(hashes[:, None] ^ hashes[None, :]).astype(np.intp)
    first, second = np.nonzero(np.triu(distance <= max_distance, k=1))
    return first, second, distance[first, second]


def assert_same(got: tuple[np.ndarray, ...], expected: tuple[np.ndarray, ...]) -> None:
    assert [len(column) for column in got] == [len(expected[0])] * 3
    for got_column, expected_column in zip(got, expected, strict=True):
        np.testing.assert_array_equal(got_column, expected_column)


def triples(result: tuple[np.ndarray, np.ndarray, np.ndarray]) -> list[tuple[int, int, int]]:
    return list(zip(*(column.tolist() for column in result), strict=True))


def random_hashes(count: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**64, size=count, dtype=np.uint64, endpoint=False)


def flipped(hash_value: np.uint64, bits: int, rng: np.random.Generator) -> np.uint64:
    """`hash_value` with `bits` distinct random bits flipped."""
    mask = sum(1 << int(bit) for bit in rng.choice(HASH_BITS, bits, replace=False))
    return hash_value ^ np.uint64(mask)


def clustered_hashes(centres: int, seed: int) -> np.ndarray:
    """Random centres, each with 0-5 near-copies 0-12 bits away, shuffled: pairs at every small distance."""
    rng = np.random.default_rng(seed)
    hashes = []
    for centre in random_hashes(centres, seed):
        hashes.append(centre)
        hashes += [flipped(centre, int(rng.integers(0, 13)), rng) for _ in range(rng.integers(0, 6))]
    return rng.permutation(np.array(hashes, np.uint64))


RANDOM = random_hashes(2_000, seed=1)
CLUSTERED = clustered_hashes(300, seed=2)


@pytest.mark.parametrize("max_distance", range(17))
def test_random_hashes_match_brute_force_at_every_distance(max_distance: int) -> None:
    assert_same(near_pairs(RANDOM, max_distance), brute_force(RANDOM, max_distance))


def test_random_hashes_have_pairs_only_at_large_distances() -> None:
    """Guards the test above against passing vacuously: 2,000 random hashes have pairs from about distance 12."""
    assert len(near_pairs(RANDOM, 8)[0]) == 0
    assert len(near_pairs(RANDOM, 16)[0]) > 50


@pytest.mark.parametrize("max_distance", [0, 1, 2, 3, 5, 8, 10, 12, 16])
def test_clustered_hashes_match_brute_force(max_distance: int) -> None:
    expected = brute_force(CLUSTERED, max_distance)
    assert len(expected[0]) > 0
    assert_same(near_pairs(CLUSTERED, max_distance), expected)


def test_pairs_are_ordered_and_distances_are_hamming_distances() -> None:
    first, second, distance = near_pairs(CLUSTERED, 10)
    assert np.all(first < second)
    order = np.lexsort((second, first))
    np.testing.assert_array_equal(order, np.arange(len(first)))
    assert [hamming(int(CLUSTERED[i]), int(CLUSTERED[j])) for i, j, _ in triples((first, second, distance))] == (
        distance.tolist()
    )
    assert set(distance.tolist()) == set(range(11))


def test_many_identical_hashes() -> None:
    """1,000 copies of 0 (as flat images give) and 300 of the top bit alone, one bit away, among random hashes."""
    rng = np.random.default_rng(3)
    hashes = random_hashes(1_500, seed=3)
    hashes[rng.choice(1_500, 1_000, replace=False)] = 0
    hashes[np.flatnonzero(hashes != 0)[:300]] = TOP_BIT
    zeros, tops = 1_000, 300
    for max_distance in (0, 1, 8):
        expected = brute_force(hashes, max_distance)
        assert_same(near_pairs(hashes, max_distance), expected)
    assert len(near_pairs(hashes, 0)[0]) == zeros * (zeros - 1) // 2 + tops * (tops - 1) // 2
    assert len(near_pairs(hashes, 1)[0]) == (zeros + tops) * (zeros + tops - 1) // 2


def test_all_hashes_identical() -> None:
    assert triples(near_pairs(np.full(5, 7, np.uint64), 3)) == [(i, j, 0) for i in range(5) for j in range(i + 1, 5)]


@pytest.mark.parametrize("hashes", [np.empty(0, np.uint64), np.array([12345], np.uint64), []])
def test_empty_input_and_one_hash_have_no_pairs(hashes: np.ndarray) -> None:
    for max_distance in (0, 8, 16):
        result = near_pairs(hashes, max_distance)
        assert [column.shape for column in result] == [(0,)] * 3
        assert all(column.dtype.kind == "i" for column in result)


def test_hashes_with_the_top_bit_set() -> None:
    """Values at and above 2**63 (negative as int64) keep their distances, across the sign boundary too."""
    hashes = np.array(
        [
            0x7FFF_FFFF_FFFF_FFFF,
            0x8000_0000_0000_0000,
            0xFFFF_FFFF_FFFF_FFFF,
            0xFFFF_FFFF_FFFF_FFFE,
            0x8000_0000_0000_0001,
            0x0000_0000_0000_0000,
            0xFFFF_FFFF_0000_0000,
        ],
        np.uint64,
    )
    hashes = np.concatenate([hashes, random_hashes(300, seed=4) | TOP_BIT])
    for max_distance in (0, 1, 2, 8, 16):
        expected = brute_force(hashes, max_distance)
        assert_same(near_pairs(hashes, max_distance), expected)
        assert_same(near_pairs(hashes.view(np.int64), max_distance), expected)
    assert triples(near_pairs(hashes[:5], 1)) == [(0, 2, 1), (1, 4, 1), (2, 3, 1)]


def test_distance_64_and_beyond_pairs_everything() -> None:
    hashes = np.array([0, 2**64 - 1, 0x5555_5555_5555_5555, 0xAAAA_AAAA_AAAA_AAAA], np.uint64)
    for max_distance in (63, 64, 100):
        assert_same(near_pairs(hashes, max_distance), brute_force(hashes, max_distance))
    assert len(near_pairs(hashes, 64)[0]) == 6


@pytest.mark.parametrize("max_distance", [0, 3, 8, 13])
def test_every_candidate_plan_is_exact(max_distance: int) -> None:
    """Not just the plan the cost model picks: any split and radii (some blocks left out) finds the same pairs."""
    values = np.unique(clustered_hashes(60, seed=5))
    expected = {tuple(pair) for pair in zip(*brute_force(values, max_distance), strict=True)}
    plans = set(candidate_plans(max_distance))
    assert len(plans) > 40
    for blocks in plans:
        got = triples(distinct_pairs(values, max_distance, blocks))
        assert len(got) == len(set(got)), blocks  # each pair found once
        assert set(got) == expected, blocks


@pytest.mark.parametrize("max_distance", range(0, 65, 3))
def test_candidate_plans_cover_all_bits_and_satisfy_the_pigeonhole_bound(max_distance: int) -> None:
    for blocks in candidate_plans(max_distance):
        assert [block.shift for block in blocks] == np.cumsum([0] + [b.bits for b in blocks[:-1]]).tolist()
        assert sum(block.bits for block in blocks) == HASH_BITS
        assert max(block.bits for block in blocks) <= hashindex.MAX_BLOCK_BITS
        # A pair more than radius apart in every block is more than max_distance apart in all.
        assert sum(block.radius + 1 for block in blocks) > max_distance


def test_small_steps_give_the_same_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Probes and candidates cut into many small chunks (as 10**5 hashes are) change nothing."""
    hashes = np.concatenate([CLUSTERED, np.zeros(40, np.uint64)])
    expected = brute_force(hashes, 9)
    monkeypatch.setattr(hashindex, "STEP", 5)
    assert_same(near_pairs(hashes, 9), expected)


def test_flip_masks_are_every_mask_within_the_radius_once() -> None:
    masks = hashindex.flip_masks(6, 2).tolist()
    assert masks[0] == 0
    assert sorted(masks) == [mask for mask in range(64) if mask.bit_count() <= 2]
    assert len(hashindex.flip_masks(21, 3)) == 1 + 21 + 210 + 1330


def test_hamming() -> None:
    assert hamming(0, 0) == 0
    assert hamming(0b1011, 0b0110) == 3
    assert hamming(0, 2**64 - 1) == 64


@pytest.mark.parametrize(
    ("hashes", "max_distance", "error"),
    [
        (np.zeros((2, 2), np.uint64), 1, TypeError),
        (np.array([0.5, 1.5]), 1, TypeError),
        (np.zeros(3, np.uint64), -1, ValueError),
    ],
)
def test_bad_arguments(hashes: np.ndarray, max_distance: int, error: type[Exception]) -> None:
    with pytest.raises(error):
        near_pairs(hashes, max_distance)


@settings(max_examples=60, deadline=None)
@given(
    centres=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=30),
    flips=st.lists(st.lists(st.integers(0, 63), max_size=10), max_size=60),
    max_distance=st.integers(0, 16),
)
def test_planted_near_copies_match_brute_force(centres: list[int], flips: list[list[int]], max_distance: int) -> None:
    hashes = list(centres)
    for index, bits in enumerate(flips):
        copy = centres[index % len(centres)]
        for bit in bits:
            copy ^= 1 << bit
        hashes.append(copy)
    hashes = np.array(hashes, np.uint64)
    assert_same(near_pairs(hashes, max_distance), brute_force(hashes, max_distance))
