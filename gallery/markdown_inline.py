"""CommonMark inline syntax: where images, links and raw HTML tags sit in a run of text.

The block parser hands over a `Region`: the text of one paragraph, heading or table
cell, made of pieces of the source (container markers and indentation cut away).
Every span found here is mapped back to an offset in the source, so later stages
can rewrite the URL in place.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from html.entities import html5

ASCII_PUNCT = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")
SPECIAL = re.compile(r"[\\`<\[\]]|!\[")
ESCAPE_OR_ENTITY = re.compile(r"\\([!-/:-@\[-`{-~])|&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
BACKTICKS = re.compile(r"`+")
SPACE = re.compile(r"[ \t\n]")
LABEL_SPACE = re.compile(r"[ \t\n]+")
# What ends or nests a bare link destination; an escaped punctuation character is skipped whole.
DESTINATION_STOP = re.compile(r"\\[!-/:-@\[-`{-~]|[() \t\n]")
ANGLE_DESTINATION = re.compile(r"<((?:[^\\>\n]++|\\[!-/:-@\[-`{-~]|\\)*+)>")
# A title up to (not including) its closer; it may not hold a blank line, nor `(` inside `(...)`.
_NOT_BLANK = r"\n(?![ \t]*+(?:\n|$))"
TITLES = {
    '"': re.compile(rf'"(?:[^"\\\n]++|\\[!-/:-@\[-`{{-~]|\\|{_NOT_BLANK})*+'),
    "'": re.compile(rf"'(?:[^'\\\n]++|\\[!-/:-@\[-`{{-~]|\\|{_NOT_BLANK})*+"),
    "(": re.compile(rf"\((?:[^()\\\n]++|\\[!-/:-@\[-`{{-~]|\\|{_NOT_BLANK})*+"),
}
LABEL = re.compile(r"\[((?:[^\\\[\]]++|\\[!-/:-@\[-`{-~]|\\)*+)\]")
AUTOLINK = re.compile(
    r"<(?:[A-Za-z][A-Za-z0-9+.\-]{1,31}:[^\x00-\x20<>]*"
    r"|[A-Za-z0-9.!#$%&'*+/=?^_`{|}~\-]+@[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?)*)>"
)
_ATTR = r"""(?:\s+[A-Za-z_:][A-Za-z0-9_.:\-]*(?:\s*=\s*(?:[^\s"'=<>`]+|'[^']*'|"[^"]*"))?)"""
OPEN_TAG = re.compile(r"<([A-Za-z][A-Za-z0-9\-]*)" + _ATTR + r"*\s*/?>")
CLOSE_TAG = re.compile(r"</[A-Za-z][A-Za-z0-9\-]*\s*>")
# Other raw HTML: what opens it and what closes it, in the order they are tried.
RAW_HTML = (("<!-->", ""), ("<!--->", ""), ("<!--", "-->"), ("<?", "?>"), ("<![CDATA[", "]]>"), ("<!", ">"))
LINK_LABEL_MAX = 999


@dataclass(frozen=True, slots=True)
class Region:
    """Text of one inline container and where each of its lines starts in the source."""

    text: str
    starts: tuple[int, ...]  # offset in `text` where each piece starts
    origins: tuple[int, ...]  # offset in the source of each piece's first character
    rendered: bool = True
    html: bool = False  # an HTML block's text

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
    start: int = 0  # the whole construct: from `![` (or `[`) to after `)` or `]`
    end: int = 0
    text_end: int = 0  # the `]` closing the alt text (or link text), which starts at start + 2 (+ 1)
    title: str | None = None  # decoded, for an inline destination with a title


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
    """Reference labels match case-insensitively, with runs of ASCII white space folded."""
    return LABEL_SPACE.sub(" ", label).strip(" ").casefold()


@dataclass(slots=True)
class Memo:
    """What scanning one text has learned, so that no scan has to repeat it.

    A search for a closer that failed fails again from any later start before the
    place where it gave up, so text with thousands of `<!--`, `[a](` or unmatched
    backtick runs costs linear time, not quadratic.
    """

    text: str
    gave_up: dict[str, int] = field(default_factory=dict)  # what was sought -> where the search ended
    backtick_runs: dict[int, list[int]] | None = None  # run length -> starts of the runs
    destination_ends: _DestinationEnds | None = None

    def find(self, closer: str, start: int) -> int:
        """`text.find(closer, start)`, remembering a failure."""
        if start < self.gave_up.get(closer, -1):
            return -1
        found = self.text.find(closer, start)
        if found < 0:
            self.gave_up[closer] = len(self.text)
        return found


class _DestinationEnds:
    """Where a bare destination starting anywhere in a text ends, for pathological text.

    A destination ends at white space or at the first `)` that takes the parenthesis
    depth below where it started; with the depth after every parenthesis known, and for
    each parenthesis the next one that ends at one level lower, that is two bisections.
    """

    def __init__(self, text: str) -> None:
        self.length = len(text)
        self.spaces = [m.start() for m in SPACE.finditer(text)]
        self.parens: list[int] = []
        depth_after: list[int] = []
        depth = 0
        for m in DESTINATION_STOP.finditer(text):
            if m.group(0) in ("(", ")"):  # not white space, nor an escaped character
                depth += 1 if m.group(0) == "(" else -1
                self.parens.append(m.start())
                depth_after.append(depth)
        self.closer = [len(self.parens)] * len(self.parens)  # index of the paren ending a start before it
        last_at: dict[int, int] = {}
        for k in range(len(self.parens) - 1, -1, -1):
            last_at[depth_after[k]] = k
            before = depth_after[k] - (1 if text[self.parens[k]] == "(" else -1)
            self.closer[k] = last_at.get(before - 1, len(self.parens))

    def end(self, pos: int) -> int:
        """Where the destination starting at `pos` ends."""
        space = bisect_left(self.spaces, pos)
        end = self.spaces[space] if space < len(self.spaces) else self.length
        paren = bisect_left(self.parens, pos)
        if paren < len(self.parens) and self.closer[paren] < len(self.parens):
            end = min(end, self.parens[self.closer[paren]])
        return end


def parse_destination(text: str, pos: int, memo: Memo) -> Destination | None:
    """Parse a link destination starting at `pos`, as Goldmark does (its parseLinkDestination).

    Goldmark is looser than CommonMark 6.6, and Hugo renders what Goldmark accepts: `<...>`
    may contain `<`; a bare destination ends at white space or an unmatched `)` without
    needing balanced parentheses (`![](a(b "t")` is an image of `a(b`), nests parentheses
    without limit and may contain control characters.
    """
    span = destination_span(text, pos, memo)
    return None if span is None else Destination(unescape(text[span[0] : span[1]]), *span)


def destination_span(text: str, pos: int, memo: Memo) -> tuple[int, int] | None:
    """Start and end of the destination text at `pos` (inside any `<>`), without decoding it."""
    if text.startswith("<", pos):
        if pos < memo.gave_up.get("<", -1):
            return None
        m = ANGLE_DESTINATION.match(text, pos)
        if m is None:
            line_end = text.find("\n", pos)
            memo.gave_up["<"] = len(text) if line_end < 0 else line_end
            return None
        return m.start(1), m.end(1)
    if memo.destination_ends is not None:
        return pos, memo.destination_ends.end(pos)
    depth = 0
    for steps, m in enumerate(DESTINATION_STOP.finditer(text, pos)):
        if steps == 32:  # text like `[a](` repeated: index it once rather than rescan it
            memo.destination_ends = _DestinationEnds(text)
            return pos, memo.destination_ends.end(pos)
        c = m.group(0)
        if c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif c[0] != "\\":
            return pos, m.start()
    return pos, len(text)


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


def parse_title(text: str, pos: int, memo: Memo) -> int | None:
    """End of a link title starting at `pos`, or None when there is none there."""
    if pos >= len(text) or text[pos] not in TITLES or pos < memo.gave_up.get(text[pos] + "title", -1):
        return None
    m = TITLES[text[pos]].match(text, pos)
    if m is None or m.end() == len(text) or text[m.end()] != (")" if text[pos] == "(" else text[pos]):
        memo.gave_up[text[pos] + "title"] = m.end() if m else len(text)
        return None
    return m.end() + 1


def parse_label(text: str, pos: int) -> int | None:
    """End (after `]`) of a link label `[...]` starting at `pos`, or None."""
    m = LABEL.match(text, pos)
    if m is None or not m.group(1).strip(" \t\n"):
        return None
    return m.end()


def code_span_end(text: str, pos: int, memo: Memo) -> tuple[int, bool]:
    """Where scanning resumes after a backtick run at `pos`, and whether it opened a code span."""
    run = BACKTICKS.match(text, pos)
    assert run is not None
    length = run.end() - pos
    if memo.backtick_runs is None:
        memo.backtick_runs = {}
        for m in BACKTICKS.finditer(text):
            memo.backtick_runs.setdefault(m.end() - m.start(), []).append(m.start())
    starts = memo.backtick_runs.get(length, [])
    closer = bisect_left(starts, run.end())
    if closer < len(starts):
        return starts[closer] + length, True
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
    memo = Memo(text)
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
            end, is_code = code_span_end(text, i, memo)
            if is_code:
                quiet.append((i, end))
            i = end
        elif c == "<":
            i = _skip_angle(text, i, tags, quiet, memo)
        elif c == "!":
            openers.append(_Opener(i, True, finds_before=len(finds)))
            i += 2
        elif c == "[":
            openers.append(_Opener(i, False, finds_before=len(finds)))
            i += 1
        else:  # "]"
            i = _close_bracket(text, i, openers, finds, labels, memo)
    finds.sort(key=lambda f: f[0])
    return [f for _, f in finds], tags, quiet


def _skip_angle(text: str, i: int, tags: list[tuple[int, int]], quiet: list[tuple[int, int]], memo: Memo) -> int:
    """Skip an autolink or raw HTML at `i`; record open tags and comments."""
    if m := AUTOLINK.match(text, i):
        return m.end()
    if m := OPEN_TAG.match(text, i):
        tags.append((i, m.end()))
        return m.end()
    if m := CLOSE_TAG.match(text, i):
        return m.end()
    for opener, closer in RAW_HTML:
        if text.startswith(opener, i):
            if opener == "<!" and not "A" <= text[i + 2 : i + 3] <= "Z":
                break  # a declaration is `<!` and an uppercase letter in Goldmark (`<!doctype` is text)
            end = memo.find(closer, i + len(opener)) if closer else i + len(opener)
            if end < 0:
                break
            if opener.startswith("<!--"):
                quiet.append((i, end + len(closer)))
            return end + len(closer)
    return i + 1


def _close_bracket(
    text: str,
    i: int,
    openers: list[_Opener],
    finds: list[tuple[int, InlineFind]],
    labels: frozenset[str] | dict[str, object],
    memo: Memo,
) -> int:
    """Handle `]` at `i` (CommonMark "look for link or image"); return where to go on."""
    if not openers:
        return i + 1
    opener = openers.pop()
    if not opener.active:
        return i + 1
    text_start = opener.position + (2 if opener.is_image else 1)
    find, end = _link_tail(text, text_start, i + 1, opener.is_image, labels, memo)
    if find is None:
        return i + 1
    find = InlineFind(find.is_image, find.dest, find.label, opener.position, end, i, find.title)
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
    text: str, text_start: int, pos: int, is_image: bool, labels: frozenset[str] | dict[str, object], memo: Memo
) -> tuple[InlineFind | None, int]:
    """Parse what follows the `]` before `pos`: an inline destination or a reference label."""
    if pos < len(text) and text[pos] == "(":
        start = skip_space(text, pos + 1)
        if (span := destination_span(text, start, memo)) is not None:
            after = skip_space(text, span[1] + (1 if text.startswith("<", start) else 0))
            title = None
            if (title_end := parse_title(text, after, memo)) is not None:  # Goldmark: `<a>"t"` needs no space
                title = unescape(text[after + 1 : title_end - 1])
                after = skip_space(text, title_end)
            if after < len(text) and text[after] == ")":
                dest = Destination(unescape(text[span[0] : span[1]]), *span)
                return InlineFind(is_image, dest, None, title=title), after + 1
    label_start, label_end, end = text_start, pos - 1, pos  # the bracket text itself, by default
    if pos < len(text) and text[pos] == "[":
        if (closed := parse_label(text, pos)) is not None:
            label_start, label_end, end = pos + 1, closed - 1, closed
        elif text.startswith("[]", pos):
            end = pos + 2
    if label_end - label_start > LINK_LABEL_MAX:
        return None, pos
    label = normalize_label(text[label_start:label_end])
    if label and label in labels:
        return InlineFind(is_image, None, label), end
    return None, pos
