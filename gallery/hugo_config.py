"""Turning on raw HTML in a Hugo site's own config: markup.goldmark.renderer.unsafe = true.

Hugo drops raw HTML such as <picture> from Markdown unless that setting is on. The edit keeps
the author's file as written: TOML is edited in place with tomlkit (comments, order and layout
kept), JSON is rewritten in its own key order, and YAML only ever gets a block appended, since
no YAML library here keeps comments. Every edit is checked by parsing the result: it must hold
the old settings plus this one, or nothing is written.
"""

from __future__ import annotations

import codecs
import json
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import tomlkit
import yaml
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import InlineTable

from .errors import ConfigError
from .fs import read_site_bytes, write_atomic

# site.py's own reader and placement, so a file-by-file look agrees with read_site's merge.
from .site import CONFIG_DIR, Site, _placed, _read_config_file, read_site

SETTING = ("markup", "goldmark", "renderer", "unsafe")
SETTING_NAME = ".".join(SETTING)
DEFAULT_DIR = CONFIG_DIR / "_default"
# Written when the site has no file for site-wide settings (config/_default/ holds only params.toml, ...).
NEW_FILE = DEFAULT_DIR / "markup.toml"
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ABSENT = object()


def enable_unsafe_html(site: Site) -> PurePosixPath:
    """Set markup.goldmark.renderer.unsafe = true in the site's config; return the file, relative to the root.

    When it is already on, returns the file that sets it and writes nothing. ConfigError when
    the file cannot be edited without changing other settings, or when Hugo would still see
    the setting off afterwards (a later file, such as config/production/, turns it off).
    """
    if site.unsafe_html:
        return _last_file_setting(site, _is_on) or site.config_files[-1]
    target = _file_to_edit(site)
    path = _real_path_inside(site.root, target)
    old = read_site_bytes(site.root, target) if path.exists() else b""
    new = _with_unsafe_html(old, target)
    if new != old:
        write_atomic(path, new)  # makes config/_default/ for a new markup.toml
    _check_hugo_sees_it(site.root, target)
    return target


# --- which file -------------------------------------------------------------------------------


def _file_to_edit(site: Site) -> PurePosixPath:
    """The editable file that already sets `unsafe`, else one with a markup table, else the main file.

    Of several, the one read last: its value is the one Hugo keeps.
    """
    editable = [f for f in site.config_files if _holds_site_settings(f)]
    settings = {f: _settings_in(site.root, f) for f in editable}
    setters = [f for f in editable if _lookup(settings[f], SETTING) is not _ABSENT]
    with_markup = [f for f in editable if _lookup(settings[f], SETTING[:1]) is not _ABSENT]
    if setters or with_markup:
        return (setters or with_markup)[-1]
    main = [f for f in editable if _is_main_file(f)]
    return main[0] if main else NEW_FILE


def _holds_site_settings(file: PurePosixPath) -> bool:
    # The root file, and config/_default/ hugo.*, config.* and markup.* (not markup.en.toml,
    # which is one language's). Environment folders are left alone: they override on purpose.
    if len(file.parts) == 1:
        return True
    return file.parent == DEFAULT_DIR and (_is_main_file(file) or file.name.lower().split(".")[:-1] == ["markup"])


def _is_main_file(file: PurePosixPath) -> bool:
    return len(file.parts) == 1 or file.name.lower().split(".")[:-1] in (["hugo"], ["config"])


def _keys_in_file(file: PurePosixPath) -> tuple[str, ...]:
    """The setting's keys as written in FILE: markup.toml holds the markup table itself."""
    return SETTING[1:] if file.name.lower().split(".")[0] == "markup" and len(file.parts) > 1 else SETTING


def _settings_in(root: Path, file: PurePosixPath) -> Mapping[str, Any]:
    """FILE's settings, placed where Hugo puts them (markup.toml under markup), keys lowercased."""
    return _lower_keys(_placed(file.name, _read_config_file(root, file)))


