"""Stage 1: find every image reference in a content file's text, with its exact span.

Pure: text in, `PageScan` out. The text is the file decoded as UTF-8 with
errors="surrogateescape" (BOM kept), so re-encoding gives exact byte offsets.
"""

from __future__ import annotations

import dataclasses
import html
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from html.entities import html5
from typing import Any

from .config import Config
from .frontmatter import FrontMatter, find_front_matter_urls, split_front_matter
from .markdown_blocks import parse_blocks
from .markdown_inline import InlineFind, Region, scan_inline, unescape
from .markdown_paragraphs import RefDefinition
from .model import ImageElement, RawRef, RefKind
from .picture import Written, find_written

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
CONTAINER_PREFIX = re.compile(r"(?:[ \t]*(?:>|[-*+](?=[ \t])|[0-9]{1,9}[.)](?=[ \t])))*[ \t]*")
LINE_BREAK = re.compile(r"[ \t]*\r?\n[ \t]*")
# Emphasis and strike-through delimiters, code backticks; `_` only where it cannot be inside a word.
EMPHASIS = re.compile(r"(?<!\\)(?:\*+|~~|`+)|(?<![\w\\])_+(?=\w)|(?<=\w)_+(?!\w)")
# A figure caption, title or credit holding any of these is Markdown or HTML Hugo renders: kept as a shortcode.
NOT_PLAIN = re.compile(r"[*_`\[\]<>&\\~]")


@dataclass(frozen=True, slots=True)
class PageScan:
    """What one content file holds: its references, front matter and problems."""

    refs: tuple[RawRef, ...]
    front_matter: dict[str, Any]  # top-level scalar values (url, slug, ...)
    problems: tuple[str, ...]  # one-line messages, without the file name
    elements: tuple[ImageElement, ...] = ()  # the markup around each shown image, for the rewriter


@dataclass(frozen=True, slots=True)
class _Span:
    kind: RefKind
    url: str
    start: int  # character offsets in the text
    end: int
    raw_html: bool = False
    rendered: bool = True
    generated: bool = False
    original: bool = False


@dataclass(frozen=True, slots=True)
class _Element:
    """An ImageElement in character offsets."""

    kind: RefKind
    start: int
    end: int
    url_start: int
    alt: str | None = None
    title: str | None = None
    attributes: tuple[tuple[str, str | None], ...] = ()
    original: str | None = None
    unwritable: str = ""
    block: bool = False


def find_refs(text: str, config: Config, markdown: bool = True, with_elements: bool = False) -> PageScan:
    """Every image reference in a content file; `markdown=False` for HTML content files.

    `with_elements` also finds the whole element around each shown image (what the rewriter needs).
    """
    front, problems = split_front_matter(text)
    spans: list[_Span] = []
    elements: list[_Element] | None = [] if with_elements else None
    body = front.body_start if front else int(text.startswith("\ufeff"))  # Hugo drops a BOM
    if front:
        spans += (
            _Span(RefKind.FRONTMATTER, url, s, e)
            for url, s, e in find_front_matter_urls(text, front, config.frontmatter_keys, problems)
        )
    if markdown:
        quiet = _scan_markdown(text, body, config, spans, elements)
    else:
        region = Region.from_pieces([(body, text[body:])])
        quiet = list(_html_block_spans(region, spans, elements, config, {}))
    spans += _shortcode_spans(text, body, config, quiet, elements)
    found = ()
    if elements:
        offsets = _ByteOffsets(text)
        found = tuple(offsets.element(e) for e in sorted(elements, key=lambda e: e.start))
    return PageScan(
        refs=_located(text, _unique(spans)),
        front_matter=front.values if front else {},
        problems=tuple(problems),
        elements=found,
    )


