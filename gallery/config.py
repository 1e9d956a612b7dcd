"""The [gallery] table of the site's config: one defaults table, strict keys."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any

from .downscale import SizeLimits
from .errors import ConfigError, reject_unknown_keys
from .names import NameRules
from .variants import VariantSettings


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"
    OFF = "off"


class MergeMode(StrEnum):
    """Which duplicate images `fix-refs` merges into the copy kept."""

    OFF = "off"
    IDENTICAL = "identical"  # the same bytes
    SIMILAR = "similar"  # also the same picture in other bytes (perceptual)


class Placeholder(StrEnum):
    """What <picture> markup shows while the picture loads."""

    NONE = "none"
    BLUR = "blur"  # the manifest's tiny preview as the <img> background


RULES = (
    "broken-ref",
    "case-mismatch",
    "not-rendered",
    "bad-filename",
    "gps",
    "metadata",
    "oversized",
    "duplicate",
    "unoptimized",
)
DEFAULT_SEVERITY = {"bad-filename": "warning", "metadata": "warning", "unoptimized": "warning"}  # others: errors
# The browser's layout width of a content image: the viewport up to a typical 800 px text column.
DEFAULT_SIZES = "(min-width: 840px) 800px, 100vw"
SIZE_KEYS = ("max_bytes", "max_edge", "max_pixels")  # fields of SizeLimits, flat in [gallery.check]
# Keys [gallery] had before the size limits moved to [gallery.check]: a config using them is told where they went.
MOVED_KEYS = {"max_source_width": "max_edge", "max_source_bytes": "max_bytes"}

DEFAULT_FRONTMATTER_KEYS = (
    "image",
    "images",
    "cover",
    "cover.image",
    "featured_image",
    "thumbnail",
    "banner",
    "og_image",
)
DEFAULT_IMAGE_EXTENSIONS = (
    ".jpg", ".jpeg", ".jpe", ".png", ".gif", ".webp", ".avif", ".svg",
    ".bmp", ".tif", ".tiff", ".heic", ".heif", ".jxl", ".ico",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CheckConfig:
    """`[gallery.check]`: what `gallery check` reports and how loudly."""

    severity: tuple[tuple[str, Severity], ...] = tuple(
        (rule, Severity(DEFAULT_SEVERITY.get(rule, "error"))) for rule in RULES
    )
    ignore: tuple[str, ...] = ()  # glob patterns of pages or images, relative to the site root
    size: SizeLimits = field(default_factory=SizeLimits)  # the `oversized` rule, and what downscaling aims at

    def severity_of(self, rule: str) -> Severity:
        return dict(self.severity)[rule]


@dataclass(frozen=True, slots=True)
class Config:
    """Settings from `[gallery]`; every default lives here and nowhere else."""

    frontmatter_keys: tuple[str, ...] = DEFAULT_FRONTMATTER_KEYS
    # shortcode name -> parameters holding an image URL (a name, or a position from 0)
    shortcodes: tuple[tuple[str, tuple[str | int, ...]], ...] = (("figure", ("src",)),)
    image_extensions: tuple[str, ...] = DEFAULT_IMAGE_EXTENSIONS
    names: NameRules = field(default_factory=NameRules)
    keep_exif_tags: tuple[str, ...] = ()  # EXIF tags kept when metadata is stripped (e.g. Copyright)
    output_dir: str = "static/_gallery"  # where variants go: inside a static dir, never read as sources
    manifest: str = "data/gallery.json"  # Hugo reads it as site.Data.gallery
    # `optimize` shrinks sources over [gallery.check]'s size limits even without --downscale-sources
    downscale_sources: bool = False
    variants: VariantSettings = field(default_factory=VariantSettings)
    check: CheckConfig = field(default_factory=CheckConfig)
    merge_duplicates: MergeMode = MergeMode.IDENTICAL  # `fix-refs`: the same bytes are always safe to merge
    sizes: str = DEFAULT_SIZES  # the `sizes` of written <picture> markup; a page's front matter `gallery_sizes` wins
    # Off by default: turning it on rewrites every <picture> already written, and adds ~250 bytes of page per image.
    placeholder: Placeholder = Placeholder.NONE

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "[gallery]") -> Config:
        """Build a Config from the `[gallery]` table; unknown keys or bad types are a ConfigError."""
        moved = [f"{old} moved to [gallery.check] {new}" for old, new in MOVED_KEYS.items() if old in table]
        if moved:
            raise ConfigError(f"{where} {'; '.join(moved)} (max_pixels limits the pixel count too)")
        reject_unknown_keys(table, {f.name for f in fields(cls)}, where)
        config = cls()
        changes: dict[str, Any] = {}
        if "frontmatter_keys" in table:
            changes["frontmatter_keys"] = _strings(table, "frontmatter_keys", where)
        if "image_extensions" in table:
            exts = _strings(table, "image_extensions", where)
            changes["image_extensions"] = tuple("." + e.lower().lstrip(".") for e in exts)
        if "shortcodes" in table:
            changes["shortcodes"] = _shortcodes(table["shortcodes"], f"{where} shortcodes")
        if "names" in table:
            changes["names"] = NameRules.from_table(table["names"], f"{where[:-1]}.names]")
        if "keep_exif_tags" in table:
            changes["keep_exif_tags"] = _strings(table, "keep_exif_tags", where)
        if "sizes" in table:
            if not isinstance(table["sizes"], str) or not table["sizes"].strip():
                raise ConfigError(f"{where} sizes must be an HTML sizes value, got {table['sizes']!r}")
            changes["sizes"] = table["sizes"].strip()
        for key in ("output_dir", "manifest"):
            if key in table:
                value = table[key]
                if not isinstance(value, str) or not value or value.startswith("/") or ".." in value.split("/"):
                    raise ConfigError(f"{where} {key} must be a folder path relative to the site root, got {value!r}")
                changes[key] = value.strip("/")
        if "downscale_sources" in table:
            value = table["downscale_sources"]
            if not isinstance(value, bool):
                raise ConfigError(f"{where} downscale_sources must be true or false, got {value!r}")
            changes["downscale_sources"] = value
        if "variants" in table:
            changes["variants"] = VariantSettings.from_table(table["variants"], f"{where[:-1]}.variants]")
        if "check" in table:
            changes["check"] = _check(table["check"], f"{where[:-1]}.check]")
        if "placeholder" in table:
            try:
                changes["placeholder"] = Placeholder(table["placeholder"])
            except ValueError:
                choices = ", ".join(f'"{p.value}"' for p in Placeholder)
                wrong = table["placeholder"]
                raise ConfigError(f"{where} placeholder must be one of {choices}, got {wrong!r}") from None
        if "merge_duplicates" in table:
            try:
                changes["merge_duplicates"] = MergeMode(table["merge_duplicates"])
            except ValueError:
                modes = ", ".join(f'"{m.value}"' for m in MergeMode)
                raise ConfigError(
                    f"{where} merge_duplicates must be one of {modes}, got {table['merge_duplicates']!r}"
                ) from None
        return replace(config, **changes)


def _strings(table: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = table[key]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} {key} must be a list of strings, got {value!r}")
    return tuple(value)


def _shortcodes(value: Any, where: str) -> tuple[tuple[str, tuple[str | int, ...]], ...]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a table of shortcode name = [parameters]")
    result = []
    for name, params in value.items():
        if not isinstance(params, list) or not all(
            isinstance(p, str) or (isinstance(p, int) and p >= 0) for p in params
        ):
            raise ConfigError(f"{where}.{name} must list parameter names or positions (0, 1, ...), got {params!r}")
        result.append((name, tuple(params)))
    return tuple(result)


def _check(value: Any, where: str) -> CheckConfig:
    reject_unknown_keys(value, {"ignore", *SIZE_KEYS, *RULES}, where)
    severity = dict(CheckConfig().severity)
    for rule in RULES:
        if rule in value:
            try:
                severity[rule] = Severity(value[rule])
            except ValueError:
                levels = ", ".join(s.value for s in Severity)
                raise ConfigError(f"{where} {rule} must be one of {levels}, got {value[rule]!r}") from None
    ignore = _strings(value, "ignore", where) if "ignore" in value else ()
    limits = {}
    for key in SIZE_KEYS:
        if key in value:
            number = value[key]
            # bool is an int in Python, but `max_edge = true` is a mistake
            if not isinstance(number, int) or isinstance(number, bool) or number <= 0:
                raise ConfigError(f"{where} {key} must be a whole number above 0, got {number!r}")
            limits[key] = number
    return CheckConfig(severity=tuple(severity.items()), ignore=ignore, size=SizeLimits(**limits))
