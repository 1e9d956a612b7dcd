"""`gallery check`: the rules that turn a scan into findings for CI. Pure."""

from __future__ import annotations

import dataclasses
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from .config import RULES, CheckConfig, Config, Severity
from .downscale import REWRITTEN_FORMATS, SizeLimits
from .metadata import Metadata
from .model import DuplicateGroup, Finding, ImageFile, ImageRef, ScanResult, Status
from .names import NameRules, normalized_name
from .resolve import url_decoded

ACCEPT_RULE = "gallery-accept"  # findings about the accept comments themselves: always warnings
# One comment on one line; the rule names end at the comment or at " -- " (a reason may follow).
_ACCEPT = re.compile(r"<!--[ \t]*gallery-accept:[ \t]*(.*?)(?:\s--(?:\s.*?)?)?-->")
IMAGE_RULES = frozenset(("bad-filename", "gps", "metadata", "oversized", "duplicate"))  # about a file, not a page
_SIDEWAYS = (5, 6, 7, 8)  # EXIF orientations that show the stored width as the height

RULE_OF_STATUS = {
    Status.MISSING: "broken-ref",
    Status.OUTSIDE_SITE: "broken-ref",
    Status.CASE_MISMATCH: "case-mismatch",
    Status.NOT_RENDERED: "not-rendered",
}


def problem_message(ref: ImageRef) -> str:
    """What is wrong with a reference and how to fix it, in one line."""
    url = ref.ref.url
    if ref.status == Status.MISSING:
        return f"image not found: {url}" + (f" ({ref.hint})" if ref.hint else "")
    if ref.status == Status.CASE_MISMATCH:
        return (
            f"{url} differs from the file name only in case or accents: works on macOS and Windows,"
            f" 404 on Linux ({ref.hint})"
        )
    if ref.status == Status.OUTSIDE_SITE:
        return f"{url} points outside the site" + (f" ({ref.hint})" if ref.hint else "")
    if ref.status == Status.NOT_RENDERED:
        return f"{url} is never shown: " + (
            ref.hint or "Markdown inside an HTML block is printed as text; put a blank line after the HTML"
        )
    return f"{url}: {ref.status}"


@dataclass(frozen=True, slots=True)
class Accept:
    """A `<!-- gallery-accept: oversized, gps -- reason -->` comment: rules accepted for the references
    on its line, or (on a line without references) on the line below."""

    page: PurePosixPath
    line: int
    rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class CheckSummary:
    """The closing numbers of `gallery check` (JSON uses these names)."""

    errors: int
    warnings: int
    images_with_findings: int  # distinct image files that findings name
    images_checked: int  # images not ignored
    bytes_over_budget: int  # above max_bytes, summed over the oversized images reported


def find_accepts(text: str, page: PurePosixPath) -> tuple[Accept, ...]:
    """The gallery-accept comments of a content file's text, with their 1-based lines."""
    if "gallery-accept" not in text:  # most pages: no regex pass
        return ()
    found = []
    for match in _ACCEPT.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        found.append(Accept(page, line, tuple(name for name in re.split(r"[,\s]+", match[1]) if name)))
    return tuple(found)


def find_findings(
    result: ScanResult,
    config: Config,
    check: CheckConfig,
    metadata: Mapping[PurePosixPath, Metadata],
    duplicates: tuple[DuplicateGroup, ...],
    accepts: tuple[Accept, ...] = (),
    unoptimized: tuple[Finding, ...] = (),
) -> tuple[Finding, ...]:
    """Every finding of every enabled rule at its configured severity, less what `accepts` accepts:
    references, then the accept comments' own warnings, then images, then `unoptimized` (the
    rewriter's findings, already at their page line).

    An image finding points at the first page line (of a page not ignored) that uses the image,
    or at the image itself when no page does.
    """
    accepted: dict[tuple[PurePosixPath, int], set[str]] = defaultdict(set)
    for accept in accepts:
        accepted[accept.page, accept.line].update(accept.rules)

    # A comment after a reference is about that reference, not also about the one on the next line.
    lines_with_refs = {(ref.page, ref.ref.line) for ref in result.refs}

    def is_accepted(ref: ImageRef, rule: str) -> bool:
        same, above = (ref.page, ref.ref.line), (ref.page, ref.ref.line - 1)
        return rule in accepted.get(same, ()) or (above not in lines_with_refs and rule in accepted.get(above, ()))

    uses: dict[PurePosixPath, list[ImageRef]] = defaultdict(list)
    for ref in sorted(result.refs, key=lambda ref: (str(ref.page), ref.ref.line, ref.ref.column)):
        if ref.file is not None and ref.status != Status.MISSING:  # a missing ref's file is only a guess
            uses[ref.file].append(ref)
    references = [f for ref in result.refs if (f := _reference_finding(ref)) and not is_accepted(ref, f.rule)]
    images = []
    duplicate_of = {path: group for group in duplicates for path in group.duplicates}
    for finding in _image_findings(result.images, config.names, check.size, metadata, duplicate_of):
        refs = uses.get(finding.file, []) if finding.file is not None else []
        if any(is_accepted(ref, finding.rule) for ref in refs):
            continue
        shown = next((ref for ref in refs if not _ignored(check.ignore, ref.page)), None)
        images.append(finding if shown is None else dataclasses.replace(finding, page=shown.page, line=shown.ref.line))
    accept_warnings = [f for f in _accept_findings(accepts) if not _ignored(check.ignore, f.page)]
    markup = [
        f
        for f in unoptimized
        if not any(f.rule in accepted.get((f.page, line), ()) for line in (f.line, (f.line or 0) - 1))
    ]
    return (*_configured(references, check), *accept_warnings, *_configured(images, check), *_configured(markup, check))


