"""Duplicate images: the same bytes, or the same picture in other bytes, and the copy worth keeping.

Byte-identical files are grouped by size, then SHA-256. Perceptual duplicates are found in two
stages (see similar.py): hashes of every image's normalised picture propose candidate pairs through
an index (never all pairs), and each candidate pair is verified by aligning the two pictures and
comparing them region by region, so that a crop or a letterbox still matches while one changed
line of text does not.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

from .build import read_manifest
from .config import Config
from .fs import iter_folder_images, read_image_file, read_site_bytes
from .model import DuplicateGroup, ImageFile, ScanResult, ScanWarning
from .names import NameRules, normalized_name
from .site import Site
from .variants import VariantSettings

if TYPE_CHECKING:
    from .similar import Failed, Fingerprint

# Formats that can only have lost detail when a copy was saved in them.
LOSSY_FORMATS = frozenset({"JPEG", "MPO", "WEBP", "AVIF"})

Reader = Callable[[PurePosixPath], bytes]


def site_duplicates(
    site: Site, config: Config, scan: ScanResult, similar: bool = True, failed: Failed | None = None
) -> tuple[DuplicateGroup, ...]:
    """Duplicate groups among the site's published source images (variants are not sources).

    Fingerprints that `optimize` stored in the manifest are used while the file is unchanged. An
    image that cannot be decoded is passed to `failed`.
    """
    uses: dict[PurePosixPath, int] = defaultdict(int)
    for ref in scan.refs:
        if ref.file is not None:
            uses[ref.file] += 1
    known = _manifest_fingerprints(site.root, PurePosixPath(config.manifest), scan.images) if similar else {}
    read = functools.partial(read_site_bytes, site.root)
    return find_duplicates(scan.images, read, uses, config.names, similar, known, config.variants.max_pixels, failed)


def _manifest_fingerprints(
    root: Path, manifest: PurePosixPath, images: Iterable[ImageFile]
) -> dict[PurePosixPath, Fingerprint]:
    from .similar import Fingerprint  # numpy and imagehash: imported by the commands that compare pictures

    entries = read_manifest(root, manifest)
    known = {}
    for image in images:
        entry = entries.get(str(image.path))
        if entry is None:
            continue
        try:
            unchanged = entry.describes(os.stat(root / image.path))
        except OSError:
            continue
        if unchanged and (found := Fingerprint.from_text(entry.fingerprint)) is not None:
            known[image.path] = found
    return known


def folder_duplicates(
    root: Path, config: Config, similar: bool = True
) -> tuple[tuple[DuplicateGroup, ...], tuple[ImageFile, ...], tuple[ScanWarning, ...]]:
    """Duplicate groups among the images under any folder, the images looked at, and what could
    not be read; paths are relative to the folder."""
    images: list[ImageFile] = []
    warnings: list[ScanWarning] = []
    for item in iter_folder_images(root, config.image_extensions):
        found = item if isinstance(item, ScanWarning) else read_image_file(root, item, config.variants.max_pixels)
        if isinstance(found, ScanWarning):
            warnings.append(found)
        else:
            images.append(found)
    read = functools.partial(read_site_bytes, root)
    groups = find_duplicates(images, read, {}, config.names, similar, None, config.variants.max_pixels, warnings.append)
    return groups, tuple(images), tuple(warnings)


def find_duplicates(
    images: Iterable[ImageFile],
    read: Reader,
    uses: Mapping[PurePosixPath, int],
    names: NameRules,
    similar: bool,
    known: Mapping[PurePosixPath, Fingerprint] | None = None,
    max_pixels: int = VariantSettings().max_pixels,
    failed: Failed | None = None,
) -> tuple[DuplicateGroup, ...]:
    """Identical groups, then (with `similar`) perceptual ones among the kept and unique images.

    Sorted by kept path. `known` holds fingerprints computed before (from the manifest). An image that
    cannot be decoded (or has more than `max_pixels` pixels) is passed to `failed`.
    """
    readable = [image for image in images if image.format is not None]
    preference = functools.partial(_preference, uses=uses, names=names)
    groups = [_group(members, "identical", 0, preference) for members in _identical(readable, read)]
    if similar:
        from .similar import similar_groups  # numpy and imagehash: imported by the commands that compare pictures

        copies = {path for group in groups for path in group.duplicates}
        # SVG is text: its look depends on a renderer gallery does not have.
        pictures = [image for image in readable if image.path not in copies and image.format != "SVG"]
        for members, distance in similar_groups(pictures, read, preference, known, max_pixels, failed):
            groups.append(_group(members, "perceptual", distance, preference))
    return tuple(sorted(groups, key=lambda group: str(group.keep)))


def _identical(images: list[ImageFile], read: Reader) -> Iterable[list[ImageFile]]:
    by_size: dict[int, list[ImageFile]] = defaultdict(list)
    for image in images:
        by_size[image.bytes].append(image)
    for same_size in by_size.values():
        if len(same_size) < 2:
            continue
        by_digest: dict[str, list[ImageFile]] = defaultdict(list)
        for image in same_size:
            try:
                by_digest[hashlib.sha256(read(image.path)).hexdigest()].append(image)
            except OSError:
                continue  # vanished or unreadable since the scan: not a duplicate of anything
        yield from (group for group in by_digest.values() if len(group) > 1)


def _group(
    members: list[ImageFile], reason: str, distance: int, preference: Callable[[ImageFile], tuple]
) -> DuplicateGroup:
    ordered = sorted(members, key=preference)
    return DuplicateGroup(ordered[0].path, tuple(sorted(image.path for image in ordered[1:])), reason, distance)


def _preference(image: ImageFile, uses: Mapping[PurePosixPath, int], names: NameRules) -> tuple:
    """Sort key, best copy first: most pixels, then not lossy (else the biggest file, the least compressed),
    then the most referenced, then a name `optimize` would not change, then the shortest path."""
    pixels = (image.width or 0) * (image.height or 0)
    lossy = image.format in LOSSY_FORMATS
    clean = normalized_name(image.path.name, image.format, names) == image.path.name
    return (-pixels, lossy, -image.bytes if lossy else 0, -uses.get(image.path, 0), not clean,
            len(str(image.path)), str(image.path))  # fmt: skip
