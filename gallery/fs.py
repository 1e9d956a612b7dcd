"""The I/O edge for walking and reading a site. Never writes; never reads outside the site root.

Walkers yield ScanWarning values in line with the files they find (a symlink loop, a link
out of the site, a FIFO), so the caller can report them and go on.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import itertools
import json
import os
import re
import stat
import tomllib
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any, NamedTuple
from urllib.parse import quote

import yaml

from .frontmatter import split_front_matter
from .model import ImageFile, ScanWarning
from .resolve import (
    ContentFile,
    PublishedFile,
    bundle_url,
    content_language,
    is_content_name,
    page_stem,
)
from .site import Site
from .variants import VariantSettings, open_header

__all__ = [
    "ContentFile",
    "PublishedFile",
    "SiteReader",
    "find_names_outside_content",
    "iter_content_files",
    "iter_folder_images",
    "iter_published_images",
    "parse_front_matter",
    "read_front_matter",
    "read_image_file",
    "read_text_file",
]

# Files outside content that may name an image: templates, styles, scripts, data, strings.
_TEXT_SUFFIXES = (
    ".css", ".scss", ".sass", ".less", ".js", ".mjs", ".cjs", ".ts", ".jsx", ".tsx",
    ".html", ".htm", ".xml", ".json", ".yaml", ".yml", ".toml", ".txt", ".svg", ".webmanifest",
)  # fmt: skip
_STYLE_SCRIPT_SUFFIXES = (".css", ".scss", ".sass", ".less", ".js", ".mjs", ".cjs", ".webmanifest")


class _File(NamedTuple):
    """A regular file a walk found: one `folder` and `within` value per folder, no path per file."""

    folder: PurePosixPath  # relative to the site root
    within: str  # the folder relative to where the walk started: "" or "a/b/"
    name: str

    @property
    def path(self) -> PurePosixPath:
        return self.folder / self.name


Walked = _File | ScanWarning


# --- walking -------------------------------------------------------------------------------


def iter_content_files(site: Site) -> Iterator[ContentFile | ScanWarning]:
    """Every content file Hugo renders as a page, with its language; sorted by path."""
    for content_dir, owner in _content_dirs(site):
        files, problems = _split(_walk(site.root, content_dir, skip_hidden=True))
        yield from problems
        default = owner or site.default_language.code
        for file in _page_files(site, files, _leaf_dirs(site, files)):
            language = content_language(site, file.name) or default
            yield ContentFile(file.path, language, PurePosixPath(file.within + file.name))


def iter_published_images(site: Site, image_extensions: Iterable[str]) -> Iterator[PublishedFile | ScanWarning]:
    """Every image in the static dirs, page bundles and assets/, with the URL Hugo publishes it at.

    Static files come in copy order (a later one wins the same URL, as in Hugo); bundle
    resources Hugo publishes nowhere come with `url_path=None`; assets/ files come with
    `asset=True` (published only when something uses them).
    """
    extensions = tuple(e.lower() for e in image_extensions)
    is_image = lambda name: _suffix(name).lower() in extensions  # noqa: E731
    for static_dir in static_dirs(site):
        # Hugo publishes hidden files from static dirs too (checked: .hidden/x.png is copied).
        for item in _walk(site.root, static_dir, skip_hidden=False):
            if isinstance(item, ScanWarning):
                yield item
            elif is_image(item.name):
                yield PublishedFile(item.path, "/" + item.within + item.name)
    for content_dir, owner in _content_dirs(site):
        yield from _bundle_resources(site, content_dir, owner, is_image)
    for asset_dir in (site.asset_dir, *(t / "assets" for t in site.theme_dirs)):
        for item in _walk(site.root, asset_dir, skip_hidden=True):
            if isinstance(item, ScanWarning):
                yield item
            elif is_image(item.name):
                yield PublishedFile(item.path, "/" + item.within + item.name, asset=True)


def static_dirs(site: Site) -> list[PurePosixPath]:
    """The site's and its themes' static dirs, in the order Hugo copies them."""
    # Single-host sites copy every language's static dirs to the site root, in language order
    # (checked: a languages.fr.staticDir file lands at /x.png, and fr's copy wins over en's).
    dirs = [t / "static" for t in reversed(site.theme_dirs)]
    for lang in site.languages:
        dirs.extend(d for d in lang.static_dirs if d not in dirs)
    return dirs


def _content_dirs(site: Site) -> list[tuple[PurePosixPath, str | None]]:
    """Each content dir once, with the language that owns it (None: shared by default)."""
    dirs: dict[PurePosixPath, str | None] = {}
    for lang in site.languages:
        for d in lang.content_dirs:
            if lang.own_content_dir:
                dirs[d] = lang.code
            else:
                dirs.setdefault(d, None)
    return sorted(dirs.items())


def _bundle_resources(
    site: Site, content_dir: PurePosixPath, owner: str | None, is_image: Callable[[str], bool]
) -> Iterator[PublishedFile | ScanWarning]:
    files, problems = _split(_walk(site.root, content_dir, skip_hidden=True))
    yield from problems
    images = [file for file in files if is_image(file.name)]
    if not images:
        return  # the common layout, with every image in static/: no need to find the bundles
    default = owner or site.default_language.code
    leaves = _leaf_dirs(site, files)
    index_pages: dict[tuple[PurePosixPath, str], ContentFile] = {}
    branches: set[PurePosixPath] = set()
    sections: dict[PurePosixPath, set[str]] = {}
    for file in _page_files(site, files, leaves):
        lang = content_language(site, file.name) or default
        stem = page_stem(site, file.name)
        if stem in ("index", "_index"):
            index_pages[file.folder, lang] = ContentFile(file.path, lang, PurePosixPath(file.within + file.name))
        if stem == "_index":
            branches.add(file.folder)
        # A top-level folder holding pages is a section even without _index.md (checked: its
        # resources go under the lowercased section URL); a folder of images alone is not.
        if file.within:
            top = content_dir / file.within.split("/", 1)[0]
            if top not in leaves:
                sections.setdefault(top, set()).add(lang)
    reader = SiteReader(site.root)
    # folder -> the bundle owning its files, and the folder inside the bundle: "" or "a/b/"
    bundles: dict[PurePosixPath, tuple[PurePosixPath, str]] = {}
    bases: dict[ContentFile, str] = {}  # page -> the URL folder of its resources
    for file in images:
        if file.folder not in bundles:
            bundle = _owning_bundle(file.folder, content_dir, leaves, branches, sections)
            inside = file.folder.relative_to(bundle)
            bundles[file.folder] = bundle, f"{inside}/" if inside.parts else ""
        bundle, inside = bundles[file.folder]
        path = file.path
        lang = content_language(site, file.name) or default
        page = index_pages.get((bundle, lang))
        if page is None and (bundle == content_dir or lang in sections.get(bundle, ())):
            # The home page and folder sections exist without an _index.md file.
            page = ContentFile(bundle / "_index.md", lang, bundle.relative_to(content_dir) / "_index.md")
        if page is None:
            # Checked: a resource without a language suffix belongs to the default language
            # and is not published when the bundle has no page in that language.
            yield PublishedFile(path, None, bundle, lang)
            continue
        if page not in bases:
            text, _ = reader.read_text(page.path)
            bases[page] = bundle_url(site, page, parse_front_matter(text) if text else {})
        # Resource paths keep their case and spaces; only the page part of the URL is sanitised.
        yield PublishedFile(path, bases[page] + inside + file.name, bundle, lang)


def _owning_bundle(
    folder: PurePosixPath,
    content_dir: PurePosixPath,
    leaves: set[PurePosixPath],
    branches: set[PurePosixPath],
    sections: Mapping[PurePosixPath, set[str]],
) -> PurePosixPath:
    # The folder and the ones above it, up to the content dir (the walk that found the folder
    # started there).
    ancestors = []
    for a in (folder, *folder.parents):
        ancestors.append(a)
        if a == content_dir:
            break
    for a in reversed(ancestors):  # the outermost leaf: bundles do not nest inside a leaf
        if a in leaves:
            return a
    for a in ancestors:
        if a in branches or a in sections:
            return a
    return content_dir


def _leaf_dirs(site: Site, files: Iterable[_File]) -> set[PurePosixPath]:
    # The name test first: it is cheap, and only an "index." name can have the stem "index".
    return {
        f.folder
        for f in files
        if f.name.startswith("index.") and is_content_name(f.name) and page_stem(site, f.name) == "index"
    }


def _page_files(site: Site, files: list[_File], leaves: set[PurePosixPath]) -> Iterator[_File]:
    """The content files Hugo renders as pages, in walk order."""
    under_leaf = _under_leaf({f.folder for f in files}, leaves)
    for file in files:
        if not is_content_name(file.name) or under_leaf[file.folder]:
            continue
        # Below a leaf bundle's index file a content file is a resource, not a page: in a
        # leaf's own folder, every content file but the index one.
        if file.folder in leaves and page_stem(site, file.name) != "index":
            continue
        yield file


def _under_leaf(folders: Iterable[PurePosixPath], leaves: set[PurePosixPath]) -> dict[PurePosixPath, bool]:
    """Whether a leaf bundle's folder lies above each folder (and above each of their parents)."""
    under: dict[PurePosixPath, bool] = {}

    def visit(folder: PurePosixPath) -> bool:
        # Once per folder: a parent's answer serves all the folders inside it.
        if folder not in under:
            parent = folder.parent
            under[folder] = parent != folder and (parent in leaves or visit(parent))
        return under[folder]

    for folder in folders:
        visit(folder)
    return under