def summarize(findings: tuple[Finding, ...], result: ScanResult, check: CheckConfig) -> CheckSummary:
    """The numbers of the closing line: counts by severity, images concerned, bytes over max_bytes."""
    size = {image.path: image.bytes for image in result.images}
    oversized = {f.file for f in findings if f.rule == "oversized" and f.file is not None}
    errors = sum(f.severity == Severity.ERROR for f in findings)
    return CheckSummary(
        errors=errors,
        warnings=len(findings) - errors,
        images_with_findings=len({f.file for f in findings if f.file is not None}),
        images_checked=sum(not _ignored(check.ignore, image.path) for image in result.images),
        bytes_over_budget=sum(max(0, size.get(path, 0) - check.size.max_bytes) for path in oversized),
    )


@dataclass(frozen=True, slots=True)
class Change:
    """What a commit changes (`gallery check FILE...`, a pre-commit hook's staged files), relative to
    the site root: the files added or modified, and the files removed (deleted, or renamed away)."""

    files: frozenset[PurePosixPath]
    removed: frozenset[PurePosixPath] = frozenset()


def findings_of_change(
    findings: tuple[Finding, ...], change: Change, refs: tuple[ImageRef, ...], duplicates: tuple[DuplicateGroup, ...]
) -> tuple[Finding, ...]:
    """The findings `change` is answerable for, so that a commit fails for what it breaks and not for
    what was broken before it.

    A changed page answers for its references (and their markup, and its accept comments); a
    changed image for its own findings, for the references to it that no longer resolve (a page
    using the old case of a renamed file), and for the copies it is kept over. A removed image
    answers for the broken references, in any page, whose URL names a file of its name. An image
    finding shown at a changed page's line is about that image, not the page: not reported.
    """
    removed_names = {path.name for path in change.removed}
    orphaned = {
        (ref.page, ref.ref.line)
        for ref in refs
        if ref.status == Status.MISSING and _url_file_name(ref.ref.url) in removed_names
    }
    kept_over = {path: group.keep for group in duplicates for path in group.duplicates}

    def answerable(f: Finding) -> bool:
        if f.file in change.files:
            return True
        if f.rule in IMAGE_RULES:
            return f.rule == "duplicate" and kept_over.get(f.file) in change.files
        return f.page in change.files or (f.rule == "broken-ref" and (f.page, f.line) in orphaned)

    return tuple(f for f in findings if answerable(f))


def _url_file_name(url: str) -> str:
    return url_decoded(url.split("#", 1)[0].split("?", 1)[0]).rsplit("/", 1)[-1]


def _image_findings(
    images: tuple[ImageFile, ...],
    names: NameRules,
    limits: SizeLimits,
    metadata: Mapping[PurePosixPath, Metadata],
    duplicate_of: Mapping[PurePosixPath, DuplicateGroup],
) -> Iterator[Finding]:
    for image in images:
        path = image.path
        clean = normalized_name(path.name, image.format, names)
        if clean != path.name:
            yield Finding(
                "bad-filename", "", f"{path} should be {clean}: run `gallery optimize {path.parent}`", file=path
            )
        found = metadata.get(path)
        if found is not None and found.has_gps:
            message = f"{path} publishes GPS coordinates in its metadata: run `gallery optimize {path.parent}`"
            yield Finding("gps", "", message, file=path)
        if found is not None and found.removable_bytes:
            kinds = [k for k, present in (("EXIF", found.has_exif), ("XMP", found.has_xmp),
                     ("IPTC", found.has_iptc), ("comment", found.has_comment)) if present]  # fmt: skip
            yield Finding(
                "metadata",
                "",
                f"{path} carries {'/'.join(kinds) or 'metadata'} ({found.removable_bytes:,} bytes)"
                " that pages do not need",
                file=path,
            )
        orientation = found.orientation if found is not None else None
        if not limits.fits(image.width, image.height, image.bytes):
            yield Finding("oversized", "", _oversized_message(image, orientation in _SIDEWAYS, limits), file=path)
        group = duplicate_of.get(path)
        if group is not None:
            yield Finding("duplicate", "", _duplicate_message(path, group), file=path)


