"""Turn scan results and findings into text, JSON and GitHub annotations. Pure."""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections import Counter
from collections.abc import Mapping
from pathlib import PurePosixPath

from .build import BuildSummary, Downscaled
from .check import CheckSummary, problem_message
from .edit import apply_edits
from .model import DuplicateGroup, Finding, ImageFile, ImageRef, Plan, Report, ScanResult, Status

PROBLEMS = (Status.MISSING, Status.CASE_MISMATCH, Status.NOT_RENDERED, Status.OUTSIDE_SITE)


def scan_json(result: ScanResult, site_label: str) -> str:
    """The stable JSON contract of `gallery scan --format json`."""
    counts = Counter(ref.file for ref in result.refs if ref.file is not None)
    document = {
        "site": site_label,
        "refs": [_ref_json(ref) for ref in result.refs],
        "images": [
            {
                "file": str(image.path),
                "bytes": image.bytes,
                "width": image.width,
                "height": image.height,
                "format": image.format,
                "refs": counts[image.path],
            }
            for image in result.images
        ],
        "orphans": [str(path) for path in result.orphans],
        "warnings": [str(warning) for warning in result.warnings],
    }
    return json.dumps(document, ensure_ascii=False, indent=2)


def _ref_json(ref: ImageRef) -> dict[str, object]:
    raw = ref.ref
    return {
        "page": str(ref.page),
        "line": raw.line,
        "column": raw.column,
        "start": raw.start,
        "end": raw.end,
        "kind": raw.kind.value,
        "url": raw.url,
        "file": str(ref.file) if ref.file is not None else None,
        "status": ref.status.value,
        "hint": ref.hint or None,
        # In gallery's <picture> markup: the URL it replaced (kept in data-gallery), or a variant's URL.
        "picture": "original" if raw.original else "variant" if raw.generated else None,
    }


def scan_text(result: ScanResult) -> str:
    """A summary by status, then one `page:line: message` per problem, then the orphans."""
    statuses = Counter(ref.status for ref in result.refs)
    pages = len({ref.page for ref in result.refs})
    total_bytes = sum(image.bytes for image in result.images)
    variants = sum(ref.ref.generated for ref in result.refs)
    in_pictures = f" ({variants} of them variant URLs in gallery's <picture> markup)" if variants else ""
    lines = [
        f"{len(result.refs)} references{in_pictures} in {pages} pages, {len(result.images)} images"
        f" ({total_bytes / 1e6:.1f} MB), {len(result.orphans)} orphans",
        "  " + ", ".join(f"{status.value} {statuses[status]}" for status in Status if statuses[status]),
    ]
    lines += (
        f"{ref.page}:{ref.ref.line}: {ref.status.value}: {problem_message(ref)}"
        for ref in result.refs
        if ref.status in PROBLEMS
    )
    lines += (f"{path}: orphan: no page, layout, data or CSS file uses it" for path in result.orphans)
    return "\n".join(lines)


