"""`gallery report`: one self-contained HTML page about a site's images. Pure: data in, HTML out.

Nothing in the page is fetched: the style is inline, there is no script and no web font, and each
thumbnail is a small WebP made from the image (upright, sRGB, no metadata) in a data: URI.
"""

from __future__ import annotations

import base64
import dataclasses
import html
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath

from . import __version__
from .check import CheckSummary
from .manifest import VariantEntry
from .model import DuplicateGroup, Finding, ImageFile
from .report import check_summary_text, size_text
from .variants import VariantSettings, render_variants
from .weight import VIEWPORTS, PageWeight, Viewport

THUMBNAIL_PX = 160  # the long edge
_THUMBNAIL = VariantSettings(formats=("webp",), webp_quality=70, color="srgb", animated="passthrough")
REFERENCE_RULES = ("broken-ref", "case-mismatch", "not-rendered")
SHOWN_ELSEWHERE = frozenset({"duplicate", "oversized", "gps", *REFERENCE_RULES})


@dataclass(frozen=True, slots=True)
class ReportData:
    """What the report shows."""

    site: str  # the site's name: its folder's
    images: tuple[ImageFile, ...]
    pages: tuple[PageWeight, ...]
    has_manifest: bool
    duplicates: tuple[DuplicateGroup, ...]
    findings: tuple[Finding, ...]
    summary: CheckSummary
    thumbnails: Mapping[PurePosixPath, str]  # data: URIs
    viewports: tuple[Viewport, ...] = VIEWPORTS


def thumbnail_uri(data: bytes, image: ImageFile) -> str | None:
    """A WebP data: URI of the picture at most THUMBNAIL_PX on its long edge; None for SVG, animations,
    and what cannot be decoded."""
    width, height = image.width or THUMBNAIL_PX, image.height or THUMBNAIL_PX
    wide = THUMBNAIL_PX if width >= height else max(1, round(THUMBNAIL_PX * width / height))
    try:
        _, rendered = render_variants(data, dataclasses.replace(_THUMBNAIL, widths=(wide,)))
    except ValueError:
        return None
    if not rendered:
        return None
    return "data:image/webp;base64," + base64.b64encode(rendered[0].data).decode("ascii")


def report_summary(data: ReportData) -> str:
    """One line: the images' weight before and after at each viewport, and check's summary."""
    return f"{_weight_summary(data)}; {check_summary_text(data.summary)}"


def _weight_summary(data: ReportData) -> str:
    if not data.pages:
        return "no page shows a local image"
    before = sum(page.before for page in data.pages)
    afters = [sum(page.after[i] for page in data.pages) for i in range(len(data.viewports))]
    parts = ", ".join(f"{size_text(after)} at {viewport} ({_less(before, after)})"
                      for viewport, after in zip(data.viewports, afters, strict=True))  # fmt: skip
    return f"{_count(len(data.pages), 'page')}: {size_text(before)} of images as written, {parts}"


def report_html(data: ReportData) -> str:
    """The whole page."""
    sections = [
        _overview(data),
        _weight_section(data),
        _duplicates_section(data),
        _image_section(data, "oversized", "Oversized images", _OVERSIZED_NOTE),
        _image_section(data, "gps", "Images that publish a GPS position", _GPS_NOTE),
        _references_section(data),
        _others_section(data),
    ]
    return _PAGE.format(
        title=_e(f"gallery report: {data.site}"),
        style=_STYLE,
        body="\n".join(section for section in sections if section),
        version=_e(__version__),
    )


def _overview(data: ReportData) -> str:
    cards = [_card("Images", f"{len(data.images)}", f"{size_text(sum(i.bytes for i in data.images))} on disk")]
    if data.pages:
        before = sum(page.before for page in data.pages)
        for i, viewport in enumerate(data.viewports):
            after = sum(page.after[i] for page in data.pages)
            detail = f"{size_text(before)} as written, summed over {_count(len(data.pages), 'page')}"
            cards.append(_card(f"Downloaded at {viewport}", f"{size_text(after)} ({_less(before, after)})", detail))
    summary = data.summary
    problem_class = "bad" if summary.errors else "warn" if summary.warnings else "good"
    cards.append(_card("Problems", check_summary_text(summary), "as `gallery check` reports them", problem_class))
    heading = f"<h1>Images of <code>{_e(data.site)}</code></h1>"
    return f'<header>{heading}<div class="cards">{"".join(cards)}</div></header>'


