"""Stage 4: every shown local image as a `<picture>` with AVIF and WebP srcsets. Reads files, never writes.

For each image element of a page (Markdown, reference, raw `<img>`, `figure` shortcode)
whose image has current variants in the manifest, the element is replaced by one line
of markup (see picture.py) whose URLs take the form the original URL took. Markup gallery
wrote earlier is recognised by its `data-gallery` original: it is written again only
when the variants changed, and `revert` puts the original back byte for byte.

The rewrite runs on the page as the other fixes of the same run leave it, and the
edits are composed, so one journalled write does both.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from .build import read_manifest
from .config import Config, Placeholder
from .edit import apply_edits, url_like
from .manifest import SourceEntry, VariantEntry
from .model import Edit, Finding, ImageElement, ImageRef, PageContext, Plan, RawRef, RefKind, ScanResult, Status
from .optimize import is_under, page_edits
from .picture import URL_ESCAPED, Shown, figure, picture
from .plan import published_index
from .resolve import resolve_ref
from .scan import find_refs, is_markdown
from .site import Site

FRONT_MATTER_SIZES = "gallery_sizes"  # a page's own `sizes`, over [gallery] sizes
Reader = Callable[[PurePosixPath], bytes]
NO_VARIANTS = "has no current variants: run `gallery optimize`"


@dataclass(frozen=True, slots=True)
class Rewrite:
    """What the rewriter would change, and what it cannot change yet (both are `unoptimized` for check)."""

    plan: Plan
    pending: tuple[Finding, ...] = ()  # markup `fix-refs` writes or updates
    blocked: tuple[Finding, ...] = ()  # needs a person: a plain caption, one line, a simpler URL
    unbuilt: tuple[Finding, ...] = ()  # needs `gallery optimize` first: the image has no current variants

    @property
    def findings(self) -> tuple[Finding, ...]:
        """The `unoptimized` findings; images without variants count once the site has a manifest at all."""
        return (*self.pending, *self.blocked, *(self.unbuilt if self.has_manifest else ()))

    has_manifest: bool = False


@dataclass(slots=True)
class _Page:
    edits: list[Edit] = field(default_factory=list)
    pending: list[Finding] = field(default_factory=list)
    blocked: list[Finding] = field(default_factory=list)
    unbuilt: list[Finding] = field(default_factory=list)


class Variants:
    """The manifest's entry of each image, when it still describes the file and every variant is on disk."""

    def __init__(self, root: Path, config: Config) -> None:
        self.root = root
        self.entries = read_manifest(root, PurePosixPath(config.manifest))
        self.found: dict[PurePosixPath, SourceEntry | None] = {}

    def __call__(self, path: PurePosixPath) -> SourceEntry | None:
        if path not in self.found:
            self.found[path] = self._current(path)
        return self.found[path]

    def _current(self, path: PurePosixPath) -> SourceEntry | None:
        entry = self.entries.get(str(path))
        try:
            if entry is None or not entry.describes(os.stat(self.root / path)):
                return None
        except OSError:
            return None
        return entry if all((self.root / v.path).is_file() for v in entry.variants) else None


def plan_rewrite(
    site: Site, config: Config, target: PurePosixPath, scan: ScanResult, read: Reader, base: Plan | None = None
) -> Rewrite:
    """`base` with every image element of the pages under `target` rewritten, on top of `base`'s page edits."""
    base = base if base is not None else Plan()
    index = published_index(site, config, scan)
    variants = Variants(site.root, config)
    base_edits = {page.page: page.edits for page in base.pages}
    composed: dict[PurePosixPath, list[Edit]] = {}
    pending: list[Finding] = []
    blocked: list[Finding] = []
    unbuilt: list[Finding] = []
    for context in scan.pages:
        if not is_under(context.path, target):
            continue
        before = read(context.path)
        edits = base_edits.get(context.path, ())
        after = apply_edits(before, edits)

        def resolve(raw: RawRef, context: PageContext = context) -> ImageRef:
            return resolve_ref(site, index, context, raw)

        page = rewrite_page(after, context, site, config, resolve, variants)
        pending += page.pending
        blocked += page.blocked
        unbuilt += page.unbuilt
        merged = compose(before, edits, page.edits)
        if merged:
            composed[context.path] = merged
    for page, edits in base_edits.items():
        composed.setdefault(page, list(edits))
    plan = Plan(base.renames, base.strips, page_edits(read, composed), base.merges, (*base.problems, *blocked))
    return Rewrite(plan, tuple(pending), tuple(blocked), tuple(unbuilt), bool(variants.entries))


