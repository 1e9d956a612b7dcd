"""Stage 1: find every image reference in a content file's text, with its exact span.

Pure: text in, `PageScan` out. The text is the file decoded as UTF-8 with
errors="surrogateescape" (BOM kept), so re-encoding gives exact byte offsets.
"""

from __future__ import annotations

import html
import re
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from html.entities import html5
from typing import Any

from .config import Config
from .frontmatter import FrontMatter, find_front_matter_urls, split_front_matter
from .markdown_blocks import parse_blocks
from .markdown_inline import Region, scan_inline
from .model import RawRef, RefKind

TAG_START = re.compile(r"<(?:img|source|a)(?=[\s/>])", re.IGNORECASE)
# As a browser reads a tag: a quote opens a value only after `=`, and one left open runs to the end.
TAG = re.compile(r"""<(img|source|a)(?=[\s/>])((?:[^>=]++|=\s*+(?:"[^"]*+"|'[^']*+'|(?!["'])))*+)>""", re.IGNORECASE)
ATTRIBUTE = re.compile(r"""([^\s"'>/=]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?""")
CHARACTER_REFERENCE = re.compile(
    r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)"
)  # as html.unescape finds them
HTML_COMMENT = re.compile(r"<!--[\s\S]*?(?:-->|$)")
RAW_TEXT_START = re.compile(r"<(?:script|style|textarea)\b", re.IGNORECASE)
RAW_TEXT_ELEMENT = re.compile(r"<(script|style|textarea)\b[\s\S]*?(?:</\1\s*>|$)", re.IGNORECASE)
# `{{< name params >}}` or `{{% ... %}}`. Possessive, and never across another `{{`, so an
# unclosed one costs only the text up to the next: the scan stays linear.
SHORTCODE = re.compile(
    r"""\{\{(?P<open>[<%])(?P<escaped>/\*)?\s*+(?P<close>/)?\s*+(?P<name>[^\s/%>"`{}]++)"""
    r"""(?P<params>(?:[^"`%>{]++|"(?:[^"\\{]++|\\.|\{(?!\{))*+"|`[^`{]*+`|[%>](?!\}\})|\{(?!\{))*+)"""
    r"""[>%]\}\}"""
)
SHORTCODE_PARAM = re.compile(r"""(?:([A-Za-z_][\w\-]*)\s*=\s*)?("(?:\\.|[^"\\])*"|`[^`]*`|[^\s"`=]+)""")
MARKDOWN_SUFFIXES = (".md", ".markdown", ".mdown", ".mkd")


@dataclass(frozen=True, slots=True)
class PageScan:
    """What one content file holds: its references, front matter and problems."""

    refs: tuple[RawRef, ...]
    front_matter: dict[str, Any]  # top-level scalar values (url, slug, ...)
    problems: tuple[str, ...]  # one-line messages, without the file name


@dataclass(frozen=True, slots=True)
class _Span:
    kind: RefKind
    url: str
    start: int  # character offsets in the text
    end: int
    raw_html: bool = False
    rendered: bool = True


def find_refs(text: str, config: Config, markdown: bool = True) -> PageScan:
    """Every image reference in a content file; `markdown=False` for HTML content files."""
    front, problems = split_front_matter(text)
    spans: list[_Span] = []
    body = front.body_start if front else int(text.startswith("\ufeff"))  # Hugo drops a BOM
    if front:
        spans += (
            _Span(RefKind.FRONTMATTER, url, s, e)
            for url, s, e in find_front_matter_urls(text, front, config.frontmatter_keys, problems)
        )
    if markdown:
        quiet = _scan_markdown(text, body, config, spans)
    else:
        region = Region.from_pieces([(body, text[body:])])
        quiet = list(_html_block_spans(region, spans, config))
    spans += _shortcode_spans(text, body, config, quiet)
    return PageScan(
        refs=_located(text, _unique(spans)),
        front_matter=front.values if front else {},
        problems=tuple(problems),
    )


