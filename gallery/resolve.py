"""Where Hugo publishes pages and files, and what each image reference points at. Pure: no file access.

Every rule here was checked against real builds of Hugo 0.168 (pinned by CI) and 0.147.9;
where the two differ, 0.168 wins and the comment says so.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, NamedTuple
from urllib.parse import unquote, urlsplit

from .model import ImageRef, PageContext, RawRef, RefKind, Status
from .site import Site

# Hugo renders these as pages (extension matched case-insensitively). Hugo 0.147.9 does not
# know .mkd: it publishes such a file as a plain resource, so gallery does not scan it.
CONTENT_EXTENSIONS = (".md", ".markdown", ".mdown", ".html", ".htm")

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
# Characters _sanitize keeps as they are, so a string of only these comes out unchanged.
_KEPT_AS_IS = re.compile(r"[A-Za-z0-9./\\_#+~@-]*")
_HOOKED_KINDS = (RefKind.MARKDOWN, RefKind.REFERENCE, RefKind.LINK)
_ALWAYS_HOOKED_KINDS = (RefKind.SHORTCODE, RefKind.FRONTMATTER)


@dataclass(frozen=True, slots=True)
class ContentFile:
    """A content file Hugo renders as a page."""

    path: PurePosixPath  # relative to the site root
    language: str
    content_path: PurePosixPath  # relative to its content dir


@dataclass(frozen=True, slots=True)
class PublishedFile:
    """A file of the site and the URL path Hugo publishes it at."""

    path: PurePosixPath  # relative to the site root
    url_path: str | None  # decoded, site-relative ("/images/a b.png"); None: published nowhere
    bundle: PurePosixPath | None = None  # the page bundle directory owning it, for resources
    language: str | None = None  # the language whose page publishes it, for resources
    asset: bool = False  # under assets/: published only when a render hook or template uses it


@dataclass(frozen=True, slots=True, eq=False)
class PublishedIndex:
    """Lookups over the published files: exact, by case/normalisation, by name, by bundle."""

    by_url: Mapping[str, PublishedFile]
    by_folded: Mapping[str, tuple[PublishedFile, ...]]
    by_name: Mapping[str, tuple[PublishedFile, ...]]
    resources: Mapping[tuple[PurePosixPath, str], tuple[PublishedFile, ...]]
    assets: Mapping[str, PublishedFile]  # by path inside the assets dir

    def with_assets_published(self, paths: Iterable[PurePosixPath]) -> PublishedIndex:
        """A copy where these assets/ files count as published (something used them)."""
        wanted = set(paths)
        used = [f for f in self.assets.values() if f.path in wanted and f.url_path]
        if not used:
            return self
        by_url = {**self.by_url, **{f.url_path: f for f in used if f.url_path}}
        by_folded: dict[str, tuple[PublishedFile, ...]] = dict(self.by_folded)
        for f in used:
            key = _fold(f.url_path or "")
            by_folded[key] = (*by_folded.get(key, ()), f)
        return PublishedIndex(by_url, by_folded, self.by_name, self.resources, self.assets)


# --- page URLs -----------------------------------------------------------------------------


def page_url(site: Site, content_file: ContentFile, front_matter: Mapping[str, Any]) -> str:
    """The page's published URL path, site-relative: "/a/b/" (or "/a/b.html" with uglyURLs)."""
    fm = {str(k).lower(): v for k, v in front_matter.items()}
    lang = site.language(content_file.language)
    url = fm.get("url")
    if isinstance(url, str) and url.strip():
        # Front matter url is used as written: no lowercasing, no sanitising, and no language
        # prefix when it is absolute (a relative one gets the prefix).
        url = url.strip()
        path = url if url.startswith("/") else f"{lang.url_prefix}/{url}"
        path = re.sub(r"/{2,}", "/", path)
        last = path.rsplit("/", 1)[1]
        return path if path.endswith("/") or "." in last else path + "/"
    dirs, stem = _split_content_path(site, content_file.content_path)
    slug = fm.get("slug")
    slug = slug.strip() if isinstance(slug, str) and slug.strip() else None
    if stem == "_index" or (stem == "index" and not dirs):
        # A section keeps a directory URL even with uglyURLs, and its slug replaces the last
        # segment (Hugo 0.168; 0.147 wrote ugly sections as /sec.html and ignored their slug).
        segments = _path_segments(site, dirs)
        if not segments:
            return lang.url_prefix + "/"
        if slug:
            segments[-1] = _slug(site, slug)
        return f"{lang.url_prefix}/{'/'.join(s for s in segments if s)}/"
    elif stem == "index":
        segments = _path_segments(site, dirs[:-1])
        segments += [_slug(site, slug)] if slug else _path_segments(site, dirs[-1:])
    else:
        segments = _path_segments(site, dirs)
        segments += [_slug(site, slug)] if slug else _path_segments(site, [stem])
    joined = "/".join(s for s in segments if s)
    if not joined:  # every character was dropped by sanitising
        return lang.url_prefix + "/"
    return f"{lang.url_prefix}/{joined}" + (".html" if site.ugly_urls else "/")