def plan_revert(
    config: Config, target: PurePosixPath, scan: ScanResult, read: Reader, base: Plan | None = None
) -> Plan:
    """`base` with every element gallery wrote in the pages under `target` replaced by the markup it replaced
    (as `base`'s page edits leave that markup: a fixed URL stays fixed)."""
    base = base if base is not None else Plan()
    base_edits = {page.page: page.edits for page in base.pages}
    composed: dict[PurePosixPath, list[Edit]] = {}
    for context in scan.pages:
        if not is_under(context.path, target):
            continue
        before = read(context.path)
        edits = base_edits.get(context.path, ())
        reverted = revert_page(apply_edits(before, edits), context, config)
        if reverted:
            composed[context.path] = compose(before, edits, reverted)
    for page, edits in base_edits.items():
        composed.setdefault(page, list(edits))
    return Plan(base.renames, base.strips, page_edits(read, composed), base.merges, base.problems)


def revert_page(data: bytes, page: PageContext, config: Config) -> list[Edit]:
    """The edits that put back, byte for byte, the markup each element gallery wrote in a page replaced."""
    text = data.decode("utf-8", "surrogateescape")
    found = find_refs(text, config, markdown=is_markdown(page.path.name), with_elements=True)
    return [
        Edit(e.start, e.end, data[e.start : e.end], e.original.encode("utf-8", "surrogateescape"))
        for e in found.elements
        if e.original is not None
    ]


def rewrite_page(
    data: bytes,
    page: PageContext,
    site: Site,
    config: Config,
    resolve: Callable[[RawRef], ImageRef],
    variants: Callable[[PurePosixPath], SourceEntry | None],
) -> _Page:
    """The edits that give every image element of one page its current `<picture>` markup."""
    text = data.decode("utf-8", "surrogateescape")
    found = find_refs(text, config, markdown=is_markdown(page.path.name), with_elements=True)
    refs = {raw.start: raw for raw in found.refs}
    sizes = page_sizes(found.front_matter, config)
    result = _Page()
    for element in found.elements:
        raw = refs.get(element.url_start)
        if raw is None:
            continue
        ref = resolve(raw)
        written = data[element.start : element.end]
        background = config.placeholder == Placeholder.BLUR
        markup, why_not = _markup(data, element, raw, ref, page, site, sizes, variants, background)
        where = (page.path, element.line, ref.file)
        if markup is None:
            if why_not == NO_VARIANTS:
                result.unbuilt.append(Finding("unoptimized", "", f"{ref.file} {NO_VARIANTS}", *where))
            elif why_not:
                result.blocked.append(Finding("unoptimized", "", f"{ref.file} is not rewritten: {why_not}", *where))
            if element.original is not None and ref.status == Status.OK and why_not:
                # Markup gallery wrote whose variants are gone or stale shows missing or outdated pixels.
                original = element.original.encode("utf-8", "surrogateescape")
                result.edits.append(Edit(element.start, element.end, written, original))
            continue
        new = markup.encode("utf-8", "surrogateescape")
        if new == written:
            continue
        result.edits.append(Edit(element.start, element.end, written, new, needs=ref.file))
        what = "is out of date" if element.original is not None else "is not written yet"
        message = f"the <picture> markup for {ref.file} {what}: `gallery fix-refs` writes it"
        result.pending.append(Finding("unoptimized", "", message, *where))
    return result


def page_sizes(front_matter: Mapping[str, Any], config: Config) -> str:
    """The `sizes` of a page's markup: its front matter's `gallery_sizes`, else [gallery] sizes."""
    sizes = front_matter.get(FRONT_MATTER_SIZES)
    return sizes.strip() if isinstance(sizes, str) and sizes.strip() else config.sizes


