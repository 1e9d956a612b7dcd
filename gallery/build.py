"""Build responsive variants: decide what is stale, render in a process pool, write atomically.

Variant names carry a hash of the source bytes and the encoder settings, so a variant
file that exists is current. The manifest (data/gallery.json by default) is the cache: a
source whose size and mtime (or, failing that, bytes) and settings are unchanged is
skipped without decoding.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .downscale import SizeLimits, downscaled_source, is_oversized, upright_size
from .executors import DaskExecutor, dask_results
from .fs import TEMPORARY_SUFFIX, keep_original, read_site_bytes, write_atomic
from .manifest import SourceEntry, VariantEntry, manifest_from_json, manifest_to_json, variant_name
from .model import ImageFile
from .variants import RenderedVariant, SourceInfo, VariantSettings, placeholder_of, render_variants, variant_specs
from .workers import die_with_parent

Progress = Callable[[PurePosixPath], None]
Rendered = tuple[str, SourceInfo, str, tuple[RenderedVariant, ...]]  # source sha256, what it is, fingerprint, variants


@dataclass(frozen=True, slots=True)
class Output:
    """Where variants go: a folder inside a static dir, and the URL path it is published at."""

    folder: PurePosixPath  # relative to the site root
    url: str  # "/_gallery"
    manifest: PurePosixPath


@dataclass(frozen=True, slots=True)
class BuildSummary:
    """What a variants run did, for the closing line and `--format json`."""

    images: int
    rendered: int  # sources decoded and encoded this run
    variants_written: int
    source_bytes: int
    variant_bytes: int  # of the variants of every source, written now or before
    largest_bytes: int  # what a wide screen downloads: per source, the smallest file at its largest width
    removed: int  # stale variant files deleted
    seconds: float
    failures: tuple[str, ...]

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class _Job:
    source: ImageFile
    size: int
    mtime_ns: int


def describe_variants(source: ImageFile, settings: VariantSettings) -> str:
    """What a dry run says a source will get, from its header alone (before EXIF rotation)."""
    if source.width is None or source.height is None:
        return "its size is known once decoded"
    specs = variant_specs(source.width, source.height, "fallback", settings)
    widths = ", ".join(str(w) for w in sorted({spec.width for spec in specs}))
    formats = ", ".join(dict.fromkeys(spec.format for spec in specs))
    return f"{source.width}x{source.height}: {widths} px x {formats}"


def read_manifest(root: Path, manifest: PurePosixPath) -> dict[str, SourceEntry]:
    """The manifest's entries by source path; none when it is missing or unreadable (everything is stale)."""
    try:
        return manifest_from_json(read_site_bytes(root, manifest))
    except OSError:
        return {}


def plan_builds(
    root: Path, sources: Iterable[ImageFile], manifest: dict[str, SourceEntry], settings: VariantSettings
) -> tuple[list[_Job], dict[str, SourceEntry]]:
    """Sources to render, and the manifest entries still current (checked without decoding)."""
    key = settings.key()
    jobs, current = [], {}
    for source in sources:
        stat = os.stat(root / source.path)
        entry = manifest.get(str(source.path))
        fresh = (
            entry is not None
            and entry.key == key
            and entry.describes(stat)
            and all((root / variant.path).is_file() for variant in entry.variants)
        )
        if fresh and entry is not None:
            current[str(source.path)] = entry
        else:
            jobs.append(_Job(source, stat.st_size, stat.st_mtime_ns))
    jobs.sort(key=lambda job: -job.size)  # biggest first: both cores stay busy to the end
    return jobs, current


def _render_file(root: str, path: str, settings: VariantSettings) -> Rendered:
    """Worker: read one source and render its variants (only bytes cross the process boundary)."""
    return render_source(read_site_bytes(Path(root), PurePosixPath(path)), settings)


def render_source(data: bytes, settings: VariantSettings) -> Rendered:
    """The variant job, pure: a source's bytes in; its sha256, what it is, its fingerprint and its variants out."""
    info, variants = render_variants(data, settings)
    return hashlib.sha256(data).hexdigest(), info, _fingerprint(data, info), variants


def _fingerprint(data: bytes, info: SourceInfo) -> str:
    """What duplicate detection needs, computed here where the source is read anyway ("" for SVG)."""
    if info.format == "SVG":
        return ""
    from .similar import fingerprint  # numpy and imagehash: not for the commands that never render

    return fingerprint(data).to_text()