def bundle_url(site: Site, content_file: ContentFile, front_matter: Mapping[str, Any]) -> str:
    """The URL directory a bundle's resources are published under (its page URL as a directory)."""
    url = page_url(site, content_file, front_matter)
    if url.endswith("/"):
        return url
    # An ugly /a/b.html page keeps its resources in /a/b/ (checked with uglyURLs builds).
    return url.removesuffix(".html") + "/"


def bundle_dir(site: Site, page: PurePosixPath) -> PurePosixPath | None:
    """The bundle directory when PAGE is an index or _index content file, else None."""
    return page.parent if page_stem(site, page.name) in ("index", "_index") else None


def page_stem(site: Site, name: str) -> str:
    """The name without extension and language suffix: "index" for index.vi.md when vi is configured.

    With no language vi, Hugo renders index.vi.md as a page named "index.vi" (checked).
    """
    stem = name.rsplit(".", 1)[0] if "." in name else name
    return stem.rsplit(".", 1)[0] if content_language(site, name) else stem


def content_language(site: Site, name: str) -> str | None:
    """The language code of a `name.vi.md` / `photo.vi.jpg` suffix, when it is a configured one."""
    if name.count(".") < 2:
        return None
    code = name.rsplit(".", 2)[-2].lower()
    return code if any(lang.code == code for lang in site.languages) else None


def is_content_name(name: str) -> bool:
    """True for the file names Hugo renders as pages."""
    return name.lower().endswith(CONTENT_EXTENSIONS)


def _split_content_path(site: Site, content_path: PurePosixPath) -> tuple[list[str], str]:
    return list(content_path.parts[:-1]), page_stem(site, content_path.name)


def _path_segments(site: Site, parts: list[str]) -> list[str]:
    joined = "/".join(parts)
    if not site.disable_path_to_lower:
        # Hugo lowercases the file path and turns each space into "-" before sanitising, so
        # "a  b.md" becomes /a--b/; with disablePathToLower it sanitises the path as written,
        # which folds runs of spaces into one "-" (/a-b/), as it does for a slug.
        joined = _go_lower(joined.replace(" ", "-"))
    return [s for s in _sanitize(site, joined).split("/") if s] if joined else []


def _slug(site: Site, slug: str) -> str:
    slug = _sanitize(site, slug.strip())
    return slug if site.disable_path_to_lower else _go_lower(slug)


def _go_lower(s: str) -> str:
    # Go's strings.ToLower maps rune by rune: no final-sigma rule, and U+0130 becomes "i"
    # (Python's str.lower gives "i̇"). On ASCII the two agree.
    if s.isascii():
        return s.lower()
    return "".join("i" if c == "\u0130" else (c.lower() if len(c.lower()) == 1 else c) for c in s)


