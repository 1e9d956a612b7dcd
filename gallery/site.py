"""The Hugo site as configured: where content and static files live and how URLs are made.

`site_from_config` is pure (all the key handling); `find_site_root` and `read_site` are the
file-reading edge. Hugo's behaviours relied on here were checked with real builds of Hugo
0.168 (the version CI pins) and 0.147.9.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import yaml

from .errors import ConfigError

# Hugo reads the first of these that exists, hugo.* before config.* (checked with `hugo config`).
CONFIG_NAMES = tuple(f"{stem}.{ext}" for stem in ("hugo", "config") for ext in ("toml", "yaml", "yml", "json"))
CONFIG_DIR = PurePosixPath("config")
# `hugo` builds in the production environment: config/production/ overrides config/_default/.
ENVIRONMENT = "production"
_STATIC_SLOTS = ("staticdir", *(f"staticdir{i}" for i in range(11)))


@dataclass(frozen=True, slots=True)
class Language:
    """One configured language and the directories Hugo mounts for it."""

    code: str
    weight: int
    content_dirs: tuple[PurePosixPath, ...]  # relative to the site root
    static_dirs: tuple[PurePosixPath, ...]  # relative to the site root, lowest precedence first
    url_prefix: str  # "" or "/vi"
    own_content_dir: bool = False  # True when languages.<code>.contentDir is set


@dataclass(frozen=True, slots=True)
class Site:
    """What gallery needs to know about a Hugo site to find its pages and published files."""

    root: Path  # absolute, resolved
    config_files: tuple[PurePosixPath, ...]  # the files read, relative to root
    base_url: str
    base_path: str  # path part of baseURL, with leading and trailing "/"; "/" when none
    languages: tuple[Language, ...]  # default language first
    canonify_urls: bool
    relative_urls: bool
    ugly_urls: bool
    unsafe_html: bool  # markup.goldmark.renderer.unsafe
    disable_path_to_lower: bool
    remove_path_accents: bool = False
    # Hugo's embedded image and link render hooks are on: Markdown images and links that name
    # a page resource or an assets/ file are rewritten to where Hugo publishes that file.
    render_hooks: bool = False
    asset_dir: PurePosixPath = PurePosixPath("assets")
    layout_dir: PurePosixPath = PurePosixPath("layouts")
    data_dir: PurePosixPath = PurePosixPath("data")
    i18n_dir: PurePosixPath = PurePosixPath("i18n")
    theme_dirs: tuple[PurePosixPath, ...] = ()  # themes/<name>, highest precedence first

    @property
    def default_language(self) -> Language:
        return self.languages[0]

    def language(self, code: str) -> Language:
        """The language with this code (case-insensitive); KeyError if it is not configured."""
        wanted = code.lower()
        for lang in self.languages:
            if lang.code == wanted:
                return lang
        raise KeyError(code)


def find_site_root(path: Path) -> Path:
    """PATH or its nearest ancestor holding a Hugo config; ConfigError naming PATH otherwise."""
    start = path.resolve()
    for candidate in (start, *start.parents):
        if any((candidate / name).is_file() for name in CONFIG_NAMES):
            return candidate
        if (candidate / CONFIG_DIR / "_default").is_dir():
            return candidate
    raise ConfigError(
        f"{path}: no Hugo site here or above it (looked for {', '.join(CONFIG_NAMES)} or config/_default/)"
    )


def read_site(root: Path, environment: str = ENVIRONMENT) -> tuple[Site, dict]:
    """Read and merge the Hugo config; return the Site and the raw `gallery` table ({} when absent)."""
    root = root.resolve()
    merged: dict[str, Any] = {}
    files: list[PurePosixPath] = []
    root_file = next((n for n in CONFIG_NAMES if (root / n).is_file()), None)
    if root_file:
        merged = _read_config_file(root, PurePosixPath(root_file))
        files.append(PurePosixPath(root_file))
    # config/_default/ overrides the root file, config/<environment>/ overrides both.
    for env in ("_default", environment):
        env_dir = root / CONFIG_DIR / env
        if not env_dir.is_dir():
            continue
        for entry in sorted(env_dir.iterdir(), key=lambda p: _config_dir_order(p.name)):
            if not entry.is_file() or entry.suffix.lower() not in (".toml", ".yaml", ".yml", ".json"):
                continue
            rel = PurePosixPath(CONFIG_DIR, env, entry.name)
            table = _read_config_file(root, rel)
            merged = _deep_merge(merged, _placed(entry.name, table))
            files.append(rel)
    if not files:
        raise ConfigError(f"{root}: no Hugo config file found")
    gallery = _pop_gallery(merged)
    return site_from_config(root, merged, tuple(files)), gallery


def site_from_config(root: Path, config: Mapping[str, Any], config_files: tuple[PurePosixPath, ...] = ()) -> Site:
    """Build a Site from a merged Hugo config; keys are matched case-insensitively, as Hugo does."""
    cfg = _lower_keys(config)
    base_url = _string(cfg, "baseurl", "")
    default_code = _string(cfg, "defaultcontentlanguage", "en").lower()
    in_subdir = _bool(cfg, "defaultcontentlanguageinsubdir")
    content_dir = PurePosixPath(_string(cfg, "contentdir", "content"))
    global_static = _static_slots(cfg) or {"staticdir": (PurePosixPath("static"),)}
    languages_table = cfg.get("languages") or {}
    if not isinstance(languages_table, Mapping):
        raise ConfigError(f"languages must be a table, got {languages_table!r}")
    disabled = {str(c).lower() for c in cfg.get("disablelanguages") or ()}
    codes = {str(c).lower(): (v if isinstance(v, Mapping) else {}) for c, v in languages_table.items()}
    codes = {c: v for c, v in codes.items() if c not in disabled and not _bool(v, "disabled")}
    if not codes:
        codes = {default_code: {}}
    if default_code not in codes:
        # Hugo then takes the first language by weight as the default (checked with `hugo config`).
        default_code = min(codes, key=lambda c: _language_order(c, codes[c]))
    multilingual = len(codes) > 1
    languages = []
    for code, table in codes.items():
        own = "contentdir" in table
        slots = {**global_static, **_static_slots(table)}
        static_dirs = tuple(d for slot in _STATIC_SLOTS for d in slots.get(slot, ()))
        prefix = "" if code == default_code and not in_subdir else f"/{code}"
        weight = table.get("weight", 0)
        languages.append(
            Language(
                code=code,
                weight=weight if isinstance(weight, int) else 0,
                content_dirs=(PurePosixPath(_string(table, "contentdir", str(content_dir))),),
                static_dirs=static_dirs,
                url_prefix=prefix,
                own_content_dir=own,
            )
        )
    languages.sort(key=lambda lang: (lang.code != default_code, *_language_order(lang.code, {"weight": lang.weight})))
    multihost = any("baseurl" in t for t in codes.values())
    markup = _table(cfg, "markup")
    goldmark = _table(markup, "goldmark")
    hooks = _table(goldmark, "renderhooks")
    # The embedded hooks are on when asked for, and by default on multilingual single-host
    # sites that do not duplicate shared resources (Hugo >= 0.123; checked with 0.147.9).
    auto_hooks = multilingual and not multihost and not _bool(goldmark, "duplicateresourcefiles")
    render_hooks = _hook_enabled(_table(hooks, "image"), auto_hooks)
    themes = cfg.get("theme") or ()
    themes = (themes,) if isinstance(themes, str) else tuple(str(t) for t in themes)
    themes_dir = PurePosixPath(_string(cfg, "themesdir", "themes"))
    return Site(
        root=root,
        config_files=tuple(config_files),
        base_url=base_url,
        base_path=_base_path(base_url),
        languages=tuple(languages),
        canonify_urls=_bool(cfg, "canonifyurls"),
        relative_urls=_bool(cfg, "relativeurls"),
        ugly_urls=_bool(cfg, "uglyurls"),
        unsafe_html=_bool(_table(goldmark, "renderer"), "unsafe"),
        disable_path_to_lower=_bool(cfg, "disablepathtolower"),
        remove_path_accents=_bool(cfg, "removepathaccents"),
        render_hooks=render_hooks,
        asset_dir=PurePosixPath(_string(cfg, "assetdir", "assets")),
        layout_dir=PurePosixPath(_string(cfg, "layoutdir", "layouts")),
        data_dir=PurePosixPath(_string(cfg, "datadir", "data")),
        i18n_dir=PurePosixPath(_string(cfg, "i18ndir", "i18n")),
        theme_dirs=tuple(themes_dir / t for t in themes),
    )


def _language_order(code: str, table: Mapping[str, Any]) -> tuple[bool, int, str]:
    # Hugo orders languages by weight, an unset (0) weight last, then by code.
    weight = table.get("weight", 0)
    weight = weight if isinstance(weight, int) else 0
    return (weight == 0, weight, code)


def _hook_enabled(table: Mapping[str, Any], auto: bool) -> bool:
    value = table.get("enabledefault")
    return value if isinstance(value, bool) else auto


def _base_path(base_url: str) -> str:
    path = urlsplit(base_url).path if "//" in base_url else ""
    path = "/" + path.strip("/")
    return path if path == "/" else path + "/"


def _static_slots(table: Mapping[str, Any]) -> dict[str, tuple[PurePosixPath, ...]]:
    slots = {}
    for slot in _STATIC_SLOTS:
        if slot in table:
            value = table[slot]
            values = [value] if isinstance(value, str) else value
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ConfigError(f"{slot} must be a directory name or a list of them, got {value!r}")
            slots[slot] = tuple(PurePosixPath(v) for v in values)
    return slots


def _table(cfg: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = cfg.get(key)
    return value if isinstance(value, Mapping) else {}


def _string(cfg: Mapping[str, Any], key: str, default: str) -> str:
    value = cfg.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(f"{key} must be a string, got {value!r}")
    return value


def _bool(cfg: Mapping[str, Any], key: str) -> bool:
    value = cfg.get(key, False)
    # Hugo's config decoder also accepts the strings "true"/"false".
    return value is True or (isinstance(value, str) and value.lower() == "true")


def _lower_keys(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k).lower(): _lower_keys(v) for k, v in value.items()}
    return value


def _pop_gallery(config: dict[str, Any]) -> dict:
    # The [gallery] table is ours: its keys keep their case (shortcode names are case-sensitive).
    key = next((k for k in config if k.lower() == "gallery"), None)
    table = config.pop(key) if key is not None else {}
    if not isinstance(table, dict):
        raise ConfigError(f"[gallery] must be a table, got {table!r}")
    return table


def _config_dir_order(name: str) -> tuple[int, str]:
    # hugo.* / config.* first, so that <key>.toml files override the keys they own.
    stem = name.split(".", 1)[0].lower()
    return (0 if stem in ("hugo", "config") else 1, name)


def _placed(file_name: str, table: dict[str, Any]) -> dict[str, Any]:
    """Where a config/_default/ file's table goes: hugo.toml at the top, params.toml under params."""
    parts = file_name.split(".")[:-1]
    if parts[0].lower() in ("hugo", "config"):
        return table
    if len(parts) == 2:  # menus.en.toml -> languages.en.menus
        return {"languages": {parts[1]: {parts[0]: table}}}
    return {parts[0]: table}


