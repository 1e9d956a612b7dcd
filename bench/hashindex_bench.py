"""Benchmark: near_pairs on 100,000 random 64-bit hashes at distance 8 (goal: under 2 s in one process).

    python bench/hashindex_bench.py [--n 100000] [--distance 8] [--repeat 3] [--check 5000] [--plans]

Times three sets of n hashes from a seeded generator: "random" (uniform 64-bit values), "realistic"
(90% uniform, 10% near-copies of those with 1-6 bits flipped) and "flat" (random, but 1% are 0 and 1%
are 0x8000000000000000, the phash of any solid image: a million pairs at 100,000 hashes). Prints the
pairs found, the best wall time of --repeat runs, its CPU time and the peak RSS of the process so far.
--check N compares the pairs of the first N hashes of each set with brute force (0 skips it). --plans
times distinct_pairs on the random set with every candidate plan within 10x of the best expected time,
next to the model's expectation and its work terms, which is what hashindex.COSTS is fitted to.
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from gallery.hashindex import (
    Block,
    block_plan,
    block_work,
    candidate_plans,
    distinct_pairs,
    expected_seconds,
    near_pairs,
)
from gallery.similar import CANDIDATE_DISTANCE, WINDOWS, Fingerprint, candidate_pairs

SEED = 20251126


def random_hashes(count: int, rng: np.random.Generator) -> np.ndarray:
    return rng.integers(0, 2**64, size=count, dtype=np.uint64, endpoint=False)


def realistic_hashes(count: int, rng: np.random.Generator) -> np.ndarray:
    """90% random hashes and 10% copies of some of them with 1 to 6 distinct bits flipped, shuffled."""
    copies = count // 10
    originals = random_hashes(count - copies, rng)
    near = originals[rng.integers(0, len(originals), copies)]
    flips = rng.integers(1, 7, copies)
    for index in range(copies):
        for bit in rng.choice(64, flips[index], replace=False):
            near[index] ^= np.uint64(1) << np.uint64(bit)
    return rng.permutation(np.concatenate([originals, near]))


def flat_hashes(count: int, rng: np.random.Generator) -> np.ndarray:
    """Random hashes, 1% of them replaced by 0 and 1% by the top bit alone (one bit apart)."""
    hashes = random_hashes(count, rng)
    chosen = rng.permutation(count)[: 2 * (count // 100)]
    hashes[chosen[: count // 100]] = 0
    hashes[chosen[count // 100 :]] = np.uint64(1 << 63)
    return hashes


def brute_force(hashes: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairs compared, a block of rows at a time so that 5,000 hashes need about 40 MB."""
    found = []
    for start in range(0, len(hashes), 1000):
        distance = np.bitwise_count(hashes[start : start + 1000, None] ^ hashes[None, :])
        rows, columns = np.nonzero(distance <= max_distance)
        rows += start
        later = rows < columns
        found.append((rows[later], columns[later], distance[rows[later] - start, columns[later]]))
    if not found:
        return near_pairs(hashes[:0], max_distance)
    return tuple(np.concatenate(column) for column in zip(*found, strict=True))


def plan_text(blocks: tuple[Block, ...]) -> str:
    """A plan as bits/radius per block, e.g. "22/2 21/2 21/2"."""
    return " ".join(f"{block.bits}/{block.radius}" for block in blocks)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_set(name: str, hashes: np.ndarray, max_distance: int, repeat: int, check: int) -> None:
    best_wall = best_cpu = float("inf")
    for _ in range(repeat):
        wall, cpu = time.perf_counter(), time.process_time()
        # Only the count is kept, so that one result at a time takes memory.
        pairs = len(near_pairs(hashes, max_distance)[0])
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    print(
        f"{name}: n {len(hashes)}, distance {max_distance}, {pairs} pairs, "
        f"wall {best_wall:.3f} s, cpu {best_cpu:.3f} s, peak RSS {peak_rss_mb():.0f} MB"
    )
    if check:
        subset = hashes[:check]
        expected = brute_force(subset, max_distance)
        got = near_pairs(subset, max_distance)
        same = all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
        print(f"  first {len(subset)} against brute force: {len(got[0])} pairs, {'same' if same else 'DIFFERENT'}")
        if not same:
            raise SystemExit(1)


def time_plans(hashes: np.ndarray, max_distance: int, repeat: int) -> None:
    values = np.unique(hashes)
    chosen = block_plan(len(values), max_distance)
    best_expected = expected_seconds(len(values), chosen)
    print("measured s  expected s  table entries  probes  hits  candidates  plan (bits/radius)")
    for blocks in sorted(set(candidate_plans(max_distance)), key=lambda b: expected_seconds(len(values), b)):
        expected = expected_seconds(len(values), blocks)
        if expected > 10 * best_expected:
            break
        measured = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            distinct_pairs(values, max_distance, blocks)
            measured = min(measured, time.perf_counter() - started)
        work = [sum(terms) for terms in zip(*(block_work(len(values), block) for block in blocks), strict=True)]
        print(
            f"{measured:10.3f}  {expected:10.3f}  " + "  ".join(f"{term:.3g}" for term in work),
            f" {plan_text(blocks)}{'  (chosen)' if blocks == chosen else ''}",
        )


def time_candidates(images: int, rng: np.random.Generator) -> None:
    """similar.candidate_pairs as dupes uses it: one hash per crop window of each image, at its distance."""
    windows = len(WINDOWS)
    hashes = random_hashes(images * windows, rng).reshape(images, windows)
    fingerprints = [Fingerprint(tuple(int(h) for h in row)) for row in hashes]
    started = time.perf_counter()
    pairs = candidate_pairs(fingerprints)
    seconds = time.perf_counter() - started
    print(
        f"candidates: {images} images x {windows} windows = {images * windows} hashes at distance "
        f"{CANDIDATE_DISTANCE}: {len(pairs)} pairs, wall {seconds:.2f} s, peak RSS {peak_rss_mb():.0f} MB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100_000)
    parser.add_argument("--distance", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--check", type=int, default=5_000, help="hashes compared with brute force; 0 skips")
    parser.add_argument("--plans", action="store_true", help="time every candidate plan on the random set")
    parser.add_argument(
        "--images", type=int, default=0, help="instead: time the candidate stage of `gallery dupes` on N random images"
    )
    args = parser.parse_args()
    if args.images:
        time_candidates(args.images, np.random.default_rng(SEED))
        return
    rng = np.random.default_rng(SEED)
    random_set, realistic_set, flat_set = (
        random_hashes(args.n, rng),
        realistic_hashes(args.n, rng),
        flat_hashes(args.n, rng),
    )
    plan = plan_text(block_plan(args.n, args.distance))
    print(f"plan (bits/radius per block) {plan}; peak RSS before searching {peak_rss_mb():.0f} MB")
    if args.plans:
        time_plans(random_set, args.distance, args.repeat)
        return
    time_set("random", random_set, args.distance, args.repeat, args.check)
    time_set("realistic", realistic_set, args.distance, args.repeat, args.check)
    time_set("flat", flat_set, args.distance, args.repeat, args.check)


if __name__ == "__main__":
    main()