def _sanitize(site: Site, s: str) -> str:
    """Hugo's PathSpec.UnicodeSanitize: keep letters, digits, marks and . / \\ _ # + ~ - @."""
    if _KEPT_AS_IS.fullmatch(s):
        return s  # most file and folder names: nothing to drop, no accent to remove
    if site.remove_path_accents:
        s = unicodedata.normalize(
            "NFC", "".join(c for c in unicodedata.normalize("NFD", s) if unicodedata.category(c) != "Mn")
        )
    out: list[str] = []
    prepend_hyphen = was_hyphen = False
    for i, c in enumerate(s):
        allowed = c in "./\\_#+~-@" or unicodedata.category(c)[0] in "LM" or unicodedata.category(c) == "Nd"
        allowed = allowed or (c == "%" and _is_hex(s[i + 1 : i + 3]))
        if allowed:
            was_hyphen = c == "-"
            if prepend_hyphen and not was_hyphen:
                out.append("-")
            prepend_hyphen = False
            out.append(c)
        elif out and not was_hyphen and _go_is_space(c):
            prepend_hyphen = True
    return "".join(out)


def _is_hex(s: str) -> bool:
    return len(s) == 2 and all(c in "0123456789abcdefABCDEF" for c in s)


def _go_is_space(c: str) -> bool:
    return c in "\t\n\v\f\r \x85\xa0" or (c > "\xff" and unicodedata.category(c) in ("Zs", "Zl", "Zp"))


# --- the published index -------------------------------------------------------------------


def index_published(files: Iterable[PublishedFile]) -> PublishedIndex:
    """Index the published files for exact, case-insensitive, by-name and by-bundle lookups."""
    by_url: dict[str, PublishedFile] = {}
    by_name: dict[str, list[PublishedFile]] = defaultdict(list)
    resources: dict[tuple[PurePosixPath, str], list[PublishedFile]] = defaultdict(list)
    assets: dict[str, PublishedFile] = {}
    for f in files:
        by_name[_fold(f.path.name)].append(f)
        if f.asset:
            assets[(f.url_path or "/" + f.path.name)[1:]] = f
            continue
        if f.bundle is not None:
            # Resources.Get matches names case-insensitively (![](A.PNG) finds a.png).
            resources[(f.bundle, _go_lower(str(f.path.relative_to(f.bundle))))].append(f)
        if f.url_path is not None:
            # Later files win: Hugo copies static dirs in order, the last one wins.
            by_url[f.url_path] = f
    by_folded: dict[str, list[PublishedFile]] = defaultdict(list)
    for url, f in by_url.items():
        by_folded[_fold(url)].append(f)
    return PublishedIndex(
        by_url=by_url,
        by_folded={k: tuple(v) for k, v in by_folded.items()},
        by_name={k: tuple(v) for k, v in by_name.items()},
        resources={k: tuple(v) for k, v in resources.items()},
        assets=assets,
    )


def _fold(s: str) -> str:
    return unicodedata.normalize("NFC", s).casefold()


# --- references ----------------------------------------------------------------------------


def resolve_ref(site: Site, index: PublishedIndex, page: PageContext, raw: RawRef) -> ImageRef:
    """Resolve one reference the way a browser fetches it from the site Hugo publishes."""
    status, file, hint, candidates = _locate(site, index, page, raw)
    if not raw.rendered:
        why = "Markdown inside an HTML block is printed as text, not rendered (end the block with a blank line)"
        return ImageRef(page.path, raw, Status.NOT_RENDERED, file, _also(why, status, hint))
    if raw.raw_html and not site.unsafe_html:
        why = (
            "Hugo drops raw HTML unless the config sets markup.goldmark.renderer.unsafe = true"
            " (`gallery fix-refs --enable-unsafe-html` sets it)"
        )
        return ImageRef(page.path, raw, Status.NOT_RENDERED, file, _also(why, status, hint))
    return ImageRef(page.path, raw, status, file, hint, candidates)


