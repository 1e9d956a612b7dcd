"""The command line: parse, load the site, call the stages, print, exit. Nothing else."""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path, PurePosixPath

import click
from rich.console import Console
from rich.progress import Progress

from . import __version__
from .apply import apply_plan, recover
from .audit import Audit, read_report
from .build import (
    Output,
    build_variants,
    count_oversized,
    describe_variants,
    downscale_sources,
    plan_builds,
    read_manifest,
)
from .check import Change, find_findings, findings_of_change, summarize
from .config import RULES, CheckConfig, Config, MergeMode, Severity
from .dupes import folder_duplicates, site_duplicates
from .errors import ConfigError, GalleryError
from .executors import INSTALL_HINT, DaskExecutor, require_dask
from .fixrefs import plan_fix_refs
from .fs import ORIGINALS, cached_reader, read_site_bytes, write_atomic
from .hook import Slot, data_path, hook_files, hook_findings, is_uncovered, slot, template_path
from .htmlreport import report_html, report_summary
from .hugo_config import enable_unsafe_html as enable_unsafe_html_in
from .journal import journal_path, site_lock
from .model import Finding, ImageFile, Plan, Report, ScanResult, ScanWarning
from .optimize import is_under, plan_optimize
from .plan import read_accepts, read_image_metadata, scan_site
from .report import (
    FINDINGS_FORMATS,
    downscaled_text,
    dupes_json,
    dupes_text,
    plan_text,
    report_text,
    scan_json,
    scan_text,
    summary_text,
)  # fmt: skip
from .rewrite import Variants, plan_revert, plan_rewrite
from .site import Site, find_site_root, read_site

EXIT_FINDINGS = 1
EXIT_FILES_FAILED = 3


