"""Hook mode: Hugo writes the `<picture>` markup at build time, and the Markdown stays as written. Pure.

`gallery fix-refs --mode hook` installs an image render hook (templates/render-image.html) and,
beside the manifest, the data it reads: for each image with current variants, keyed by the URL
path the image is published at (site-relative, decoded, as the scan resolves it), the variants a
`<picture>` shows (picture.picture_parts, so both modes show the same ones). Hugo calls the hook
for Markdown images only: raw `<img>` tags and shortcodes are not covered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from importlib.resources import files
from pathlib import PurePosixPath

from .edit import spelled_path
from .manifest import SourceEntry, VariantEntry
from .model import Finding, ImageRef, RefKind, ScanResult, Status
from .picture import picture_parts
from .site import Site

Variants = Callable[[PurePosixPath], SourceEntry | None]  # an image's current manifest entry (rewrite.Variants)
TEMPLATE = files(__package__).joinpath("templates/render-image.html").read_bytes()
# The template's first line: a file starting with it is gallery's, written again on every run.
MARK = b"{{- /* written by gallery:"
# The project's own image render hook for every page (Hugo before and after 0.146 reads it there).
TEMPLATE_PATH = PurePosixPath("_default/_markup/render-image.html")
DATA_NAME = "gallery_hook.json"  # site.Data.gallery_hook
COVERED = (RefKind.MARKDOWN, RefKind.REFERENCE)  # what Hugo passes to an image render hook
SHOWN = (*COVERED, RefKind.HTML, RefKind.SHORTCODE)


class Slot(StrEnum):
    """What the render hook's path holds now."""

    FREE = "free"  # nothing: gallery's template goes there
    CURRENT = "current"  # gallery's template, as this version writes it
    OURS = "ours"  # gallery's template from another version: written again
    TAKEN = "taken"  # the author's own hook: never overwritten


def template_path(site: Site) -> PurePosixPath:
    """Where the render hook goes, relative to the site root."""
    return site.layout_dir / TEMPLATE_PATH


def data_path(site: Site) -> PurePosixPath:
    """Where the hook's data goes, relative to the site root (Hugo reads it as site.Data.gallery_hook)."""
    return site.data_dir / DATA_NAME


def slot(existing: bytes | None) -> Slot:
    """What the file at the render hook's path is (None: there is none)."""
    if existing is None:
        return Slot.FREE
    if existing == TEMPLATE:
        return Slot.CURRENT
    return Slot.OURS if existing.startswith(MARK) else Slot.TAKEN


def own_data_files(site: Site, manifest: str) -> frozenset[PurePosixPath]:
    """The data files gallery writes, the manifest and the hook's data: a name in them is no author's use."""
    return frozenset((PurePosixPath(manifest), data_path(site)))


def hook_files(site: Site, scan: ScanResult, variants: Variants, sizes: str) -> dict[PurePosixPath, bytes]:
    """What hook mode writes, by path: the render hook, and its data for the images with current variants."""
    images = {}
    for image in scan.images:
        entry = variants(image.path)
        if image.url is not None and entry is not None and entry.variants and _is_text(image.url):
            images[image.url] = entry
    return {template_path(site): TEMPLATE, data_path(site): hook_data(images, sizes, site.render_hooks)}


def hook_data(images: Mapping[str, SourceEntry], sizes: str, resources: bool) -> bytes:
    """The bytes of data/gallery_hook.json: stable (sorted keys), so an unchanged site writes the same bytes.

    `resources`: the site's embedded render hooks are on, so Hugo looks a Markdown image up as a page
    or global resource first; the hook replacing them must do the same.
    """
    shown = {}
    for url, entry in images.items():
        parts = picture_parts(entry)
        if parts is None:
            continue
        shown[url] = {
            "sources": [{"type": kind, "srcset": _srcset(variants)} for kind, variants in parts.sources],
            "src": spelled_path(parts.src.url),
            "srcset": _srcset(parts.fallback),
            "width": parts.largest.width,
            "height": parts.largest.height,
        }
    document = {"images": shown, "resources": resources, "sizes": sizes}
    return (json.dumps(document, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def hook_findings(
    scan: ScanResult,
    variants: Variants,
    has_manifest: bool,
    stale: Iterable[PurePosixPath],
) -> tuple[Finding, ...]:
    """The `unoptimized` findings of a site in hook mode.

    A Markdown image with variants is the hook's, once its files (`stale` lists those out of date)
    are current. Raw `<img>` tags and shortcodes are not: Hugo calls no render hook for them. An
    element gallery's rewrite mode wrote is put back by `fix-refs --mode hook`, which writes no markup.
    """
    findings = [
        Finding("unoptimized", "", f"{path} is out of date: `gallery fix-refs --mode hook` writes it", file=path)
        for path in stale
    ]
    for ref in scan.refs:
        message = _unhooked(ref, variants, has_manifest)
        if message:
            findings.append(Finding("unoptimized", "", message, ref.page, ref.ref.line, ref.file))
    return tuple(findings)


def _unhooked(ref: ImageRef, variants: Variants, has_manifest: bool) -> str:
    """Why the render hook does not show this reference as `<picture>` ("" when it does, or has nothing to show)."""
    if ref.ref.original:
        return f"{ref.file} is in <picture> markup in the page: `gallery fix-refs --mode hook` puts the original back"
    if ref.ref.kind not in SHOWN or ref.ref.generated or ref.status != Status.OK or ref.file is None:
        return ""
    entry = variants(ref.file)
    if entry is None:
        return f"{ref.file} has no current variants: run `gallery optimize`" if has_manifest else ""
    if not is_uncovered(ref, entry):
        return ""
    what = "a raw <img>" if ref.ref.kind == RefKind.HTML else "a shortcode"
    return (
        f"{ref.file} is shown by {what}, which Hugo's render hooks never see: write it as a Markdown image"
        " ![alt](url), or let `gallery fix-refs --mode rewrite` write its <picture>"
    )


def is_uncovered(ref: ImageRef, entry: SourceEntry | None) -> bool:
    """Whether the reference shows an image with variants where Hugo calls no render hook (raw HTML, a shortcode)."""
    shown = ref.ref.kind in SHOWN and not ref.ref.generated and not ref.ref.original and ref.status == Status.OK
    return shown and ref.ref.kind not in COVERED and entry is not None and bool(entry.variants)


def _srcset(variants: Iterable[VariantEntry]) -> list[str]:
    return [f"{spelled_path(v.url)} {v.width}w" for v in variants]


def _is_text(url: str) -> bool:
    """Whether the URL path can be a JSON key Hugo reads (a name that is not UTF-8 cannot)."""
    try:
        url.encode()
    except UnicodeEncodeError:
        return False
    return True