def published_asset(site: Site, index: PublishedIndex, page: PageContext, raw: RawRef) -> PurePosixPath | None:
    """The assets/ file a render hook or shortcode publishes for this reference, if any.

    Hugo publishes an assets/ file once anything uses it, so other references to its URL work
    too: collect these over every reference, then resolve against
    `index.with_assets_published(...)`.
    """
    if not index.assets:
        return None  # only assets/ files are published this way, and the site has none
    url = raw.url.strip()
    if not url or url.startswith("//") or _SCHEME.match(url) or not _hooked(site, raw):
        return None
    found = _hook_lookup(site, index, page, url_decoded(url.split("#", 1)[0].split("?", 1)[0]))
    return found.path if found is not None and found.asset else None


def url_decoded(text: str) -> str:
    """TEXT with %-escapes decoded; bytes that are not UTF-8 become surrogates, as os.fsdecode spells
    such a file name, so /images/%E9.jpg names the file whose name is the byte 0xE9 + ".jpg"."""
    return unquote(text, errors="surrogateescape")


def find_orphans(
    images: Iterable[PurePosixPath], used: set[PurePosixPath], names_elsewhere: set[str]
) -> tuple[PurePosixPath, ...]:
    """Images no reference uses and whose name appears nowhere outside the content (sorted)."""
    return tuple(sorted(p for p in set(images) if p not in used and p.name not in names_elsewhere))


def _also(why: str, status: Status, hint: str) -> str:
    if status in (Status.MISSING, Status.CASE_MISMATCH, Status.OUTSIDE_SITE):
        return f"{why}; also {status.value}" + (f": {hint}" if hint else "")
    return why


class Located(NamedTuple):
    """Where a URL leads: its status, the file, a hint, and for a missing file the near names."""

    status: Status
    file: PurePosixPath | None
    hint: str
    candidates: tuple[PurePosixPath, ...] = ()


def _locate(site: Site, index: PublishedIndex, page: PageContext, raw: RawRef) -> Located:
    url = raw.url.strip()
    if not url:
        return Located(Status.MISSING, None, "the URL is empty")
    # Most URLs start with "/", which no scheme does: skip the regex for them.
    scheme = None if url.startswith("/") else _SCHEME.match(url)
    if scheme and scheme.group(1).lower() == "data":
        return Located(Status.DATA_URI, None, "")
    if scheme and len(scheme.group(1)) == 1:
        hint = "this is a path on your disk; write a URL relative to the page or the site root"
        return Located(Status.MISSING, None, hint)
    on_site = url.startswith("//") or scheme
    if on_site:
        local = _same_site_path(site, url)
        if local is None:
            return Located(Status.REMOTE, None, "")
        url = local
    path = url_decoded(url.split("#", 1)[0].split("?", 1)[0])
    if not path:
        return Located(Status.MISSING, None, "the URL names no file")
    if not on_site and _hooked(site, raw):
        found = _hook_lookup(site, index, page, path)
        doubled = site.relative_urls and site.base_path != "/" and raw.kind is not RefKind.FRONTMATTER
        if found is not None and doubled:
            # Checked (render hooks and the figure shortcode): Hugo writes /sub/x.png, then
            # relativeURLs rewrites it against the site root as ../sub/x.png, doubling the base.
            hint = (
                f"Hugo publishes this file, but with relativeURLs and the baseURL path {site.base_path} "
                f"it writes a link to {site.base_path[:-1]}{site.base_path}...: turn relativeURLs off"
            )
            return Located(Status.MISSING, found.path, hint)
        if found is not None:
            return Located(Status.OK, found.path, "")
    if path.startswith("/"):
        return _root_relative(site, index, raw, path, absolute=bool(on_site))
    joined = _remove_dots(page.url[: page.url.rfind("/") + 1] + path)
    if joined is None:
        return Located(Status.OUTSIDE_SITE, None, f"climbs above the site root from the page URL {page.url}")
    return _lookup(index, joined, "\\" in path)


