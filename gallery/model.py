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


@dataclass(frozen=True, slots=True)
class ImageFile:
    """An image file published by the site (static dirs or page bundles)."""

    path: PurePosixPath  # relative to the site root
    bytes: int
    width: int | None
    height: int | None
    format: str | None  # Pillow's name for what the bytes are, whatever the extension says


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
    severity: str  # error or warning
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
