"""Plan for `gallery fix-refs DIR`: repair broken references where the fix is certain.

A case-mismatched URL gets the file's real spelling; a missing file with exactly one close
match (a doubled extension, a doubled folder, the same name elsewhere, or the clean name
`gallery optimize` gave it, when no page followed the rename) gets that file's URL,
written in the form the author used (root-relative, relative, with the baseURL path or
absolute). Anything ambiguous is reported, never guessed. Reads files, never writes.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterable
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from .check import problem_message
from .config import Config
from .edit import relative_url, retarget_url, same_name, spelled_path
from .fs import read_site_bytes
from .markdown_inline import unescape
from .model import Edit, Finding, ImageFile, ImageRef, PageContext, Plan, ScanResult, Status
from .names import NameRules, normalized_name
from .optimize import is_under, page_edits
from .site import Site


def plan_fix_refs(site: Site, config: Config, target: PurePosixPath, scan: ScanResult) -> Plan:
    """Edits for the certain fixes in the pages under `target`; problems for the rest."""
    read = functools.cache(lambda path: read_site_bytes(site.root, path))
    urls = {image.path: image.url for image in scan.images if image.url is not None}
    pages = {page.path: page for page in scan.pages}
    renamed = _CleanNames(scan.images, config.names)
    edits: dict[PurePosixPath, list[Edit]] = defaultdict(list)
    problems = []
    for ref in scan.refs:
        if not is_under(ref.page, target) or ref.status not in (Status.CASE_MISMATCH, Status.MISSING):
            continue
        raw_bytes = read(ref.page)[ref.ref.start : ref.ref.end]
        raw = raw_bytes.decode("utf-8", "surrogateescape")
        candidates = ref.candidates
        if ref.status == Status.MISSING and not candidates and ref.file is None:
            candidates = renamed.candidates(ref.ref.url)
        target_file = ref.file if ref.status == Status.CASE_MISMATCH else _only(candidates)
        new = None
        if target_file is not None and target_file in urls:
            if ref.status == Status.CASE_MISMATCH:
                new = _respelled(raw, urls[target_file])
            else:
                new = _pointed(site, pages[ref.page], raw, urls[target_file])
        if new is None or new == raw:
            rule = "case-mismatch" if ref.status == Status.CASE_MISMATCH else "broken-ref"
            problems.append(Finding(rule, "error", _unfixed(ref, candidates), ref.page, ref.ref.line, ref.file))
            continue
        edits[ref.page].append(Edit(ref.ref.start, ref.ref.end, raw_bytes, new.encode("utf-8", "surrogateescape")))
    return Plan(pages=page_edits(read, edits), problems=tuple(problems))


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
        name = unquote(url.split("#", 1)[0].split("?", 1)[0]).rsplit("/", 1)[-1]
        found: set[PurePosixPath] = set()
        for fmt in self.formats:
            clean = normalized_name(name, fmt, self.rules)
            if clean != name:
                found.update(image.path for image in self.by_name.get(clean, ()) if image.format == fmt)
        return tuple(sorted(found))


def _respelled(raw: str, url_path: str) -> str | None:
    """The URL with the segments that differ only in case or accents spelled as the file is."""
    cut = min((i for i in (raw.find("?"), raw.find("#")) if i >= 0), default=len(raw))
    written = [unquote(unescape(s)) for s in raw[:cut].split("/")]
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


def _pointed(site: Site, page: PageContext, raw: str, url_path: str) -> str:
    """A URL to `url_path` in the form `raw` was written in; query and fragment kept."""
    parts = urlsplit(raw)
    rest = raw[len(raw.split("?", 1)[0].split("#", 1)[0]) :]
    spelled = spelled_path(url_path)
    if parts.scheme or raw.startswith("//"):
        # An on-site absolute URL starts with the baseURL path; scheme and host stay as written.
        origin = raw[: raw.index("//") + 2 + len(parts.netloc)]
        return f"{origin}{site.base_path.rstrip('/')}{spelled}{rest}"
    if raw.startswith("/"):
        subpath = site.base_path != "/" and unquote(parts.path).startswith(site.base_path)
        return (site.base_path.rstrip("/") if subpath else "") + spelled + rest
    relative = spelled_path(relative_url(page.url, url_path))
    if raw.startswith("./") and not relative.startswith("../"):
        relative = "./" + relative
    return relative + rest
