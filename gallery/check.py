"""`gallery check`: the rules that turn a scan into findings for CI. Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from .config import CheckConfig, Config, Severity
from .metadata import Metadata
from .model import Finding, ImageFile, ImageRef, ScanResult, Status
from .names import normalized_name

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


def find_findings(
    result: ScanResult, config: Config, check: CheckConfig, metadata: Mapping[PurePosixPath, Metadata]
) -> tuple[Finding, ...]:
    """Every finding of every enabled rule, at its configured severity: references, then images."""
    findings = [*_reference_findings(result.refs), *_image_findings(result.images, config, metadata)]
    return tuple(
        dataclasses.replace(f, severity=severity.value)
        for f in findings
        if (severity := check.severity_of(f.rule)) != Severity.OFF and not _ignored(check.ignore, f.page, f.file)
    )


def _image_findings(
    images: tuple[ImageFile, ...], config: Config, metadata: Mapping[PurePosixPath, Metadata]
) -> Iterator[Finding]:
    for image in images:
        clean = normalized_name(image.path.name, image.format, config.names)
        if clean != image.path.name:
            yield Finding(
                "bad-filename",
                "",
                f"{image.path.name} should be {clean}: run `gallery optimize {image.path.parent}`",
                file=image.path,
            )
        found = metadata.get(image.path)
        if found is None:
            continue
        if found.has_gps:
            yield Finding(
                "gps",
                "",
                f"publishes GPS coordinates in its metadata: run `gallery optimize {image.path.parent}`",
                file=image.path,
            )
        if found.removable_bytes:
            kinds = [k for k, present in (("EXIF", found.has_exif), ("XMP", found.has_xmp),
                     ("IPTC", found.has_iptc), ("comment", found.has_comment)) if present]  # fmt: skip
            yield Finding(
                "metadata",
                "",
                f"carries {'/'.join(kinds) or 'metadata'} ({found.removable_bytes:,} bytes) that pages do not need",
                file=image.path,
            )


def _reference_findings(refs: tuple[ImageRef, ...]) -> Iterator[Finding]:
    for ref in refs:
        rule = RULE_OF_STATUS.get(ref.status)
        if rule is not None:
            yield Finding(rule, "", problem_message(ref), ref.page, ref.ref.line, ref.file)


def _ignored(patterns: tuple[str, ...], *paths: PurePosixPath | None) -> bool:
    return any(fnmatchcase(str(path), pattern) for pattern in patterns for path in paths if path is not None)