def _scan_markdown(text: str, body: int, config: Config, spans: list[_Span]) -> list[tuple[int, int]]:
    """Add the Markdown and raw HTML references of the body; return spans with no shortcodes."""
    blocks = parse_blocks(text, body)
    definitions = blocks.definitions
    quiet = list(blocks.quiet)
    for region in blocks.inline:
        finds, tags, inline_quiet = scan_inline(region.text, definitions)
        for find in finds:
            if find.dest is not None:
                url = find.dest.url
                start = region.source_offset(find.dest.start)
                end = start + find.dest.end - find.dest.start
                kind = RefKind.MARKDOWN if find.is_image else RefKind.LINK
            else:
                definition = definitions[find.label or ""]
                url, start, end = definition.url, definition.start, definition.end
                kind = RefKind.REFERENCE if find.is_image else RefKind.LINK
            if find.is_image or _is_image_url(url, config):
                spans.append(_Span(kind, url, start, end, rendered=region.rendered))
        for tag_start, tag_end in tags:
            if not _in_shortcode(region.text, tag_start):
                origin = region.source_offset(tag_start)
                spans += _tag_spans(region.text[tag_start:tag_end], origin, config, region.rendered)
        quiet += ((region.source_offset(a), region.source_offset(b - 1) + 1) for a, b in inline_quiet)
    for region in blocks.html:
        quiet += _html_block_spans(region, spans, config)
        # Markdown inside an HTML block is printed as text: Hugo shows `![](x)` literally.
        if "[" not in region.text:
            continue  # no image syntax at all
        finds, _, _ = scan_inline(_blank_comments(region.text), definitions)
        for find in finds:
            if find.is_image and (dest := find.dest) is not None:
                start = region.source_offset(dest.start)
                spans.append(_Span(RefKind.MARKDOWN, dest.url, start, start + dest.end - dest.start, rendered=False))
    return quiet


def _html_block_spans(region: Region, spans: list[_Span], config: Config) -> Iterator[tuple[int, int]]:
    """Add the tags of an HTML block (outside comments and script/style); yield the comments."""
    text = region.text
    for comment in HTML_COMMENT.finditer(text):
        yield region.source_offset(comment.start()), region.source_offset(max(comment.end() - 1, comment.start())) + 1
    visible = _blank_comments(text)
    if RAW_TEXT_START.search(visible):
        visible = RAW_TEXT_ELEMENT.sub(lambda m: " " * len(m.group(0)), visible)
    position = 0
    while (start := TAG_START.search(visible, position)) is not None:
        tag = TAG.match(visible, start.start())
        if tag is None:
            return  # a tag left open runs to the end of the text, in a browser too: no more tags
        if not _in_shortcode(visible, tag.start()):
            spans += _tag_spans(
                text[tag.start() : tag.end()], region.source_offset(tag.start()), config, region.rendered
            )
        position = tag.end()


def _in_shortcode(text: str, tag_start: int) -> bool:
    """Whether the tag at `tag_start` is really `{{<img ...>}}`, a shortcode named like a tag."""
    return tag_start >= 2 and text.startswith("{{", tag_start - 2)


def _blank_comments(text: str) -> str:
    """The text with HTML comments replaced by spaces of the same length."""
    if "<!--" not in text:
        return text
    return HTML_COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _tag_spans(tag: str, origin: int, config: Config, rendered: bool) -> Iterator[_Span]:
    """References in one raw HTML tag: img src/srcset, source srcset, a href to an image."""
    match = TAG.match(tag)
    if match is None:
        return
    name = match.group(1).lower()
    for attribute in ATTRIBUTE.finditer(tag, match.start(2), match.end(2)):
        attr = attribute.group(1).lower()
        group = next((g for g in (2, 3, 4) if attribute.group(g) is not None), None)
        if group is None:
            continue
        value_start = origin + attribute.start(group)
        value = attribute.group(group)
        if attr == "srcset" and name in ("img", "source"):
            for a, b in _srcset_candidates(value):
                yield _Span(
                    RefKind.SRCSET, _attribute_value(value[a:b]), value_start + a, value_start + b, True, rendered
                )
        elif (name, attr) == ("img", "src") or (
            (name, attr) == ("a", "href") and _is_image_url(_attribute_value(value), config)
        ):
            kind = RefKind.HTML if name == "img" else RefKind.LINK
            lead = len(value) - len(value.lstrip())
            url = value.strip()
            yield _Span(kind, _attribute_value(url), value_start + lead, value_start + lead + len(url), True, rendered)


def _attribute_value(value: str) -> str:
    """Decode character references as a browser does in an attribute value.

    Unlike html.unescape, a legacy name without `;` followed by `=` or a letter or digit
    stays as written there ("?a=1&copy=2", "&notify=1": HTML's "historical reasons").
    """
    return CHARACTER_REFERENCE.sub(_attribute_reference, value) if "&" in value else value