def _card(label: str, value: str, detail: str, kind: str = "") -> str:
    return (
        f'<div class="card {kind}"><div class="label">{_e(label)}</div>'
        f'<div class="value">{_e(value)}</div><div class="detail">{_e(detail)}</div></div>'
    )


def _weight_section(data: ReportData) -> str:
    intro = (
        "Bytes of images each page makes a browser download: the files as the page names them, then the variant"
        " a browser picks from gallery's <picture> markup (AVIF, the narrowest at least as wide as the slot the"
        " page's sizes value gives at that viewport, device pixel ratio 1). Images without variants count as"
        " they are. Covers named in front matter are left out: the theme decides whether they show."
    )
    parts = [f'<section id="weight"><h2>Page weight</h2><p class="note">{_e(intro)}</p>']
    if not data.has_manifest:
        parts.append('<p class="callout">No variants yet: run <code>gallery optimize</code> to make them.</p>')
    if not data.pages:
        parts.append('<p class="empty">No page shows a local image.</p></section>')
        return "".join(parts)
    heads = "".join(f'<th class="num">{_e(str(v))}</th>' for v in data.viewports)
    parts.append(f'<table class="weight"><thead><tr><th>Page</th><th class="num">Images</th>'
                 f'<th class="num">As written</th>{heads}<th class="bars">At {_e(str(data.viewports[0]))}</th>'
                 "</tr></thead><tbody>")  # fmt: skip
    heaviest = max(page.before for page in data.pages) or 1
    for page in data.pages:
        parts.append(_page_row(page, data.viewports, heaviest))
    before = sum(page.before for page in data.pages)
    totals = [sum(page.after[i] for page in data.pages) for i in range(len(data.viewports))]
    images = sum(len(page.images) for page in data.pages)
    cells = "".join(_after_cell(before, after) for after in totals)
    parts.append(
        f'</tbody><tfoot><tr><th>Total</th><td class="num">{images}</td>{_bytes_cell(before)}{cells}<td></td>'
        "</tr></tfoot></table></section>"
    )
    return "".join(parts)


def _page_row(page: PageWeight, viewports: tuple[Viewport, ...], heaviest: int) -> str:
    items = "".join(
        f"<li><code>{_e(str(image.file))}</code> {_e(size_text(image.before))}: "
        + ", ".join(_e(_chosen_text(image.chosen[i], image.after[i], v)) for i, v in enumerate(viewports))
        + "</li>"
        for image in page.images
    )
    details = (
        f"<details><summary><code>{_e(str(page.page))}</code></summary>"
        f'<p class="note">sizes="{_e(page.sizes)}"</p><ul>{items}</ul></details>'
    )
    cells = "".join(_after_cell(page.before, after) for after in page.after)
    before_width = 100 * page.before / heaviest
    after_width = 100 * page.after[0] / heaviest
    bars = (
        f'<div class="bar"><span class="before" style="width:{before_width:.1f}%"></span>'
        f'<span class="after" style="width:{after_width:.1f}%"></span></div>'
    )
    return (
        f'<tr><td class="page">{details}</td><td class="num">{len(page.images)}</td>'
        f'{_bytes_cell(page.before)}{cells}<td class="bars">{bars}</td></tr>'
    )


def _chosen_text(variant: VariantEntry | None, size: int, viewport: Viewport) -> str:
    if variant is None:
        return f"{viewport}: the original"
    return f"{viewport}: {variant.width}w {variant.format.upper()} {size_text(size)}"


def _bytes_cell(count: int) -> str:
    return f'<td class="num" data-bytes="{count}">{_e(size_text(count))}</td>'


def _after_cell(before: int, after: int) -> str:
    return (
        f'<td class="num" data-bytes="{after}">{_e(size_text(after))}'
        f' <span class="saved">{_e(_less(before, after))}</span></td>'
    )


