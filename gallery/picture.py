"""The markup gallery writes in place of an image, and how it is recognised again. Pure.

Every element gallery writes is one line (so it is valid inline in a paragraph, a list
item, a table cell or a link's text, and never starts an indented code block; only one
replacing an `<img>` that starts an HTML block keeps its open tag on a line of its own) and carries
the markup it replaced in `data-gallery`, escaped so that neither Hugo (shortcodes),
Goldmark (tables) nor a browser reads anything in it. Reverting is unescaping.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .manifest import SourceEntry, VariantEntry

ATTRIBUTE = "data-gallery"
# Our own elements: one line, `data-gallery` first, closed by the same tag name.
WRITTEN = re.compile(r'<(picture|figure) data-gallery="([^"\n]*)"[^>\n]*>(?:\r?\n[^\n]*\n[ \t]*|[^\n]*?)</\1>')
# `{` and `|` too: Hugo would run `{{% ... %}}` and a GFM table would split a cell at `|`.
_ESCAPES = {"&": "&amp;", '"': "&quot;", "<": "&lt;", ">": "&gt;", "|": "&#124;", "{": "&#123;"}
_ESCAPES |= {"\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}
_ESCAPED = re.compile("|".join(re.escape(c) for c in _ESCAPES))
_UNESCAPES = {v: k for k, v in _ESCAPES.items()}
_ENTITY = re.compile("|".join(re.escape(e) for e in _UNESCAPES))
# What the URL of a replaced reference may not hold: inside `data-gallery` it must read as it is
# written, so that later renames edit it in place like any other URL.
URL_ESCAPED = frozenset(_ESCAPES)
FORMAT_TYPES = {"avif": "image/avif", "webp": "image/webp"}


def escape(text: str) -> str:
    """`text` as a double-quoted attribute value holding nothing Hugo, Goldmark or a browser acts on."""
    return _ESCAPED.sub(lambda m: _ESCAPES[m.group(0)], text)


def unescape(value: str) -> tuple[str, list[int]]:
    """The text `escape` made `value` from, and for each of its characters (and its end) the offset in `value`."""
    text, offsets, position = [], [], 0
    for match in _ENTITY.finditer(value):
        for i in range(position, match.start()):
            text.append(value[i])
            offsets.append(i)
        text.append(_UNESCAPES[match.group(0)])
        offsets.append(match.start())
        position = match.end()
    for i in range(position, len(value)):
        text.append(value[i])
        offsets.append(i)
    offsets.append(len(value))
    return "".join(text), offsets


@dataclass(frozen=True, slots=True)
class Written:
    """An element gallery wrote: where it is in a text, and the markup it replaced."""

    start: int
    end: int
    original: str
    original_start: int  # where the escaped original begins in the text
    offsets: tuple[int, ...]  # offset in the text of each character of `original` (and of its end)


def find_written(text: str, start: int = 0, end: int | None = None) -> list[Written]:
    """gallery's elements in `text[start:end]`."""
    if f'{ATTRIBUTE}="' not in text:
        return []  # most pages, until fix-refs has run
    found = []
    for match in WRITTEN.finditer(text, start, len(text) if end is None else end):
        original, offsets = unescape(match.group(2))
        base = match.start(2)
        found.append(Written(match.start(), match.end(), original, base, tuple(base + o for o in offsets)))
    return found


@dataclass(frozen=True, slots=True)
class Shown:
    """What the page says about the image, besides its URL."""

    alt: str | None
    title: str | None
    attributes: tuple[tuple[str, str | None], ...] = ()  # a raw <img>'s own, as written (values decoded)


@dataclass(frozen=True, slots=True)
class PictureParts:
    """Which variants a `<picture>` shows: the `<source>`s, the fallback `<img>`'s srcset and src, its size."""

    sources: tuple[tuple[str, tuple[VariantEntry, ...]], ...]  # (MIME type, variants by width), AVIF first
    fallback: tuple[VariantEntry, ...]  # by width
    src: VariantEntry  # the middle fallback width: what a browser without srcset loads
    largest: VariantEntry  # its size is the <img>'s width and height (no layout shift)