def _scan_markdown(
    text: str, body: int, config: Config, spans: list[_Span], elements: list[_Element] | None
) -> list[tuple[int, int]]:
    """Add the Markdown and raw HTML references of the body; return spans with no shortcodes."""
    blocks = parse_blocks(text, body)
    definitions = blocks.definitions
    quiet = list(blocks.quiet)
    for region in blocks.inline:
        finds, tags, inline_quiet = scan_inline(region.text, definitions)
        starts = {start for start, _ in tags}
        written = [w for w in find_written(region.text) if w.start in starts]
        for find in finds:
            span = _find_span(find, definitions, region.source_offset, region.rendered)
            if find.is_image or _is_image_url(span.url, config):
                spans.append(span)
            if find.is_image and region.rendered and elements is not None:
                elements.append(
                    _markdown_element(find, text, region.text, span.start, definitions, region.source_offset)
                )
        for tag_start, tag_end in tags:
            if not _in_shortcode(region.text, tag_start):
                generated = any(w.start < tag_start < w.end for w in written)
                target = None if generated or elements is None or _in_picture(region.text, tag_start) else elements
                _add_tag(region, tag_start, tag_end, config, spans, target, generated)
        for found in written:
            _add_written(found, region.text, region, config, definitions, spans, elements)
        quiet += ((region.source_offset(a), region.source_offset(b - 1) + 1) for a, b in inline_quiet)
    for region in blocks.html:
        quiet += _html_block_spans(region, spans, elements, config, definitions)
        # Markdown inside an HTML block is printed as text: Hugo shows `![](x)` literally.
        if "[" not in region.text:
            continue  # no image syntax at all
        finds, _, _ = scan_inline(_blank_comments(region.text), definitions)
        for find in finds:
            if find.is_image and (dest := find.dest) is not None:
                start = region.source_offset(dest.start)
                spans.append(_Span(RefKind.MARKDOWN, dest.url, start, start + dest.end - dest.start, rendered=False))
    return quiet


def _html_block_spans(
    region: Region,
    spans: list[_Span],
    elements: list[_Element] | None,
    config: Config,
    definitions: dict[str, RefDefinition],
) -> Iterator[tuple[int, int]]:
    """Add the tags of an HTML block (outside comments and script/style); yield the comments."""
    text = region.text
    for comment in HTML_COMMENT.finditer(text):
        yield region.source_offset(comment.start()), region.source_offset(max(comment.end() - 1, comment.start())) + 1
    visible = _blank_comments(text)
    if RAW_TEXT_START.search(visible):
        visible = RAW_TEXT_ELEMENT.sub(lambda m: " " * len(m.group(0)), visible)
    written = find_written(visible)
    for found in written:
        _add_written(found, visible, region, config, definitions, spans, elements)
    position = 0
    while (start := TAG_START.search(visible, position)) is not None:
        tag = TAG.match(visible, start.start())
        if tag is None:
            return  # a tag left open runs to the end of the text, in a browser too: no more tags
        if not _in_shortcode(visible, tag.start()):
            generated = any(w.start < tag.start() < w.end for w in written)
            target = None if generated or elements is None or _in_picture(visible, tag.start()) else elements
            _add_tag(region, tag.start(), tag.end(), config, spans, target, generated)
        position = tag.end()


def _find_span(
    find: InlineFind, definitions: dict[str, RefDefinition], source_offset: Callable[[int], int], rendered: bool
) -> _Span:
    """The URL span of an image or link find: its destination, or its reference definition's."""
    if find.dest is not None:
        start = source_offset(find.dest.start)
        kind = RefKind.MARKDOWN if find.is_image else RefKind.LINK
        return _Span(kind, find.dest.url, start, start + find.dest.end - find.dest.start, rendered=rendered)
    definition = definitions[find.label or ""]
    kind = RefKind.REFERENCE if find.is_image else RefKind.LINK
    return _Span(kind, definition.url, definition.start, definition.end, rendered=rendered)


def _markdown_element(
    find: InlineFind,
    source: str,
    text: str,
    url_start: int,
    definitions: dict[str, RefDefinition],
    source_offset: Callable[[int], int],
) -> _Element:
    title = find.title if find.dest is not None else definitions[find.label or ""].title
    kind = RefKind.MARKDOWN if find.dest is not None else RefKind.REFERENCE
    start, end = source_offset(find.start), source_offset(find.end - 1) + 1
    # Across lines in a block quote (or a list item) the source holds markers the region left out; kept
    # in data-gallery, they would read as part of the alt text when the element is read again.
    split = _folded(source[start:end]) != _folded(text[find.start : find.end])
    why = "it runs over several lines inside a block quote or list item: join them to one line" if split else ""
    return _Element(kind, start, end, url_start, _alt_text(text[find.start + 2 : find.text_end]), title, unwritable=why)


def _folded(markdown: str) -> str:
    return LINE_BREAK.sub(" ", markdown)


def _alt_text(markdown: str) -> str:
    """The plain text of an image description, as Goldmark writes it into `alt`: emphasis marks and code
    backticks dropped, escapes and entities decoded, line breaks kept (nearly: a lone `*` goes too)."""
    return unescape(EMPHASIS.sub("", markdown)).replace("\r\n", "\n")


