"""The scanner finds the same rendered Markdown images as markdown-it-py, at exact spans.

Documents are composed from a grammar of the constructs real content uses, nested in
block quotes and lists, with CRLF, tabs and a BOM. markdown-it-py (CommonMark + GFM
tables) is the oracle for which images exist. Hugo renders with Goldmark, so where the
two differ Goldmark wins (checked with Hugo 0.168): three markdown-it-py rules are
patched below to do what Goldmark and the spec do, and the shapes where markdown-it-py
differs by design are left out of the grammar, each with the reason. test_scan.py pins
what the scanner does with those shapes.
"""

from __future__ import annotations

import html
import re
from collections import Counter
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import NamedTuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from markdown_it.common.utils import unescapeAll
from markdown_it.helpers.parse_link_destination import _Result
from markdown_it.rules_inline.image import image
from markdown_it.rules_inline.link import link
from markdown_it.rules_inline.state_inline import StateInline
from markdown_it.token import Token

from gallery.config import Config
from gallery.model import RawRef, RefKind
from gallery.scan import find_refs

MD = MarkdownIt("commonmark").enable("table")
MD.normalizeLink = lambda url: url  # compare URLs as written, not percent-encoded
MD.validateLink = lambda url: True
ASCII_PUNCTUATION = frozenset("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")

# --- inline constructs ---------------------------------------------------------------
WORDS = st.sampled_from(
    ["foo", "bar baz", "*em*", "_u_", "**b**", "é", "日本語", "a.png", "x]y", "(p)", "!", "\\[", "\\!", "&amp;", "&copy;",
     "{{", "10 < 20", "a_b", "|", "\\|"]
)  # fmt: skip
# Numeric references are limited to code points markdown-it-py accepts: for &#0;, &#128;,
# surrogates and noncharacters it keeps the text, while Goldmark (like the spec) decodes
# them; test_scan.py pins the Goldmark decoding.
URL_PARTS = st.sampled_from(
    ["a", "b.png", "/img/c.jpg", "x%20y", "\\(", "\\)", "(p)", "&amp;", "&#x41;", "&#233;", "&ampx;", "&NotAName;",
     "é", "\\\\", "?q=1&r=2", "#f", "\\*", "'", '"', "*", "_"]
)  # fmt: skip
ANGLE_PARTS = st.sampled_from(["a b", "(", ")", "c.png", "\\>", "\\<", "&gt;", "é", " "])
TITLES = st.sampled_from(["", ' "t"', " 'it''s'", " (p)", ' "a \\" b"', '\n"next line"', ' "&amp;"', "\t't'"])
LABELS = ("id", "Foo Bar", "ünï", "a\\]b", "x")
LABEL_FORMS = st.sampled_from(LABELS + ("ID", "foo  bar", "FOO\nBAR", "ÜNÏ", "A\\]B", "missing"))
ALTS = st.sampled_from(
    ["", "alt", "a [b] c", "[[x]]", "a\\]b", "&lt;", "`code]`", "![in](in.png)", "*e*", "x\ny", "[l](l.jpg)"]
)  # fmt: skip


