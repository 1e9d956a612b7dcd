"""Clean, URL-safe names for image files and folders, and the renames that get a site there."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import PurePosixPath
from typing import Any

from anyascii import anyascii

from .errors import ConfigError, reject_unknown_keys

JPEG_SPELLINGS = (".jpg", ".jpeg")
TIFF_SPELLINGS = (".tif", ".tiff")
# Room for a 10-character extension plus a `-NN` collision number; 255 bytes is the file-name limit of
# ext4, APFS and NTFS, and a clean name is ASCII, so characters are bytes.
MIN_LENGTH, MAX_LENGTH = 24, 255


@dataclass(frozen=True, slots=True)
class NameRules:
    """`[gallery.names]`: how file and folder names are normalized."""

    lowercase: bool = True  # A-Z become a-z; false keeps the author's capitals (the extension is always lower case)
    underscores: bool = True  # _ becomes -; false keeps _ (runs of it become one, and it never starts or ends a name)
    jpeg_extension: str = ".jpg"  # the one spelling of JPEG (.jpg or .jpeg): .jpeg, .jpe, .jfif, .JPG become it
    tiff_extension: str = ".tiff"  # the one spelling of TIFF (.tif or .tiff)
    max_length: int = 80  # cap on a whole name, extension included (24-255); cut at a hyphen where possible
    folders: bool = True  # folders below the image root are normalized too; false leaves every folder as it is

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "[gallery.names]") -> NameRules:
        """Build NameRules from the `[gallery.names]` table; unknown keys or bad values are a ConfigError."""
        reject_unknown_keys(table, (f.name for f in fields(cls)), where)
        changes: dict[str, Any] = {}
        for key in ("lowercase", "underscores", "folders"):
            if key in table:
                if not isinstance(table[key], bool):
                    raise ConfigError(f"{where} {key} must be true or false, got {table[key]!r}")
                changes[key] = table[key]
        for key, spellings in (("jpeg_extension", JPEG_SPELLINGS), ("tiff_extension", TIFF_SPELLINGS)):
            if key in table:
                changes[key] = _spelling(table[key], spellings, f"{where} {key}")
        if "max_length" in table:
            value = table["max_length"]
            # bool is an int in Python, but `max_length = true` is a mistake
            if isinstance(value, bool) or not isinstance(value, int) or not MIN_LENGTH <= value <= MAX_LENGTH:
                raise ConfigError(
                    f"{where} max_length must be a whole number from {MIN_LENGTH} to {MAX_LENGTH}, got {value!r}"
                )
            changes["max_length"] = value
        return cls(**changes)


@dataclass(frozen=True, slots=True)
class NameInput:
    """An image file to name: where it is, what its bytes are, and their sha256."""

    path: PurePosixPath  # relative to the site root
    real_format: str | None  # Pillow's format name ("JPEG", "PNG", ...), or "SVG"; None when unknown
    digest: str  # sha256 hex of the bytes: identical files are never renamed over each other


@dataclass(frozen=True, slots=True)
class RenamePlan:
    """The renames that make every name clean, and the files left alone with the reason why."""

    renames: tuple[tuple[PurePosixPath, PurePosixPath], ...]  # (old, new), sorted by old path
    skipped: tuple[tuple[PurePosixPath, str], ...]  # (path, reason), sorted by path


# Pillow's format name -> extension, for formats with one spelling; JPEG and TIFF follow the rules.
# Other formats (HEIF, JPEG2000, ...) keep the extension they have.
_FORMAT_EXTENSIONS = {
    "PNG": ".png", "GIF": ".gif", "WEBP": ".webp", "AVIF": ".avif", "BMP": ".bmp", "ICO": ".ico", "SVG": ".svg",
}  # fmt: skip
_JPEG_WORDS = ("jpg", "jpeg", "jpe", "jfif")
_TIFF_WORDS = ("tif", "tiff")
_IMAGE_WORDS = frozenset((
    *_JPEG_WORDS, *_TIFF_WORDS, "png", "apng", "gif", "webp", "avif", "svg", "bmp", "ico", "heic", "heif", "jxl", "jp2",
))  # fmt: skip
# What counts as an extension when the format is unknown: short, ASCII, with a letter, so `at 9.01` keeps its `01`
_EXTENSION = re.compile(r"(?=[0-9]*[A-Za-z])[A-Za-z0-9]{1,10}")
# An image extension left inside the stem, doubled (`diagram.png.png`) or glued to a number (`Event2.1jpeg.jpeg`)
_GLUED = re.compile(rf"(.+)\.([0-9]*)(?:{'|'.join(sorted(_IMAGE_WORDS))})", re.IGNORECASE)


def normalized_name(name: str, real_format: str | None, rules: NameRules) -> str:
    """The clean file name for `name`, with the extension of its real format."""
    name = unicodedata.normalize("NFC", name)
    stem, ext = _split(name, real_format, rules)
    return _fit(_clean(stem, rules) or _short_hash(stem), rules.max_length - len(ext)) + ext


def normalized_folder(name: str, rules: NameRules) -> str:
    """The clean name for a folder called `name` (no extension logic)."""
    name = unicodedata.normalize("NFC", name)
    return _fit(_clean(name, rules) or _short_hash(name), rules.max_length)


def plan_renames(files: Iterable[NameInput], rules: NameRules, base: PurePosixPath) -> RenamePlan:
    """Renames giving every file a clean name, and its folders below `base` too; collisions numbered by old path."""
    inputs = sorted(files, key=lambda f: str(f.path))
    folders = _folder_targets(inputs, rules, base) if rules.folders else {}
    dirs = {_key(folders.get(d, d)) for f in inputs for d in f.path.parents}  # folders once renamed
    occupants = _occupants({p for f in inputs for p in (f.path, *f.path.parents)})
    wanted = [
        (folders.get(f.path.parent, f.path.parent) / normalized_name(f.path.name, f.real_format, rules), f)
        for f in inputs
    ]
    # Files already clean go first, so a messy name never takes a clean file's place and moves it on.
    wanted.sort(key=lambda cf: (cf[0] != cf[1].path, str(cf[1].path)))
    taken: set[str] = set()
    placed: dict[str, list[tuple[str, PurePosixPath]]] = {}  # wanted path's key -> (digest, new path) placed for it
    renames: list[tuple[PurePosixPath, PurePosixPath]] = []
    skipped: list[tuple[PurePosixPath, str]] = []
    for want, f in wanted:
        same = placed.setdefault(_key(want), [])
        twin = next((new for digest, new in same if digest == f.digest), None)
        if twin is not None:
            skipped.append((f.path, f"identical to {twin}: left for the duplicate stage"))
            continue
        new, n = want, 1
        while _key(new) in taken or _key(new) in dirs or _occupied(new, f.path, occupants):
            n += 1
            new = want.with_name(_numbered(want.name, n, rules))
        taken.add(_key(new))
        same.append((f.digest, new))
        if new != f.path:
            renames.append((f.path, new))
    return RenamePlan(tuple(sorted(renames, key=lambda r: str(r[0]))), tuple(sorted(skipped, key=lambda s: str(s[0]))))


def _spelling(value: Any, allowed: tuple[str, ...], where: str) -> str:
    spelled = "." + value.lower().lstrip(".") if isinstance(value, str) else None
    if spelled not in allowed:
        raise ConfigError(f"{where} must be one of {', '.join(allowed)}, got {value!r}")
    return spelled


def _split(name: str, real_format: str | None, rules: NameRules) -> tuple[str, str]:
    """The raw stem and the clean extension (with its dot, or "") of an NFC file name."""
    head, _, tail = name.rpartition(".")
    known = _format_extension(real_format, rules)
    if known is not None:
        # The old extension goes only if it names an image format: `photo.psd` stays `photo-psd`.
        stem, ext = (head, known) if head and tail.lower() in _IMAGE_WORDS else (name, known)
    elif head and _EXTENSION.fullmatch(tail):
        stem, ext = head, _spelled(tail, rules)
    else:
        stem, ext = name, ""
    while glued := _GLUED.fullmatch(stem):
        stem = glued[1] + (f".{glued[2]}" if glued[2] else "")
    return stem, ext


def _format_extension(real_format: str | None, rules: NameRules) -> str | None:
    # MPO is how Pillow names the multi-picture JPEGs of many cameras and phones; browsers show them as JPEG.
    if real_format in ("JPEG", "MPO"):
        return rules.jpeg_extension
    if real_format == "TIFF":
        return rules.tiff_extension
    return _FORMAT_EXTENSIONS.get(real_format or "")


def _spelled(ext: str, rules: NameRules) -> str:
    ext = ext.lower()
    if ext in _JPEG_WORDS:
        return rules.jpeg_extension
    if ext in _TIFF_WORDS:
        return rules.tiff_extension
    return "." + ext


def _clean(text: str, rules: NameRules) -> str:
    """`text` in ASCII letters and digits joined by single hyphens (or underscores when kept)."""
    text = "".join(map(_ascii, text))
    if rules.lowercase:
        text = text.lower()
    if rules.underscores:
        text = text.replace("_", "-")
    text = re.sub(r"[^A-Za-z0-9_]", "-", text)
    text = re.sub(r"[-_]*-[-_]*", "-", text)
    return re.sub(r"__+", "_", text).strip("-_")


def _ascii(char: str) -> str:
    if char.isascii():
        return char
    text = anyascii(char)
    # anyascii spells emoji as shortcodes ("😀" -> ":grinning:"), words the author never wrote
    return " " if len(text) > 2 and text[0] == text[-1] == ":" else text


def _short_hash(text: str) -> str:
    # Names from the file system may hold lone surrogates (undecodable bytes); surrogatepass encodes any str.
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def _fit(stem: str, room: int) -> str:
    """A clean stem cut to `room` characters, at a separator if that keeps at least half of it."""
    if len(stem) <= room:
        return stem
    cut = stem[:room]
    if stem[room] not in "-_":
        at = max(cut.rfind("-"), cut.rfind("_"))
        if at >= room // 2:
            cut = cut[:at]
    return cut.rstrip("-_")


def _numbered(name: str, n: int, rules: NameRules) -> str:
    """A clean name with `-n` before its extension, still within max_length."""
    stem, dot, ext = name.partition(".")
    tag = f"-{n}"
    return _fit(stem, rules.max_length - len(tag) - len(dot + ext)) + tag + dot + ext


def _key(path: PurePosixPath) -> str:
    """The path as a case-insensitive checkout (macOS, Windows) tells paths apart."""
    return unicodedata.normalize("NFC", str(path)).lower()


def _occupied(new: PurePosixPath, old: PurePosixPath, occupants: Mapping[str, list[PurePosixPath]]) -> bool:
    """Whether a path other than `old` is at `new` now, on a case-sensitive or a case-insensitive disk."""
    # A current name is not free even if its owner moves, since renames may run in any order. Two names
    # that differ only in case coexist only on a case-sensitive disk, where the exact name is what counts.
    key = _key(new)
    return any(p != old and (p == new or key != _key(old)) for p in occupants.get(key, ()))


def _occupants(paths: Iterable[PurePosixPath]) -> dict[str, list[PurePosixPath]]:
    occupants: dict[str, list[PurePosixPath]] = {}
    for path in paths:
        occupants.setdefault(_key(path), []).append(path)
    return occupants


def _folder_targets(
    inputs: list[NameInput], rules: NameRules, base: PurePosixPath
) -> dict[PurePosixPath, PurePosixPath]:
    """The new path of every folder below `base`; folders named alike merge unless file names collide inside."""
    contents: dict[PurePosixPath, set[str]] = {}  # folder -> keys of its files' clean paths inside it
    for f in inputs:
        if not f.path.is_relative_to(base):
            continue
        parts = f.path.relative_to(base).parts
        clean = [normalized_folder(p, rules) for p in parts[:-1]] + [normalized_name(parts[-1], f.real_format, rules)]
        for depth in range(1, len(parts)):
            contents.setdefault(base.joinpath(*parts[:depth]), set()).add("/".join(clean[depth:]).lower())
    files = _occupants(f.path for f in inputs)
    targets: dict[PurePosixPath, PurePosixPath] = {}
    claimed: dict[str, PurePosixPath] = {}  # key -> the folder path that key stands for
    merged: dict[str, set[str]] = {}  # key -> file keys of every folder merged into it
    for depth in sorted({len(d.parts) for d in contents}):
        level = [
            (targets.get(d.parent, d.parent) / normalized_folder(d.name, rules), d)
            for d in contents
            if len(d.parts) == depth
        ]
        for want, folder in sorted(level, key=lambda wf: (wf[0] != wf[1], str(wf[1]))):
            new, n = want, 1
            while _occupied(new, folder, files) or not merged.get(_key(new), set()).isdisjoint(contents[folder]):
                n += 1
                new = want.with_name(_numbered(want.name, n, rules))
            key = _key(new)
            targets[folder] = claimed.setdefault(key, new)
            merged.setdefault(key, set()).update(contents[folder])
    return targets