def _add_tag(
    region: Region,
    tag_start: int,
    tag_end: int,
    config: Config,
    spans: list[_Span],
    elements: list[_Element] | None,
    generated: bool,
) -> None:
    """Add the references of one raw HTML tag and, for an `<img>` with a `src` and no `srcset`, its element."""
    tag = region.text[tag_start:tag_end]
    found = list(_tag_spans(tag, region.source_offset(tag_start), config, region.rendered, generated))
    spans += found
    if elements is None or not region.rendered or not tag[1:4].lower() == "img":
        return
    source = next((span for span in found if span.kind == RefKind.HTML), None)
    if source is None or any(span.kind == RefKind.SRCSET for span in found):
        return
    start, end = region.source_offset(tag_start), region.source_offset(tag_end - 1) + 1
    block = _starts_block(region, tag_start)
    elements.append(_Element(RefKind.HTML, start, end, source.start, attributes=_attributes(tag), block=block))


def _attributes(tag: str) -> tuple[tuple[str, str | None], ...]:
    """A tag's attributes as written (names as spelled, values decoded), in order."""
    match = TAG.match(tag)
    if match is None:
        return ()
    found = []
    for attribute in ATTRIBUTE.finditer(tag, match.start(2), match.end(2)):
        value = next((attribute.group(g) for g in (2, 3, 4) if attribute.group(g) is not None), None)
        found.append((attribute.group(1), None if value is None else _attribute_value(value)))
    return tuple(found)


def _starts_block(region: Region, position: int) -> bool:
    """Whether the tag at `position` is what makes its HTML block one (CommonMark's kind 7: a tag alone on
    the block's first line, after at most the markers of the containers it is in)."""
    return region.html and CONTAINER_PREFIX.fullmatch(region.text, 0, position) is not None


def _in_picture(text: str, position: int) -> bool:
    """Whether `position` is inside a `<picture>` the author wrote (its sources are the author's choice)."""
    return text.rfind("<picture", 0, position) > text.rfind("</picture", 0, position)


def _add_written(
    found: Written,
    text: str,
    region: Region,
    config: Config,
    definitions: dict[str, RefDefinition],
    spans: list[_Span],
    elements: list[_Element] | None,
) -> None:
    """Add the reference inside an element gallery wrote (its original's URL) and the element itself.

    The original's URL is a live reference: renames and merges edit it in place, so the
    original always resolves and the element can be written again or reverted.
    """
    inner_spans: list[_Span] = []
    inner_elements: list[_Element] = []
    original = found.original
    if original.startswith("{{"):
        inner_spans += _shortcode_spans(original, 0, config, [], inner_elements)
    elif original.startswith("<"):
        _add_tag(Region.from_pieces([(0, original)]), 0, len(original), config, inner_spans, inner_elements, False)
    else:
        # Read as the block parser hands a paragraph over: line by line, without line ends or indentation.
        lines, position = [], 0
        for line in original.split("\n"):
            content = line.removesuffix("\r").lstrip(" \t")
            lines.append((position + len(line) - len(line.lstrip(" \t")), content))
            position += len(line) + 1
        paragraph = Region.from_pieces(lines)
        finds, _, _ = scan_inline(paragraph.text, definitions)
        for find in finds:
            if find.is_image:
                span = _find_span(find, definitions, paragraph.source_offset, region.rendered)
                inner_spans.append(span)
                inner_elements.append(
                    _markdown_element(find, original, paragraph.text, span.start, definitions, paragraph.source_offset)
                )
    if len(inner_elements) != 1:
        return  # not an original gallery wrote; its tags were read as they are
    element = inner_elements[0]
    source_offset, rendered = region.source_offset, region.rendered

    def page(position: int) -> int:
        return source_offset(found.offsets[position])

    reference = element.kind == RefKind.REFERENCE  # its URL is in the page's definition, already read
    for span in inner_spans:
        if span.start == element.url_start and not reference:
            start, end = page(span.start), page(span.end)
            spans.append(_Span(span.kind, span.url, start, end, raw_html=True, rendered=rendered, original=True))
    url_start = element.url_start if reference else page(element.url_start)
    if reference:
        definition_span = next(s for s in inner_spans if s.start == element.url_start)
        spans.append(dataclasses.replace(definition_span, raw_html=True, rendered=rendered, original=True))
    if elements is None:
        return
    elements.append(
        dataclasses.replace(
            element,
            block=_starts_block(region, found.start),
            start=source_offset(found.start),
            end=source_offset(found.end - 1) + 1,
            url_start=url_start,
            original=original,
        )
    )


