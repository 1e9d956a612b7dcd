"""Read a site and put the stages' findings together. Reads files, never writes."""

from __future__ import annotations

import dataclasses
from pathlib import PurePosixPath

from .check import Accept, find_accepts
from .config import Config
from .fs import (
    SiteReader,
    find_names_outside_content,
    iter_content_files,
    iter_published_images,
    read_site_bytes,
    read_text_file,
)
from .hook import own_data_files
from .metadata import Metadata, read_metadata
from .model import ImageFile, PageContext, ScanResult, ScanWarning, Status
from .resolve import PublishedIndex, find_orphans, index_published, page_url, published_asset, resolve_ref
from .scan import find_refs, is_markdown
from .site import Site


def scan_site(site: Site, config: Config) -> ScanResult:
    """Find, resolve and count every image reference of the site."""
    warnings: list[ScanWarning] = []
    reader = SiteReader(site.root, config.variants.max_pixels)
    pages = []
    for item in iter_content_files(site):
        if isinstance(item, ScanWarning):
            warnings.append(item)
            continue
        text, warning = reader.read_text(item.path)
        if warning is not None:
            warnings.append(warning)
        if text is None:
            continue
        page = find_refs(text, config, markdown=is_markdown(item.path.name))
        warnings.extend(ScanWarning(item.path, problem) for problem in page.problems)
        context = PageContext(item.path, page_url(site, item, page.front_matter), item.language)
        pages.append((context, page.refs))

    published = []
    for item in iter_published_images(site, config.image_extensions):
        if isinstance(item, ScanWarning):
            warnings.append(item)
        else:
            published.append(item)
    index = index_published(published)
    # An assets/ file is published only once some reference makes Hugo use it.
    used_assets = {
        asset
        for context, raws in pages
        for raw in raws
        if (asset := published_asset(site, index, context, raw)) is not None
    }
    index = index.with_assets_published(used_assets)
    refs = tuple(resolve_ref(site, index, context, raw) for context, raws in pages for raw in raws)

    # Variants are published and resolvable, but they are not sources: no checks, no orphans.
    generated = PurePosixPath(config.output_dir)
    urls: dict[PurePosixPath, str | None] = {}
    for item in published:
        if generated in item.path.parents:
            continue
        if urls.get(item.path) is None:
            urls[item.path] = item.url_path
    images: list[ImageFile] = []
    for path in sorted(urls):
        image = reader.read_image(path)
        if isinstance(image, ScanWarning):
            warnings.append(image)
        else:
            images.append(dataclasses.replace(image, url=urls[path]))
    # A broken reference that names a file still shows the file is wanted: not an orphan.
    used = {ref.file for ref in refs if ref.file is not None}
    unused_names = {image.path.name for image in images if image.path not in used}
    orphans = find_orphans(
        (image.path for image in images),
        used,
        find_names_outside_content(site, unused_names, own_data_files(site, config.manifest)),
    )
    return ScanResult(tuple(context for context, _ in pages), refs, tuple(images), orphans, tuple(warnings))


def read_image_metadata(site: Site, images: tuple[ImageFile, ...]) -> dict[PurePosixPath, Metadata]:
    """What metadata each image carries (for `check`); unreadable files are left out."""
    found = {}
    for image in images:
        try:
            found[image.path] = read_metadata(read_site_bytes(site.root, image.path))
        except OSError:
            continue  # the scan has already warned about it
    return found


def read_accepts(site: Site, pages: tuple[PageContext, ...]) -> tuple[Accept, ...]:
    """The gallery-accept comments of every page (for `check`); unreadable pages are left out."""
    found: list[Accept] = []
    for page in pages:
        text, _ = read_text_file(site.root, page.path)
        if text is not None:
            found.extend(find_accepts(text, page.path))
    return tuple(found)


def published_index(site: Site, config: Config, scan: ScanResult) -> PublishedIndex:
    """The published files, indexed as the scan indexed them, to tell where a new URL leads."""
    files = [item for item in iter_published_images(site, config.image_extensions) if not isinstance(item, ScanWarning)]
    # An assets/ file is published once something uses it; the scan resolved those uses to it.
    used = {ref.file for ref in scan.refs if ref.status == Status.OK and ref.file is not None}
    return index_published(files).with_assets_published(used)
