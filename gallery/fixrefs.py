"""Plan for `gallery fix-refs DIR`: repair broken references where the fix is certain.

A case-mismatched URL gets the file's real spelling; a missing file with exactly one close
match (a doubled extension, a doubled folder, the same name elsewhere) gets that file's URL,
written in the form the author used (root-relative, relative, with the baseURL path or
absolute). Anything ambiguous is reported, never guessed. Reads files, never writes.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

from .check import problem_message
from .config import Config
from .edit import relative_url, retarget_url, spelled_path
from .fs import read_site_bytes
from .markdown_inline import unescape
from .model import Edit, Finding, ImageRef, PageContext, Plan, ScanResult, Status
from .optimize import is_under, page_edits
from .site import Site


def plan_fix_refs(site: Site, config: Config, target: PurePosixPath, scan: ScanResult) -> Plan:
    """Edits for the certain fixes in the pages under `target`; problems for the rest."""
    read = functools.cache(lambda path: read_site_bytes(site.root, path))
    urls = {image.path: image.url for image in scan.images if image.url is not None}
    pages = {page.path: page for page in scan.pages}
    edits: dict[PurePosixPath, list[Edit]] = defaultdict(list)
    problems = []
    for ref in scan.refs:
        if not is_under(ref.page, target) or ref.status not in (Status.CASE_MISMATCH, Status.MISSING):
            continue
        raw_bytes = read(ref.page)[ref.ref.start : ref.ref.end]
        raw = raw_bytes.decode("utf-8", "surrogateescape")
        target_file = ref.file if ref.status == Status.CASE_MISMATCH else _only(ref.candidates)
        new = None
        if target_file is not None and target_file in urls:
            if ref.status == Status.CASE_MISMATCH:
                new = _respelled(raw, urls[target_file])
            else:
                new = _pointed(site, pages[ref.page], raw, urls[target_file])
        if new is None or new == raw:
            rule = "case-mismatch" if ref.status == Status.CASE_MISMATCH else "broken-ref"
            problems.append(Finding(rule, "error", _unfixed(ref), ref.page, ref.ref.line, ref.file))
            continue
        edits[ref.page].append(Edit(ref.ref.start, ref.ref.end, raw_bytes, new.encode("utf-8", "surrogateescape")))
    return Plan(pages=page_edits(read, edits), problems=tuple(problems))


def _only(candidates: tuple[PurePosixPath, ...]) -> PurePosixPath | None:
    return candidates[0] if len(candidates) == 1 else None


def _unfixed(ref: ImageRef) -> str:
    if len(ref.candidates) > 1:
        return f"{problem_message(ref)}; not fixed: {len(ref.candidates)} files could be meant"
    return f"{problem_message(ref)}; not fixed: no single file matches"


def _respelled(raw: str, url_path: str) -> str | None:
    """The URL with the segments that differ only in case or accents spelled as the file is."""
    cut = min((i for i in (raw.find("?"), raw.find("#")) if i >= 0), default=len(raw))
    written = [unquote(unescape(s)) for s in raw[:cut].split("/")]
    real = url_path.split("/")
    n = min(len(written), len(real))
    pairs = list(zip(written[-n:], real[-n:], strict=True))
    first = next((i for i, (a, b) in enumerate(pairs) if a != b), None)
    if first is None:
        return None
    return retarget_url(raw, tuple(written[-n + first :]), tuple(real[-n + first :]))


def _pointed(site: Site, page: PageContext, raw: str, url_path: str) -> str:
    """A URL to `url_path` in the form `raw` was written in; query and fragment kept."""
    parts = urlsplit(raw)
    rest = raw[len(raw.split("?", 1)[0].split("#", 1)[0]) :]
    spelled = spelled_path(url_path)
    if parts.scheme or raw.startswith("//"):
        return f"{site.base_url.rstrip('/')}{spelled}{rest}"
    if raw.startswith("/"):
        subpath = site.base_path != "/" and unquote(parts.path).startswith(site.base_path)
        return (site.base_path.rstrip("/") if subpath else "") + spelled + rest
    return spelled_path(relative_url(page.url, url_path)) + rest
