"""CommonMark block structure, line by line, with source offsets.

Only what decides where images can be is modelled: block quotes and list items
(they change what counts as indentation), fenced and indented code, HTML blocks,
headings and paragraphs (which `markdown_paragraphs` turns into definitions, GFM
tables and text). The result is a set of regions that the inline scanner reads;
nothing here builds a document tree.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field

from .markdown_inline import Region
from .markdown_paragraphs import RefDefinition, paragraph_regions

PART_BREAK = re.compile(r"\n[ \t]*\r?\n(?=[^ \t\r\n])")  # a blank line, then a line at column 0
INTERESTING = re.compile(r"[\[<>`~{]")
BLOCK_START_CHARS = frozenset(">#`~<=-*_+0123456789")
# Lines that may start a block or need indentation rules; all others are prose.
NOT_PROSE = re.compile(
    r"[ \t><]|#{1,6}(?:[ \t]|$)|`{3}|~{3}|[-*+](?:[ \t]|$)|[-*_=][-*_= \t]*$|[0-9]{1,9}[.)](?:[ \t]|$)"
)
INLINE_SYNTAX = re.compile(r"[\[<`]")  # no image, tag or code span without one of these
PROSE_ITEM = re.compile(r"([-*+]|[0-9]{1,9}[.)]) {1,4}(?=[^ \t])")
ATX = re.compile(r"(#{1,6})(?:[ \t]+|$)")
FENCE = re.compile(r"(`{3,}|~{3,})")
THEMATIC = re.compile(r"(?:(?:\*[ \t]*+){3,}+|(?:-[ \t]*+){3,}+|(?:_[ \t]*+){3,}+)$")  # possessive: no backtracking
NOT_SPACE = re.compile(r"[^ \t]")
SETEXT = re.compile(r"(=+|-+)[ \t]*$")
BULLET = re.compile(r"([-+*])(?=[ \t]|$)")
ORDERED = re.compile(r"([0-9]{1,9})([.)])(?=[ \t]|$)")
HTML_END_1 = re.compile(r"</(?:script|pre|style|textarea)>", re.IGNORECASE)
HTML_STARTS = (
    (re.compile(r"<(?:script|pre|style|textarea)(?:[ \t>]|$)", re.IGNORECASE), HTML_END_1),
    (re.compile(r"<!--"), re.compile(r"-->")),
    (re.compile(r"<\?"), re.compile(r"\?>")),
    (re.compile(r"<![A-Z]"), re.compile(r">")),  # Goldmark: uppercase only, `<!doctype html>` is a paragraph
    (re.compile(r"<!\[CDATA\["), re.compile(r"\]\]>")),
    (
        re.compile(
            r"</?(?:address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup"
            r"|dd|details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame"
            r"|frameset|h[1-6]|head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav"
            r"|noframes|ol|optgroup|option|p|param|search|section|summary|table|tbody|td|tfoot|th"
            r"|thead|title|tr|track|ul)(?:[ \t]|/?>|$)",
            re.IGNORECASE,
        ),
        None,
    ),
)
_ATTR = r"""(?:[ \t]+[A-Za-z_:][A-Za-z0-9_.:\-]*(?:[ \t]*=[ \t]*(?:[^ \t"'=<>`]+|'[^'\n]*'|"[^"\n]*"))?)"""
HTML_START_7 = re.compile(r"(?:<[A-Za-z][A-Za-z0-9\-]*" + _ATTR + r"*[ \t]*/?>|</[A-Za-z][A-Za-z0-9\-]*[ \t]*>)[ \t]*$")


@dataclass(frozen=True, slots=True)
class Blocks:
    """What the block pass found in a document body."""

    inline: tuple[Region, ...]  # paragraphs, headings, table cells: Markdown is parsed here
    html: tuple[Region, ...]  # HTML blocks: tags are read here; Markdown is printed as text
    quiet: tuple[tuple[int, int], ...]  # source spans of code blocks
    definitions: dict[str, RefDefinition]


@dataclass(slots=True)
class _Block:
    kind: str  # quote, item, para, fence, icode, html
    indent: int = 0  # item: columns of indentation its content needs; fence: its own indent
    fence: str = ""
    html_end: re.Pattern[str] | None = None
    lines: list[tuple[int, str]] = field(default_factory=list)
    blank_start: bool = False
    start: int = 0


@dataclass(slots=True)
class _Line:
    """One source line and how far the container markers have been consumed."""

    text: str
    offset: int
    pos: int = 0
    col: int = 0

    def indent(self) -> tuple[int, int, int]:
        """Columns of white space from the current position, and where it ends."""
        pos, col = self.pos, self.col
        while pos < len(self.text) and self.text[pos] in " \t":
            col += 4 - col % 4 if self.text[pos] == "\t" else 1
            pos += 1
        return col - self.col, pos, col

    def advance(self, columns: int) -> None:
        """Consume `columns` columns of indentation (a tab may be split)."""
        target = self.col + columns
        while self.col < target and self.pos < len(self.text) and self.text[self.pos] in " \t":
            width = 4 - self.col % 4 if self.text[self.pos] == "\t" else 1
            if self.col + width > target:
                # Stay on the tab: its remaining columns still count as indentation,
                # and `indent` measures them from `col`.
                self.col = target
                return
            self.col += width
            self.pos += 1

    def blank(self) -> bool:
        return not self.text[self.pos :].strip(" \t")

    def rest(self) -> tuple[int, str]:
        """Source offset and text from the current position, leading white space as spaces.

        Tabs there count from the line's real columns (one may be partly used by a
        container), so the piece measures its own indentation right. Only that white
        space is rewritten, and only the offset of what follows it is exact.
        """
        columns, pos, _ = self.indent()
        if "\t" not in self.text[self.pos : pos]:
            return self.offset + self.pos, self.text[self.pos :]
        return self.offset + pos - columns, " " * columns + self.text[pos:]


class _Parser:
    def __init__(self) -> None:
        self.stack: list[_Block] = []
        self.inline: list[Region] = []
        self.html: list[Region] = []
        self.quiet: list[tuple[int, int]] = []
        self.definitions: dict[str, RefDefinition] = {}

    # -- closing -------------------------------------------------------------
    def close_from(self, depth: int, end: int) -> None:
        while len(self.stack) > depth:
            self.finish(self.stack.pop(), end)

    def finish(self, block: _Block, end: int) -> None:
        if block.kind == "para":
            self.finish_paragraph(block.lines)
        elif block.kind == "html":
            self.html.append(dataclasses.replace(Region.from_pieces(block.lines), html=True))
        elif block.kind in ("fence", "icode"):
            self.quiet.append((block.start, end))

    def finish_paragraph(self, lines: list[tuple[int, str]]) -> None:
        if any(INLINE_SYNTAX.search(text) for _, text in lines):  # else there is nothing to find in it
            self.inline += paragraph_regions(lines, self.definitions)

    # -- per line ------------------------------------------------------------
    def feed_prose(self, text: str, offset: int) -> bool:
        """Fast path for the common lines; False when the full rules are needed.

        A line that starts at column 0 with prose matches no container (a quote needs
        `>`, an item indentation) and starts no block: it continues an open paragraph
        (lazily, if need be) or closes everything and starts one. A column-0 list item
        whose text is prose closes everything and opens an item with a paragraph.
        """
        stack = self.stack
        tip = stack[-1] if stack else None
        if tip is not None and tip.kind in ("fence", "html") and len(stack) == 1:
            return self.feed_top_level_leaf(tip, text, offset)
        if not NOT_PROSE.match(text):
            if not text:
                # A blank line continues list items and closes a paragraph.
                leaf = 1 if tip is not None and tip.kind == "para" else 0
                if any(b.kind != "item" or b.blank_start for b in stack[: len(stack) - leaf]):
                    return False
                if leaf:
                    self.finish(stack.pop(), offset)
            elif tip is not None and tip.kind == "para":
                tip.lines.append((offset, text))
            else:
                self.close_from(0, offset)
                stack.append(_Block("para", lines=[(offset, text)]))
            return True
        item = PROSE_ITEM.match(text)
        if item is None or NOT_PROSE.match(text, item.end()):
            return False
        if (
            item.group(1)[0].isdigit()
            and item.group(1)[:-1] != "1"
            and tip is not None
            and tip.kind == "para"
            and len(stack) == 1
        ):
            return False  # such an item cannot interrupt a paragraph
        self.close_from(0, offset)
        stack.append(_Block("item", indent=item.end()))
        stack.append(_Block("para", lines=[(offset + item.end(), text[item.end() :])]))
        return True

    def feed_top_level_leaf(self, tip: _Block, text: str, offset: int) -> bool:
        """Fast path for a line of an open top-level code or HTML block (as continue_leaf does)."""
        if tip.kind == "fence":
            return tip.fence[0] not in text  # a content line: no closing fence can be in it
        if tip.html_end is None:
            if not text.strip(" \t"):
                self.stack.pop()
                self.finish(tip, offset)  # a blank line ends it and does nothing else here
            else:
                tip.lines.append((offset, text))
            return True
        tip.lines.append((offset, text))
        if tip.html_end.search(text):
            self.stack.pop()
            self.finish(tip, offset + len(text))
        return True

    def feed(self, line: _Line) -> None:
        matched = self.match_containers(line)
        tip = self.stack[-1] if self.stack else None
        leaf = tip if tip is not None and tip.kind not in ("quote", "item") else None
        all_matched = matched == len(self.stack) - (1 if leaf else 0)
        if leaf is not None and all_matched and leaf.kind in ("fence", "icode", "html"):
            if self.continue_leaf(leaf, line):
                return
            self.stack.pop()
            self.finish(leaf, line.offset)
            leaf = None
        paragraph = leaf if leaf is not None and leaf.kind == "para" else None
        if self.open_blocks(line, matched, paragraph is not None, all_matched):
            return
        if paragraph is not None and not line.blank():
            paragraph.lines.append(line.rest())  # continuation, or a lazy continuation line
            return
        self.close_from(matched, line.offset)
        if not line.blank():
            self.stack.append(_Block("para", lines=[line.rest()]))

    def match_containers(self, line: _Line) -> int:
        for depth, block in enumerate(self.stack):
            if block.kind == "quote":
                indent, pos, col = line.indent()
                if indent > 3 or pos >= len(line.text) or line.text[pos] != ">":
                    return depth
                line.pos, line.col = pos + 1, col + 1
                if line.pos < len(line.text) and line.text[line.pos] in " \t":
                    line.advance(1)
            elif block.kind == "item":
                if line.blank():
                    if block.blank_start:  # an item may begin with at most one blank line
                        return depth
                    continue
                if line.indent()[0] < block.indent:
                    return depth
                block.blank_start = False
                line.advance(block.indent)
            else:
                return depth
        return len(self.stack)

    def continue_leaf(self, tip: _Block, line: _Line) -> bool:
        """Feed a line to an open code or HTML block; False when the block ends before it."""
        if tip.kind == "fence":
            indent, pos, _ = line.indent()
            close = FENCE.match(line.text, pos)
            if (
                indent <= 3
                and close
                and close.group(1)[0] == tip.fence[0]
                and len(close.group(1)) >= len(tip.fence)
                and not line.text[close.end() :].strip(" \t")
            ):
                self.stack.pop()
                self.quiet.append((tip.start, line.offset + len(line.text)))
            return True
        if tip.kind == "icode":
            indent, _, _ = line.indent()
            return indent >= 4 or line.blank()
        if tip.html_end is None:
            if line.blank():
                return False
            tip.lines.append((line.offset, line.text))
            return True
        tip.lines.append((line.offset, line.text))
        if tip.html_end.search(line.text):
            self.stack.pop()
            self.finish(tip, line.offset + len(line.text))
        return True

    def open_blocks(self, line: _Line, matched: int, paragraph_tip: bool, all_matched: bool) -> bool:
        """Start new blocks at the line's position; True when the line is used up."""
        started, thematic_from = False, -1
        while True:
            indent, pos, col = line.indent()
            if pos >= len(line.text):
                if started and self.stack[-1].kind == "item":
                    self.stack[-1].blank_start = True
                return started
            # Some blocks may not interrupt the paragraph that this line would continue.
            interrupting = paragraph_tip and all_matched and not started
            if indent >= 4:
                if paragraph_tip and not started:
                    return False
                self.close_from(matched, line.offset)
                line.advance(4)
                self.stack.append(_Block("icode", start=line.offset))
                return True
            text, char = line.text, line.text[pos]
            if char not in BLOCK_START_CHARS:  # most lines are prose: no regex needed
                break
            if char == ">":
                self.close_from(matched, line.offset)
                line.pos, line.col = pos + 1, col + 1
                if line.pos < len(text) and text[line.pos] in " \t":
                    line.advance(1)
                self.stack.append(_Block("quote"))
                matched, started = len(self.stack), True
                continue
            if m := ATX.match(text, pos):
                self.close_from(matched, line.offset)
                self.inline.append(Region.from_pieces([(line.offset + m.end(), _heading_text(text[m.end() :]))]))
                return True
            if (m := FENCE.match(text, pos)) and not (m.group(1)[0] == "`" and "`" in text[m.end() :]):
                self.close_from(matched, line.offset)
                self.stack.append(_Block("fence", indent=indent, fence=m.group(1), start=line.offset))
                return True
            # A type 7 HTML start is a lazy continuation line when a paragraph is open, even
            # one in a container this line does not continue (as in Goldmark and markdown-it).
            if char == "<" and (block := _html_start(text, pos, paragraph_tip and not started)) is not None:
                self.close_from(matched, line.offset)
                block.lines.append((line.offset, text))
                if block.html_end is not None and block.html_end.search(text, pos):
                    self.finish(block, line.offset + len(text))
                else:
                    self.stack.append(block)
                return True
            if interrupting and SETEXT.match(text, pos):
                # Goldmark closes the paragraph first, so definitions and a table are taken off
                # it as usual; what is left (maybe nothing) becomes the heading.
                self.finish_paragraph(self.stack.pop().lines)
                return True
            if char in "*-_" and thematic_from < 0:
                thematic_from = _thematic_start(text)
            if char in "*-_" and pos >= thematic_from and THEMATIC.match(text, pos):
                self.close_from(matched, line.offset)
                return True
            item = BULLET.match(text, pos) or ORDERED.match(text, pos)
            if item is not None:
                after = item.end()
                empty = NOT_SPACE.search(text, after) is None
                if interrupting and (empty or (item.re is ORDERED and item.group(1) != "1")):
                    return False
                self.close_from(matched, line.offset)
                line.pos, line.col = after, col + (after - pos)
                spaces, _, _ = line.indent()
                if empty or spaces > 4:
                    spaces = 1
                line.advance(spaces)
                # Counted from where the enclosing container's content starts on this line, as
                # a quote's optional space after `>` may differ from line to line.
                self.stack.append(_Block("item", indent=indent + (after - pos) + spaces))
                matched, started = len(self.stack), True
                continue
            break
        if started:
            self.stack.append(_Block("para", lines=[line.rest()]))
        return started


def _thematic_start(text: str) -> int:
    """Where the last run of one break character (with spaces) starts: a thematic break
    can start only there, so a line like `* * * ... x` is not rescanned at each list level."""
    end = text.rstrip(" \t")
    return len(end.rstrip(end[-1] + " \t")) if end and end[-1] in "*-_" else len(text) + 1


def _heading_text(text: str) -> str:
    """An ATX heading's text without its closing `#`s (which need a space before them)."""
    text = text.rstrip(" \t")
    bare = text.rstrip("#")
    return bare.rstrip(" \t") if not bare or bare[-1] in " \t" else text


def _html_start(text: str, pos: int, interrupting: bool) -> _Block | None:
    for start, end in HTML_STARTS:
        if start.match(text, pos):
            return _Block("html", html_end=end)
    if not interrupting and HTML_START_7.match(text, pos):
        return _Block("html", html_end=None)
    return None


def parse_blocks(text: str, start: int = 0) -> Blocks:
    """Block structure of `text[start:]`; every offset refers to `text`.

    The text is cut where a blank line is followed by a line at column 0. Such a line
    matches no open container and no paragraph is open after a blank line, so whatever
    the part before it left open is closed there, except a fenced code or HTML block. A
    part with none of the characters that start an image, link, tag, code span, shortcode,
    fence, quote or HTML block end is therefore skipped unread: it holds no reference, and
    an open fence or HTML block around it stays open across it either way.
    """
    parser = _Parser()
    part_start = start
    for part_end in (*(m.end() for m in PART_BREAK.finditer(text, start)), len(text)):
        if INTERESTING.search(text, part_start, part_end):
            offset = part_start
            lines = text[part_start:part_end].split("\n")
            if part_end < len(text):
                lines.pop()  # the part ends with a newline: no line after it
            for content in lines:
                line_offset, offset = offset, offset + len(content) + 1
                if content.endswith("\r"):
                    content = content[:-1]
                if not parser.feed_prose(content, line_offset):
                    parser.feed(_Line(content, line_offset))
        part_start = part_end
    end = len(text)
    parser.close_from(0, end)
    return Blocks(tuple(parser.inline), tuple(parser.html), tuple(parser.quiet), parser.definitions)
