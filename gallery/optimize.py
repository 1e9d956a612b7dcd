"""Plan for `gallery optimize DIR`: clean names (with every reference) and no leaking metadata.

Reads files, never writes: the result is a Plan that apply.py carries out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import PurePosixPath
from urllib.parse import quote

from .config import Config
from .edit import apply_edits, retarget_url
from .fs import cached_reader, find_folders_outside_content, find_names_outside_content, read_site_bytes, static_dirs
from .hook import own_data_files
from .metadata import Metadata, read_metadata
from .model import Edit, Finding, ImageRef, PageEdit, Plan, Rename, ScanResult, StripMetadata
from .names import NameInput, NameRules, RenamePlan, plan_renames
from .site import Site


def is_under(path: PurePosixPath, folder: PurePosixPath) -> bool:
    return folder == PurePosixPath(".") or path == folder or folder in path.parents


def plan_optimize(site: Site, config: Config, target: PurePosixPath, scan: ScanResult) -> Plan:
    """Renames and metadata removals for the images under `target`, and the page edits they need."""
    images = [image for image in scan.images if is_under(image.path, target)]
    read = cached_reader(site.root)
    digests: dict[PurePosixPath, str] = {}
    metadata: dict[PurePosixPath, Metadata] = {}
    for image in images:
        data = read_site_bytes(site.root, image.path)  # one at a time: a site's photos may not fit in memory
        digests[image.path] = hashlib.sha256(data).hexdigest()
        metadata[image.path] = read_metadata(data)
    inputs = [NameInput(image.path, image.format, digests[image.path]) for image in images]
    wanted = _planned_renames(site, inputs, config.names, target)
    problems = [
        Finding("bad-filename", "warning", f"not renamed: {reason}", file=path) for path, reason in wanted.skipped
    ]
    manifest = own_data_files(site, config.manifest)
    names_elsewhere = find_names_outside_content(site, {old.name for old, _ in wanted.renames}, manifest)
    folders_elsewhere = find_folders_outside_content(
        site, {f for old, new in wanted.renames for f in _moved(old, new)}, manifest
    )
    unread_uses = find_unread_uses(read, scan, wanted.renames)
    refs_by_file: dict[PurePosixPath, list[ImageRef]] = defaultdict(list)
    for ref in scan.refs:
        if ref.file is not None:
            refs_by_file[ref.file].append(ref)

    renames: list[Rename] = []
    edits: dict[PurePosixPath, list[Edit]] = defaultdict(list)
    for old, new in wanted.renames:
        if folders_elsewhere & set(_moved(old, new)):
            problems.append(
                Finding(
                    "bad-filename",
                    "warning",
                    f"not moved to {new.parent}: a layout, data, config or CSS file names its folder,"
                    " which gallery does not rewrite; rename it there and here by hand",
                    file=old,
                )
            )
            continue
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
        if old in unread_uses:
            page, spelled = unread_uses[old]
            problems.append(
                Finding(
                    "bad-filename",
                    "warning",
                    f"not renamed to {new.name}: {page} uses {spelled!r} where gallery reads no reference"
                    " (a custom shortcode, an inline style, a video poster, ...); rename it there and here by hand",
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
        found = metadata[image.path]
        if found.removable_bytes > 0:
            strips.append(StripMetadata(new_path.get(image.path, image.path), found.removable_bytes, found.has_gps))
    return Plan(tuple(renames), tuple(strips), page_edits(read, edits), problems=tuple(problems))


# What comes right before a URL in markup gallery does not read: a path separator, a quote,
# `=`, `(` (CSS url(...)) or `<`. Not `[` or a space: a name in alt text or prose is no use of the file.
_URL_START = "/\"'=(<"
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_TEXT_ATTRIBUTE = re.compile(r"(?:alt|title)\s*=\s*[\"']$")


def find_unread_uses(
    read: Callable[[PurePosixPath], bytes],
    scan: ScanResult,
    renames: Iterable[tuple[PurePosixPath, PurePosixPath]],
) -> dict[PurePosixPath, tuple[PurePosixPath, str]]:
    """Files to be renamed that a page uses where the scan found no reference, with the first such
    page and what it spells: the file's name where a URL could start, or the URL of a folder to be
    renamed above it (`{{< album dir="/images/Trip Photos" >}}`). A rename would break that use,
    which gallery cannot rewrite. HTML comments are no use."""
    urls = {image.path: image.url for image in scan.images}
    # a spelling, in lower case -> (file, what it spells) for each file it names
    files: dict[str, list[tuple[PurePosixPath, str]]] = defaultdict(list)
    folders: dict[str, list[tuple[PurePosixPath, str]]] = defaultdict(list)
    for old, new in renames:
        for spelling in _spellings(old.name):
            files[spelling].append((old, old.name))
        url = urls.get(old)
        changed = next((i for i, (a, b) in enumerate(zip(old.parts, new.parts, strict=True)) if a != b), None)
        if url is not None and changed is not None and changed < len(old.parts) - 1:
            segments = url.split("/")
            folder_url = "/".join(segments[: len(segments) - len(old.parts) + changed + 1])
            for spelling in _spellings(folder_url):
                folders[spelling].append((old, folder_url))
    suffixes = sorted({name.rpartition(".")[2] for name in files if "." in name}, key=len, reverse=True)
    if not suffixes:
        return {}
    spans: dict[PurePosixPath, list[tuple[int, int]]] = defaultdict(list)
    for ref in scan.refs:
        spans[ref.page].append((ref.ref.start, ref.ref.end))
    file_ends = re.compile(r"\.(?:" + "|".join(map(re.escape, suffixes)) + r")(?![a-z0-9])")
    lengths = sorted({len(name) for name in files})
    folder_urls = "|".join(map(re.escape, sorted(folders, key=len, reverse=True)))
    folder_uses = re.compile(rf"({folder_urls})(?=[/\"')>\s]|$)") if folders else None
    found: dict[PurePosixPath, tuple[PurePosixPath, str]] = {}
    for page in scan.pages:
        text = _outside(read(page.path), spans[page.path]).decode("utf-8", "surrogateescape").lower()
        text = _COMMENT.sub(lambda m: " " * len(m[0]), text)
        hits: list[tuple[PurePosixPath, str]] = []
        for match in file_ends.finditer(text):
            end = match.end()
            for n in lengths:
                spelling = text[end - n : end]
                if n <= end and spelling in files and (n == end or _url_starts(text, end - n)):
                    hits += files[spelling]
        if folder_uses is not None:
            hits += [hit for m in folder_uses.finditer(text) for hit in folders[m[1]]]
        for old, spelled in hits:
            found.setdefault(old, (page.path, spelled))
    return found


def _spellings(name: str) -> set[str]:
    """How a page may spell a file or folder name in a URL, in lower case."""
    # surrogateescape: bytes of a name that are not UTF-8 are %-encoded as they are.
    return {form.lower() for form in (name, quote(name, errors="surrogateescape"), name.replace(" ", "%20"))}


def _url_starts(text: str, at: int) -> bool:
    before = text[at - 1]
    if before not in _URL_START:
        return False
    return not (before in "\"'" and _TEXT_ATTRIBUTE.search(text, max(0, at - 12), at))


def _outside(data: bytes, spans: Iterable[tuple[int, int]]) -> bytes:
    """The page with the given byte spans blanked out."""
    page = bytearray(data)
    for start, end in spans:
        page[start:end] = b" " * (end - start)
    return bytes(page)


def _moved(old: PurePosixPath, new: PurePosixPath) -> tuple[str, ...]:
    """The folder names a rename changes."""
    return tuple(a for a, b in zip(old.parts[:-1], new.parts[:-1], strict=True) if a != b)


def _planned_renames(site: Site, inputs: list[NameInput], rules: NameRules, target: PurePosixPath) -> RenamePlan:
    """Clean names for the files under `target`, and for their folders below `target` or below each static dir it holds.

    A folder in a content dir is a section or a page bundle (renaming it moves pages), and a static
    dir is named by the Hugo config: neither is renamed, even when `target` is the site root.
    """
    statics = [folder for folder in static_dirs(site) if is_under(folder, target)]
    near_content = any(is_under(target, folder) or is_under(folder, target) for folder in _content_dirs(site))
    groups: dict[PurePosixPath | None, list[NameInput]] = defaultdict(list)  # base -> files; None: no folders
    for f in inputs:
        static = next((folder for folder in statics if is_under(f.path, folder)), None)
        groups[static if static is not None else None if near_content else target].append(f)
    no_folders = dataclasses.replace(rules, folders=False)
    plans = [
        plan_renames(files, rules, base) if base is not None else plan_renames(files, no_folders, target)
        for base, files in groups.items()
    ]
    renames = sorted((r for plan in plans for r in plan.renames), key=lambda r: str(r[0]))
    skipped = sorted((s for plan in plans for s in plan.skipped), key=lambda s: str(s[0]))
    return RenamePlan(tuple(renames), tuple(skipped))


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


def page_edits(read: Callable[[PurePosixPath], bytes], edits: dict[PurePosixPath, list[Edit]]) -> tuple[PageEdit, ...]:
    """One PageEdit per page, with the digests that make applying it idempotent."""
    pages = []
    for page in sorted(edits):
        data = read(page)
        unique = sorted(set(edits[page]), key=lambda e: e.start)
        after = apply_edits(data, unique)
        pages.append(PageEdit(page, tuple(unique), hashlib.sha256(data).hexdigest(), hashlib.sha256(after).hexdigest()))
    return tuple(pages)