@st.composite
def destinations(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return "<" + "".join(draw(st.lists(ANGLE_PARTS, max_size=4))) + ">"
    return "".join(draw(st.lists(URL_PARTS, min_size=1, max_size=4)))


@st.composite
def inline_images(draw: st.DrawFn) -> str:
    space = draw(st.sampled_from(["", " ", "\n"]))
    return f"![{draw(ALTS)}]({space}{draw(destinations())}{draw(TITLES)}{space})"


@st.composite
def reference_images(draw: st.DrawFn) -> str:
    label = draw(LABEL_FORMS)
    form = draw(st.sampled_from(["full", "collapsed", "shortcut"]))
    if form == "full":
        return f"![{draw(ALTS)}][{label}]"
    return f"![{label}][]" if form == "collapsed" else f"![{label}]"


@st.composite
def links(draw: st.DrawFn) -> str:
    inner = draw(st.one_of(inline_images(), reference_images(), WORDS))
    target = draw(st.one_of(destinations().map(lambda d: f"({d})"), LABEL_FORMS.map(lambda label: f"[{label}]")))
    return f"[{inner}]{target}"


CODE_SPANS = st.sampled_from(["`![](c.png)`", "`` ` ![](d.png) ``", "``![](e.png)`", "` [x](y) `", "```"])
INLINE_HTML = st.sampled_from(
    ['<img src="h.png">', "<span title='![](s.png)'>", '<a href="a.jpg">', "</span>", "<!-- ![](m.png) -->",
     "<http://a.b/c.png>", "<x@y.z>", "<not html"]
)  # fmt: skip
BROKEN = st.sampled_from(["![", "]", "[", "(", ")", "![x](", "![x] (y.png)", "![x]\n(y.png)", "\\![](e.png)", "!\\[](e.png)"])
INLINES = st.one_of(WORDS, inline_images(), reference_images(), links(), CODE_SPANS, INLINE_HTML, BROKEN)


@st.composite
def inline_text(draw: st.DrawFn, newlines: bool = True) -> str:
    parts = draw(st.lists(INLINES, min_size=1, max_size=5))
    joiners = st.sampled_from([" ", "", "\n"] if newlines else [" ", ""])
    text = parts[0]
    for part in parts[1:]:
        joiner = draw(joiners)
        if text.endswith("]") and part.startswith("["):
            # Left out: after `![a]`, Goldmark (like the spec) takes `[` as the start of a
            # label only if no `[` comes before its `]`; markdown-it-py lets labels nest.
            joiner = " "
        text += joiner + part
    return text if newlines else text.replace("\n", " ")


# --- blocks ----------------------------------------------------------------------------
@st.composite
def definitions(draw: st.DrawFn) -> str:
    label = draw(st.sampled_from(LABELS + ("ID", "FOO  bar")))
    split = draw(st.sampled_from([": ", ":\n  ", ":"]))
    rest = draw(destinations()) + draw(TITLES)
    if split.endswith(" ") and re.match(r"[-*+](?:\s|$)", rest):
        split = ": "  # Left out: markdown-it-py ends the definition at a line like `  *` (an item)
    return f"[{label}]{split}{rest}"


@st.composite
def fences(draw: st.DrawFn) -> str:
    fence = draw(st.sampled_from(["```", "~~~", "````", "~~~~"]))
    info = draw(st.sampled_from(["", "md", " python title='x'", "~"]))
    body = draw(st.sampled_from(["![](f.png)", "", "```\n![](g.png)", "x\n\n![](h.png)"]))
    close = draw(st.sampled_from([fence, fence + fence[0], "", " " + fence]))
    return f"{fence}{info}\n{body}\n{close}".rstrip("\n")


HTML_BLOCKS = st.sampled_from(
    ["<div>\n![](d.png)\n</div>", "<center>\n![](c.png)", "<!-- a\n![](k.png)\n-->", '<img src="z.png">\n![](z2.png)',
     "<div>\n\n![](e.png)\n\n</div>", "<script>\n![](s.png)\n</script>", "<?php ![](p.png) ?>", "</div>"]
)  # fmt: skip
DELIMITER_ROW = re.compile(r"[ \t|:-]*-[ \t|:-]*(?:\n|$)")
BLOCK_START = re.compile(r"```|~~~|<|#|>|[-*+_=]|[0-9]+[.)]")
THEMATIC = st.sampled_from(["***", "* * *", "___", "- - -", "-----"])


@st.composite
def headings(draw: st.DrawFn) -> str:
    if draw(st.booleans()):
        return "#" * draw(st.integers(1, 6)) + " " + draw(inline_text(newlines=False)) + draw(st.sampled_from(["", " ##"]))
    text = draw(inline_text())
    underline = draw(st.sampled_from(["===", "---", "  =", "-"]))
    if "|" in text.rsplit("\n", 1)[-1] and "-" in underline:
        # Left out: markdown-it-py reads a line with a `|` over `---` as a one-column table;
        # in Goldmark the setext heading comes first.
        underline = "==="
    return text + "\n" + underline


@st.composite
def tables(draw: st.DrawFn) -> str:
    columns = draw(st.integers(1, 3))
    cell = inline_text(newlines=False)
    header = draw(st.lists(cell, min_size=columns, max_size=columns))
    edge = draw(st.sampled_from(["|", ""]))
    if columns == 1 or BLOCK_START.match(header[0]):
        # A one-column table needs a pipe to be one. A header line that starts a block is
        # that block in Goldmark, where tables come out of paragraphs; markdown-it-py tries
        # tables first.
        edge = "|"
    rows = [edge + " | ".join(header) + " " + edge]
    rows.append(edge + "|".join(draw(st.sampled_from(["---", ":--", "--:", ":-:"])) for _ in range(columns)) + edge)
    for _ in range(draw(st.integers(0, 2))):
        count = draw(st.integers(1, columns + 2))
        rows.append(edge + " | ".join(draw(st.lists(cell, min_size=count, max_size=count))) + " " + edge)
    return "\n".join(rows)


def indented(text: str, prefix: str, first: str | None = None) -> str:
    lines = text.split("\n")
    head = (first if first is not None else prefix) + lines[0]
    return "\n".join([head, *(prefix + line if line else line for line in lines[1:])])


class Part(NamedTuple):
    """A block, with what joining it to the next one depends on."""

    kind: str
    text: str
    first: str  # the kind of its first leaf block, for documents and containers
    last: str  # the kind of its last one


def leaf(kind: str) -> Callable[[str], Part]:
    return lambda text: Part(kind, text, kind, kind)


LEAVES = st.one_of(
    inline_text().map(leaf("paragraph")),
    inline_text().map(leaf("paragraph")),
    definitions().map(leaf("definition")),
    tables().map(leaf("table")),
    st.one_of(fences(), HTML_BLOCKS, headings(), THEMATIC).map(leaf("other")),
    st.sampled_from(["    ![](i.png)\n    ![](j.png)", "    code\n\n    ![](k.png)"]).map(leaf("indented")),
)


def blocks(depth: int) -> st.SearchStrategy[Part]:
    if depth == 0:
        return LEAVES
    return st.one_of(LEAVES, block_quotes(depth), list_items(depth))


@st.composite
def documents_of(draw: st.DrawFn, depth: int) -> Part:
    parts = draw(st.lists(blocks(depth), min_size=1, max_size=4))
    text, lazy, last = parts[0].text, False, parts[0].last
    for previous, part in zip(parts, parts[1:]):
        joiner = draw(st.sampled_from(["\n\n", "\n\n", "\n"]))
        # Left out, as markdown-it-py differs from Goldmark here. Goldmark finds definitions
        # and tables in a paragraph once it has ended, so a line after a definition or a
        # table row continues that paragraph (even lazily, after a quote or list) unless it
        # interrupts paragraphs: an indented line is another table row, not code. markdown-it-py
        # ends definitions and tables first and reads such a line as code or an HTML block;
        # it also makes no table, nor setext heading, of lazy continuation lines. So after a
        # quote or list (or indented code, which may be a paragraph in the last list item) only
        # paragraphs and other containers follow without a blank line.
        lazy = joiner == "\n" and (previous.kind in ("container", "indented") or (lazy and previous.kind == "paragraph"))
        if (last == "definition" and part.kind != "definition") or (
            last == "table" and (previous.kind, part.kind) != ("table", "paragraph")
        ) or (lazy and part.kind not in ("paragraph", "container")):
            joiner, lazy = "\n\n", False
        if "|" in text.rsplit("\n", 1)[-1] and DELIMITER_ROW.match(part.text):
            joiner = "\n\n"  # markdown-it-py makes a table of `# a | b` over `-----`; Goldmark a heading
        if part.text[0].isdigit() and not part.text.startswith(("1.", "1)")) and previous.kind != "container":
            # `2)` cannot interrupt a paragraph, so it and its items' lines go on one: rows of a
            # table in Goldmark, where markdown-it-py ends the table and starts a list.
            joiner = "\n\n"
        text += joiner + part.text
        # A paragraph right after a table is more rows of it.
        last = "table" if (last, part.kind, joiner) == ("table", "paragraph", "\n") else part.last
    return Part("document", text, parts[0].first, last)


@st.composite
def block_quotes(draw: st.DrawFn, depth: int) -> Part:
    inner = draw(documents_of(depth - 1))
    prefix = draw(st.sampled_from(["> ", ">", " > "]))
    lines = [(prefix + " " if prefix == ">" and line.startswith(" ") else prefix) + line for line in inner.text.split("\n")]
    # (`>` takes one space after it as part of the marker: add one where the line has its own.)
    return Part("container", "\n".join(lines), inner.first, inner.last)


@st.composite
def list_items(draw: st.DrawFn, depth: int) -> Part:
    marker = draw(st.sampled_from(["-", "*", "+", "1.", "2)", "10."]))
    spaces = draw(st.integers(1, 3))
    items, first = [], ""
    for _ in range(draw(st.integers(1, 3))):
        inner = draw(documents_of(depth - 1))
        if inner.first == "table":
            # Left out: markdown-it-py reads `- a | b` over `  --|--` as a table with a cell
            # `- a`, trying tables before lists; Goldmark sees a list item holding a table.
            inner = inner._replace(text="intro\n" + inner.text, first="paragraph")
        first = first or inner.first
        # Spaces that start the item's first line count towards its content column (up to 4
        # in all): indent the other lines as much, so they are not lazy continuation lines.
        lead = len(inner.text) - len(inner.text.lstrip(" "))
        width = len(marker) + spaces + (lead if spaces + lead <= 4 else 0)
        items.append(indented(inner.text, " " * width, marker + " " * spaces))
    return Part("container", draw(st.sampled_from(["\n", "\n\n"])).join(items), first, inner.last)


def with_tabs(line: str) -> str:
    """Four spaces at a tab stop become a tab: the same columns, so the same structure.

    (Anywhere else a tab would change the structure, often into lazy continuation lines,
    where markdown-it-py and Goldmark differ on tables.)
    """
    out, column = [], 0
    i = 0
    while i < len(line):
        if column % 4 == 0 and line.startswith("    ", i):
            out.append("\t")
            i, column = i + 4, column + 4
        else:
            out.append(line[i])
            i, column = i + 1, column + 1
    return "".join(out)


@st.composite
def documents(draw: st.DrawFn) -> str:
    text = draw(documents_of(2)).text
    if text.startswith(("---", "+++", "{", "- - -")):
        text = "intro\n\n" + text  # front matter, not Markdown
    if draw(st.booleans()):
        text = "\n".join(map(with_tabs, text.split("\n")))
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text


# --- the oracle -----------------------------------------------------------------------------
def _goldmark_destination(src: str, pos: int, maximum: int) -> _Result:
    """Goldmark's parseLinkDestination, for markdown-it-py's CommonMark 6.6 one.

    Hugo renders what Goldmark accepts (checked with Hugo 0.168): `<...>` may contain `<`;
    a bare destination ends at white space or an unmatched `)`, balanced or not
    (`![](a(b "t")` is an image of `a(b`), with no limit on nesting.
    """
    result = _Result()
    i = pos + 1 if src.startswith("<", pos) else pos
    depth = 0
    while i < maximum:
        c = src[i]
        if c == "\\" and i + 1 < maximum and src[i + 1] in ASCII_PUNCTUATION:
            i += 2
            continue
        if src[pos] == "<":
            if c == "\n":
                return result
            if c == ">":
                result.ok, result.pos, result.str = True, i + 1, unescapeAll(src[pos + 1 : i])
                return result
        elif c in " \t\n" or (c == ")" and depth == 0):
            break
        else:
            depth += {"(": 1, ")": -1}.get(c, 0)
        i += 1
    if src.startswith("<", pos) or i == pos:
        return result
    result.ok, result.pos, result.str = True, i, unescapeAll(src[pos:i])
    return result


MD.helpers = SimpleNamespace(**{**vars(MD.helpers), "parseLinkDestination": _goldmark_destination})


def _image_rule(state: StateInline, silent: bool) -> bool:
    """markdown-it-py's image rule, fixed to follow the spec, marking reference images.

    The fix: when `(` follows `![text]` but no inline destination does, the spec (and
    Goldmark) still try `![text]` as a shortcut reference, as for `[foo](not a link)`.
    markdown-it-py's link rule does, its image rule gives up, so retry it with the `(`
    hidden from it.
    """
    src = state.src
    matched = image(state, silent)
    if not matched and src.startswith("![", state.pos):
        label_end = state.md.helpers.parseLinkLabel(state, state.pos + 1, False)
        if label_end >= 0 and src.startswith("(", label_end + 1):
            state.src = src[: label_end + 1] + " " + src[label_end + 2 :]
            try:
                matched = image(state, silent)
            finally:
                state.src = src
    if matched and not silent:
        # An inline image's source ends with ")", a reference image's with "]".
        state.tokens[-1].meta["reference"] = src[state.pos - 1] == "]"
    return matched


def _link_rule(state: StateInline, silent: bool) -> bool:
    """markdown-it-py's link rule, fixed: after `[text](` that is no inline link, it takes a
    reference label from wherever that parse stopped (`[x]( foo ![y]` links to `y`); the spec
    and Goldmark try `[text]` as a shortcut reference. Retry those with the `(` hidden."""
    src, start = state.src, state.pos
    label_end = state.md.helpers.parseLinkLabel(state, start, True) if src.startswith("[", start) else -1
    if label_end >= 0 and src.startswith("(", label_end + 1):
        probe = link(state, True)
        probe_end, state.pos = state.pos, start
        if probe and src[probe_end - 1] == "]" and probe_end != label_end + 1:
            state.src = src[: label_end + 1] + " " + src[label_end + 2 :]
            try:
                return link(state, silent)
            finally:
                state.src = src
    return link(state, silent)


MD.inline.ruler.at("image", _image_rule)
MD.inline.ruler.at("link", _link_rule)


def oracle_images(text: str) -> tuple[Counter[str], set[str]]:
    """Decoded destinations of the images markdown-it-py renders: inline ones, reference ones.

    Images nested in another image's brackets are left out: they are its alt text.
    """
    inline: Counter[str] = Counter()
    reference: set[str] = set()

    def walk(tokens: Iterable[Token]) -> None:
        for token in tokens:
            if token.type == "image":
                src = str(token.attrGet("src"))
                if token.meta["reference"]:
                    reference.add(src)
                else:
                    inline[src] += 1
            elif token.children:
                walk(token.children)

    walk(MD.parse(text.removeprefix("\ufeff")))  # Hugo drops the BOM; markdown-it-py would read it as text
    return inline, reference


# --- the property -------------------------------------------------------------------------
def assert_span(data: bytes, ref: RawRef) -> None:
    """The ref's bytes decode to its URL, and its line and column point at its start."""
    source = data[ref.start : ref.end].decode("utf-8", "surrogateescape")
    assert (html.unescape(source) if ref.raw_html else unescapeAll(source)) == ref.url, ref
    assert data.count(b"\n", 0, ref.start) + 1 == ref.line, ref
    line_start = data.rfind(b"\n", 0, ref.start) + 1
    before = data[line_start : ref.start].decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    assert len(before) + 1 == ref.column, ref


def assert_matches_oracle(text: str) -> None:
    """Inline images match one for one; a definition is one ref however many images use it."""
    scan = find_refs(text, Config())
    rendered = [r for r in scan.refs if r.rendered]
    inline = Counter(r.url for r in rendered if r.kind == RefKind.MARKDOWN)
    reference = {r.url for r in rendered if r.kind == RefKind.REFERENCE}
    assert (inline, reference) == oracle_images(text)
    data = text.encode("utf-8", "surrogateescape")
    for ref in scan.refs:
        assert_span(data, ref)


@settings(max_examples=500, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_scanner_finds_the_images_markdown_it_renders(text: str) -> None:
    """Same images, and every span decodes to its URL at its line and column."""
    assert_matches_oracle(text)