def _same_site_path(site: Site, url: str) -> str | None:
    """The site-relative path of an absolute URL into this site, else None (a remote URL)."""
    base = urlsplit(site.base_url)
    try:
        target = urlsplit(url)
    except ValueError:
        return None
    if not base.hostname or target.hostname != base.hostname or target.port != base.port:
        return None
    if target.scheme and target.scheme.lower() != base.scheme.lower():
        return None
    path = target.path or "/"
    if not (path + "/").startswith(site.base_path):
        return None
    rest = "/" + path[len(site.base_path) :]
    return rest + (f"?{target.query}" if target.query else "")


def _hooked(site: Site, raw: RawRef) -> bool:
    # Hugo's own figure shortcode always looks the src up as a page resource, then in assets/;
    # the embedded render hooks do the same for Markdown images and links when they are on.
    # Custom shortcodes are assumed to do the same (most do, with .Resources.Get).
    if raw.kind in _ALWAYS_HOOKED_KINDS:
        return True
    return site.render_hooks and not raw.raw_html and raw.kind in _HOOKED_KINDS


def _hook_lookup(site: Site, index: PublishedIndex, page: PageContext, path: str) -> PublishedFile | None:
    name = path.removeprefix("./")
    owner = bundle_dir(site, page.path)
    if owner is not None and not name.startswith("/"):
        candidates = [f for f in index.resources.get((owner, _go_lower(name)), ()) if f.url_path]
        # A resource in the page's own language first, then the shared one Hugo publishes once.
        candidates.sort(key=lambda f: f.language != page.language)
        if candidates:
            return candidates[0]
    return index.assets.get(name.lstrip("/"))


def _root_relative(site: Site, index: PublishedIndex, raw: RawRef, path: str, absolute: bool) -> Located:
    base = site.base_path
    clean = _remove_dots(path)
    if clean is None:
        return Located(Status.OUTSIDE_SITE, None, "climbs above the site root")
    if base == "/" or absolute:
        return _lookup(index, clean, "\\" in path)
    under = clean.startswith(base) or clean + "/" == base
    stripped = "/" + clean[len(base) :] if under else clean
    if raw.kind is RefKind.FRONTMATTER or site.canonify_urls and not site.relative_urls:
        # canonifyURLs prefixes baseURL but does not double a path already under it.
        return _lookup(index, stripped, "\\" in path)
    if site.relative_urls:
        # relativeURLs rewrites /x as a path relative to the site root: a hard-coded base path
        # is then doubled (/sub/sub/x), so /sub/x only works if a file is published there.
        found = _lookup(index, clean, "\\" in path)
        if found.status is Status.MISSING and under and stripped in index.by_url:
            hint = f"relativeURLs is on, so Hugo already adds {base}: write {stripped}"
            return Located(Status.MISSING, index.by_url[stripped].path, hint)
        return found
    if under:
        return _lookup(index, stripped, "\\" in path)
    # Neither canonifyURLs nor relativeURLs: the browser asks the host root, outside the site.
    found = _lookup(index, clean, "\\" in path)
    if found.status is Status.OK:
        hint = (
            f"the site is published under {base}, so {clean} is fetched from outside it: write "
            f"{base}{clean[1:]}, a relative URL, or set canonifyURLs = true"
        )
        return Located(Status.MISSING, found.file, hint)
    return found


def _remove_dots(path: str) -> str | None:
    """RFC 3986 remove_dot_segments on an absolute path; None when it climbs above "/"."""
    if path.startswith("/") and "/." not in path:
        return path  # no segment starts with ".", so none is "." or ".."
    out: list[str] = []
    segments = path.split("/")[1:]
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == "..":
            if not out:
                return None
            out.pop()
            if last:
                out.append("")
        elif seg == ".":
            if last:
                out.append("")
        else:
            out.append(seg)
    return "/" + "/".join(out)


