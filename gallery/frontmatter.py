"""Front matter (YAML `---`, TOML `+++`, JSON `{`): its extent, values and image URL spans."""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from json.decoder import scanstring
from typing import Any

import yaml

DELIMITERS = {"---": "yaml", "+++": "toml"}
_TOML_KEY = r"""(?:[A-Za-z0-9_\-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*')(?:[ \t]*\.[ \t]*(?:[A-Za-z0-9_\-]+|"(?:[^"\\\n]|\\.)*"|'[^'\n]*'))*"""  # noqa: E501
TOML_STATEMENT = re.compile(
    rf"^[ \t]*(?:\[\[?[ \t]*(?P<table>{_TOML_KEY})[ \t]*\]\]?|(?P<key>{_TOML_KEY})[ \t]*=[ \t]*)", re.MULTILINE
)
TOML_PAIR = re.compile(rf"(?P<key>{_TOML_KEY})[ \t]*=[ \t]*")
TOML_STRING = re.compile(
    r'"""(?:[^"\\]++|\\[\s\S]|"(?!""))*+"{3,5}'  # multi-line basic, up to two quotes before the end
    r"|'''(?:[^']++|'(?!''))*+'{3,5}"
    r'|"(?:[^"\\\n]++|\\.)*+"'
    r"|'[^'\n]*+'"
)
TOML_SEPARATORS = re.compile(r"(?:[ \t\r\n,]++|#[^\n]*+)*+")  # between the items of an array or inline table
TOML_SCALAR = re.compile(r"[^\s,\]}#]*+")  # numbers, booleans, dates
YAML_PROPERTY = re.compile(r"\S*+\s*+")  # an anchor `&a` or a tag `!!str`, and the space after it
YAML_BLOCK_HEADER = re.compile(r"[^\n]*+\n[ \t]*+")  # `|-` to the end of its line, and the next line's indent
TOML_KEY_PART = re.compile(r""""([^"\n]*)"|'([^'\n]*)'|([A-Za-z0-9_\-]+)""")


@dataclass(frozen=True, slots=True)
class FrontMatter:
    """Where the front matter is and what it says."""

    format: str  # yaml, toml or json
    start: int  # first character of its content
    end: int  # end of its content
    body_start: int  # first character after the closing delimiter line
    values: dict[str, Any] = field(default_factory=dict)  # top-level scalars


def split_front_matter(text: str) -> tuple[FrontMatter | None, list[str]]:
    """Find the front matter at the start of `text`; problems are one-line messages."""
    start = 1 if text.startswith("\ufeff") else 0
    opener = text[start : start + 3]
    if opener.startswith("{") and not opener.startswith("{{"):  # "{{" opens a shortcode
        try:
            _, end = json.JSONDecoder().raw_decode(text, start)
        except ValueError as e:
            return None, [f"front matter: invalid JSON: {e}"]
        return FrontMatter("json", start, end, _next_line(text, end)), []
    if opener not in DELIMITERS or text[start + 3 : _line_end(text, start)].strip(" \t\r"):
        return None, []
    content = _next_line(text, start)
    # Hugo ends the front matter at the first line that starts with the delimiter and reads
    # the rest of that line as content ("-------------" closes it, leaving a thematic break).
    closer = re.compile(rf"^{re.escape(opener)}", re.MULTILINE).search(text, content)
    if closer is None:
        return None, [f"front matter: no closing {opener} line"]
    return FrontMatter(DELIMITERS[opener], content, closer.start(), closer.end()), []


def find_front_matter_urls(
    text: str, front: FrontMatter, keys: tuple[str, ...], problems: list[str]
) -> list[tuple[str, int, int]]:
    """URL strings under `keys` (dotted for nesting) as (url, start, end); fills `front.values`."""
    wanted = {k.lower() for k in keys}
    try:  # parsed even without wanted keys: a malformed front matter breaks the Hugo build
        found = list(_FINDERS[front.format](text, front, wanted))
    except (yaml.YAMLError, tomllib.TOMLDecodeError, ValueError) as e:
        problems.append(f"front matter: invalid {front.format.upper()}: {' '.join(str(e).split())}")
        return []
    return found


def _yaml_urls(text: str, front: FrontMatter, wanted: set[str]) -> Iterator[tuple[str, int, int]]:
    content = text[front.start : front.end]
    node = yaml.compose(content, Loader=yaml.CSafeLoader)
    if node is None:
        return
    if not isinstance(node, yaml.MappingNode):
        raise ValueError("front matter is not a mapping")
    yield from _yaml_walk(content, node, "", front, wanted)


def _yaml_walk(
    content: str, node: yaml.MappingNode, prefix: str, front: FrontMatter, wanted: set[str]
) -> Iterator[tuple[str, int, int]]:
    for key_node, value in node.value:
        key = prefix + str(key_node.value).lower()
        if not prefix and isinstance(value, yaml.ScalarNode):
            front.values[key] = value.value
        if isinstance(value, yaml.MappingNode):
            yield from _yaml_walk(content, value, key + ".", front, wanted)
        elif key in wanted:
            items = value.value if isinstance(value, yaml.SequenceNode) else [value]
            for item in items:
                if isinstance(item, yaml.ScalarNode) and item.value and item.tag.endswith(":str"):
                    start, end = _yaml_scalar_span(content, item)
                    yield item.value, front.start + start, front.start + end