def _oversized_message(image: ImageFile, sideways: bool, limits: SizeLimits) -> str:
    """What is over which limit, and how to fix it: `optimize` rewrites JPEG and PNG; the others need a person."""
    over = []
    if image.bytes > limits.max_bytes:
        size, limit = _numbers(image.bytes, limits.max_bytes, 1e6)
        over.append(f"{size} MB (limit {limit} MB)")
    if image.width is not None and image.height is not None:
        width, height = (image.height, image.width) if sideways else (image.width, image.height)
        long_edge, pixels = max(width, height), width * height
        if long_edge > limits.max_edge and pixels > limits.max_pixels:
            mp, limit = _numbers(pixels, limits.max_pixels, 1e6)
            over.append(f"{width}x{height} px = {mp} MP (limits {limits.max_edge} long edge, {limit} MP)")
        elif long_edge > limits.max_edge:
            over.append(f"{width}x{height} px (limit {limits.max_edge} long edge)")
        elif pixels > limits.max_pixels:
            mp, limit = _numbers(pixels, limits.max_pixels, 1e6)
            over.append(f"{width}x{height} px = {mp} MP (limit {limit} MP)")
    if image.format in REWRITTEN_FORMATS:
        fix = f"run `gallery optimize --downscale-sources {image.path.parent}`"
    elif image.format == "SVG":
        fix = "minify it (e.g. with svgo) or simplify it by hand"
    else:
        fix = "gallery rewrites only JPEG and PNG: resize or recompress it by hand, keeping its name"
    return f"{image.path} is {', '.join(over)}: {fix}"


def _numbers(value: int, limit: int, unit: float) -> tuple[str, str]:
    """`value` and `limit` in `unit`, to one decimal, or more where one decimal would print them alike
    (0.51 MB, limit 0.50 MB) or print the limit as 0 (a limit set very low)."""
    for decimals in range(1, 7):
        shown = f"{value / unit:.{decimals}f}", f"{limit / unit:.{decimals}f}"
        if shown[0] != shown[1] and float(shown[1]) > 0:
            break
    return shown


def _duplicate_message(path: PurePosixPath, group: DuplicateGroup) -> str:
    if group.reason == "identical":
        how, command = "identical bytes", "gallery fix-refs"
    else:
        how, command = f"perceptual, distance {group.distance}", "gallery fix-refs --merge-similar"
    return (
        f"{path} is the same picture as {group.keep} ({how}):"
        f" run `{command}` to point its references at the kept copy and remove it"
    )


def _configured(findings: Iterable[Finding], check: CheckConfig) -> Iterator[Finding]:
    """The findings of enabled rules, outside the ignored paths, at their configured severity."""
    for f in findings:
        severity = check.severity_of(f.rule)
        if severity != Severity.OFF and not _ignored(check.ignore, f.page, f.file):
            yield dataclasses.replace(f, severity=severity.value)


def _reference_finding(ref: ImageRef) -> Finding | None:
    if ref.ref.generated:
        return None  # a variant URL in gallery's markup: the rewriter's `unoptimized` findings cover it
    rule = RULE_OF_STATUS.get(ref.status)
    return None if rule is None else Finding(rule, "", problem_message(ref), ref.page, ref.ref.line, ref.file)


def _accept_findings(accepts: Iterable[Accept]) -> Iterator[Finding]:
    """A warning for each accept comment that names no rule, or a rule that does not exist."""
    for accept in accepts:
        unknown = [rule for rule in accept.rules if rule not in RULES]
        if unknown or not accept.rules:
            what = f"unknown rule {', '.join(unknown)}" if unknown else "no rule named"
            message = f"{what} in gallery-accept (rules: {', '.join(RULES)})"
            yield Finding(ACCEPT_RULE, Severity.WARNING.value, message, accept.page, accept.line)


def _ignored(patterns: tuple[str, ...], *paths: PurePosixPath | None) -> bool:
    return any(fnmatchcase(str(path), pattern) for pattern in patterns for path in paths if path is not None)