def _split(items: Iterable[Walked]) -> tuple[list[_File], list[ScanWarning]]:
    files, problems = [], []
    for item in items:
        (problems if isinstance(item, ScanWarning) else files).append(item)
    return files, problems


def _suffix(name: str) -> str:
    """PurePosixPath(name).suffix, without making the path: "" for ".png" and "x."."""
    i = name.rfind(".")
    return name[i:] if 0 < i < len(name) - 1 else ""


def _walk(root: Path, start: PurePosixPath, skip_hidden: bool) -> Iterator[Walked]:
    """Regular files under START (relative to root), sorted; links out of the root or looping are reported."""
    root_real = _real_root(root)
    top = os.path.join(root, start)
    if not os.path.lexists(top):
        return
    real = os.path.realpath(top)
    if not _inside(real, root_real):
        yield ScanWarning(start, "symlink to outside the site root, not followed")
        return
    if not os.path.isdir(real):
        return
    yield from _walk_dir(root_real, start, "", real, (real,), skip_hidden)


def _walk_dir(
    root_real: str, folder: PurePosixPath, within: str, real: str, ancestors: tuple[str, ...], skip_hidden: bool
) -> Iterator[Walked]:
    try:
        entries = sorted(os.scandir(real), key=lambda e: e.name)
    except OSError as e:
        yield ScanWarning(folder, f"cannot list folder: {e.strerror}")
        return
    for entry in entries:
        name = entry.name
        if skip_hidden and name.startswith("."):
            continue
        # d_type answers is_file/is_dir without a stat call; only links need resolving.
        if entry.is_file(follow_symlinks=False):
            yield _File(folder, within, name)
            continue
        if entry.is_symlink():
            target = os.path.realpath(entry.path)
            if not _inside(target, root_real):
                yield ScanWarning(folder / name, "symlink to outside the site root, not followed")
                continue
            try:
                mode = os.stat(target).st_mode
            except OSError as e:
                problem = "symlink loop, not followed" if e.errno == errno.ELOOP else "broken symlink, skipped"
                yield ScanWarning(folder / name, problem)
                continue
        else:
            target = os.path.join(real, name)
            if entry.is_dir(follow_symlinks=False):
                mode = stat.S_IFDIR
            else:
                mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISDIR(mode):
            if target in ancestors:
                yield ScanWarning(folder / name, "symlink loop, not followed")
                continue
            yield from _walk_dir(
                root_real, folder / name, f"{within}{name}/", target, (*ancestors, target), skip_hidden
            )
        elif stat.S_ISREG(mode):
            yield _File(folder, within, name)
        else:
            yield ScanWarning(folder / name, "not a regular file (a FIFO, socket or device), skipped")