def _attribute_reference(match: re.Match[str]) -> str:
    reference, name = match.group(0), match.group(1)
    if name[0] != "#" and name not in html5:
        prefix = next((x for x in range(len(name) - 1, 1, -1) if name[:x] in html5), 0)
        if not prefix or name[prefix] == "=" or (name[prefix].isascii() and name[prefix].isalnum()):
            return reference
    return html.unescape(reference)


def _srcset_candidates(value: str) -> Iterator[tuple[int, int]]:
    """URL spans of a srcset value, split as the HTML standard's parser does."""
    i, n = 0, len(value)
    while i < n:
        while i < n and (value[i].isspace() or value[i] == ","):
            i += 1
        if i >= n:
            return
        start = i
        while i < n and not value[i].isspace():
            i += 1
        end = i
        if value[end - 1] == ",":
            while end > start and value[end - 1] == ",":
                end -= 1
        else:
            depth = 0
            while i < n and (value[i] != "," or depth):
                depth += {"(": 1, ")": -1}.get(value[i], 0)
                i += 1
        if end > start:
            yield start, end


def _shortcode_spans(text: str, body: int, config: Config, quiet: list[tuple[int, int]]) -> Iterator[_Span]:
    """URL parameters of the configured shortcodes, outside code and comments."""
    if "{{" not in text:
        return
    wanted = dict(config.shortcodes)
    quiet_starts = sorted(quiet)
    starts = [a for a, _ in quiet_starts]
    for match in SHORTCODE.finditer(text, body):
        if match.group("escaped") or match.group("close") or match.group("name") not in wanted:
            continue
        index = bisect_right(starts, match.start()) - 1
        if index >= 0 and quiet_starts[index][1] > match.start():
            continue
        params = wanted[match.group("name")]
        position = 0
        for param in SHORTCODE_PARAM.finditer(
            text, match.start("params"), match.start("params") + _params_end(match.group("params"))
        ):
            key = param.group(1)
            selected = key in params if key else position in params
            position += 0 if key else 1
            if not selected:
                continue
            raw, start = param.group(2), param.start(2)
            if raw[0] in '"`':
                raw, start = raw[1:-1], start + 1
                url = re.sub(r"\\(.)", r"\1", raw) if text[start - 1] == '"' else raw
            else:
                url = raw
            yield _Span(RefKind.SHORTCODE, url, start, start + len(raw))


def _params_end(params: str) -> int:
    """Length of shortcode parameters without the `/` that makes a shortcode self-closing."""
    end = len(params.rstrip())
    if params.endswith("/", 0, end) and (end == 1 or params[end - 2].isspace()):
        end -= 1
    return end


def _is_image_url(url: str, config: Config) -> bool:
    path = url.split("#", 1)[0].split("?", 1)[0].lower()
    return path.endswith(config.image_extensions)


def _unique(spans: Iterable[_Span]) -> list[_Span]:
    """One span per place: a definition used by two images is one reference.

    A definition used both by a rendered image and by a link (or by an image that is
    not rendered) is a rendered image, whichever use comes first.
    """
    seen: dict[tuple[int, int], _Span] = {}
    for span in spans:
        kept = seen.setdefault((span.start, span.end), span)
        if (span.rendered, span.kind != RefKind.LINK) > (kept.rendered, kept.kind != RefKind.LINK):
            seen[span.start, span.end] = span
    return sorted(seen.values(), key=lambda s: s.start)


def _located(text: str, spans: list[_Span]) -> tuple[RawRef, ...]:
    """Turn character offsets into byte offsets, lines and columns."""
    bom = 1 if text.startswith("\ufeff") else 0
    refs = []
    byte_position = char_position = 0
    line = 1
    ascii_text = text.isascii()
    for span in spans:  # sorted by start, so byte and line counts grow as we go
        if not ascii_text:
            byte_position += len(text[char_position : span.start].encode("utf-8", "surrogateescape"))
        line += text.count("\n", char_position, span.start)
        char_position = span.start
        start = span.start if ascii_text else byte_position
        end = start + len(text[span.start : span.end].encode("utf-8", "surrogateescape"))
        column = span.start - (text.rfind("\n", 0, span.start) + 1) + 1 - (bom if line == 1 else 0)
        refs.append(RawRef(span.kind, span.url, start, end, line, column, span.raw_html, span.rendered))
    return tuple(refs)


def is_markdown(name: str) -> bool:
    """Whether a content file is Markdown (else it is read as HTML)."""
    return name.lower().endswith(MARKDOWN_SUFFIXES)


__all__ = ["FrontMatter", "PageScan", "find_refs", "is_markdown"]
