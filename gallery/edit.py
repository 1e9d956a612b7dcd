"""Edits to content files: new text for a URL span, applied to the file's bytes. Pure.

A reference is rewritten by changing only its URL span; every other byte of the page
(line endings, BOM, front matter formatting, trailing spaces) stays as it was.
"""

from __future__ import annotations

import posixpath
import unicodedata
from collections.abc import Iterable
from urllib.parse import quote, urlsplit

from .markdown_inline import unescape
from .model import Edit, PageContext
from .resolve import url_decoded
from .site import Site

# Characters a new URL segment may keep as they are in every context it can land in:
# raw Markdown destinations (no spaces or parentheses), HTML attributes (no quotes or &),
# shortcode strings and YAML/TOML scalars.
URL_SAFE = "-._~"


class StaleEdit(ValueError):
    """The page changed since it was planned: the span no longer holds what the plan read."""


def apply_edits(data: bytes, edits: Iterable[Edit]) -> bytes:
    """The page with every edit applied; StaleEdit when a span does not hold its `old` bytes."""
    ordered = sorted(edits, key=lambda e: e.start)
    pieces, position = [], 0
    for edit in ordered:
        if edit.start < position:
            raise ValueError(f"overlapping edits at byte {edit.start}")
        if data[edit.start : edit.end] != edit.old:
            raise StaleEdit(f"byte {edit.start} no longer reads {edit.old.decode('utf-8', 'replace')!r}")
        pieces += [data[position : edit.start], edit.new]
        position = edit.end
    pieces.append(data[position:])
    return b"".join(pieces)


def same_name(a: str, b: str) -> bool:
    """Names a case-insensitive, normalization-insensitive file system would confuse."""
    return unicodedata.normalize("NFC", a).casefold() == unicodedata.normalize("NFC", b).casefold()


def _encoded(segment: str, like: str) -> str:
    """A path segment spelled for a URL: as is when safe, else percent-encoded (UTF-8; a name's
    bytes that are not UTF-8, kept as surrogates, byte for byte)."""
    if all(c.isascii() and (c.isalnum() or c in URL_SAFE) for c in segment) and "%" not in like:
        return segment
    return quote(segment, safe=URL_SAFE, errors="surrogateescape")


def retarget_url(raw: str, old_tail: tuple[str, ...], new_tail: tuple[str, ...]) -> str | None:
    """The URL as written with its last path segments `old_tail` replaced by `new_tail`.

    `raw` is the URL's source text (escapes and percent-encoding as the author wrote
    them); query and fragment are kept. None when the URL does not end in `old_tail`.
    """
    cut = min((i for i in (raw.find("?"), raw.find("#")) if i >= 0), default=len(raw))
    path, rest = raw[:cut], raw[cut:]
    segments = path.split("/")
    count = len(old_tail)
    if count == 0 or len(segments) < count:
        return None
    tail = segments[-count:]
    if not all(same_name(url_decoded(unescape(s)), old) for s, old in zip(tail, old_tail, strict=True)):
        return None
    new = [s if s == n else _encoded(n, like=s) for s, n in zip(tail, new_tail, strict=True)]
    return "/".join(segments[:-count] + new) + rest


def relative_url(from_page: str, to_path: str) -> str:
    """A relative URL from a page URL path to a site path, as a browser would resolve it."""
    base = from_page[: from_page.rfind("/") + 1] or "/"
    relative = posixpath.relpath(to_path, base)
    return relative + ("/" if to_path.endswith("/") and not relative.endswith("/") else "")


def spelled_path(url_path: str) -> str:
    """A decoded URL path spelled for a URL: each segment encoded only where needed."""
    return "/".join(_encoded(s, like="") for s in url_path.split("/"))


def url_like(site: Site, page: PageContext, raw: str, url_path: str) -> str:
    """A URL to `url_path` in the form `raw` was written in; query and fragment kept."""
    parts = urlsplit(raw)
    rest = raw[len(raw.split("?", 1)[0].split("#", 1)[0]) :]
    spelled = spelled_path(url_path)
    if parts.scheme or raw.startswith("//"):
        # An on-site absolute URL starts with the baseURL path; scheme and host stay as written.
        origin = raw[: raw.index("//") + 2 + len(parts.netloc)]
        return f"{origin}{site.base_path.rstrip('/')}{spelled}{rest}"
    if raw.startswith("/"):
        subpath = site.base_path != "/" and url_decoded(parts.path).startswith(site.base_path)
        return (site.base_path.rstrip("/") if subpath else "") + spelled + rest
    relative = spelled_path(relative_url(page.url, url_path))
    if raw.startswith("./") and not relative.startswith("../"):
        relative = "./" + relative
    return relative + rest