def iter_folder_images(root: Path, image_extensions: Iterable[str]) -> Iterator[PurePosixPath | ScanWarning]:
    """Image files (by extension) under any folder, hidden ones skipped: for commands that work outside a site."""
    extensions = {e.lower() for e in image_extensions}
    for item in _walk(root, PurePosixPath(), skip_hidden=True):
        if isinstance(item, ScanWarning):
            yield item
        elif _suffix(item.name).lower() in extensions:
            yield item.path


@functools.lru_cache(maxsize=8)
def _real_root(root: Path) -> str:
    return os.path.realpath(root)


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


# --- reading -------------------------------------------------------------------------------

# O_NONBLOCK: opening a FIFO must not wait for a writer; fstat then rejects it.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class SiteReader:
    """Reads files of one site like `read_text_file` and `read_image_file`, with one realpath per folder.

    A file is opened inside its folder's real path with O_NOFOLLOW, so the kernel refuses a
    file that is itself a link. That file, and any other the quick open fails on, is opened
    the careful way (a realpath of the whole path), so the answers are the same. Use one
    reader per scan: it remembers each folder's real path for as long as it lives.
    """

    def __init__(self, root: Path, max_pixels: int = VariantSettings().max_pixels) -> None:
        self.root = root
        self.max_pixels = max_pixels  # an image with more pixels is a ScanWarning, as read_image_file says
        self._root_real = _real_root(root)
        self._real_folders: dict[str, str | None] = {}

    def read_text(self, path: PurePosixPath) -> tuple[str | None, ScanWarning | None]:
        """What `read_text_file(root, path)` gives."""
        return _text_from(path, self._open(path))

    def read_image(self, path: PurePosixPath) -> ImageFile | ScanWarning:
        """What `read_image_file(root, path, max_pixels)` gives."""
        return _image_from(path, self._open(path), self.max_pixels)

    def _open(self, path: PurePosixPath) -> int | ScanWarning:
        # os.path.split, not PurePosixPath.parent: "/x" must keep "/" as its folder.
        folder, name = os.path.split(str(path))
        real_folder = self._real_folder(folder)
        if _NOFOLLOW and real_folder is not None and name not in ("", ".", ".."):
            try:
                fd = os.open(os.path.join(real_folder, name), _OPEN_FLAGS)
            except OSError:
                pass  # a link, a missing file, ...: the careful open below says which
            else:
                return _regular(fd, path)
        return _open_regular(self.root, path)

    def _real_folder(self, folder: str) -> str | None:
        """The folder's real path when it is inside the root, else None."""
        if folder not in self._real_folders:
            self._real_folders[folder] = self._resolve(folder)
        return self._real_folders[folder]

    def _resolve(self, folder: str) -> str | None:
        parent, name = os.path.split(folder)
        if name not in ("", ".", ".."):
            # A folder that is no link, inside a parent already resolved inside the root, is
            # where it seems: one lstat instead of a realpath of every part of the path.
            real_parent = self._real_folder(parent)
            if real_parent is not None:
                candidate = os.path.join(real_parent, name)
                if not os.path.islink(candidate):
                    return candidate
        real = os.path.realpath(os.path.join(self.root, folder))
        return real if _inside(real, self._root_real) else None