def _markup(
    data: bytes,
    element: ImageElement,
    raw: RawRef,
    ref: ImageRef,
    page: PageContext,
    site: Site,
    sizes: str,
    variants: Callable[[PurePosixPath], SourceEntry | None],
    background: bool,
) -> tuple[str | None, str]:
    """The element's markup, or None and why not ("" when there is nothing to do: remote, SVG, broken)."""
    usable = ref.status == Status.OK or (ref.status == Status.NOT_RENDERED and raw.raw_html and raw.rendered)
    if not usable or ref.file is None:
        return None, ""
    entry = variants(ref.file)
    if entry is None:
        return None, NO_VARIANTS
    if not entry.variants:
        return None, ""  # served as it is: SVG, or an animation passed through
    raw_url = data[raw.start : raw.end].decode("utf-8", "surrogateescape")
    if URL_ESCAPED.intersection(raw_url):
        return None, f"its URL holds one of {''.join(sorted(URL_ESCAPED))!r}"
    if element.unwritable:
        return None, element.unwritable
    indent = data[data.rfind(b"\n", 0, element.start) + 1 : element.start].decode("utf-8", "surrogateescape")
    if element.block and indent.strip(" \t"):
        # Its lines after the first would need the container's markers: a `>`, a list marker's width.
        return None, "it starts an HTML block on a list item's or block quote's first line: write it as Markdown"
    original = element.original or data[element.start : element.end].decode("utf-8", "surrogateescape")

    def url(variant: VariantEntry) -> str:
        return url_like(site, page, raw_url, variant.url)

    params = dict(element.attributes)
    if element.kind == RefKind.SHORTCODE:
        shown = Shown(element.alt, None, _figure_image_attributes(params))
        inner = picture(entry, url, shown, sizes, original=None, background=background)
        return (figure(original, params, inner) if inner else None), ""
    shown = Shown(element.alt, element.title, element.attributes if element.kind == RefKind.HTML else ())
    newline = ""
    if element.block:  # the next lines are indented as the first, to stay in the same list item
        crlf = data.find(b"\n", element.end) == data.find(b"\r\n", element.end) + 1
        newline = ("\r\n" if crlf else "\n") + indent
    return picture(entry, url, shown, sizes, original, newline, background), ""


def _figure_image_attributes(params: Mapping[str, str]) -> Sequence[tuple[str, str | None]]:
    """The `<img>` attributes Hugo's figure writes from its parameters."""
    alt = params.get("alt") or params.get("caption") or ""
    attributes: list[tuple[str, str | None]] = [("alt", alt)]
    attributes += [(key, params[key]) for key in ("width", "height", "loading") if params.get(key)]
    return attributes


def compose(before: bytes, base: Sequence[Edit], later: Sequence[Edit]) -> list[Edit]:
    """Edits on `before` doing `base` then `later` (whose offsets are in the text `base` gives).

    A later edit spans whole elements and a base edit only a URL inside one, so each base
    edit is either inside a later edit (which then replaces it) or apart from all of them.
    """
    shifts = []  # (start, end) in the edited text, and the length change, of each base edit
    delta = 0
    for edit in sorted(base, key=lambda e: e.start):
        start = edit.start + delta
        shifts.append((start, start + len(edit.new), edit))
        delta += len(edit.new) - (edit.end - edit.start)

    def original_offset(position: int) -> int:
        return position - sum(len(e.new) - (e.end - e.start) for _, end, e in shifts if end <= position)

    absorbed: set[int] = set()
    result = []
    for edit in later:
        inside = [i for i, (start, end, _) in enumerate(shifts) if edit.start <= start and end <= edit.end]
        start, end = original_offset(edit.start), original_offset(edit.end)
        needs = edit.needs or next((shifts[i][2].needs for i in inside if shifts[i][2].needs), None)
        result.append(Edit(start, end, before[start:end], edit.new, needs=needs))
        absorbed.update(inside)
    result += [edit for i, (_, _, edit) in enumerate(shifts) if i not in absorbed]
    return sorted(result, key=lambda e: e.start)
