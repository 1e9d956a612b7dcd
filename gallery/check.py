"""`gallery check`: the rules that turn a scan into findings for CI. Pure."""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from pathlib import PurePosixPath

from .config import CheckConfig, Severity
from .model import Finding, ImageRef, ScanResult, Status

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
        return f"{url} differs from the file name only in case or accents: works on macOS and Windows, 404 on Linux ({ref.hint})"
    if ref.status == Status.OUTSIDE_SITE:
        return f"{url} points outside the site" + (f" ({ref.hint})" if ref.hint else "")
    if ref.status == Status.NOT_RENDERED:
        return f"{url} is never shown: " + (
            ref.hint or "Markdown inside an HTML block is printed as text; put a blank line after the HTML"
        )
    return f"{url}: {ref.status}"


def find_findings(result: ScanResult, config: CheckConfig) -> tuple[Finding, ...]:
    """Every finding of every enabled rule, in page order."""
    return tuple(_reference_findings(result.refs, config))


def _reference_findings(refs: tuple[ImageRef, ...], config: CheckConfig) -> Iterator[Finding]:
    for ref in refs:
        rule = RULE_OF_STATUS.get(ref.status)
        if rule is None:
            continue
        severity = config.severity_of(rule)
        if severity == Severity.OFF or _ignored(config.ignore, ref.page, ref.file):
            continue
        yield Finding(rule, severity.value, problem_message(ref), ref.page, ref.ref.line, ref.file)


def _ignored(patterns: tuple[str, ...], *paths: PurePosixPath | None) -> bool:
    return any(fnmatchcase(str(path), pattern) for pattern in patterns for path in paths if path is not None)