def _rendered(
    root: Path, todo: list[_Job], settings: VariantSettings, jobs: int, cluster: DaskExecutor | None
) -> Iterator[tuple[_Job, Rendered | Exception]]:
    """Render every job, on the Dask `cluster` if given, else in a pool of `jobs` processes when that helps;
    errors are returned, not raised."""
    if cluster is not None and todo:
        sizes, read = (lambda job: job.size), (lambda job: read_site_bytes(root, job.source.path))
        yield from dask_results(cluster, todo, sizes, read, render_source, settings)
        return
    if jobs > 1 and len(todo) > 1:
        workers = min(jobs, len(todo))
        with ProcessPoolExecutor(workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
            futures = [(job, pool.submit(_render_file, str(root), str(job.source.path), settings)) for job in todo]
            for job, future in futures:
                try:
                    yield job, future.result()
                except Exception as e:  # noqa: BLE001 - one bad source must not stop the others
                    yield job, e
        return
    for job in todo:
        try:
            yield job, _render_file(str(root), str(job.source.path), settings)
        except Exception as e:  # noqa: BLE001 - one bad source must not stop the others
            yield job, e


def build_variants(
    root: Path,
    sources: list[ImageFile],
    output: Output,
    settings: VariantSettings,
    jobs: int,
    keep: set[PurePosixPath],
    progress: Progress | None = None,
    cluster: DaskExecutor | None = None,
) -> BuildSummary:
    """Render what is stale, write it, write the manifest, remove unused variant files.

    `keep` holds variant files that pages still reference: they are never removed. With a Dask
    `cluster`, the rendering runs there (`jobs` is then unused) and the writing here.
    """
    started = time.perf_counter()
    manifest = read_manifest(root, output.manifest)
    todo, entries = plan_builds(root, sources, manifest, settings)
    for path, entry in entries.items():
        if entry.placeholder is None:
            entries[path] = _with_placeholder(root, entry, settings.max_pixels)
    for source in sources:
        if progress is not None and str(source.path) in entries:
            progress(source.path)
    failures: list[str] = []
    written = 0
    key = settings.key()
    for job, result in _rendered(root, todo, settings, jobs, cluster):
        try:
            if isinstance(result, Exception):
                raise result
            digest, info, found, variants = result
            entry = _entry(job, digest, info, found, variants, output, key)
            for variant, rendered in zip(entry.variants, variants, strict=True):
                path = root / variant.path
                if not path.is_file():  # content-addressed: an existing file is already this one
                    write_atomic(path, rendered.data, root)  # makes the folder
                    written += 1
            entries[str(job.source.path)] = entry
        except Exception as e:  # noqa: BLE001 - reported per file; the run goes on
            failures.append(f"{job.source.path}: no variants: {type(e).__name__}: {getattr(e, 'strerror', None) or e}")
        if progress is not None:
            progress(job.source.path)

    # Entries of sources outside this run (another folder) stay; vanished sources go.
    for path in list(manifest):
        if path not in entries and path not in {str(s.path) for s in sources} and (root / path).is_file():
            entries[path] = manifest[path]
    data = manifest_to_json(entries)
    try:
        current = read_site_bytes(root, output.manifest)
    except OSError:
        current = b""
    removed = 0
    try:
        if data != current:
            write_atomic(root / output.manifest, data, root)
    except OSError as e:
        # The old manifest stays, and so do the variants it lists: none is removed below.
        failures.append(f"{output.manifest}: not written: {e.strerror}")
    else:
        removed = _remove_stale(root, output, entries, keep, failures)
    return BuildSummary(
        images=len(sources),
        rendered=len(todo),
        variants_written=written,
        source_bytes=sum(s.bytes for s in sources),
        variant_bytes=sum(v.bytes for s in sources if (e := entries.get(str(s.path))) for v in e.variants),
        largest_bytes=sum(_largest(e) for s in sources if (e := entries.get(str(s.path)))),
        removed=removed,
        seconds=time.perf_counter() - started,
        failures=tuple(failures),
    )


def _with_placeholder(root: Path, entry: SourceEntry, max_pixels: int) -> SourceEntry:
    """An entry written before placeholders were, with one made from its smallest fallback variant (tried again
    next run when that cannot be read)."""
    fallbacks = [v for v in entry.variants if v.format == entry.fallback]
    if entry.animated or not fallbacks:
        return dataclasses.replace(entry, placeholder="")
    smallest = min(fallbacks, key=lambda v: v.width)
    try:
        found = placeholder_of(read_site_bytes(root, PurePosixPath(smallest.path)), max_pixels)
    except (OSError, ValueError):
        return entry
    return dataclasses.replace(entry, placeholder=found)


def _largest(entry: SourceEntry) -> int:
    if not entry.variants:
        return entry.bytes  # served as it is (SVG, passthrough animation)
    widest = max(v.width for v in entry.variants)
    return min(v.bytes for v in entry.variants if v.width == widest)


def _entry(
    job: _Job,
    digest: str,
    info: SourceInfo,
    found: str,
    variants: tuple[RenderedVariant, ...],
    output: Output,
    key: str,
) -> SourceEntry:
    url_dir = (job.source.url or "/" + str(job.source.path)).rsplit("/", 1)[0].strip("/")
    name_digest = hashlib.sha256(f"{digest} {key}".encode()).hexdigest()
    folder = output.folder / url_dir if url_dir else output.folder
    url = f"{output.url}/{url_dir}" if url_dir else output.url
    entries = []
    for variant in variants:
        name = variant_name(job.source.path, name_digest, variant.spec.width, variant.spec.format)
        entries.append(
            VariantEntry(
                variant.width,
                variant.height,
                variant.spec.format,
                len(variant.data),
                str(folder / name),
                f"{url}/{name}",
            )
        )
    return SourceEntry(
        sha256=digest,
        bytes=job.size,
        mtime_ns=job.mtime_ns,
        width=info.width,
        height=info.height,
        format=info.format,
        fallback=info.fallback,
        animated=info.animated,
        fingerprint=found,
        key=key,
        variants=tuple(entries),
        placeholder=info.placeholder,
    )


def _remove_stale(
    root: Path, output: Output, entries: dict[str, SourceEntry], keep: set[PurePosixPath], failures: list[str]
) -> int:
    """Delete variant files no source has any more (and no page still uses); folders emptied too.

    Also the temporary files of a killed run (Hugo publishes hidden files of static dirs).
    """
    wanted = {v.path for entry in entries.values() for v in entry.variants} | {str(p) for p in keep}
    folder = root / output.folder
    removed = 0
    for directory, _, names in os.walk(folder, topdown=False):
        for name in names:
            path = Path(directory) / name
            relative = path.relative_to(root).as_posix()
            temporary = name.endswith(TEMPORARY_SUFFIX)
            if temporary or (relative not in wanted and not name.startswith(".")):
                try:
                    path.unlink()
                except OSError as e:
                    failures.append(f"{relative}: stale variant not removed: {e.strerror}")
                    continue
                removed += not temporary
        try:
            if directory != str(folder) and not os.listdir(directory):
                os.rmdir(directory)
        except OSError as e:
            failures.append(f"{Path(directory).relative_to(root).as_posix()}: empty folder not removed: {e.strerror}")
    return removed


@dataclass(frozen=True, slots=True)
class Downscaled:
    """A source rewritten in place: its upright size and bytes before and after, and where the original went."""

    path: PurePosixPath
    before: tuple[int, int, int]  # width, height, bytes
    after: tuple[int, int, int]
    original: PurePosixPath  # in the originals store, relative to the site root


def count_oversized(root: Path, sources: Iterable[ImageFile], limits: SizeLimits, settings: VariantSettings) -> int:
    """How many rewritable sources are over `limits` (headers only; unreadable ones are not counted)."""
    count = 0
    for source in sources:
        try:
            count += is_oversized(read_site_bytes(root, source.path), limits, settings)
        except (OSError, ValueError):
            continue  # the variants step (or --downscale-sources) reports it
    return count


def downscale_sources(
    root: Path, sources: Iterable[ImageFile], limits: SizeLimits, settings: VariantSettings
) -> tuple[tuple[Downscaled, ...], tuple[str, ...]]:
    """Rewrite each oversized source in place, atomically, under the same name, once its original
    is in the originals store; (done, failures)."""
    done: list[Downscaled] = []
    failures: list[str] = []
    for source in sources:
        try:
            data = read_site_bytes(root, source.path)
            smaller = downscaled_source(data, limits, settings)
            if smaller is None:
                continue
            before, after = upright_size(data, settings), upright_size(smaller, settings)
            assert before is not None and after is not None  # downscaled_source rewrites only such formats
            original = keep_original(root, source.path)
            write_atomic(root / source.path, smaller, root)
            done.append(Downscaled(source.path, (*before, len(data)), (*after, len(smaller)), original))
        except Exception as e:  # noqa: BLE001 - reported per file; the run goes on
            failures.append(f"{source.path}: not downscaled: {type(e).__name__}: {getattr(e, 'strerror', None) or e}")
    return tuple(done), tuple(failures)