def _last_file_setting(site: Site, wanted: Callable[[Any], bool]) -> PurePosixPath | None:
    """The last config file whose own value for the setting passes WANTED."""
    found = None
    for file in site.config_files:
        value = _lookup(_settings_in(site.root, file), SETTING)
        if value is not _ABSENT and wanted(value):
            found = file
    return found


def _real_path_inside(root: Path, file: PurePosixPath) -> Path:
    """Where FILE really is (a link is written through, not replaced); ConfigError outside the root."""
    real = Path(os.path.realpath(root / file))
    if not real.is_relative_to(Path(os.path.realpath(root))):
        raise ConfigError(f"{file} leads outside the site root; set {SETTING_NAME} = true by hand")
    return real


def _check_hugo_sees_it(root: Path, changed: PurePosixPath) -> None:
    site, _ = read_site(root)
    if site.unsafe_html:
        return
    culprit = _last_file_setting(site, lambda value: not _is_on(value))
    if culprit is not None and culprit != changed:
        raise ConfigError(
            f"set {SETTING_NAME} = true in {changed}, but {culprit} sets it back to off for the"
            " production build; set it to true there too"
        )
    raise ConfigError(
        f"set {SETTING_NAME} = true in {changed}, but the merged Hugo config still has it off;"
        f" check {', '.join(map(str, site.config_files))}"
    )


# --- the edit: bytes in, bytes out -------------------------------------------------------------


def _with_unsafe_html(data: bytes, file: PurePosixPath) -> bytes:
    """FILE's bytes with the setting on; the BOM and line endings of the file kept."""
    bom = codecs.BOM_UTF8 if data.startswith(codecs.BOM_UTF8) else b""
    text = data[len(bom) :].decode("utf-8")
    keys = _keys_in_file(file)
    suffix = file.suffix.lower()
    if suffix == ".toml":
        new = _edited_toml(text, keys, file)
    elif suffix == ".json":
        new = _edited_json(text, keys, file)
    else:
        new = _edited_yaml(text, keys, file)
    return bom + new.encode("utf-8")


def _edited_toml(text: str, keys: tuple[str, ...], file: PurePosixPath) -> str:
    expected = _with_true(tomllib.loads(text), keys, file)
    # A table appended at the end leaves every byte of the file as it was; it is not valid TOML
    # when the table already exists (or is inline, or made of dotted keys): tomlkit edits those.
    for edit in (_appended_toml_table, _tomlkit_edit):
        new = edit(text, keys)
        if new is not None and _toml_value(new) == expected:
            return new
    raise ConfigError(f"{file}: cannot add {'.'.join(keys)} = true without changing other settings; set it by hand")


def _appended_toml_table(text: str, keys: tuple[str, ...]) -> str:
    spelled = _spelled_as_in(tomllib.loads(text), keys)
    nl = _newline(text)
    before = _ended(text)
    gap = nl if before.strip() and not before.endswith(nl + nl) else ""  # one blank line before the table
    header = ".".join(map(_toml_key, spelled[:-1]))
    return before + gap + f"[{header}]{nl}{_toml_key(spelled[-1])} = true{nl}"


def _tomlkit_edit(text: str, keys: tuple[str, ...]) -> str | None:
    try:
        doc = tomlkit.parse(text)
        table: Any = doc
        for i, key in enumerate(keys[:-1]):
            found = _key_like(table, key)
            if found is None:
                table[key] = _nested(keys[i + 1 :])  # a table, or an inline one inside an inline table
                return tomlkit.dumps(doc)
            table = table[found]
            if not isinstance(table, Mapping):
                return None
        table[_key_like(table, keys[-1]) or keys[-1]] = _true_like_siblings(table, _newline(text))
        return tomlkit.dumps(doc)
    except (TOMLKitError, TypeError, ValueError):
        return None


