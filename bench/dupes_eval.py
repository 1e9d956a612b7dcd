"""Precision and recall of perceptual duplicate detection on the labelled set of tests/dupeset.py.

    python bench/dupes_eval.py [--photos 10] [--screenshots 8] [--diagrams 5]

Pairs are scored: a pair of images is flagged when detection puts both in one group, and true when
they are of one family (the same picture). Prints precision, recall, the time taken, the flagged
pairs that are wrong and, per copy kind, how many copies were not grouped with their original.
"""

from __future__ import annotations

import argparse
import io
import itertools
import sys
import time
from collections import Counter
from pathlib import Path, PurePosixPath

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from dupeset import labelled_set  # noqa: E402

from gallery.model import ImageFile  # noqa: E402
from gallery.similar import similar_groups  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=10)
    parser.add_argument("--screenshots", type=int, default=8)
    parser.add_argument("--diagrams", type=int, default=5)
    args = parser.parse_args()
    items = list(labelled_set(args.photos, args.screenshots, args.diagrams))
    data = {PurePosixPath(item.name): item.data for item in items}
    family = {PurePosixPath(item.name): item.family for item in items}
    images = []
    for item in items:
        with Image.open(io.BytesIO(item.data)) as image:
            images.append(ImageFile(PurePosixPath(item.name), len(item.data), image.width, image.height, image.format))

    started = time.perf_counter()
    groups = list(similar_groups(images, data.__getitem__, lambda i: (-(i.width * i.height), str(i.path))))
    seconds = time.perf_counter() - started

    flagged = {frozenset(p) for members, _ in groups for p in itertools.combinations([m.path for m in members], 2)}
    true = {frozenset((a, b)) for a, b in itertools.combinations(data, 2) if family[a] == family[b]}
    hits = len(flagged & true)
    families = len(set(family.values()))
    print(f"{len(items)} images in {families} families, {len(true)} duplicate pairs; {len(groups)} groups found")
    print(f"precision {hits / max(1, len(flagged)):.3f}  recall {hits / len(true):.3f}  ({seconds:.1f} s)")
    for pair in sorted(sorted(map(str, p)) for p in flagged - true):
        print("  wrong:", " + ".join(pair))
    group_of = {m.path: n for n, (members, _) in enumerate(groups) for m in members}
    missed: Counter[str] = Counter()
    for path in data:
        original = PurePosixPath(f"{family[path]}.png")
        if path != original and (path not in group_of or group_of.get(original) != group_of[path]):
            missed[path.stem.removeprefix(family[path]).lstrip("-") or path.suffix] += 1
    print("copies not grouped with their original, by kind:", dict(sorted(missed.items())) or "none")


if __name__ == "__main__":
    main()