def _open_regular(root: Path, path: PurePosixPath) -> int | ScanWarning:
    """A read-only descriptor for a regular file inside the root, or why there is none."""
    root_real = _real_root(root)
    real = os.path.realpath(os.path.join(root, path))
    if not _inside(real, root_real):
        return ScanWarning(path, "leads outside the site root, not read")
    try:
        fd = os.open(real, _OPEN_FLAGS)
    except OSError as e:
        return ScanWarning(path, f"cannot read: {e.strerror}")
    return _regular(fd, path)


def _regular(fd: int, path: PurePosixPath) -> int | ScanWarning:
    """FD if it is a regular file; otherwise FD is closed and the warning says why."""
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return ScanWarning(path, "not a regular file (a FIFO, socket or device), not read")
    return fd


def read_image_file(
    root: Path, path: PurePosixPath, max_pixels: int = VariantSettings().max_pixels
) -> ImageFile | ScanWarning:
    """Size, dimensions and format from the file's header only.

    A ScanWarning says why when the file cannot be read, is no image gallery reads (empty, text,
    EPS, HEIC, a corrupt header: the format is named when known) or has more than `max_pixels`
    pixels (a decompression bomb is never decoded).
    """
    return _image_from(path, _open_regular(root, path), max_pixels)


def _image_from(path: PurePosixPath, fd: int | ScanWarning, max_pixels: int) -> ImageFile | ScanWarning:
    if isinstance(fd, ScanWarning):
        return fd
    with os.fdopen(fd, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if path.suffix.lower() in (".svg", ".svgz"):
            return ImageFile(path, size, None, None, "SVG")
        try:
            with open_header(f, max_pixels) as image:
                return ImageFile(path, size, image.width, image.height, image.format)
        except ValueError as e:
            return ScanWarning(path, str(e))


def read_text_file(root: Path, path: PurePosixPath) -> tuple[str | None, ScanWarning | None]:
    """The file as text, BOM kept; invalid UTF-8 bytes kept as surrogates (with a warning).

    An unreadable file gives (None, warning).
    """
    return _text_from(path, _open_regular(root, path))


def _text_from(path: PurePosixPath, fd: int | ScanWarning) -> tuple[str | None, ScanWarning | None]:
    if isinstance(fd, ScanWarning):
        return None, fd
    try:
        data = _read_all(fd)
    except OSError as e:
        return None, ScanWarning(path, f"cannot read: {e.strerror}")
    finally:
        os.close(fd)
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as e:
        # surrogateescape keeps every byte, so re-encoding gives exact byte offsets.
        text = data.decode("utf-8", "surrogateescape")
        message = f"not valid UTF-8 (first bad byte at offset {e.start}); bad bytes kept as they are"
        return text, ScanWarning(path, message)


def _read_all(fd: int) -> bytes:
    # Plain os.read: for a page of a few kB, a buffered file object costs more than the read.
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def read_front_matter(root: Path, path: PurePosixPath) -> Mapping[str, Any]:
    """The page's front matter as a mapping; {} when it has none or it cannot be parsed."""
    text, _ = read_text_file(root, path)
    return parse_front_matter(text) if text else {}


def parse_front_matter(text: str) -> Mapping[str, Any]:
    """The front matter of TEXT as a mapping; {} when it has none or it cannot be parsed."""
    # The extent comes from the scanner's own rules, so URLs and the scan agree on it.
    front, _ = split_front_matter(text)
    if front is None:
        return {}
    body = text[front.start : front.end]
    try:
        if front.format == "json":
            data = json.loads(body)
        elif front.format == "toml":
            data = tomllib.loads(body)
        else:
            data = yaml.load(body, Loader=yaml.CSafeLoader)  # noqa: S506 (the safe loader)
    except (ValueError, yaml.YAMLError):
        return {}
    return data if isinstance(data, dict) else {}


# --- names used outside content ------------------------------------------------------------


def find_names_outside_content(site: Site, names: Iterable[str], skip: Collection[PurePosixPath] = ()) -> set[str]:
    """Which of NAMES appear in layouts, themes, data, assets, i18n, static CSS/JS or the config.

    `skip` lists files gallery writes itself (the manifest): a name there is no author's use.
    """
    wanted: dict[str, str] = {}
    for name in names:
        wanted[name] = name
        # surrogateescape: a name with bytes that are not UTF-8 is written %-encoded byte for byte.
        wanted.setdefault(quote(name, errors="surrogateescape"), name)  # url(my%20photo.png) in CSS
    if not wanted:
        return set()
    lengths = sorted({len(w) for w in wanted})
    suffixes = sorted({w.rsplit(".", 1)[1].lower() for w in wanted if "." in w}, key=len, reverse=True)
    if not suffixes:
        return set()
    # Find each extension, then test the few name lengths ending there: fast for 10,000 names.
    ends = re.compile(r"\.(?:" + "|".join(map(re.escape, suffixes)) + r")(?![A-Za-z0-9])", re.I)
    found: set[str] = set()
    reader = SiteReader(site.root)
    for path in _files_outside_content(site, skip):
        text, _ = reader.read_text(path)
        if not text:
            continue
        for m in ends.finditer(text):
            e = m.end()
            for n in lengths:
                hit = wanted.get(text[e - n : e]) if n <= e else None
                # A whole name only: "con.png" is not used by "favicon.png".
                if hit and (n == e or not _is_name_char(text[e - n - 1])):
                    found.add(hit)
        if len(found) == len(set(wanted.values())):
            break
    return found


def find_folders_outside_content(site: Site, names: Iterable[str], skip: Collection[PurePosixPath] = ()) -> set[str]:
    """Which folder NAMES appear as a path segment (`/name/`) in layouts, data, config, CSS or JS."""
    wanted: dict[str, str] = {}
    for name in names:
        wanted[name] = name
        wanted.setdefault(quote(name, errors="surrogateescape"), name)
    if not wanted:
        return set()
    segment = re.compile("/(" + "|".join(map(re.escape, sorted(wanted, key=len, reverse=True))) + ")/")
    found: set[str] = set()
    reader = SiteReader(site.root)
    for path in _files_outside_content(site, skip):
        text, _ = reader.read_text(path)
        if text:
            found.update(wanted[m.group(1)] for m in segment.finditer(text))
    return found


def _is_name_char(c: str) -> bool:
    return c.isalnum() or c in "-_."


def _files_outside_content(site: Site, skip: Collection[PurePosixPath]) -> Iterator[PurePosixPath]:
    yield from (path for path in _all_files_outside_content(site) if path not in skip)


def _all_files_outside_content(site: Site) -> Iterator[PurePosixPath]:
    yield from site.config_files
    everything = [site.layout_dir, site.data_dir, site.i18n_dir]
    for theme in site.theme_dirs:
        everything += [theme / "layouts", theme / "data", theme / "i18n"]
    for d in everything:
        for item in _walk(site.root, d, skip_hidden=True):
            if not isinstance(item, ScanWarning) and _suffix(item.name).lower() in _TEXT_SUFFIXES:
                yield item.path
    for d in (site.asset_dir, *(t / "assets" for t in site.theme_dirs)):
        for item in _walk(site.root, d, skip_hidden=True):
            if not isinstance(item, ScanWarning) and _suffix(item.name).lower() in _TEXT_SUFFIXES:
                yield item.path
    for d in static_dirs(site):
        for item in _walk(site.root, d, skip_hidden=True):
            if not isinstance(item, ScanWarning) and _suffix(item.name).lower() in _STYLE_SCRIPT_SUFFIXES:
                yield item.path


# Originals that a command replaced (downscaled) or removed (merged duplicates): never published.
ORIGINALS = PurePosixPath(".gallery/originals")

# --- writing: the only functions that change files; apply.py and journal.py call them ---------


TEMPORARY_SUFFIX = ".gallery-tmp"  # `.name.gallery-tmp` beside `name`: what a killed write may leave
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


def write_atomic(path: Path, data: bytes, root: Path | None = None) -> None:
    """Replace `path` with `data` so that a reader, or a crash, sees the old or the new bytes.

    The bytes go to a temporary file in the same folder, which is flushed to disk and
    renamed over the target; then the folder itself is flushed so the rename survives a
    power cut. Missing folders are made (and flushed) first. The target's permission bits,
    and where we may, its owner, are kept. A target we may not write (a read-only file in a
    writable folder) is refused, as a write in place would be: PermissionError (OSError
    EROFS on a read-only file system). A symbolic link stays a link: the file it leads to is
    written when it is inside `root` (the site root), and the write is refused (OSError) when it
    is outside it or no `root` says where the site ends. On any error the target is as it was
    and no temporary file is left; errors name `path`.
    """
    target = _write_target(path, root)
    folder = target.parent
    temporary = folder / f".{target.name}{TEMPORARY_SUFFIX}"
    try:
        old = os.stat(target)
    except FileNotFoundError:
        old = None
        make_folders(folder)
    if old is not None and not _may_write(target):
        code = errno.EROFS if _read_only_file_system(target) else errno.EACCES
        raise PermissionError(code, os.strerror(code), str(path))
    mode = stat.S_IMODE(old.st_mode) if old is not None else 0o644
    try:
        # O_NOFOLLOW: a link planted at the temporary name is not written through.
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _CLOEXEC, mode)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from e  # named after the file being written
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            os.fchmod(f.fileno(), mode)  # the umask narrowed the mode os.open was given
            if old is not None and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
                with contextlib.suppress(OSError):  # only root may give a file away; others keep theirs
                    os.fchown(f.fileno(), old.st_uid, old.st_gid)
        os.replace(temporary, target)
    except BaseException as e:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        if isinstance(e, OSError) and e.filename != str(path):
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    fsync_folder(folder)