def _duplicates_section(data: ReportData) -> str:
    if not data.duplicates:
        return ""
    by_path = {image.path: image for image in data.images}
    groups = []
    for group in data.duplicates:
        how = "identical bytes" if group.reason == "identical" else f"same picture (hash distance {group.distance})"
        cards = [_figure(group.keep, by_path.get(group.keep), data.thumbnails, "keep")]
        cards += [_figure(path, by_path.get(path), data.thumbnails, "duplicate") for path in group.duplicates]
        groups.append(f'<div class="group"><h3>{_e(how)}</h3><div class="row">{"".join(cards)}</div></div>')
    spare = sum(by_path[path].bytes for group in data.duplicates for path in group.duplicates if path in by_path)
    note = (
        f"{_count(len(data.duplicates), 'group')}, {size_text(spare)} in copies. The copy marked keep is the one"
        " `gallery fix-refs` keeps (with --merge-similar for pictures in other bytes): the others' references"
        " are pointed at it."
    )
    return f'<section id="duplicates"><h2>Duplicates</h2><p class="note">{_e(note)}</p>{"".join(groups)}</section>'


def _figure(
    path: PurePosixPath,
    image: ImageFile | None,
    thumbnails: Mapping[PurePosixPath, str],
    badge: str = "",
    extra: Iterable[str] = (),
) -> str:
    thumbnail = thumbnails.get(path)
    picture = f'<img src="{thumbnail}" alt="">' if thumbnail is not None else '<div class="nopreview">no preview</div>'
    facts = []
    if image is not None:
        if image.width is not None and image.height is not None:
            facts.append(f"{image.width}\u00d7{image.height} px")
        facts.append(f"{size_text(image.bytes)} ({image.bytes:,} bytes)")
    tag = f'<span class="badge {badge}">{_e(badge)}</span>' if badge else ""
    lines = "".join(f"<div>{_e(line)}</div>" for line in (*facts, *extra))
    return (
        f'<figure class="{badge}"><div class="thumb">{picture}</div><figcaption>{tag}'
        f"<code>{_e(str(path))}</code>{lines}</figcaption></figure>"
    )


_GPS_NOTE = (
    "These files carry a GPS position in their metadata, which anyone who downloads them can read (the"
    " coordinates are not repeated here). `gallery optimize` strips it."
)


_OVERSIZED_NOTE = "Over [gallery.check] max_bytes, max_edge or max_pixels, as `gallery check` reports them."


def _image_section(data: ReportData, rule: str, title: str, note: str) -> str:
    found = [f for f in data.findings if f.rule == rule and f.file is not None]
    if not found:
        return ""
    by_path = {image.path: image for image in data.images}
    figures = []
    for f in found:
        assert f.file is not None
        extra = [f.message] if rule != "gps" else ["GPS position found in its metadata"]
        if f.page is not None:
            extra.append(f"shown at {f.where}")
        figures.append(_figure(f.file, by_path.get(f.file), data.thumbnails, f.severity, extra))
    return (
        f'<section id="{rule}"><h2>{_e(title)} ({len(found)})</h2><p class="note">{_e(note)}</p>'
        f'<div class="row">{"".join(figures)}</div></section>'
    )


def _references_section(data: ReportData) -> str:
    found = [f for f in data.findings if f.rule in REFERENCE_RULES]
    if not found:
        return ""
    return (
        f'<section id="references"><h2>Broken references ({len(found)})</h2>'
        '<p class="note">References a published site cannot show, at the page line that writes them.</p>'
        f"{_findings_table(found)}</section>"
    )


def _others_section(data: ReportData) -> str:
    found = [f for f in data.findings if f.rule not in SHOWN_ELSEWHERE]
    if not found:
        return ""
    return f'<section id="other"><h2>Other findings ({len(found)})</h2>{_findings_table(found)}</section>'


def _findings_table(findings: list[Finding]) -> str:
    rows = "".join(
        f'<tr><td><span class="badge {_e(f.severity)}">{_e(f.severity)}</span></td><td>{_e(f.rule)}</td>'
        f"<td><code>{_e(f.where)}</code></td><td>{_e(f.message)}</td></tr>"
        for f in findings
    )
    return (
        '<table class="findings"><thead><tr><th>Severity</th><th>Rule</th><th>Where</th><th>Message</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>"
    )


