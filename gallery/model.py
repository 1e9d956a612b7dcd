"""Frozen values passed between the stages. Imports nothing from gallery."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePosixPath


class RefKind(StrEnum):
    """Where in a content file a reference was written."""

    MARKDOWN = "markdown"  # ![alt](url)
    REFERENCE = "reference"  # ![alt][label] -> the URL span is in the definition
    HTML = "html"  # <img src>
    SRCSET = "srcset"  # one candidate of srcset on <img> or <source>
    LINK = "link"  # [text](full.jpg) or <a href="full.jpg">
    SHORTCODE = "shortcode"  # {{< figure src=... >}}
    FRONTMATTER = "frontmatter"  # image: /images/cover.jpg


class Status(StrEnum):
    """What a reference resolves to once the site is published."""

    OK = "ok"
    MISSING = "missing"
    CASE_MISMATCH = "case-mismatch"
    NOT_RENDERED = "not-rendered"
    REMOTE = "remote"
    DATA_URI = "data-uri"
    OUTSIDE_SITE = "outside-site"


@dataclass(frozen=True, slots=True)
class RawRef:
    """One image URL found in a content file's text, before it is resolved.

    `start`/`end` are offsets of the URL in the file's bytes, so later stages can
    replace exactly that span and leave every other byte alone.
    """

    kind: RefKind
    url: str  # what the author means: Markdown escapes and HTML entities decoded
    start: int
    end: int
    line: int  # 1-based
    column: int  # 1-based, in characters
    raw_html: bool = False  # written as raw HTML: Hugo drops it unless unsafe=true
    rendered: bool = True  # False for Markdown inside an HTML block (printed as text)
    generated: bool = False  # a variant URL in markup gallery wrote: rewritten with it, never fixed alone
    original: bool = False  # the URL that markup replaced, kept in its data-gallery: resolves, but no browser loads it


@dataclass(frozen=True, slots=True)
class ImageElement:
    """The whole markup showing one image on a page: what the rewriter replaces.

    Markdown images, reference images (the usage, not the definition), raw `<img>` tags and
    `figure` shortcodes; or an element gallery wrote earlier, with the markup it replaced.
    """

    kind: RefKind  # of the reference naming the image (for one gallery wrote: of its original)
    start: int  # byte offsets of the element in the file
    end: int
    line: int
    url_start: int  # byte offset of the URL naming the image: the `start` of that RawRef
    alt: str | None = None
    title: str | None = None
    attributes: tuple[tuple[str, str | None], ...] = ()  # a raw <img>'s, or a figure's parameters
    original: str | None = None  # set when gallery wrote this element: the markup it replaced
    unwritable: str = ""  # why the rewriter must leave it as it is (a Markdown caption, a quote's markers)
    block: bool = False  # it starts an HTML block, which the markup replacing it must start too


@dataclass(frozen=True, slots=True)
class PageContext:
    """A content page: where it is and where Hugo publishes it."""

    path: PurePosixPath  # content file, relative to the site root
    url: str  # the page's URL path, site-relative, without the baseURL path
    language: str


@dataclass(frozen=True, slots=True)
class ImageRef:
    """A reference resolved against the site."""

    page: PurePosixPath  # content file, relative to the site root
    ref: RawRef
    status: Status
    file: PurePosixPath | None  # the image it points at, relative to the site root
    hint: str = ""  # a suggested fix, for problems
    candidates: tuple[PurePosixPath, ...] = ()  # for a missing file: files the author may have meant


@dataclass(frozen=True, slots=True)
class ImageFile:
    """An image file published by the site (static dirs or page bundles)."""

    path: PurePosixPath  # relative to the site root
    bytes: int
    width: int | None
    height: int | None
    format: str | None  # Pillow's name for what the bytes are, whatever the extension says
    url: str | None = None  # decoded URL path Hugo publishes it at, without the baseURL path


@dataclass(frozen=True, slots=True)
class ScanWarning:
    """A file the scan could not read fully; the scan went on without it."""

    path: PurePosixPath
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class ScanResult:
    """Everything `scan` learned about a site."""

    pages: tuple[PageContext, ...]
    refs: tuple[ImageRef, ...]
    images: tuple[ImageFile, ...]
    orphans: tuple[PurePosixPath, ...]
    warnings: tuple[ScanWarning, ...]


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing `gallery check` reports, at the page line that causes it when there is one."""

    rule: str
    severity: str  # error or warning ("" until check applies the configured level)
    message: str
    page: PurePosixPath | None = None
    line: int | None = None
    file: PurePosixPath | None = None

    @property
    def where(self) -> str:
        """`page:line` (or the image path) for messages and annotations."""
        if self.page is not None:
            return f"{self.page}:{self.line}" if self.line else str(self.page)
        return str(self.file or "")


@dataclass(frozen=True, slots=True)
class Edit:
    """Replace bytes [start, end) of a page, which must still read `old`, with `new`."""

    start: int
    end: int
    old: bytes
    new: bytes
    needs: PurePosixPath | None = None  # a file the new text points at: skip the edit without it


@dataclass(frozen=True, slots=True)
class PageEdit:
    """All edits of one page, with digests to tell "not yet applied" from "already applied"."""

    page: PurePosixPath
    edits: tuple[Edit, ...]
    before: str  # sha256 of the page as planned
    after: str  # sha256 of the page once edited


@dataclass(frozen=True, slots=True)
class Rename:
    """Move an image (or an image's folder, one file at a time) to a clean name."""

    old: PurePosixPath
    new: PurePosixPath


@dataclass(frozen=True, slots=True)
class StripMetadata:
    """Remove EXIF, XMP, IPTC and comments from an image, pixels untouched."""

    path: PurePosixPath  # where the image is once renames are done
    saves: int  # bytes
    gps: bool


@dataclass(frozen=True, slots=True)
class DuplicateGroup:
    """Images showing the same picture, and the copy worth keeping."""

    keep: PurePosixPath  # relative to the site root (or to the folder `gallery dupes` was given)
    duplicates: tuple[PurePosixPath, ...]
    reason: str  # "identical" (same bytes) or "perceptual" (same picture, other bytes)
    distance: int  # largest hash distance from `keep` to a duplicate; 0 when identical


@dataclass(frozen=True, slots=True)
class Merge:
    """Remove a duplicate once every page that used it points at the copy kept."""

    duplicate: PurePosixPath
    keep: PurePosixPath
    identical: bool  # otherwise the duplicate's bytes are moved to the originals store, not deleted


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a command will change, decided before anything is written."""

    renames: tuple[Rename, ...] = ()
    strips: tuple[StripMetadata, ...] = ()
    pages: tuple[PageEdit, ...] = ()
    merges: tuple[Merge, ...] = ()
    problems: tuple[Finding, ...] = ()  # what needs a person: reported, not changed

    def __bool__(self) -> bool:
        return bool(self.renames or self.strips or self.pages or self.merges)


@dataclass(frozen=True, slots=True)
class Report:
    """What applying a plan did."""

    renamed: int = 0
    stripped: int = 0
    bytes_saved: int = 0
    pages_written: int = 0
    failures: tuple[str, ...] = ()  # one line each: "path: what went wrong"
    merged: int = 0  # duplicates removed, their pages pointed at the copy kept

    @property
    def exit_code(self) -> int:
        return 3 if self.failures else 0