class GalleryGroup(click.Group):
    """Translate gallery's errors once, for every command."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except ConfigError as e:
            raise click.UsageError(str(e)) from e  # exit 2
        except GalleryError as e:
            raise click.ClickException(str(e)) from e
        except BrokenPipeError:
            raise  # `gallery scan | head`: not a file of the site
        except OSError as e:
            # A file no step could go on without (the lock, the journal, the Hugo config): one
            # line naming it, the status of failed files. Per-file failures never get here.
            where = f"{e.filename}: " if e.filename else ""
            click.echo(f"error: {where}{e.strerror or e}", err=True)
            raise SystemExit(EXIT_FILES_FAILED) from e


@click.group(cls=GalleryGroup)
@click.version_option(__version__, prog_name="gallery")
def cli() -> None:
    """Find, fix and optimize the images of a Hugo or Markdown site."""
    # A file name whose bytes are not UTF-8 is held with surrogates (os.fsdecode): print those bytes as they
    # are, as Python does in the C locale, instead of failing with UnicodeEncodeError in a UTF-8 one.
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="surrogateescape")


def _load(path: Path) -> tuple[Site, Config]:
    site, table = read_site(find_site_root(path))
    config_name = site.config_files[0] if site.config_files else "config"
    return site, Config.from_table(table, where=f"{config_name} [gallery]")


def _site_label(site: Site) -> str:
    return Path(os.path.relpath(site.root)).as_posix()


def _warn(result_warnings: tuple[object, ...]) -> None:
    for warning in result_warnings:
        click.echo(f"warning: {warning}", err=True)


path_argument = click.argument(
    "path", required=False, default=".", type=click.Path(exists=True, file_okay=True, path_type=Path)
)


@cli.command("scan")
@path_argument
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option(
    "--frontmatter-key",
    "frontmatter_keys",
    multiple=True,
    help="Front matter key holding an image URL (repeatable; replaces the configured list).",
)
def scan_cmd(path: Path, output: str, frontmatter_keys: tuple[str, ...]) -> None:
    """Report every image reference of the site and whether it resolves.

    PATH is the site root or any folder inside it (default: the current folder).

    \b
    Example:
        gallery scan
        gallery scan content/posts --format json > refs.json
    """
    site, config = _load(path)
    if frontmatter_keys:
        config = dataclasses.replace(config, frontmatter_keys=frontmatter_keys)
    result = scan_site(site, config)
    click.echo(scan_json(result, _site_label(site)) if output == "json" else scan_text(result))
    _warn(result.warnings)
    raise SystemExit(EXIT_FILES_FAILED if result.warnings else 0)


@cli.command("check")
@click.argument("paths", nargs=-1, metavar="[PATH | FILE...]", type=click.Path(exists=True, path_type=Path))
@click.option("--format", "output", type=click.Choice(sorted(FINDINGS_FORMATS)), default="text", show_default=True)
@click.option("--ignore", multiple=True, help="Glob of pages or images to skip (adds to [gallery.check] ignore).")
@click.option(
    "--severity",
    multiple=True,
    metavar="RULE=LEVEL",
    help=f"Override a rule's level ({', '.join(RULES)} = error|warning|off).",
)
@click.option(
    "--staged-removals",
    is_flag=True,
    help="With FILEs: also report broken references, in any page, to images that git's index deletes or"
    " renames away (the pre-commit hook passes it).",
)
def check_cmd(
    paths: tuple[Path, ...], output: str, ignore: tuple[str, ...], severity: tuple[str, ...], staged_removals: bool
) -> None:
    """Fail (exit 1) on broken, case-mismatched or hidden references, images leaking GPS,
    oversized images (over [gallery.check] max_bytes, max_edge or max_pixels) and duplicates.

    Also reports (as warnings, by default) image names that `optimize` would clean and
    metadata it would strip. An image finding points at the first page line using the image.
    A `<!-- gallery-accept: RULE, RULE -- reason -->` comment on a reference's line, or the
    line above, accepts those rules for it and for its image. The last line sums it up.

    PATH is the site root or a folder inside it (default: the current folder). Given FILEs
    instead (a pre-commit hook passes the staged ones), the whole site is still scanned, so
    that references resolve, but only what those files answer for is reported: a page's
    references, an image's own findings, references to an image that no longer resolve.

    Exit status: 0 clean, 1 findings at error level, 2 usage or config error,
    3 some files could not be read.

    \b
    Example:
        gallery check
        gallery check --format github      # annotations in a GitHub Actions log
        gallery check --severity duplicate=warning --ignore 'static/archive/*'
        gallery check content/posts/trip.md static/images/harbour.jpg
    """
    path, files = _check_target(paths)
    site, config = _load(path)
    change = None
    if files is not None:
        removed = _staged_removals(site.root) if staged_removals else frozenset()
        change = Change(frozenset(_site_relative_file(site, file) for file in files), removed)
    levels = dict(config.check.severity)
    for item in severity:
        rule, _, level = item.partition("=")
        if rule not in levels or level not in {s.value for s in Severity}:
            raise click.BadParameter(f"{item!r}: expected RULE=LEVEL with RULE one of {', '.join(RULES)}")
        levels[rule] = Severity(level)
    check = dataclasses.replace(config.check, severity=tuple(levels.items()), ignore=config.check.ignore + ignore)
    audit = _audit(site, config, check, change)
    findings = audit.findings
    click.echo(FINDINGS_FORMATS[output](findings, summarize(findings, audit.checked, check)))
    _warn(audit.warnings)
    if audit.warnings:
        raise SystemExit(EXIT_FILES_FAILED)
    raise SystemExit(EXIT_FINDINGS if any(f.severity == "error" for f in findings) else 0)


def _audit(site: Site, config: Config, check: CheckConfig, change: Change | None = None) -> Audit:
    """The findings of `check`'s enabled rules (with `change`, only those the changed files answer for)."""
    result = scan_site(site, config)
    wanted = check.severity_of("duplicate") != Severity.OFF  # detection decodes images: not for nothing
    undecodable: list[ScanWarning] = []
    duplicates = site_duplicates(site, config, result, similar=True, failed=undecodable.append) if wanted else ()
    checked = result  # the images counted: with FILEs, the changed ones (only their metadata can count)
    if change is not None:
        checked = dataclasses.replace(result, images=tuple(i for i in result.images if i.path in change.files))
    metadata = read_image_metadata(site, checked.images)
    unoptimized = ()
    if check.severity_of("unoptimized") != Severity.OFF:
        unoptimized = _unoptimized(site, config, result)
    accepts = read_accepts(site, result.pages)
    findings = find_findings(result, config, check, metadata, duplicates, accepts, unoptimized)
    warnings = (*result.warnings, *undecodable)
    if change is not None:
        findings = findings_of_change(findings, change, result.refs, duplicates)
        warnings = tuple(w for w in warnings if w.path in change.files)
    return Audit(result, checked, findings, duplicates, warnings)


