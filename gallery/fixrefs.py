"""Plan for `gallery fix-refs DIR`: repair broken references where the fix is certain.

A case-mismatched URL gets the file's real spelling; a missing file with exactly one close
match (a doubled extension, a doubled folder, the same name elsewhere, or the clean name
`gallery optimize` gave it, when no page followed the rename) gets that file's URL,
written in the form the author used (root-relative, relative, with the baseURL path or
absolute). Anything ambiguous is reported, never guessed.

Duplicate images (`merge_duplicates`) are merged into the copy kept: every reference to a
duplicate is pointed at that copy, in the same form, and the duplicate is removed. Reads
files, never writes.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import TYPE_CHECKING

from .check import problem_message
from .config import Config, MergeMode
from .dupes import site_duplicates
from .edit import retarget_url, same_name, url_like
from .fs import cached_reader, find_names_outside_content
from .hook import own_data_files
from .markdown_inline import unescape
from .model import (
    DuplicateGroup,
    Edit,
    Finding,
    ImageFile,
    ImageRef,
    Merge,
    PageContext,
    Plan,
    ScanResult,
    Status,
)
from .names import NameRules, normalized_name
from .optimize import find_unread_uses, is_under, page_edits
from .plan import published_index
from .resolve import PublishedIndex, resolve_ref, url_decoded
from .site import Site

if TYPE_CHECKING:
    from .similar import Failed

Reader = Callable[[PurePosixPath], bytes]


def plan_fix_refs(
    site: Site, config: Config, target: PurePosixPath, scan: ScanResult, failed: Failed | None = None
) -> Plan:
    """Edits for the certain fixes and the duplicate merges in the pages under `target`; problems for the rest.

    An image that duplicate detection cannot decode is passed to `failed`.
    """
    read = cached_reader(site.root)
    merging = _plan_site_merges(site, config, target, scan, read, failed)
    merged_into = {merge.duplicate: merge.keep for merge in merging.merges}
    urls = {image.path: image.url for image in scan.images if image.url is not None}
    pages = {page.path: page for page in scan.pages}
    renamed = _CleanNames(scan.images, config.names)
    edits: dict[PurePosixPath, list[Edit]] = defaultdict(list)
    for page_edit in merging.pages:
        edits[page_edit.page].extend(page_edit.edits)
    problems = []
    for ref in scan.refs:
        if not is_under(ref.page, target) or ref.status not in (Status.CASE_MISMATCH, Status.MISSING):
            continue
        if ref.status == Status.CASE_MISMATCH and ref.file in merged_into:
            continue  # its merge points it at the copy kept, spelled as that file is
        raw_bytes = read(ref.page)[ref.ref.start : ref.ref.end]
        raw = raw_bytes.decode("utf-8", "surrogateescape")
        candidates = ref.candidates
        if ref.status == Status.MISSING and not candidates and ref.file is None:
            candidates = renamed.candidates(ref.ref.url)
        target_file = ref.file if ref.status == Status.CASE_MISMATCH else _only(candidates)
        if target_file in merged_into:
            target_file = merged_into[target_file]  # the file meant is a duplicate about to go: use the copy kept
        new = None
        if target_file is not None and target_file in urls:
            if ref.status == Status.CASE_MISMATCH:
                new = _respelled(raw, urls[target_file])
            else:
                new = url_like(site, pages[ref.page], raw, urls[target_file])
        if new is None or new == raw:
            rule = "case-mismatch" if ref.status == Status.CASE_MISMATCH else "broken-ref"
            problems.append(Finding(rule, "error", _unfixed(ref, candidates), ref.page, ref.ref.line, ref.file))
            continue
        edits[ref.page].append(Edit(ref.ref.start, ref.ref.end, raw_bytes, new.encode("utf-8", "surrogateescape")))
    return Plan(pages=page_edits(read, edits), merges=merging.merges, problems=(*problems, *merging.problems))


def _plan_site_merges(
    site: Site, config: Config, target: PurePosixPath, scan: ScanResult, read: Reader, failed: Failed | None
) -> Plan:
    """The merges `merge_duplicates` asks for, after reading what plan_merges needs to know beyond the scan."""
    if config.merge_duplicates == MergeMode.OFF:
        return Plan()
    groups = site_duplicates(site, config, scan, similar=config.merge_duplicates == MergeMode.SIMILAR, failed=failed)
    if not groups:
        return Plan()
    index = published_index(site, config, scan)
    keep_anyway = _reasons_to_keep(site, scan, groups, read, own_data_files(site, config.manifest))
    return plan_merges(site, scan, target, groups, read, index, keep_anyway)


def plan_merges(
    site: Site,
    scan: ScanResult,
    target: PurePosixPath,
    groups: Iterable[DuplicateGroup],
    read: Reader,
    index: PublishedIndex,
    keep_anyway: Mapping[PurePosixPath, str],
) -> Plan:
    """Merge each duplicate into its group's kept copy: every reference to it (in pages under `target`) points at
    that copy, written in the form the author used, and the duplicate is removed once they do.

    A duplicate that must stay is a `duplicate` problem: why, from `keep_anyway` (what only files beyond the
    scan tell), or because a page outside `target` uses it, the kept copy is published nowhere, or a new URL
    would not lead to the kept copy (`index` resolves it as the scan did).
    """
    group_of = {duplicate: group for group in groups for duplicate in group.duplicates}
    urls = {image.path: image.url for image in scan.images}
    pages = {page.path: page for page in scan.pages}
    refs_by_file: dict[PurePosixPath, list[ImageRef]] = defaultdict(list)
    for ref in scan.refs:
        if ref.file is not None:
            refs_by_file[ref.file].append(ref)
    decided: dict[PurePosixPath, Merge | None] = {}  # None: not merged
    edits: dict[PurePosixPath, list[Edit]] = defaultdict(list)
    problems: list[Finding] = []

    def merge_of(duplicate: PurePosixPath) -> Merge | None:
        if duplicate in decided:
            return decided[duplicate]
        decided[duplicate] = None  # until decided: a chain of kept copies leading back here ends here
        group = group_of[duplicate]
        keep, identical = group.keep, group.reason == "identical"
        # The kept copy may be merged in turn (the kept one of identical copies, itself a perceptual
        # duplicate): pages then go straight to where it goes, since it is removed too.
        onward = merge_of(keep) if keep in group_of else None
        if onward is not None:
            keep, identical = onward.keep, identical and onward.identical
        found = keep_anyway.get(duplicate) or _retargeted(
            site, index, pages, read, refs_by_file[duplicate], target, keep, urls.get(keep)
        )
        if isinstance(found, str):
            problems.append(Finding("duplicate", "warning", f"not merged into {keep}: {found}", file=duplicate))
            return None
        for page, edit in found:
            edits[page].append(edit)
        decided[duplicate] = Merge(duplicate, keep, identical)
        return decided[duplicate]

    merges = tuple(merge for duplicate in sorted(group_of) if (merge := merge_of(duplicate)) is not None)
    return Plan(pages=page_edits(read, edits), merges=merges, problems=tuple(problems))


def _retargeted(
    site: Site,
    index: PublishedIndex,
    pages: Mapping[PurePosixPath, PageContext],
    read: Reader,
    refs: Sequence[ImageRef],
    target: PurePosixPath,
    keep: PurePosixPath,
    keep_url: str | None,
) -> list[tuple[PurePosixPath, Edit]] | str:
    """The edit of each reference to a duplicate so it points at `keep`, or why the duplicate must stay."""
    if keep_url is None:
        return f"{keep} is published nowhere, so no URL leads to it"
    outside = next((ref for ref in refs if not is_under(ref.page, target)), None)
    if outside is not None:
        return f"{outside.page}:{outside.ref.line} uses it, outside {target}: run fix-refs on a folder holding both"
    result = []
    for ref in refs:
        page = pages[ref.page]
        raw_bytes = read(ref.page)[ref.ref.start : ref.ref.end]
        new = url_like(site, page, raw_bytes.decode("utf-8", "surrogateescape"), keep_url)
        # Written only when the scan's own resolver takes the new URL to the kept copy, no worse than before
        # (a reference Hugo does not render stays unrendered): a site rule gallery got wrong must not break a page.
        lands = resolve_ref(site, index, page, dataclasses.replace(ref.ref, url=new))
        where = f"{ref.page}:{ref.ref.line}: the URL {new!r} would"
        if lands.file != keep:
            return f"{where} lead to {lands.file or 'no file'}, not to {keep}"
        if lands.status not in (Status.OK, ref.status):
            return f"{where} be {lands.status.value}, where {ref.ref.url!r} is {ref.status.value}"
        new_bytes = new.encode("utf-8", "surrogateescape")
        result.append((ref.page, Edit(ref.ref.start, ref.ref.end, raw_bytes, new_bytes, needs=keep)))
    return result


def _reasons_to_keep(
    site: Site, scan: ScanResult, groups: Sequence[DuplicateGroup], read: Reader, ours: Collection[PurePosixPath]
) -> dict[PurePosixPath, str]:
    """Duplicates that must stay whatever the scanned references say, and why: uses gallery cannot rewrite."""
    duplicates = sorted({duplicate for group in groups for duplicate in group.duplicates})
    # A file reached through a symbolic link is another file's bytes: removing it could remove the copy kept.
    real = {path: os.path.realpath(site.root / path) for group in groups for path in (group.keep, *group.duplicates)}
    shared = Counter(real.values())
    names_elsewhere = find_names_outside_content(site, {duplicate.name for duplicate in duplicates}, ours)
    unread_uses = find_unread_uses(read, scan, [(duplicate, duplicate) for duplicate in duplicates])
    reasons = {}
    for duplicate in duplicates:
        if shared[real[duplicate]] > 1:
            reasons[duplicate] = "it is the same file as another copy, reached through a symbolic link"
        elif duplicate.name in names_elsewhere:
            reasons[duplicate] = (
                "its name appears in a layout, data, config or CSS file, which gallery does not rewrite;"
                " point that at the kept copy by hand"
            )
        elif duplicate in unread_uses:
            page, spelled = unread_uses[duplicate]
            reasons[duplicate] = (
                f"{page} uses {spelled!r} where gallery reads no reference (a custom shortcode, an inline style,"
                " a video poster, ...); point it at the kept copy by hand"
            )
    return reasons


def _only(candidates: tuple[PurePosixPath, ...]) -> PurePosixPath | None:
    return candidates[0] if len(candidates) == 1 else None


def _unfixed(ref: ImageRef, candidates: tuple[PurePosixPath, ...]) -> str:
    if len(candidates) > 1:
        return f"{problem_message(ref)}; not fixed: {len(candidates)} files could be meant"
    return f"{problem_message(ref)}; not fixed: no single file matches"


class _CleanNames:
    """Published images by name, to find the file a URL named before `gallery optimize` renamed it."""

    def __init__(self, images: Iterable[ImageFile], rules: NameRules) -> None:
        self.rules = rules
        self.by_name: dict[str, list[ImageFile]] = defaultdict(list)
        for image in images:
            if image.url is not None:
                self.by_name[image.path.name].append(image)
        self.formats = {image.format for images in self.by_name.values() for image in images}

    def candidates(self, url: str) -> tuple[PurePosixPath, ...]:
        """Files whose name is the clean form of the URL's file name (for the file's real format)."""
        name = url_decoded(url.split("#", 1)[0].split("?", 1)[0]).rsplit("/", 1)[-1]
        found: set[PurePosixPath] = set()
        for fmt in self.formats:
            clean = normalized_name(name, fmt, self.rules)
            if clean != name:
                found.update(image.path for image in self.by_name.get(clean, ()) if image.format == fmt)
        return tuple(sorted(found))


def _respelled(raw: str, url_path: str) -> str | None:
    """The URL with the segments that differ only in case or accents spelled as the file is."""
    cut = min((i for i in (raw.find("?"), raw.find("#")) if i >= 0), default=len(raw))
    written = [url_decoded(unescape(s)) for s in raw[:cut].split("/")]
    real = url_path.split("/")
    # Only the trailing segments that name the same file or folder are paired: what comes before
    # them (dot segments of a relative URL, the baseURL path, scheme and host) is kept as written.
    paired = 0
    for a, b in zip(reversed(written), reversed(real), strict=False):  # up to the shorter
        if not same_name(a, b):
            break
        paired += 1
    differing = [i for i in range(1, paired + 1) if written[-i] != real[-i]]
    if not differing:
        return None
    count = max(differing)
    return retarget_url(raw, tuple(written[-count:]), tuple(real[-count:]))