def _lookup(index: PublishedIndex, url_path: str, backslash: bool) -> Located:
    found = index.by_url.get(url_path)
    if found is not None:
        return Located(Status.OK, found.path, "")
    folded = index.by_folded.get(_fold(url_path), ())
    if folded:
        real = folded[0]
        assert real.url_path is not None
        if unicodedata.normalize("NFC", real.url_path) == unicodedata.normalize("NFC", url_path):
            why = "differs in Unicode normalisation (NFC vs NFD): the names look equal, the bytes differ"
        elif unicodedata.normalize("NFC", real.url_path).casefold() == url_path.casefold():
            why = "differs in letter case"
        else:
            why = "differs in letter case and Unicode normalisation"
        return Located(Status.CASE_MISMATCH, real.path, f"the file is {real.url_path} ({real.path}); the URL {why}")
    asset = index.assets.get(url_path[1:])
    if asset is not None:
        hint = (
            f"{asset.path} is in {asset.path.parts[0]}/: Hugo publishes it only when a Markdown image, "
            "shortcode or template uses it"
        )
        return Located(Status.MISSING, asset.path, hint)
    hint, candidates = _suggestion(index, url_path)
    if backslash and not hint:
        hint = "use / in URLs, not \\"
    return Located(Status.MISSING, None, hint, candidates)


def _suggestion(index: PublishedIndex, url_path: str) -> tuple[str, tuple[PurePosixPath, ...]]:
    """A "did you mean" hint and the files it names: doubled extension or folder, extra leading
    folders, or the same name elsewhere."""
    suffix = PurePosixPath(url_path).suffix
    for candidate in _variants(url_path, suffix):
        f = index.by_url.get(candidate)
        if f is not None:
            return f"did you mean {candidate} ({f.path})?", (f.path,)
    name = url_path.rsplit("/", 1)[1]
    same_name = index.by_name.get(_fold(name), ())
    published = [f for f in same_name if f.url_path is not None and not f.asset]
    if published:
        best = sorted(published, key=lambda f: (-_shared_tail(f.url_path or "", url_path), f.url_path))
        shown = " or ".join(f"{f.url_path} ({f.path})" for f in best[:2])
        return f"did you mean {shown}?", tuple(f.path for f in best)
    if same_name:
        f = same_name[0]
        if f.asset:
            return f"{f.path} is in assets/: Hugo publishes it only when a hook, shortcode or template uses it", ()
        return (
            f"{f.path} exists but Hugo publishes it nowhere: a bundle resource is published only "
            "with a page of its language (no language suffix means the default language)"
        ), ()
    return "", ()


def _variants(url_path: str, suffix: str) -> Iterable[str]:
    if suffix:
        yield url_path + suffix  # x.png -> x.png.png
        if url_path.removesuffix(suffix).endswith(suffix):
            yield url_path.removesuffix(suffix)  # x.png.png -> x.png
    segments = [s for s in url_path.split("/") if s]
    collapsed = _collapse_repeats(segments)
    if collapsed != segments or "//" in url_path:
        yield "/" + "/".join(collapsed)
    for i in range(1, len(segments) - 1):  # /static/images/x.png -> /images/x.png
        yield "/" + "/".join(segments[i:])


def _collapse_repeats(segments: list[str]) -> list[str]:
    """Drop a run of folders that repeats the run just before it (a/b/a/b/x -> a/b/x)."""
    out = list(segments)
    changed = True
    while changed:
        changed = False
        for size in range(1, len(out) // 2 + 1):
            for i in range(len(out) - 2 * size + 1):
                if out[i : i + size] == out[i + size : i + 2 * size]:
                    del out[i + size : i + 2 * size]
                    changed = True
                    break
            if changed:
                break
    return out


def _shared_tail(a: str, b: str) -> int:
    n = 0
    for x, y in zip(reversed(a.split("/")), reversed(b.split("/")), strict=False):  # up to the shorter
        if x != y:
            break
        n += 1
    return n