def _check_target(paths: tuple[Path, ...]) -> tuple[Path, tuple[Path, ...] | None]:
    """Where to find the site, and the files whose findings to report (None: the whole site's).

    Files outside every Hugo site (a README image beside the site's folder) are skipped with a note.
    """
    if not paths or (len(paths) == 1 and paths[0].is_dir()):
        return (paths[0] if paths else Path(".")), None
    folder = next((path for path in paths if path.is_dir()), None)
    if folder is not None:
        raise click.UsageError(f"{folder} is a folder: give files, or one folder to check its whole site")
    by_root: dict[Path, list[Path]] = {}
    for file in paths:
        try:
            by_root.setdefault(find_site_root(file.parent), []).append(file)
        except ConfigError:
            click.echo(f"note: {file}: in no Hugo site, not checked", err=True)
    if len(by_root) > 1:
        roots = ", ".join(os.path.relpath(root) for root in by_root)
        raise click.UsageError(f"the files belong to {len(by_root)} sites ({roots}): check one site at a time")
    if not by_root:
        raise SystemExit(0)
    [(root, files)] = by_root.items()
    return root, tuple(files)


def _site_relative_file(site: Site, file: Path) -> PurePosixPath:
    # The folder resolved, not the file: a symlinked image is reported under its own name.
    return PurePosixPath((file.parent.resolve() / file.name).relative_to(site.root).as_posix())


def _staged_removals(root: Path) -> frozenset[PurePosixPath]:
    """The site's files that git's index deletes, the old names of renamed files included."""
    command = ["git", "diff", "--cached", "--name-only", "--no-renames", "--diff-filter=D", "--relative", "-z"]
    try:
        done = subprocess.run(command, cwd=root, capture_output=True, check=False)
    except OSError as e:
        raise ConfigError(f"--staged-removals needs git: {e}") from e
    if done.returncode != 0:
        why = done.stderr.decode(errors="replace").strip().splitlines()
        raise ConfigError(f"--staged-removals: {root} is not in a git work tree ({why[0] if why else 'git failed'})")
    return frozenset(PurePosixPath(os.fsdecode(name)) for name in done.stdout.split(b"\0") if name)