def _in_shortcode(text: str, tag_start: int) -> bool:
    """Whether the tag at `tag_start` is really `{{<img ...>}}`, a shortcode named like a tag."""
    return tag_start >= 2 and text.startswith("{{", tag_start - 2)


def _blank_comments(text: str) -> str:
    """The text with HTML comments replaced by spaces of the same length."""
    if "<!--" not in text:
        return text
    return HTML_COMMENT.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _tag_spans(tag: str, origin: int, config: Config, rendered: bool, generated: bool = False) -> Iterator[_Span]:
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
                url = _attribute_value(value[a:b])
                yield _Span(RefKind.SRCSET, url, value_start + a, value_start + b, True, rendered, generated)
        elif (name, attr) == ("img", "src") or (
            (name, attr) == ("a", "href") and _is_image_url(_attribute_value(value), config)
        ):
            kind = RefKind.HTML if name == "img" else RefKind.LINK
            lead = len(value) - len(value.lstrip())
            url = value.strip()
            end = value_start + lead + len(url)
            yield _Span(kind, _attribute_value(url), value_start + lead, end, True, rendered, generated)


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


def _shortcode_spans(
    text: str, body: int, config: Config, quiet: list[tuple[int, int]], elements: list[_Element] | None
) -> Iterator[_Span]:
    """URL parameters of the configured shortcodes, outside code and comments; `figure` elements too."""
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
        named: dict[str, str] = {}
        url_start = None
        position = 0
        for param in SHORTCODE_PARAM.finditer(
            text, match.start("params"), match.start("params") + _params_end(match.group("params"))
        ):
            key = param.group(1)
            selected = key in params if key else position in params
            position += 0 if key else 1
            raw, start = param.group(2), param.start(2)
            if raw[0] in '"`':
                raw, start = raw[1:-1], start + 1
                value = re.sub(r"\\(.)", r"\1", raw) if text[start - 1] == '"' else raw
            else:
                value = raw
            if key:
                named[key] = value
            if selected:
                url_start = start
                yield _Span(RefKind.SHORTCODE, value, start, start + len(raw))
        if (
            elements is not None
            and match.group("name") == "figure"
            and url_start is not None
            and match.group("open") == "<"
        ):
            marked = any(NOT_PLAIN.search(named.get(k, "")) for k in ("caption", "title", "attr"))
            why = "the figure's caption, title or credit holds Markdown or HTML" if marked else ""
            alt = named.get("alt") or named.get("caption")
            shown = _Element(RefKind.SHORTCODE, match.start(), match.end(), url_start, alt, None, tuple(named.items()))
            elements.append(dataclasses.replace(shown, unwritable=why))


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
        if _weight(span) > _weight(kept):
            seen[span.start, span.end] = span
    return sorted(seen.values(), key=lambda s: s.start)


def _weight(span: _Span) -> tuple[bool, bool, bool]:
    """Which of two spans at one place (a definition used twice) describes it: rendered, an image, loaded."""
    return span.rendered, span.kind != RefKind.LINK, not span.original


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
        refs.append(
            RawRef(
                span.kind,
                span.url,
                start,
                end,
                line,
                column,
                span.raw_html,
                span.rendered,
                span.generated,
                span.original,
            )
        )
    return tuple(refs)


class _ByteOffsets:
    """Character offsets of a text as byte offsets (UTF-8, surrogateescape) and line numbers."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ascii = text.isascii()
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.line_bytes: list[int] | None = None

    def line(self, position: int) -> int:
        return bisect_right(self.line_starts, position)

    def byte(self, position: int) -> int:
        if self.ascii:
            return position
        if self.line_bytes is None:
            self.line_bytes, total, previous = [], 0, 0
            for start in self.line_starts:
                total += len(self.text[previous:start].encode("utf-8", "surrogateescape"))
                self.line_bytes.append(total)
                previous = start
        index = self.line(position) - 1
        start = self.line_starts[index]
        return self.line_bytes[index] + len(self.text[start:position].encode("utf-8", "surrogateescape"))

    def element(self, found: _Element) -> ImageElement:
        return ImageElement(
            found.kind,
            self.byte(found.start),
            self.byte(found.end),
            self.line(found.start),
            self.byte(found.url_start),
            found.alt,
            found.title,
            found.attributes,
            found.original,
            found.unwritable,
            found.block,
        )


def is_markdown(name: str) -> bool:
    """Whether a content file is Markdown (else it is read as HTML)."""
    return name.lower().endswith(MARKDOWN_SUFFIXES)


__all__ = ["FrontMatter", "PageScan", "find_refs", "is_markdown"]