def _yaml_scalar_span(content: str, node: yaml.ScalarNode) -> tuple[int, int]:
    """Where the text of a scalar is: after any anchor and tag, inside quotes, or on the
    lines after a block scalar's `|` or `>`."""
    start, end = node.start_mark.index, node.end_mark.index
    while content.startswith(("&", "!"), start):
        start = _skip(YAML_PROPERTY, content, start)
    if node.style in ("'", '"'):
        return start + 1, end - 1
    if node.style in ("|", ">"):
        start = _skip(YAML_BLOCK_HEADER, content, start)
        return start, start + len(content[start:end].rstrip())
    return start, end


def _toml_urls(text: str, front: FrontMatter, wanted: set[str]) -> Iterator[tuple[str, int, int]]:
    content = text[front.start : front.end]
    data = tomllib.loads(content)  # valid from here on, so the walk below need not check
    front.values.update((k.lower(), v) for k, v in data.items() if isinstance(v, str | int | float | bool))
    table, pos = "", 0
    while (statement := TOML_STATEMENT.search(content, pos)) is not None:
        pos = statement.end()
        if statement.group("table") is not None:
            table = _toml_key(statement.group("table")) + "."
            continue
        found: list[tuple[str, int, int]] = []
        pos = _toml_value(content, pos, table + _toml_key(statement.group("key")), wanted, found)
        yield from ((url, front.start + start, front.start + end) for url, start, end in found)


def _toml_value(content: str, pos: int, key: str, wanted: set[str], found: list[tuple[str, int, int]]) -> int:
    """Add the wanted strings of the value at `pos` (arrays and inline tables too); return its end."""
    if string := TOML_STRING.match(content, pos):
        if key in wanted:
            quotes = 3 if string.group(0)[:3] in ('"""', "'''") else 1
            start = pos + quotes
            if quotes == 3:  # TOML drops a line break right after the opening quotes
                start += 2 if content.startswith("\r\n", start) else 1 if content.startswith("\n", start) else 0
            found.append((tomllib.loads(f"v = {string.group(0)}")["v"], start, string.end() - quotes))
        return string.end()
    if not content.startswith(("[", "{"), pos):
        return _skip(TOML_SCALAR, content, pos)
    closer = "]" if content[pos] == "[" else "}"
    pos = _skip(TOML_SEPARATORS, content, pos + 1)
    while not content.startswith(closer, pos):
        item_key = key
        if closer == "}":  # an inline table: `{ key = value, ... }`
            pair = TOML_PAIR.match(content, pos)
            assert pair is not None
            item_key, pos = f"{key}.{_toml_key(pair.group('key'))}", pair.end()
        pos = _toml_value(content, pos, item_key, wanted, found)
        pos = _skip(TOML_SEPARATORS, content, pos)
    return pos + 1


def _skip(pattern: re.Pattern[str], content: str, pos: int) -> int:
    """Where `pattern`, which may match nothing, ends at `pos`."""
    match = pattern.match(content, pos)
    return match.end() if match else pos


def _toml_key(raw: str) -> str:
    return ".".join(next(g for g in m.groups() if g is not None) for m in TOML_KEY_PART.finditer(raw)).lower()


def _json_urls(text: str, front: FrontMatter, wanted: set[str]) -> Iterator[tuple[str, int, int]]:
    yield from _json_walk(text, front.start, "", front, wanted)


def _json_walk(text: str, i: int, prefix: str, front: FrontMatter, wanted: set[str]) -> Iterator[tuple[str, int, int]]:
    """Walk one JSON object starting at `i`, yielding wanted strings with their spans."""
    decoder = json.JSONDecoder()
    i = _skip_ws(text, i + 1)
    while text[i] != "}":
        key, i = scanstring(text, _skip_ws(text, i) + 1)
        key = prefix + key.lower()
        i = _skip_ws(text, _skip_ws(text, i) + 1)  # past ':'
        if text[i] == "{":
            yield from _json_walk(text, i, key + ".", front, wanted)
            _, i = decoder.raw_decode(text, i)
        elif text[i] == "[" and key in wanted:
            i = _skip_ws(text, i + 1)
            while text[i] != "]":
                if text[i] == '"':
                    value, end = scanstring(text, i + 1)
                    yield value, i + 1, end - 1
                    i = end
                else:
                    _, i = decoder.raw_decode(text, i)
                i = _skip_ws(text, i)
                i = _skip_ws(text, i + 1) if text[i] == "," else i
            i += 1
        else:
            value, end = decoder.raw_decode(text, i)
            if not prefix and isinstance(value, str | int | float | bool):
                front.values[key] = value
            if isinstance(value, str) and key in wanted:
                yield value, i + 1, end - 1
            i = end
        i = _skip_ws(text, i)
        i = _skip_ws(text, i + 1) if text[i] == "," else i


_FINDERS = {"yaml": _yaml_urls, "toml": _toml_urls, "json": _json_urls}


def _skip_ws(text: str, i: int) -> int:
    while text[i] in " \t\r\n":
        i += 1
    return i


def _line_end(text: str, i: int) -> int:
    end = text.find("\n", i)
    return len(text) if end < 0 else end


def _next_line(text: str, i: int) -> int:
    return min(_line_end(text, i) + 1, len(text))