@cli.command("dupes")
@click.argument("path", required=False, default=".", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text", show_default=True)
def dupes_cmd(path: Path, output: str) -> None:
    """List groups of duplicate images under PATH: identical bytes, or the same picture
    resized, re-encoded, converted, slightly cropped, toned, rotated or letterboxed.

    In a Hugo site, paths are relative to the site root and the copy kept is, in order: the one
    with most pixels, not a lossy re-encode, most referenced, with the cleanest name. Any other
    folder works too (paths relative to it). Writes nothing: `gallery fix-refs` merges.

    \b
    Example:
        gallery dupes static/images
        gallery dupes ~/Pictures/export --format json
    """
    try:
        site, config = _load(path)
    except ConfigError:
        site = None
    if site is None:
        groups, images, warnings = folder_duplicates(path, Config())
    else:
        target = _site_relative(site, path)
        result = scan_site(site, config)
        inside = [image for image in result.images if is_under(image.path, target)]
        undecodable: list[ScanWarning] = []
        scanned = dataclasses.replace(result, images=tuple(inside))
        groups = site_duplicates(site, config, scanned, failed=undecodable.append)
        images, warnings = inside, (*result.warnings, *undecodable)
    by_path = {image.path: image for image in images}
    click.echo(dupes_json(groups) if output == "json" else dupes_text(groups, by_path))
    _warn(warnings)
    raise SystemExit(EXIT_FILES_FAILED if warnings else 0)


REPORT_NAME = "gallery-report.html"


@cli.command("report")
@path_argument
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Where to write the page (default: {REPORT_NAME} in the site root, which Hugo does not publish).",
)
def report_cmd(path: Path, output: Path | None) -> None:
    """Write one self-contained HTML page about the site's images: what each page downloads
    before and after gallery's <picture> markup (at 390 and 1440 px), duplicates side by side,
    oversized images, images publishing a GPS position, broken references and every other
    finding of `gallery check`, with thumbnails embedded. The page loads nothing from anywhere.

    Exit status: 0 written (findings do not fail it: `gallery check` is the gate),
    3 some files could not be read (the page is written without them).

    \b
    Example:
        gallery report
        gallery report path/to/site -o /tmp/images.html
    """
    site, config = _load(path)
    audit = _audit(site, config, config.check)
    data = read_report(site, config, audit)
    target = output if output is not None else site.root / REPORT_NAME
    write_atomic(target, report_html(data).encode("utf-8"))
    click.echo(f"wrote {os.path.relpath(target)}")
    click.echo(report_summary(data))
    _warn(audit.warnings)
    raise SystemExit(EXIT_FILES_FAILED if audit.warnings else 0)


Planner = Callable[[Site, Config, PurePosixPath, ScanResult], Plan]


def _site_relative(site: Site, path: Path) -> PurePosixPath:
    try:
        return PurePosixPath(path.resolve().relative_to(site.root).as_posix())
    except ValueError:
        raise ConfigError(f"{path} is outside the site {site.root}") from None


Then = Callable[[Site, Config, PurePosixPath, bool], tuple[int, bool]]


def _change_site(
    path: Path,
    dry_run: bool,
    command: str,
    planner: Planner,
    then: Then | None = None,
    wait: float = 0.0,
) -> None:
    """Plan, print, and (unless a dry run) apply under the site lock, completing an interrupted run first.

    Another run holding the lock is waited for, up to `wait` seconds (said once per owner), else
    SiteBusy (exit 1). `then` runs a further step (under the lock) and returns its exit status
    and whether it changed a file. A run that changed nothing says so, last, on stderr (stdout
    keeps its summaries, the last line of which `--format json` makes a JSON document).
    """
    site, config = _load(path)
    target = _site_relative(site, path)

    def waiting(owner: int | None) -> None:
        who = f"pid {owner}" if owner else "another gallery run"
        click.echo(f"waiting for {who} to finish changing this site (up to {wait:g} s, --wait)", err=True)

    with site_lock(site.root, wait, waiting) if not dry_run else contextlib.nullcontext():
        if dry_run and journal_path(site.root).exists():
            click.echo("note: an interrupted run will be completed before this plan is applied", err=True)
        recovered = None if dry_run else recover(site.root)
        recovery_failed = False
        if recovered is not None:
            interrupted, done = recovered
            recovery_failed = bool(done.failures)
            click.echo(f"completed an interrupted `gallery {interrupted}` run: {report_text(done)}", err=True)
        result = scan_site(site, config)
        plan = planner(site, config, target, result)
        pages = {page.page: read_site_bytes(site.root, page.page) for page in plan.pages}
        text = plan_text(plan, pages, diff=dry_run)
        if text or dry_run:
            click.echo(text or "nothing to rename, strip or fix")
        report = Report() if dry_run or not plan else apply_plan(site.root, plan, command, config.keep_exif_tags)
        if not dry_run:
            click.echo(report_text(dataclasses.replace(report, failures=())))
            for failure in report.failures:  # one line per file, on stderr like every other failure
                click.echo(f"failed: {failure}", err=True)
        status, changed = then(site, config, target, dry_run) if then is not None else (0, False)
    _warn(result.warnings)
    failed = report.failures or result.warnings or recovery_failed
    exit_status = max(status, EXIT_FILES_FAILED if failed else 0)
    applied = (report.renamed, report.stripped, report.pages_written, report.merged)
    if not dry_run and not exit_status and recovered is None and not any(applied) and not changed:
        click.echo("nothing changed", err=True)
    raise SystemExit(exit_status)