def _deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    lowered = {k.lower(): k for k in merged}
    for key, value in override.items():
        existing = lowered.get(key.lower(), key)
        if isinstance(value, Mapping) and isinstance(merged.get(existing), Mapping):
            merged[existing] = _deep_merge(merged[existing], value)
        else:
            merged.pop(existing, None)
            merged[key] = value
            lowered[key.lower()] = key
    return merged


def _read_config_file(root: Path, rel: PurePosixPath) -> dict[str, Any]:
    try:
        data = (root / rel).read_bytes()
    except OSError as e:
        raise ConfigError(f"{rel}: cannot read: {e.strerror}") from e
    try:
        table = _parse_config(rel.suffix.lower(), data)
    except (tomllib.TOMLDecodeError, yaml.YAMLError, ValueError) as e:
        message = " ".join(str(e).split())
        raise ConfigError(f"{rel}: malformed config: {message}") from e
    if table is None:
        return {}
    if not isinstance(table, dict):
        raise ConfigError(f"{rel}: malformed config: the top level must be a table")
    return table


def _parse_config(suffix: str, data: bytes) -> Any:
    if suffix == ".toml":
        return tomllib.loads(data.decode("utf-8-sig"))
    if suffix == ".json":
        return json.loads(data.decode("utf-8-sig"))
    return yaml.load(data, Loader=yaml.CSafeLoader)  # noqa: S506 (CSafeLoader is the safe one)
