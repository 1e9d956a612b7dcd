"""The command line: parse, load the site, call the stages, print, exit. Nothing else."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click

from . import __version__
from .check import find_findings
from .config import RULES, Config, Severity
from .errors import ConfigError, GalleryError
from .plan import scan_site
from .report import FINDINGS_FORMATS, scan_json, scan_text
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


@click.group(cls=GalleryGroup)
@click.version_option(__version__, prog_name="gallery")
def cli() -> None:
    """Find, fix and optimize the images of a Hugo or Markdown site."""


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
@path_argument
@click.option(
    "--format", "output", type=click.Choice(sorted(FINDINGS_FORMATS)), default="text", show_default=True
)
@click.option("--ignore", multiple=True, help="Glob of pages or images to skip (adds to [gallery.check] ignore).")
@click.option(
    "--severity",
    multiple=True,
    metavar="RULE=LEVEL",
    help=f"Override a rule's level ({', '.join(RULES)} = error|warning|off).",
)
def check_cmd(path: Path, output: str, ignore: tuple[str, ...], severity: tuple[str, ...]) -> None:
    """Fail (exit 1) when the site has broken, case-mismatched or hidden image references.

    Exit status: 0 clean, 1 findings at error level, 2 usage or config error,
    3 some files could not be read.

    \b
    Example:
        gallery check
        gallery check --format github      # annotations in a GitHub Actions log
    """
    site, config = _load(path)
    levels = dict(config.check.severity)
    for item in severity:
        rule, _, level = item.partition("=")
        if rule not in levels or level not in {s.value for s in Severity}:
            raise click.BadParameter(f"{item!r}: expected RULE=LEVEL with RULE one of {', '.join(RULES)}")
        levels[rule] = Severity(level)
    check = dataclasses.replace(config.check, severity=tuple(levels.items()), ignore=config.check.ignore + ignore)
    result = scan_site(site, config)
    findings = find_findings(result, check)
    text = FINDINGS_FORMATS[output](findings)
    if text:
        click.echo(text)
    _warn(result.warnings)
    if result.warnings:
        raise SystemExit(EXIT_FILES_FAILED)
    raise SystemExit(EXIT_FINDINGS if any(f.severity == "error" for f in findings) else 0)