def _output(site: Site, config: Config) -> Output:
    """Where variants go, and the URL that folder is published at."""
    folder = PurePosixPath(config.output_dir)
    for language in site.languages:
        for static in language.static_dirs:
            if static in folder.parents:
                url = "/" + folder.relative_to(static).as_posix()
                return Output(folder, url, PurePosixPath(config.manifest))
    raise ConfigError(f"[gallery] output_dir = {config.output_dir!r} must be inside a static dir, so Hugo publishes it")


def _downscale(site: Site, config: Config, sources: list[ImageFile], downscale: bool, dry_run: bool) -> int:
    """Rewrite oversized sources (with `--downscale-sources`), or say how many there are; the exit status."""
    limits = config.check.size
    if not downscale or dry_run:
        count = count_oversized(site.root, sources, limits, config.variants)
        what = (
            f"{count} of {len(sources)} images over [gallery.check] max_bytes = {limits.max_bytes},"
            f" max_edge = {limits.max_edge} or max_pixels = {limits.max_pixels}"
        )
        if dry_run:
            click.echo(f"would downscale {what}" if downscale else f"{what} (--downscale-sources rewrites them)")
        elif count:
            click.echo(f"note: {what}; `gallery optimize --downscale-sources` rewrites them in place", err=True)
        return 0
    done, failures = downscale_sources(site.root, sources, limits, config.variants)
    for item in done:
        click.echo(downscaled_text(item))
    click.echo(
        f"downscaled {len(done)} of {len(sources)} images"
        + (f" (the originals are kept in {ORIGINALS}/)" if done else "")
    )
    for failure in failures:
        click.echo(f"error: {failure}", err=True)
    return EXIT_FILES_FAILED if failures else 0


def _variants_step(jobs: int, cluster: DaskExecutor | None, output_format: str, downscale: bool) -> Then:
    """The variants step of `optimize`, run after names and metadata are done (and oversized sources)."""

    def step(site: Site, config: Config, target: PurePosixPath, dry_run: bool) -> int:
        output = _output(site, config)
        result = scan_site(site, config)
        sources = [image for image in result.images if is_under(image.path, target)]
        downscale_now = downscale or config.downscale_sources
        downscaled = _downscale(site, config, sources, downscale_now, dry_run)
        if downscale_now and not dry_run:  # sizes changed
            result = scan_site(site, config)
            sources = [image for image in result.images if is_under(image.path, target)]
        if dry_run:
            todo, _ = plan_builds(site.root, sources, read_manifest(site.root, output.manifest), config.variants)
            for job in todo:
                click.echo(f"would render {job.source.path} ({describe_variants(job.source, config.variants)})")
            click.echo(f"would render variants of {len(todo)} of {len(sources)} images into {output.folder}")
            return 0, False
        manifest_before = _bytes_or_none(site.root, output.manifest)
        keep = {ref.file for ref in result.refs if ref.file is not None and output.folder in ref.file.parents}
        console = Console(stderr=True)
        with Progress(console=console, transient=True, disable=not console.is_terminal) as bar:
            task = bar.add_task("variants", total=len(sources))
            summary = build_variants(
                site.root, sources, output, config.variants, jobs, keep, lambda _: bar.advance(task), cluster
            )
        if output_format == "json":
            click.echo(json.dumps(summary.as_dict()))
        else:
            click.echo(summary_text(summary))
        for failure in summary.failures:
            click.echo(f"error: {failure}", err=True)
        status = max(downscaled, EXIT_FILES_FAILED if summary.failures else 0)
        # A source downscaled changes its manifest entry; a failure may have changed anything.
        wrote = summary.variants_written or summary.removed
        return status, bool(status or wrote or _bytes_or_none(site.root, output.manifest) != manifest_before)

    return step


def _bytes_or_none(root: Path, path: PurePosixPath) -> bytes | None:
    try:
        return read_site_bytes(root, path)
    except OSError:
        return None