def check_summary_text(summary: CheckSummary) -> str:
    """`3 errors, 1 warning in 2 images (1.8 MB over budget)`, or `no problems in 12 images`."""
    if not summary.errors and not summary.warnings:
        return f"no problems in {_count(summary.images_checked, 'image')}"
    return (
        f"{_count(summary.errors, 'error')}, {_count(summary.warnings, 'warning')}"
        f" in {_count(summary.images_with_findings, 'image')} ({summary.bytes_over_budget / 1e6:.1f} MB over budget)"
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def findings_text(findings: tuple[Finding, ...], summary: CheckSummary) -> str:
    """One line per finding and the summary line."""
    lines = [f"{f.where}: {f.severity}: {f.rule}: {f.message}" for f in findings]
    return "\n".join([*lines, check_summary_text(summary)])


def findings_json(findings: tuple[Finding, ...], summary: CheckSummary) -> str:
    return json.dumps(
        {
            "summary": dataclasses.asdict(summary),
            "findings": [
                {
                    "rule": f.rule,
                    "severity": f.severity,
                    "file": str(f.file) if f.file is not None else None,
                    "page": str(f.page) if f.page is not None else None,
                    "line": f.line,
                    "message": f.message,
                }
                for f in findings
            ],
        },
        ensure_ascii=False,
        indent=2,
    )


def findings_github(findings: tuple[Finding, ...], summary: CheckSummary) -> str:
    """GitHub Actions workflow commands, one annotation per finding, then the summary line."""
    lines = []
    for f in findings:
        where = f.page or f.file
        location = f"file={_escape_property(str(where))}" if where is not None else ""
        if f.line:
            location += f",line={f.line}"
        lines.append(f"::{f.severity} {location},title={f.rule}::{_escape_data(f.message)}")
    return "\n".join([*lines, check_summary_text(summary)])


def _escape_data(text: str) -> str:
    # https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def findings_markdown(findings: tuple[Finding, ...], summary: CheckSummary) -> str:
    """A heading with the counts and one table row per finding: a pull-request comment or $GITHUB_STEP_SUMMARY."""
    heading = f"### gallery check: {check_summary_text(summary)}"
    if not findings:
        return heading
    rows = [
        f"| {f.severity} | {_markdown_cell(f.rule)} | {_markdown_cell(f.where)} | {_markdown_cell(f.message)} |"
        for f in findings
    ]
    return "\n".join([heading, "", "| severity | rule | where | message |", "| --- | --- | --- | --- |", *rows])


# Every character that could end a cell (`|`), start markup (emphasis, code, links, raw HTML, entities) or
# break the row (a line end): backslash escapes are literal in CommonMark and GFM, `<br>` keeps a line break.
_MARKDOWN_SPECIAL = {c: "\\" + c for c in "\\`*_[]<>|&!#~"} | {"\n": "<br>", "\r": "<br>"}


def _markdown_cell(text: str) -> str:
    return "".join(_MARKDOWN_SPECIAL.get(c, c) for c in text.replace("\r\n", "\n"))


FINDINGS_FORMATS = {
    "text": findings_text,
    "json": findings_json,
    "github": findings_github,
    "markdown": findings_markdown,
}


def plan_text(plan: Plan, pages: Mapping[PurePosixPath, bytes], diff: bool) -> str:
    """What a plan would do, one line per change, and with `diff` a unified diff of each page."""
    lines = [f"rename {r.old} -> {r.new}" for r in plan.renames]
    lines += [f"strip metadata from {s.path} ({s.saves:,} bytes{', GPS' if s.gps else ''})" for s in plan.strips]
    lines += [f"merge {m.duplicate} -> {m.keep} ({'identical' if m.identical else 'perceptual'})" for m in plan.merges]
    for page in plan.pages:
        before = pages[page.page]
        for e in page.edits:
            line = before.count(b"\n", 0, e.start) + 1
            lines.append(f"{page.page}:{line}: {_shortened(e.old)} -> {_shortened(e.new)}")
        if diff:
            after = apply_edits(before, page.edits)
            lines += difflib.unified_diff(
                before.decode("utf-8", "replace").splitlines(),
                after.decode("utf-8", "replace").splitlines(),
                f"a/{page.page}",
                f"b/{page.page}",
                lineterm="",
            )
    lines += [f"{f.where}: {f.rule}: {f.message}" for f in plan.problems]
    return "\n".join(lines)


def _shortened(text: bytes, limit: int = 160) -> str:
    """An edit's text for a one-line summary (a written <picture> runs to a thousand characters)."""
    decoded = text.decode("utf-8", "replace")
    return decoded if len(decoded) <= limit else f"{decoded[: limit - 20]}...({len(decoded):,} characters)"


def report_text(report: Report) -> str:
    """The closing summary of an applied plan."""
    summary = (
        f"renamed {report.renamed} image{'s' * (report.renamed != 1)}, stripped metadata from {report.stripped}"
        f" ({report.bytes_saved / 1e3:,.1f} KB saved), rewrote {report.pages_written}"
        f" page{'s' * (report.pages_written != 1)}"
    )
    if report.merged:
        summary += f", merged {report.merged} duplicate image{'s' * (report.merged != 1)}"
    return "\n".join([summary, *(f"failed: {failure}" for failure in report.failures)])


def summary_text(summary: BuildSummary) -> str:
    """The closing line of the variants step."""
    return (
        f"{summary.images} images: rendered {summary.rendered}, wrote {summary.variants_written} variants,"
        f" removed {summary.removed} stale; {summary.source_bytes / 1e6:,.1f} MB of sources served as"
        f" {summary.largest_bytes / 1e6:,.1f} MB at the largest width ({summary.variant_bytes / 1e6:,.1f} MB"
        f" of variants on disk); {summary.seconds:.1f} s"
    )


def downscaled_text(item: Downscaled) -> str:
    """One line per source rewritten by `optimize --downscale-sources`."""
    (w0, h0, b0), (w1, h1, b1) = item.before, item.after
    return (
        f"downscaled {item.path}: {w0}x{h0} {b0 / 1e6:,.2f} MB -> {w1}x{h1} {b1 / 1e6:,.2f} MB"
        f" (original kept as {item.original})"
    )


def dupes_json(groups: tuple[DuplicateGroup, ...]) -> str:
    """`gallery dupes --format json`: {"groups": [{"keep", "duplicates", "reason", "distance"}]}."""
    document = {
        "groups": [
            {
                "keep": str(g.keep),
                "duplicates": [str(d) for d in g.duplicates],
                "reason": g.reason,
                "distance": g.distance,
            }
            for g in groups
        ]
    }
    return json.dumps(document, indent=1, ensure_ascii=False)


def dupes_text(groups: tuple[DuplicateGroup, ...], images: Mapping[PurePosixPath, ImageFile]) -> str:
    """Each group: the copy kept, then its duplicates, with dimensions and sizes; a closing total."""
    lines = []
    for group in groups:
        how = "identical bytes" if group.reason == "identical" else f"same picture, hash distance {group.distance}"
        lines.append(f"{_described(images[group.keep])}  keep ({how})")
        lines.extend(f"  {_described(images[path])}" for path in group.duplicates)
    spare = sum(images[path].bytes for group in groups for path in group.duplicates)
    copies = sum(len(group.duplicates) for group in groups)
    lines.append(
        f"{_count(len(groups), 'group')} of duplicates: {_count(copies, 'duplicate')} to remove ({size_text(spare)})"
        if groups
        else "no duplicates"
    )
    return "\n".join(lines)


def _described(image: ImageFile) -> str:
    size = f"{image.width}x{image.height}" if image.width is not None else "?x?"
    return f"{image.path}  {size}  {size_text(image.bytes)}"


def size_text(count: int) -> str:
    """`1.2 MB`, or `28 KB` under a megabyte."""
    return f"{count / 1e6:.1f} MB" if count >= 1_000_000 else f"{count / 1000:,.0f} KB"
