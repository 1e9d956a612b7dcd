"""What `gallery report` shows: check's findings, page weights and thumbnails. Reads files, never writes."""

from __future__ import annotations

from dataclasses import dataclass

from .check import summarize
from .config import Config
from .fs import read_site_bytes, read_text_file
from .htmlreport import ReportData, thumbnail_uri
from .model import DuplicateGroup, Finding, ScanResult, ScanWarning
from .rewrite import Variants, page_sizes
from .scan import find_refs, is_markdown
from .site import Site
from .weight import page_weights

SHOWN_RULES = ("oversized", "gps")  # image findings the report shows with a thumbnail


@dataclass(frozen=True, slots=True)
class Audit:
    """What `gallery check` found: the scan, the findings of the enabled rules, the duplicate groups."""

    scan: ScanResult
    checked: ScanResult  # the scan with only the images whose own findings count
    findings: tuple[Finding, ...]
    duplicates: tuple[DuplicateGroup, ...]
    warnings: tuple[ScanWarning, ...]  # files that could not be read or decoded


def read_report(site: Site, config: Config, audit: Audit) -> ReportData:
    """The report of a site that `audit` describes: page weights from the manifest, thumbnails of the images shown."""
    scan = audit.scan
    sizes = {}
    for page in scan.pages:
        text, _ = read_text_file(site.root, page.path)  # the scan has warned about an unreadable page
        front_matter = find_refs(text, config, is_markdown(page.path.name)).front_matter if text is not None else {}
        sizes[page.path] = page_sizes(front_matter, config)
    variants = Variants(site.root, config)
    pictured = {path for group in audit.duplicates for path in (group.keep, *group.duplicates)}
    pictured |= {f.file for f in audit.findings if f.rule in SHOWN_RULES and f.file is not None}
    by_path = {image.path: image for image in scan.images}
    thumbnails = {}
    for path in sorted(pictured):
        try:
            found = thumbnail_uri(read_site_bytes(site.root, path), by_path[path])
        except (OSError, KeyError):
            found = None  # the scan or duplicate detection has said why
        if found is not None:
            thumbnails[path] = found
    return ReportData(
        site=site.root.name,
        images=scan.images,
        pages=page_weights(scan, variants, sizes),
        has_manifest=bool(variants.entries),
        duplicates=audit.duplicates,
        findings=audit.findings,
        summary=summarize(audit.findings, audit.checked, config.check),
        thumbnails=thumbnails,
    )