dry_run_option = click.option(
    "-n", "--dry-run", is_flag=True, help="Print what would change (with a diff); write nothing."
)
DEFAULT_WAIT_SECONDS = 60
wait_option = click.option(
    "--wait",
    type=click.FloatRange(min=0),
    default=DEFAULT_WAIT_SECONDS,
    show_default=True,
    metavar="SECONDS",
    help="While another run changes the site, wait this long for it (0: stop at once, exit 1).",
)


@cli.command("optimize")
@click.argument(
    "folder", required=False, default="static/images", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@dry_run_option
@wait_option
@click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=os.cpu_count() or 1,
    show_default="all cores",
    help="Processes rendering variants (with --executor dask and no --scheduler: the LocalCluster's workers).",
)
@click.option(
    "--executor",
    type=click.Choice(["process", "dask"]),
    default="process",
    show_default=True,
    help=f"Render variants in a process pool, or on a Dask cluster (needs {INSTALL_HINT}).",
)
@click.option(
    "--scheduler",
    metavar="ADDRESS",
    help="With --executor dask: the scheduler of an existing cluster (tcp://HOST:PORT); without it, a LocalCluster.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Closing summary as text or JSON.",
)
@click.option(
    "--downscale-sources",
    "downscale",
    is_flag=True,
    help="Shrink sources over [gallery.check] max_bytes/max_edge/max_pixels in place (same name, no metadata;"
    " originals kept in .gallery/originals/). Config: downscale_sources = true.",
)
def optimize_cmd(
    folder: Path,
    dry_run: bool,
    wait: float,
    jobs: int,
    executor: str,
    scheduler: str | None,
    output_format: str,
    downscale: bool,
) -> None:
    """Clean the names and metadata of the images under FOLDER, then build their responsive variants.

    Names follow [gallery.names], with every reference updated; EXIF (GPS, camera, serial),
    XMP, IPTC and comments are removed without re-encoding pixels, keeping the colour profile
    and the orientation. Then every image gets variants ([gallery.variants]: widths x AVIF,
    WebP and a JPEG/PNG fallback) in output_dir, listed in the manifest; an unchanged image
    is skipped without decoding. A killed run is completed by the next one; no reference
    stops resolving meanwhile.

    With --downscale-sources (or downscale_sources = true), JPEG and PNG images over
    [gallery.check] max_bytes, max_edge or max_pixels are first shrunk in place to fit, same
    name, upright, without metadata; each original is kept in .gallery/originals/.

    \b
    Example:
        gallery optimize static/images --dry-run
        gallery optimize static/images --jobs 2
        gallery optimize static/images --executor dask --scheduler tcp://10.0.0.5:8786
    """
    if scheduler is not None and executor != "dask":
        raise click.UsageError("--scheduler is for --executor dask")
    if executor == "dask":
        require_dask()
    cluster = DaskExecutor(scheduler, jobs) if executor == "dask" else None
    step = _variants_step(jobs, cluster, output_format, downscale)
    _change_site(folder, dry_run, "optimize", plan_optimize, step, wait)