def picture_parts(entry: SourceEntry) -> PictureParts | None:
    """The variants of a `<picture>` for an image (None without variants: SVG, passthrough animation)."""
    if not entry.variants:
        return None
    by_format: dict[str, list[VariantEntry]] = {}
    for variant in sorted(entry.variants, key=lambda v: v.width):
        by_format.setdefault(variant.format, []).append(variant)
    fallback = by_format.get(entry.fallback) or next(iter(by_format.values()))
    sources = tuple(
        (FORMAT_TYPES[fmt], tuple(by_format[fmt])) for fmt in FORMAT_TYPES if fmt in by_format and fmt != entry.fallback
    )
    largest = max(entry.variants, key=lambda v: v.width)
    return PictureParts(sources, tuple(fallback), fallback[(len(fallback) - 1) // 2], largest)


def picture(
    entry: SourceEntry,
    url: Callable[[VariantEntry], str],
    shown: Shown,
    sizes: str,
    original: str | None,
    block_newline: str = "",
    background: bool = False,
) -> str | None:
    """One-line `<picture>` for an image with variants (None without: SVG, passthrough animation).

    `original` is the markup it replaces, kept in `data-gallery`; None inside a figure that keeps it.
    With `block_newline` (a line end and the line's indentation), the open tag is a line of its own, so
    that it starts an HTML block as the `<img>` it replaces did: `<picture ...>`, then the sources and
    image, then `</picture>`. With `background`, the entry's placeholder is the `<img>`'s background.
    """
    parts = picture_parts(entry)
    if parts is None:
        return None
    sources = "".join(
        f'<source type="{kind}" srcset="{_srcset(variants, url)}" sizes="{escape(sizes)}">'
        for kind, variants in parts.sources
    )
    written = {name.lower() for name, _ in shown.attributes}
    attributes: list[tuple[str, str | None]] = [("src", url(parts.src)), ("srcset", _srcset(parts.fallback, url))]
    attributes.append(("sizes", sizes))
    if not written & {"width", "height"}:  # the author's own size wins; a browser keeps the aspect ratio
        attributes += [("width", str(parts.largest.width)), ("height", str(parts.largest.height))]
    if shown.attributes:
        attributes += [(n, v) for n, v in shown.attributes if n.lower() not in {"src", "srcset", "sizes"}]
    else:
        attributes += [("alt", shown.alt or "")] + ([("title", shown.title)] if shown.title else [])
    attributes += [(n, v) for n, v in (("loading", "lazy"), ("decoding", "async")) if n not in written]
    if background and entry.placeholder:
        attributes = _with_background(attributes, entry.placeholder)
    img = "<img" + "".join(f" {n}" if v is None else f' {n}="{escape(v)}"' for n, v in attributes) + ">"
    data = f' {ATTRIBUTE}="{escape(original)}"' if original is not None else ""
    return f"<picture{data}>{block_newline}{sources}{img}{block_newline}</picture>"


def _with_background(attributes: list[tuple[str, str | None]], placeholder: str) -> list[tuple[str, str | None]]:
    """`attributes` with the placeholder as the background, before the author's own style (whose declarations,
    coming later, win: a background of their own replaces ours)."""
    ours = f"background:url({placeholder}) center/cover no-repeat"
    for i, (name, value) in enumerate(attributes):
        if name.lower() == "style":
            theirs = (value or "").strip()
            return [*attributes[:i], (name, f"{ours};{theirs}" if theirs else ours), *attributes[i + 1 :]]
    return [*attributes, ("style", ours)]


def figure(original: str, params: dict[str, str], inner: str) -> str:
    """Hugo's `figure` shortcode as one line of HTML around `inner` (the picture), as Hugo would render it."""
    parts = [f'<figure {ATTRIBUTE}="{escape(original)}"']
    if params.get("class"):
        parts.append(f' class="{escape(params["class"])}"')
    parts.append(">")
    link = params.get("link")
    if link:
        extra = "".join(f' {k}="{escape(params[k])}"' for k in ("target", "rel") if params.get(k))
        parts.append(f'<a href="{escape(link)}"{extra}>{inner}</a>')
    else:
        parts.append(inner)
    title, caption, attr = params.get("title"), params.get("caption"), params.get("attr")
    if title or caption or attr:
        parts.append("<figcaption>")
        if title:
            parts.append(f"<h4>{escape(title)}</h4>")
        if caption or attr:
            credit = escape(attr or "")
            if attr and params.get("attrlink"):
                credit = f'<a href="{escape(params["attrlink"])}">{credit}</a>'
            parts.append(f"<p>{escape(caption or '')}{credit}</p>")
        parts.append("</figcaption>")
    parts.append("</figure>")
    return "".join(parts)


def _srcset(variants: Sequence[VariantEntry], url: Callable[[VariantEntry], str]) -> str:
    return ", ".join(f"{escape(url(v))} {v.width}w" for v in variants)