def _less(before: int, after: int) -> str:
    if not before:
        return "-"
    change = 1 - after / before
    return f"{change:.0%} less" if change >= 0 else f"{-change:.0%} more"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'s' * (number != 1)}"


def _e(text: str) -> str:
    """Text for HTML: escaped, and a file name's undecodable bytes (held as surrogates) shown as U+FFFD."""
    return html.escape(text.encode("utf-8", "surrogateescape").decode("utf-8", "replace"), quote=True)


_PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
{body}
<footer>Made by gallery {version}: <code>gallery report</code>. Thumbnails are embedded; nothing is loaded.</footer>
</body>
</html>
"""

_STYLE = """
:root { color-scheme: light dark; --fg: #1d232b; --muted: #5d6875; --bg: #f6f7f9; --panel: #fff;
  --line: #dde2e8; --good: #1f8a4c; --warn: #b26a00; --bad: #c4302b; --accent: #2d6cdf; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ee; --muted: #9aa4b1; --bg: #15191e; --panel: #1e242b;
  --line: #2f3740; --good: #4cc47f; --warn: #e0a040; --bad: #f0645c; --accent: #6c9cf0; } }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1200px; padding: 24px; background: var(--bg); color: var(--fg);
  font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
h1 { font-size: 26px; margin: 0 0 16px; } h2 { font-size: 20px; margin: 0 0 6px; } h3 { font-size: 14px;
  margin: 0 0 8px; color: var(--muted); font-weight: 600; }
code { font: 13px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
section { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 18px 20px;
  margin: 18px 0; }
.note { color: var(--muted); margin: 0 0 12px; max-width: 80ch; }
.callout { border-left: 4px solid var(--warn); padding: 6px 12px; }
.empty { color: var(--good); font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 12px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px;
  border-top: 4px solid var(--accent); }
.card.good { border-top-color: var(--good); } .card.warn { border-top-color: var(--warn); }
.card.bad { border-top-color: var(--bad); }
.card .label { color: var(--muted); font-size: 13px; } .card .value { font-size: 20px; font-weight: 650; }
.card .detail { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; width: 100%; } th, td { text-align: left; padding: 6px 8px;
  border-bottom: 1px solid var(--line); vertical-align: top; }
th { font-size: 13px; color: var(--muted); font-weight: 600; } .num { text-align: right; white-space: nowrap; }
tfoot th, tfoot td { font-weight: 700; border-bottom: 0; }
.saved { color: var(--good); font-size: 12px; display: block; }
td.page { max-width: 420px; } details ul { margin: 6px 0; padding-left: 18px; font-size: 13px; }
summary { cursor: pointer; }
.bars { width: 22%; min-width: 120px; }
.bar { position: relative; height: 14px; background: transparent; margin-top: 3px; }
.bar span { position: absolute; left: 0; top: 0; height: 14px; border-radius: 3px; }
.bar .before { background: var(--line); } .bar .after { background: var(--good); }
.row { display: flex; flex-wrap: wrap; gap: 12px; }
.group { border: 1px dashed var(--line); border-radius: 8px; padding: 10px; margin: 10px 0; }
figure { margin: 0; width: 200px; background: var(--bg); border: 1px solid var(--line); border-radius: 8px;
  padding: 8px; font-size: 12px; }
figure.keep { border: 2px solid var(--good); }
figure .thumb { height: 160px; display: flex; align-items: center; justify-content: center; }
figure img { max-width: 100%; max-height: 160px; display: block; }
.nopreview { color: var(--muted); font-size: 12px; }
figcaption { margin-top: 6px; overflow-wrap: anywhere; } figcaption code { display: block; margin: 4px 0; }
.badge { display: inline-block; border-radius: 999px; padding: 0 8px; font-size: 11px; font-weight: 700;
  color: #fff; background: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
.badge.keep { background: var(--good); } .badge.error { background: var(--bad); }
.badge.warning { background: var(--warn); } .badge.duplicate { background: var(--warn); }
footer { color: var(--muted); font-size: 12px; margin: 24px 0 8px; }
"""