def _write_target(path: Path, root: Path | None) -> Path:
    """The file a write to `path` replaces: `path`, or the file its symbolic link leads to, inside `root`."""
    if root is None:
        if os.path.islink(path):
            raise PermissionError(errno.EPERM, "it is a symbolic link and the site root is not known", str(path))
        return path
    real = os.path.realpath(path)
    if not _inside(real, _real_root(root)):
        raise PermissionError(errno.EPERM, "it leads outside the site root through a symbolic link", str(path))
    # A link is written through, not replaced by a file; through a linked folder, os.replace already lands there.
    return Path(real) if os.path.islink(path) else path


def _may_write(path: Path) -> bool:
    # effective_ids: a setuid run is judged as the user it runs as (faccessat AT_EACCESS).
    if os.access in os.supports_effective_ids:
        return os.access(path, os.W_OK, effective_ids=True)
    return os.access(path, os.W_OK)


def _read_only_file_system(path: Path) -> bool:
    # os.access answers False without saying why: EROFS is the file system's flag, not the file's mode.
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def make_folders(folder: Path) -> None:
    """Make `folder` and its missing parents, each flushed into its parent so it survives a power cut."""
    missing = []
    while not folder.is_dir():
        missing.append(folder)
        if folder.parent == folder:
            break
        folder = folder.parent
    for made in reversed(missing):
        try:
            made.mkdir()
        except FileExistsError:
            if not made.is_dir():
                raise
            continue
        fsync_folder(made.parent)


def fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (renames, new and removed names) to disk."""
    fd = os.open(folder, os.O_RDONLY | _CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def link_or_copy(source: Path, target: Path) -> None:
    """Give `source` a second name `target` (a hard link, or an atomic copy where links fail)."""
    make_folders(target.parent)
    try:
        os.link(source, target, follow_symlinks=False)
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        write_atomic(target, source.read_bytes())
        return
    fsync_folder(target.parent)


def keep_original(root: Path, path: PurePosixPath) -> PurePosixPath:
    """Give the site file `path` a second name in the originals store before it is replaced or removed.

    The store, `.gallery/originals/` beside the journal, mirrors the site's folders and is never
    published. A different earlier original of the same path is kept too: `name.1.ext`, `name.2.ext`.
    Returns where the original now is, relative to the site root; idempotent for the same bytes.
    """
    source = root / path
    data = source.read_bytes()
    stored = ORIGINALS / path
    for count in itertools.count(1):
        target = root / stored
        if not target.exists():
            # A copy, not a link: a tool that edits the site's file in place must not change the original.
            write_atomic(target, data)
            return stored
        if target.read_bytes() == data:
            return stored
        stored = (ORIGINALS / path).with_name(f"{path.stem}.{count}{path.suffix}")


def cached_reader(root: Path) -> Callable[[PurePosixPath], bytes]:
    """`read_site_bytes` for one run: each file read once (pages are small and read by several stages)."""
    return functools.cache(lambda path: read_site_bytes(root, path))


def read_site_bytes(root: Path, path: PurePosixPath) -> bytes:
    """The bytes of a regular file inside the site; OSError naming the file otherwise."""
    fd = _open_regular(root, path)
    if isinstance(fd, ScanWarning):
        raise OSError(errno.EINVAL, fd.message, str(path))
    with os.fdopen(fd, "rb") as f:
        return f.read()
