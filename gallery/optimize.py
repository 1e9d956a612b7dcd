"""Plan for `gallery optimize DIR`: clean names (with every reference) and no leaking metadata.

Reads files, never writes: the result is a Plan that apply.py carries out.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath

from .config import Config
from .edit import apply_edits, retarget_url
from .fs import find_names_outside_content, read_site_bytes
from .metadata import read_metadata
from .model import Edit, Finding, ImageRef, PageEdit, Plan, Rename, ScanResult, StripMetadata
from .names import NameInput, plan_renames
from .site import Site


def is_under(path: PurePosixPath, folder: PurePosixPath) -> bool:
    return folder == PurePosixPath(".") or path == folder or folder in path.parents


def plan_optimize(site: Site, config: Config, target: PurePosixPath, scan: ScanResult) -> Plan:
    """Renames and metadata removals for the images under `target`, and the page edits they need."""
    images = [image for image in scan.images if is_under(image.path, target)]
    read = functools.cache(lambda path: read_site_bytes(site.root, path))
    contents = {image.path: read(image.path) for image in images}
    inputs = [
        NameInput(image.path, image.format, hashlib.sha256(contents[image.path]).hexdigest())
        for image in images
    ]
    rules = config.names
    if any(is_under(target, folder) or is_under(folder, target) for folder in _content_dirs(site)):
        # A folder in a content dir is a section or a page bundle: renaming it moves pages.
        rules = dataclasses.replace(rules, folders=False)
    wanted = plan_renames(inputs, rules, base=target)
    problems = [
        Finding("bad-filename", "warning", f"not renamed: {reason}", file=path) for path, reason in wanted.skipped
    ]
    names_elsewhere = find_names_outside_content(site, {old.name for old, _ in wanted.renames})
    refs_by_file: dict[PurePosixPath, list[ImageRef]] = defaultdict(list)
    for ref in scan.refs:
        if ref.file is not None:
            refs_by_file[ref.file].append(ref)

    renames: list[Rename] = []
    edits: dict[PurePosixPath, list[Edit]] = defaultdict(list)
    for old, new in wanted.renames:
        if old.name in names_elsewhere:
            problems.append(
                Finding(
                    "bad-filename",
                    "warning",
                    f"not renamed to {new.name}: its name appears in a layout, data, config or CSS file,"
                    " which gallery does not rewrite; rename it there and here by hand",
                    file=old,
                )
            )
            continue
        ref_edits = _retargeted(read, refs_by_file[old], old, new)
        if isinstance(ref_edits, Finding):
            problems.append(ref_edits)
            continue
        renames.append(Rename(old, new))
        for page, edit in ref_edits:
            edits[page].append(edit)

    new_path = {rename.old: rename.new for rename in renames}
    strips = []
    for image in images:
        metadata = read_metadata(contents[image.path])
        if metadata.removable_bytes > 0:
            strips.append(StripMetadata(new_path.get(image.path, image.path), metadata.removable_bytes, metadata.has_gps))
    return Plan(tuple(renames), tuple(strips), page_edits(read, edits), tuple(problems))


def _content_dirs(site: Site) -> set[PurePosixPath]:
    return {folder for language in site.languages for folder in language.content_dirs}


def _retargeted(
    read: Callable[[PurePosixPath], bytes], refs: Iterable[ImageRef], old: PurePosixPath, new: PurePosixPath
) -> list[tuple[PurePosixPath, Edit]] | Finding:
    """The edit of every reference to `old` so it names `new`; a Finding when one cannot be made."""
    first_change = next(i for i, (a, b) in enumerate(zip(old.parts, new.parts, strict=True)) if a != b)
    old_tail, new_tail = old.parts[first_change:], new.parts[first_change:]
    result = []
    for ref in refs:
        raw_bytes = read(ref.page)[ref.ref.start : ref.ref.end]
        raw = raw_bytes.decode("utf-8", "surrogateescape")
        retargeted = retarget_url(raw, old_tail, new_tail)
        if retargeted is None:
            return Finding(
                "bad-filename",
                "warning",
                f"not renamed to {new.name}: cannot tell how {ref.page}:{ref.ref.line} spells its URL {raw!r}",
                page=ref.page,
                line=ref.ref.line,
                file=old,
            )
        new_bytes = retargeted.encode("utf-8", "surrogateescape")
        result.append((ref.page, Edit(ref.ref.start, ref.ref.end, raw_bytes, new_bytes, needs=new)))
    return result


def page_edits(
    read: Callable[[PurePosixPath], bytes], edits: dict[PurePosixPath, list[Edit]]
) -> tuple[PageEdit, ...]:
    """One PageEdit per page, with the digests that make applying it idempotent."""
    pages = []
    for page in sorted(edits):
        data = read(page)
        unique = sorted(set(edits[page]), key=lambda e: e.start)
        after = apply_edits(data, unique)
        pages.append(
            PageEdit(page, tuple(unique), hashlib.sha256(data).hexdigest(), hashlib.sha256(after).hexdigest())
        )
    return tuple(pages)
