"""CommonMark inline syntax: where images, links and raw HTML tags sit in a run of text.

The block parser hands over a `Region`: the text of one paragraph, heading or table
cell, made of pieces of the source (container markers and indentation cut away).
Every span found here is mapped back to an offset in the source, so later stages
can rewrite the URL in place.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass
from html.entities import html5

ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
SPECIAL = re.compile(r"[\\`<\[\]]|!\[")
ESCAPE_OR_ENTITY = re.compile(r"\\([!-/:-@\[-`{-~])|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
BACKTICKS = re.compile(r"`+")
# What ends or nests a link destination; an escaped punctuation character is skipped whole.
ANGLE_DESTINATION_STOP = re.compile(r"\\[!-/:-@\[-`{-~]|[>\n]")
DESTINATION_STOP = re.compile(r"\\[!-/:-@\[-`{-~]|[() \t\n]")
AUTOLINK = re.compile(
    r"<(?:[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\x00-\x20<>]*"
    r"|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*)>"
)
_ATTR = r"""(?:\s+[A-Za-z_:][A-Za-z0-9_.:\-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?)"""
OPEN_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9\-]*)" + _ATTR + r"*\s*/?>")
RAW_HTML = re.compile(
    r"</[A-Za-z][A-Za-z0-9\-]*\s*>|<!-->|<!--->|<!--[\s\S]*?-->|<\?[\s\S]*?\?>"
    r"|<![A-Za-z][^>]*>|<!\[CDATA\[[\s\S]*?\]\]>"
)
LINK_LABEL_MAX = 999


@dataclass(frozen=True, slots=True)
class Region:
    """Text of one inline container and where each of its lines starts in the source."""

    text: str
    starts: tuple[int, ...]  # offset in `text` where each piece starts
    origins: tuple[int, ...]  # offset in the source of each piece's first character
    rendered: bool = True

    @classmethod
    def from_pieces(cls, pieces: list[tuple[int, str]], rendered: bool = True) -> Region:
        """Join (source offset, text) pieces with newlines, remembering where each came from."""
        starts, position = [], 0
        for _, piece in pieces:
            starts.append(position)
            position += len(piece) + 1
        return cls("\n".join(p for _, p in pieces), tuple(starts), tuple(o for o, _ in pieces), rendered)

    def source_offset(self, position: int) -> int:
        """Offset in the source of the character at `position` in `text`."""
        index = bisect_right(self.starts, position) - 1
        return self.origins[index] + position - self.starts[index]


@dataclass(frozen=True, slots=True)
class Destination:
    """A link destination: the decoded URL and the span of its text in the region."""

    url: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class InlineFind:
    """An image or link found in a region; `dest` is None for a reference-style one."""

    is_image: bool
    dest: Destination | None
    label: str | None  # normalized reference label, for reference-style images and links


@dataclass(slots=True)
class _Opener:
    position: int
    is_image: bool
    active: bool = True
    finds_before: int = 0  # how many finds existed when this opener was pushed


def unescape(text: str) -> str:
    """Decode backslash escapes and entity references, as CommonMark does in URLs and titles."""
    if "\\" not in text and "&" not in text:
        return text
    return ESCAPE_OR_ENTITY.sub(_decoded, text)


def _decoded(match: re.Match[str]) -> str:
    # Not html.unescape: that applies HTML's legacy rules ("&ampx;" -> "&x;", "&#128;" -> "€",
    # "&#1;" -> ""), whereas CommonMark takes only exact names and code points as they are.
    if match.group(1):
        return match.group(1)
    reference = match.group(0)
    if reference[1] != "#":
        return html5.get(reference[1:], reference)
    code = int(reference[3:-1], 16) if reference[2] in "xX" else int(reference[2:-1])
    return chr(code) if 0 < code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF else "\ufffd"


def normalize_label(label: str) -> str:
    """Reference labels match case-insensitively with runs of white space folded."""
    return " ".join(label.split()).casefold()


def parse_destination(text: str, pos: int) -> Destination | None:
    """Parse a link destination starting at `pos`, as Goldmark does (its parseLinkDestination).

    Goldmark is looser than CommonMark 6.6, and Hugo renders what Goldmark accepts: `<...>`
    may contain `<`; a bare destination ends at white space or an unmatched `)` without
    needing balanced parentheses (`![](a(b "t")` is an image of `a(b`), nests parentheses
    without limit and may contain control characters.
    """
    if text.startswith("<", pos):
        i = pos + 1
        while (m := ANGLE_DESTINATION_STOP.search(text, i)) is not None and m.group(0)[0] == "\\":
            i = m.end()
        if m is None or m.group(0) == "\n":
            return None
        return Destination(unescape(text[pos + 1 : m.start()]), pos + 1, m.start())
    depth, i = 0, pos
    while (m := DESTINATION_STOP.search(text, i)) is not None:
        c = m.group(0)
        i = m.end()
        if c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif c[0] != "\\":
            i = m.start()
            break
    else:
        i = len(text)
    return Destination(unescape(text[pos:i]), pos, i)


def skip_space(text: str, pos: int, newlines: int = 1) -> int:
    """Skip spaces and tabs and at most `newlines` line endings."""
    while pos < len(text):
        c = text[pos]
        if c == "\n":
            if newlines == 0:
                break
            newlines -= 1
        elif c not in " \t":
            break
        pos += 1
    return pos


def parse_title(text: str, pos: int) -> int | None:
    """End of a link title starting at `pos`, or None when there is none there."""
    if pos >= len(text) or text[pos] not in "\"'(":
        return None
    close = ")" if text[pos] == "(" else text[pos]
    i = pos + 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in ASCII_PUNCT:
            i += 2
            continue
        if c == close:
            return i + 1
        if close == ")" and c == "(":
            return None
        if c == "\n" and text[skip_space(text, i + 1, 0) : skip_space(text, i + 1, 0) + 1] in ("\n", ""):
            return None  # a title cannot contain a blank line
        i += 1
    return None


def parse_label(text: str, pos: int) -> int | None:
    """End (after `]`) of a link label `[...]` starting at `pos`, or None."""
    i = pos + 1
    while i < len(text) and i - pos <= LINK_LABEL_MAX + 1:
        c = text[i]
        if c == "\\" and i + 1 < len(text) and text[i + 1] in ASCII_PUNCT:
            i += 2
            continue
        if c == "[":
            return None
        if c == "]":
            return i + 1 if text[pos + 1 : i].strip() else None
        i += 1
    return None


def code_span_end(text: str, pos: int) -> tuple[int, bool]:
    """Where scanning resumes after a backtick run at `pos`, and whether it opened a code span."""
    run = BACKTICKS.match(text, pos)
    assert run is not None
    length = len(run.group(0))
    for closer in BACKTICKS.finditer(text, run.end()):
        if len(closer.group(0)) == length:
            return closer.end(), True
    return run.end(), False


def scan_inline(
    text: str, labels: frozenset[str] | dict[str, object]
) -> tuple[list[InlineFind], list[tuple[int, int]], list[tuple[int, int]]]:
    """Find images and links, raw HTML tags and code spans in inline text.

    Returns the finds (in document order of their closing bracket), the spans of
    raw HTML open tags, and the spans of code spans and HTML comments (places where
    shortcodes are not looked for).
    """
    finds: list[tuple[int, InlineFind]] = []
    tags: list[tuple[int, int]] = []
    quiet: list[tuple[int, int]] = []
    openers: list[_Opener] = []
    i, n = 0, len(text)
    while True:
        m = SPECIAL.search(text, i)
        if m is None:
            break
        i = m.start()
        c = text[i]
        if c == "\\":
            i += 2 if i + 1 < n and text[i + 1] in ASCII_PUNCT else 1
        elif c == "`":
            end, is_code = code_span_end(text, i)
            if is_code:
                quiet.append((i, end))
            i = end
        elif c == "<":
            i = _skip_angle(text, i, tags, quiet)
        elif c == "!":
            openers.append(_Opener(i, True, finds_before=len(finds)))
            i += 2
        elif c == "[":
            openers.append(_Opener(i, False, finds_before=len(finds)))
            i += 1
        else:  # "]"
            i = _close_bracket(text, i, openers, finds, labels)
    finds.sort(key=lambda f: f[0])
    return [f for _, f in finds], tags, quiet


def _skip_angle(text: str, i: int, tags: list[tuple[int, int]], quiet: list[tuple[int, int]]) -> int:
    """Skip an autolink or raw HTML at `i`; record open tags and comments."""
    if m := AUTOLINK.match(text, i):
        return m.end()
    if m := OPEN_TAG.match(text, i):
        tags.append((i, m.end()))
        return m.end()
    if m := RAW_HTML.match(text, i):
        if text.startswith("<!--", i):
            quiet.append((i, m.end()))
        return m.end()
    return i + 1


def _close_bracket(
    text: str,
    i: int,
    openers: list[_Opener],
    finds: list[tuple[int, InlineFind]],
    labels: frozenset[str] | dict[str, object],
) -> int:
    """Handle `]` at `i` (CommonMark "look for link or image"); return where to go on."""
    if not openers:
        return i + 1
    opener = openers.pop()
    if not opener.active:
        return i + 1
    text_start = opener.position + (2 if opener.is_image else 1)
    find, end = _link_tail(text, i + 1, text[text_start:i], opener.is_image, labels)
    if find is None:
        return i + 1
    if opener.is_image:
        # Images inside an image's brackets become its alt text, not images.
        del finds[opener.finds_before :]
    else:
        for earlier in openers:
            if not earlier.is_image:
                earlier.active = False  # links may not contain links
    finds.append((opener.position, find))
    return end


def _link_tail(
    text: str, pos: int, bracket_text: str, is_image: bool, labels: frozenset[str] | dict[str, object]
) -> tuple[InlineFind | None, int]:
    """Parse what follows `]`: an inline destination or a reference label."""
    if pos < len(text) and text[pos] == "(":
        start = skip_space(text, pos + 1)
        dest = parse_destination(text, start)
        if dest is not None:
            end = dest.end + (1 if text.startswith("<", start) else 0)
            after = skip_space(text, end)
            if (title_end := parse_title(text, after)) is not None:  # Goldmark: `<a>"t"` needs no space
                after = skip_space(text, title_end)
            if after < len(text) and text[after] == ")":
                return InlineFind(is_image, dest, None), after + 1
    label_text, end = bracket_text, pos
    if pos < len(text) and text[pos] == "[":
        label_end = parse_label(text, pos)
        if label_end is not None:
            label_text, end = text[pos + 1 : label_end - 1], label_end
        elif text.startswith("[]", pos):
            end = pos + 2
    if len(label_text) > LINK_LABEL_MAX:
        return None, pos
    label = normalize_label(label_text)
    if label and label in labels:
        return InlineFind(is_image, None, label), end
    return None, pos
