"""What a paragraph becomes once it ends, as in Goldmark's paragraph transformers.

Link reference definitions are taken off its start; then a GFM table may take its
end, from the header row (the line before the delimiter row) on. Both are decided only
when the paragraph is complete, which is why a line after a definition or a table row
continues the paragraph when it cannot interrupt one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .markdown_inline import (
    Memo,
    Region,
    normalize_label,
    parse_destination,
    parse_label,
    parse_title,
    skip_space,
    unescape,
)

TABLE_DELIMITER = re.compile(r"\|?(?:[ \t]*:?-+:?[ \t]*\|)*[ \t]*:?-+:?[ \t]*\|?[ \t]*$")
TABLE_PIPE = re.compile(r"(?<!\\)\|")  # as in Goldmark, any `|` after a backslash is kept, even `\\|`


@dataclass(frozen=True, slots=True)
class RefDefinition:
    """A link reference definition `[label]: url`: the URL span is in the source."""

    url: str
    start: int
    end: int
    title: str | None = None  # decoded


def paragraph_regions(lines: list[tuple[int, str]], definitions: dict[str, RefDefinition]) -> list[Region]:
    """The inline regions of a paragraph of (source offset, text) lines; fills `definitions`."""
    lines = _take_definitions(lines, definitions)
    if not lines:
        return []
    if (table := _split_table(lines)) is None:
        return [Region.from_pieces(_trimmed(lines))]
    before, cells = table
    return [Region.from_pieces(before), *cells] if before else cells


def _take_definitions(lines: list[tuple[int, str]], definitions: dict[str, RefDefinition]) -> list[tuple[int, str]]:
    """The lines left after the definitions at the start of the paragraph."""
    if not lines[0][1].lstrip(" \t").startswith("["):
        return lines
    region = Region.from_pieces(_trimmed(lines, keep_end=True))
    memo, used = Memo(region.text), 0
    while region.text.startswith("[", used):
        end = _parse_definition(region, used, memo, definitions)
        if end is None:
            break
        used = end  # a definition ends at a line end
    return lines[region.text.count("\n", 0, used) :] if used < len(region.text) else []


def _trimmed(lines: list[tuple[int, str]], keep_end: bool = False) -> list[tuple[int, str]]:
    """Paragraph lines without leading white space, and the last without trailing."""
    pieces = []
    for offset, text in lines:
        stripped = text.lstrip(" \t")
        pieces.append((offset + len(text) - len(stripped), stripped))
    if not keep_end:
        offset, last = pieces[-1]
        pieces[-1] = (offset, last.rstrip(" \t"))
    return pieces


def _parse_definition(region: Region, start: int, memo: Memo, definitions: dict[str, RefDefinition]) -> int | None:
    """Parse one `[label]: dest "title"` at `start` in `region`; return where it ends."""
    text = region.text
    label_end = parse_label(text, start)
    if label_end is None or not text.startswith(":", label_end):
        return None
    dest_start = skip_space(text, label_end + 1)
    dest = parse_destination(text, dest_start, memo)
    if dest is None or (dest.start == dest.end and not text.startswith("<", dest_start)):
        return None
    end = dest.end + (1 if text.startswith("<", dest_start) else 0)
    line_end = _line_end_after_space(text, end)
    title_start = skip_space(text, end)
    title_end = parse_title(text, title_start, memo) if title_start > end else None
    title = None
    if title_end is not None and (after := _line_end_after_space(text, title_end)) is not None:
        end_of_def, title = after, unescape(text[title_start + 1 : title_end - 1])
    elif line_end is not None:
        end_of_def = line_end
    else:
        return None
    label = normalize_label(text[start + 1 : label_end - 1])
    dest_start_source = region.source_offset(dest.start)
    definitions.setdefault(
        label, RefDefinition(dest.url, dest_start_source, dest_start_source + dest.end - dest.start, title)
    )
    return end_of_def


def _line_end_after_space(text: str, pos: int) -> int | None:
    """Position after the line end if only spaces follow `pos` on its line, else None."""
    i = pos
    while i < len(text) and text[i] in " \t":
        i += 1
    if i == len(text):
        return i
    return i + 1 if text[i] == "\n" else None


def _split_cells(offset: int, text: str) -> list[tuple[int, str]]:
    """Cells of a table row as (source offset, stripped text); escaped pipes stay."""
    bounds, start = [], 0
    for m in TABLE_PIPE.finditer(text):
        bounds.append((start, m.start()))
        start = m.end()
    bounds.append((start, len(text)))
    if bounds and not text[bounds[0][0] : bounds[0][1]].strip(" \t") and text.lstrip(" \t").startswith("|"):
        bounds = bounds[1:]
    if bounds and not text[bounds[-1][0] : bounds[-1][1]].strip(" \t") and text.rstrip(" \t").endswith("|"):
        bounds = bounds[:-1]
    cells = []
    for a, b in bounds:
        cell = text[a:b]
        stripped = cell.strip(" \t")
        cells.append((offset + a + (len(cell) - len(cell.lstrip(" \t"))), stripped))
    return cells


def _split_table(lines: list[tuple[int, str]]) -> tuple[list[tuple[int, str]], list[Region]] | None:
    """GFM table inside a paragraph: the lines before it and one region per cell."""
    for i in range(1, len(lines)):
        raw = lines[i][1]
        delimiter = raw.strip(" \t")
        if "-" not in delimiter or not TABLE_DELIMITER.match(delimiter) or _indent_width(raw) > 3:
            continue
        columns = len(_split_cells(0, delimiter))
        header = _split_cells(*lines[i - 1])
        if len(header) != columns:
            return None
        cells = [Region.from_pieces([cell]) for cell in header]
        for offset, text in lines[i + 1 :]:
            for index, cell in enumerate(_split_cells(offset, text)):
                cells.append(Region.from_pieces([cell], rendered=index < columns))
        return (_trimmed(lines[: i - 1]) if i > 1 else []), cells
    return None


def _indent_width(text: str) -> int:
    prefix = text[: len(text) - len(text.lstrip(" \t"))]
    return len(prefix.expandtabs(4))