@cli.command("fix-refs")
@click.argument(
    "folder", required=False, default="content", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@dry_run_option
@wait_option
@click.option("--merge-similar", is_flag=True, help="Merge perceptual duplicates too (merge_duplicates = similar).")
@click.option("--no-merge", is_flag=True, help="Merge no duplicates in this run (merge_duplicates = off).")
@click.option(
    "--revert", is_flag=True, help="Put back the markup every <picture> gallery wrote replaced; nothing else."
)
@click.option(
    "--enable-unsafe-html",
    is_flag=True,
    help="Set markup.goldmark.renderer.unsafe = true in the Hugo config, which <picture> markup needs.",
)
@click.option(
    "--mode",
    type=click.Choice(["rewrite", "hook"]),
    help="rewrite: <picture> markup in the pages. hook: pages left as written; a Hugo render hook"
    " (layouts/_default/_markup/render-image.html) and its data (data/gallery_hook.json) make Hugo write it."
    "  [default: hook where gallery's render hook is installed, else rewrite]",
)
def fix_refs_cmd(
    folder: Path,
    dry_run: bool,
    wait: float,
    merge_similar: bool,
    no_merge: bool,
    revert: bool,
    enable_unsafe_html: bool,
    mode: str | None,
) -> None:
    """Repair broken image references in the pages under FOLDER where the fix is certain, merge duplicates,
    and write every shown image as a <picture> with AVIF and WebP srcsets.

    A URL that differs from the file only in case gets the file's spelling; a missing file
    with exactly one close match (doubled extension, doubled folder, same name elsewhere)
    gets that file's URL. Anything ambiguous is reported, never guessed.

    Byte-identical images (with --merge-similar, also the same picture in other bytes) are
    merged into the copy kept: every reference to a duplicate points at it instead, and the
    duplicate is removed (a perceptual one is kept in .gallery/originals). A duplicate used
    outside FOLDER or by a layout, data, config or CSS file stays, and is reported.

    Each Markdown image, reference image, raw <img> and figure shortcode whose image has
    variants (`gallery optimize`) becomes one line of <picture> markup: AVIF and WebP sources,
    a fallback <img> with srcset, sizes ([gallery] sizes, or a page's `gallery_sizes`),
    width, height, loading="lazy" and decoding="async"; URLs in the form the original took.
    The original markup is kept in the element's data-gallery attribute: a later run
    updates the markup when the variants changed, and --revert puts the original back.
    Hugo drops raw HTML unless markup.goldmark.renderer.unsafe = true: without it nothing
    is rewritten (exit 1), unless --enable-unsafe-html sets it.

    With --mode hook the pages keep their Markdown (gallery's <picture> markup in them is put
    back), and Hugo writes the same <picture> for each Markdown image at build time, from a
    render hook and data file written here. Raw <img> tags and shortcodes are left as they are
    (Hugo calls no render hook for them); `gallery check` lists them. An image render hook of
    your own at that path is never overwritten (exit 1). Later runs stay in hook mode; --mode
    rewrite leaves it, removing gallery's hook.

    \b
    Example:
        gallery fix-refs content/ --dry-run
        gallery fix-refs content/ --merge-similar
        gallery fix-refs content/ --revert
        gallery fix-refs content/ --mode hook
    """
    if merge_similar and no_merge:
        raise click.UsageError("--merge-similar and --no-merge contradict each other")
    if revert and (merge_similar or enable_unsafe_html or mode):
        raise click.UsageError("--revert only puts the original markup back: it takes no other option")
    if mode == "hook" and enable_unsafe_html:
        raise click.UsageError("--mode hook writes no HTML into the pages: it needs no --enable-unsafe-html")
    merge = MergeMode.OFF if no_merge else MergeMode.SIMILAR if merge_similar else None
    hook: list[str] = []  # "install" gallery's render hook and its data once the plan is applied, or "remove" them
    refused: list[str] = []
    undecodable: list[ScanWarning] = []  # images duplicate detection could not decode

    def planner(site: Site, config: Config, target: PurePosixPath, scan: ScanResult) -> Plan:
        if revert:
            return plan_revert(config, target, scan, cached_reader(site.root))
        if merge is not None:
            config = dataclasses.replace(config, merge_duplicates=merge)
        fixes = plan_fix_refs(site, config, target, scan, undecodable.append)
        installed = slot(_bytes_or_none(site.root, template_path(site)))
        if (mode or ("hook" if installed in (Slot.CURRENT, Slot.OURS) else "rewrite")) == "hook":
            if installed == Slot.TAKEN:
                refused.append(
                    f"error: {template_path(site)} is an image render hook of your own: not overwritten, and the pages"
                    " are left as they are; move it away, or run `gallery fix-refs --mode rewrite`"
                )
                return fixes
            hook.append("install")
            return plan_revert(config, target, scan, cached_reader(site.root), fixes)  # Hugo writes the markup now
        if installed in (Slot.CURRENT, Slot.OURS):  # --mode rewrite leaves hook mode
            hook.append("remove")
        rewrite = plan_rewrite(site, config, target, scan, cached_reader(site.root), fixes)
        if rewrite.unbuilt:
            click.echo(
                f"note: {len(rewrite.unbuilt)} images have no current variants: run `gallery optimize` first", err=True
            )
        if site.unsafe_html or not rewrite.pending:
            return rewrite.plan
        if enable_unsafe_html and not dry_run:
            changed = enable_unsafe_html_in(site)
            click.echo(f"set markup.goldmark.renderer.unsafe = true in {changed}")
            return rewrite.plan
        if enable_unsafe_html:
            click.echo("would set markup.goldmark.renderer.unsafe = true in the Hugo config")
            return rewrite.plan
        refused.append(
            f"error: {len(rewrite.pending)} images not written as <picture>: Hugo drops raw HTML unless"
            " markup.goldmark.renderer.unsafe = true; set it in the Hugo config or run"
            " `gallery fix-refs --enable-unsafe-html`"
        )
        return fixes

    def report_left_undone(site: Site, config: Config, target: PurePosixPath, dry_run: bool) -> tuple[int, bool]:
        written, failed = _change_hook_files(site, config, target, hook[0], dry_run) if hook else (False, False)
        for line in refused:
            click.echo(line, err=True)
        _warn(tuple(undecodable))
        status = EXIT_FILES_FAILED if undecodable or failed else EXIT_FINDINGS if refused else 0
        return status, written

    _change_site(folder, dry_run, "fix-refs --revert" if revert else "fix-refs", planner, report_left_undone, wait)


def _change_hook_files(
    site: Site, config: Config, target: PurePosixPath, action: str, dry_run: bool
) -> tuple[bool, bool]:
    """Install (or remove) gallery's render hook and its data; whether a file changed, and whether one failed."""
    wanted: dict[PurePosixPath, bytes | None] = dict.fromkeys((template_path(site), data_path(site)))
    if action == "install":  # scanned again: the plan may have fixed references and merged duplicates away
        scan, variants = scan_site(site, config), Variants(site.root, config)
        wanted.update(hook_files(site, scan, variants, config.sizes))
        refs = [ref for ref in scan.refs if ref.file is not None and is_under(ref.page, target)]
        uncovered = sum(is_uncovered(ref, variants(ref.file)) for ref in refs if ref.file is not None)
        if uncovered:
            click.echo(
                f"note: {uncovered} images shown by raw <img> tags or shortcodes keep their markup: Hugo's render"
                " hooks see Markdown images only (`gallery check` lists them)",
                err=True,
            )
    changed = failed = False
    for path, data in wanted.items():
        if _bytes_or_none(site.root, path) == data or (data is None and not (site.root / path).exists()):
            continue
        verb, done = ("write", "written") if data is not None else ("remove", "removed")
        if dry_run:
            click.echo(f"would {verb} {path}")
            continue
        try:
            if path.is_absolute() or ".." in path.parts:
                raise OSError(errno.EPERM, "outside the site root", str(path))
            if data is None:
                (site.root / path).unlink()
            else:
                write_atomic(site.root / path, data, site.root)
        except OSError as e:
            click.echo(f"failed: {path}: not {done}: {e.strerror or e}", err=True)
            failed = True
            continue
        click.echo(f"{'wrote' if data is not None else 'removed'} {path}")
        changed = True
    return changed, failed


def _unoptimized(site: Site, config: Config, result: ScanResult) -> tuple[Finding, ...]:
    """The `unoptimized` findings: hook mode's where gallery's render hook is installed, else the rewriter's."""
    if slot(_bytes_or_none(site.root, template_path(site))) not in (Slot.CURRENT, Slot.OURS):
        return plan_rewrite(site, config, PurePosixPath("."), result, cached_reader(site.root)).findings
    variants = Variants(site.root, config)
    wanted = hook_files(site, result, variants, config.sizes)
    stale = [path for path, data in wanted.items() if _bytes_or_none(site.root, path) != data]
    return hook_findings(result, variants, bool(variants.entries), stale)