def _true_like_siblings(table: Any, newline: str) -> Any:
    """`true`, indented as the table's other keys are, so a new line lines up with them."""
    item = tomlkit.item(True)
    if not isinstance(table, InlineTable):
        body = getattr(getattr(table, "value", None), "body", ())
        indents = [v.trivia.indent for k, v in body if k is not None and hasattr(v, "trivia")]
        item.trivia.indent = indents[-1] if indents else ""
        item.trivia.trail = newline
    return item


def _edited_json(text: str, keys: tuple[str, ...], file: PurePosixPath) -> str:
    data = json.loads(text) if text.strip() else {}
    new = json.dumps(_with_true(data, keys, file), indent=2, ensure_ascii=False) + "\n"
    return new.replace("\n", _newline(text))


def _edited_yaml(text: str, keys: tuple[str, ...], file: PurePosixPath) -> str:
    data = yaml.load(text, Loader=yaml.CSafeLoader) or {}  # noqa: S506 (the safe loader)
    by_hand = f"set {'.'.join(keys)}: true in {file} by hand"
    if _key_like(data, keys[0]) is not None:
        # Rewriting the file would lose its comments; adding beside an existing section is not YAML.
        raise ConfigError(f"{file} already has a top-level {keys[0]}: section, which gallery does not edit; {by_hand}")
    nl = _newline(text)
    block = "".join(f"{'  ' * depth}{key}:{nl}" for depth, key in enumerate(keys[:-1]))
    new = _ended(text) + block + f"{'  ' * (len(keys) - 1)}{keys[-1]}: true{nl}"
    try:
        same = yaml.load(new, Loader=yaml.CSafeLoader) == _with_true(data, keys, file)  # noqa: S506
    except yaml.YAMLError:
        same = False
    if not same:
        # A flow mapping, a document end marker, ...: the appended block would mean something else.
        raise ConfigError(f"{file}: cannot append {keys[0]}: without changing other settings; {by_hand}")
    return new


# --- small helpers -----------------------------------------------------------------------------


def _set_true(data: Mapping[str, Any], keys: tuple[str, ...]) -> dict[str, Any] | None:
    """A copy of DATA with KEYS set to true, keys matched case-insensitively as Hugo does.

    None when a value on the way is no table (`markup = "x"`).
    """
    new = dict(data)
    found = _key_like(new, keys[0]) or keys[0]
    if len(keys) == 1:
        new[found] = True
        return new
    inner = new.get(found, {})
    inner = _set_true(inner, keys[1:]) if isinstance(inner, Mapping) else None
    if inner is None:
        return None
    new[found] = inner
    return new


def _with_true(data: Mapping[str, Any], keys: tuple[str, ...], file: PurePosixPath) -> dict[str, Any]:
    new = _set_true(data, keys)
    if new is None:
        raise ConfigError(f"{file}: a key on the way to {'.'.join(keys)} is not a table; set it to true by hand")
    return new


def _spelled_as_in(data: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[str, ...]:
    """KEYS spelled as the file already spells them ("Markup"), so no second table appears."""
    spelled = []
    for key in keys:
        found = _key_like(data, key) if isinstance(data, Mapping) else None
        spelled.append(found or key)
        data = data.get(found, {}) if found else {}
    return tuple(spelled)


def _key_like(table: Any, key: str) -> str | None:
    if not isinstance(table, Mapping):
        return None
    return next((k for k in table.keys() if isinstance(k, str) and k.lower() == key), None)


def _lookup(settings: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    value: Any = settings
    for key in keys:
        if not isinstance(value, Mapping) or key not in value:
            return _ABSENT
        value = value[key]
    return value


def _lower_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    return value


def _is_on(value: Any) -> bool:
    # Hugo's config decoder also accepts the string "true".
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _nested(keys: tuple[str, ...]) -> Any:
    return {keys[0]: _nested(keys[1:])} if len(keys) > 1 else {keys[0]: True}


def _toml_value(text: str) -> Any:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        return None


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def _ended(text: str) -> str:
    """TEXT with a final line break, so what is appended starts on a line of its own."""
    return text if not text or text.endswith("\n") else text + _newline(text)
