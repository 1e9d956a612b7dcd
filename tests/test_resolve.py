"""Page URLs and reference resolution, as Hugo publishes a site and a browser fetches from it.

Every expected URL and status below was checked against real builds of Hugo 0.168 (the
version CI pins) and 0.147.9: the page URLs by listing public/, the statuses by rendering the
references and fetching each rendered src the way a browser resolves it.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from gallery.model import RawRef, RefKind, Status
from gallery.resolve import (
    ContentFile,
    PageContext,
    PublishedFile,
    bundle_url,
    find_orphans,
    index_published,
    page_url,
    published_asset,
    resolve_ref,
)
from gallery.site import Site, site_from_config

P = PurePosixPath
ROOT = Path("/site")
ML = {"defaultContentLanguage": "en", "languages": {"en": {"weight": 1}, "vi": {"weight": 2}}}


def nfd(s: str) -> str:
    return unicodedata.normalize("NFD", s)


def make_site(**config: Any) -> Site:
    return site_from_config(ROOT, {"baseURL": "https://example.org/", **config})


def content(path: str, language: str = "en") -> ContentFile:
    return ContentFile(P("content") / path, language, P(path))


# --- page_url ------------------------------------------------------------------------------

# (config, content path, language, front matter, URL Hugo 0.168 publishes the page at)
PAGE_URLS = [
    ({}, "Posts/My Leaf/index.md", "en", {}, "/posts/my-leaf/"),
    ({}, "Posts/Branch Dir/_index.md", "en", {}, "/posts/branch-dir/"),
    ({}, "Posts/Branch Dir/Regular Page.md", "en", {}, "/posts/branch-dir/regular-page/"),
    ({}, "_index.md", "en", {}, "/"),
    ({}, "sec/UPPER.MD", "en", {}, "/sec/upper/"),
    ({}, "sec/file.with.dots.md", "en", {}, "/sec/file.with.dots/"),
    ({}, "Über Café/Ça va? #1 & (x)+y=z%.md", "en", {}, "/über-café/ça-va-#1--x+yz/"),
    ({}, "a  b/c  d.md", "en", {}, "/a--b/c--d/"),  # spaces become "-" one by one
    ({}, "ΑΣ/ΣΑΣ.md", "en", {}, "/ασ/σασ/"),  # Go lowercases rune by rune: no final sigma
    ({}, "İstanbul/x.md", "en", {}, "/istanbul/x/"),
    ({}, nfd("Bài viết/index.md"), "en", {}, nfd("/bài-viết/")),  # NFD names stay NFD
    ({}, "vionly/index.vi.md", "en", {}, "/vionly/index.vi/"),  # no language vi: a plain page
    ({}, "sec/s.md", "en", {"slug": "My Slug!"}, "/sec/my-slug/"),
    ({}, "sec/s.md", "en", {"slug": "a  b\tc"}, "/sec/a-b-c/"),
    ({}, "sec/s.md", "en", {"slug": "a/b"}, "/sec/a/b/"),
    ({}, "posts/x/index.md", "en", {"slug": "Ünï Slug"}, "/posts/ünï-slug/"),
    ({}, "sec/sub/_index.md", "en", {"slug": "Slugged"}, "/sec/slugged/"),  # 0.147.9 ignored it
    ({}, "sec/u.md", "en", {"url": "/Custom/Path/"}, "/Custom/Path/"),  # url: kept as written
    ({}, "sec/u.md", "en", {"URL": "/UpperKey/"}, "/UpperKey/"),
    ({}, "sec/u.md", "en", {"url": "/My Url/Ça?/"}, "/My Url/Ça?/"),
    ({}, "sec/u.md", "en", {"url": "/noslash"}, "/noslash/"),
    ({}, "sec/u.md", "en", {"url": "/x/y.html"}, "/x/y.html"),
    ({}, "sec2/_index.md", "en", {"url": "/Branch/Url/"}, "/Branch/Url/"),
    (ML, "Posts/My Leaf/index.vi.md", "vi", {}, "/vi/posts/my-leaf/"),
    (ML, "Posts/My Leaf/index.md", "en", {}, "/posts/my-leaf/"),
    (ML, "Sec/s.vi.md", "vi", {"slug": "Xin chào!"}, "/vi/sec/xin-chào/"),
    (ML, "Sec/u.vi.md", "vi", {"url": "/Abs/Vi/"}, "/Abs/Vi/"),  # absolute url: no prefix
    (ML, "Sec/r.vi.md", "vi", {"url": "rel/Path"}, "/vi/rel/Path/"),  # relative url: prefix
    ({**ML, "defaultContentLanguageInSubdir": True}, "Sec/p.md", "en", {}, "/en/sec/p/"),
    ({**ML, "defaultContentLanguageInSubdir": True}, "_index.md", "en", {}, "/en/"),
    ({"uglyURLs": True}, "Sec/My Leaf/index.md", "en", {}, "/sec/my-leaf.html"),
    ({"uglyURLs": True}, "Sec/Reg Page.md", "en", {}, "/sec/reg-page.html"),
    ({"uglyURLs": True}, "Sec/_index.md", "en", {}, "/sec/"),  # 0.147.9: /sec.html
    ({"uglyURLs": True}, "_index.md", "en", {}, "/"),
    ({"disablePathToLower": True}, "Sec/My Leaf/index.md", "en", {}, "/Sec/My-Leaf/"),
    ({"disablePathToLower": True}, "a  b/c  d.md", "en", {}, "/a-b/c-d/"),
    ({"disablePathToLower": True}, "Sec/s.md", "en", {"slug": "Slug X"}, "/Sec/Slug-X/"),
    ({"removePathAccents": True}, "Über Café/Ça va.md", "en", {}, "/uber-cafe/ca-va/"),
]


@pytest.mark.parametrize("config, path, language, front_matter, expected", PAGE_URLS)
def test_page_url_as_hugo_publishes_it(
    config: dict, path: str, language: str, front_matter: dict, expected: str
) -> None:
    assert page_url(make_site(**config), content(path, language), front_matter) == expected


def test_page_url_ignores_the_base_path() -> None:
    site = site_from_config(ROOT, {"baseURL": "https://h.org/internship-report/"})
    assert page_url(site, content("a/b.md"), {}) == "/a/b/"


def test_bundle_url_of_an_ugly_leaf_is_a_folder() -> None:
    # Checked: /sec/leaf.html keeps its resources in /sec/leaf/.
    site = make_site(uglyURLs=True)
    assert bundle_url(site, content("Sec/Leaf/index.md"), {}) == "/sec/leaf/"
    assert bundle_url(make_site(), content("Sec/Leaf/index.md"), {"slug": "x"}) == "/sec/x/"


# --- resolve_ref ---------------------------------------------------------------------------

FILES = (
    PublishedFile(P("static/images/cat.png"), "/images/cat.png"),
    PublishedFile(P("static/images/Dog.PNG"), "/images/Dog.PNG"),
    PublishedFile(P("static/images/a b.png"), "/images/a b.png"),
    PublishedFile(P("static/images/x.png.png"), "/images/x.png.png"),
    PublishedFile(P("static/img") / nfd("café.png"), "/img/" + nfd("café.png")),
    PublishedFile(P("static/shots/deep/y.png"), "/shots/deep/y.png"),
    PublishedFile(P("content/posts/leaf/a.png"), "/posts/leaf/a.png", P("content/posts/leaf"), "en"),
    PublishedFile(P("content/posts/leaf/sub/d.png"), "/posts/leaf/sub/d.png", P("content/posts/leaf"), "en"),
    PublishedFile(P("content/posts/sec.png"), "/posts/sec.png", P("content/posts"), "en"),
    PublishedFile(P("content/vionly/v.png"), None, P("content/vionly"), "en"),
    PublishedFile(P("assets/images/logo.png"), "/images/logo.png", asset=True),
    # The name is the byte 0xE9 + ".jpg" (Latin-1, not UTF-8): os.fsdecode spells it with a surrogate.
    PublishedFile(P("static/images/\udce9.jpg"), "/images/\udce9.jpg"),
)
INDEX = index_published(FILES)
LEAF = PageContext(P("content/posts/leaf/index.md"), "/posts/leaf/", "en")
LEAF_VI = PageContext(P("content/posts/leaf/index.vi.md"), "/vi/posts/leaf/", "vi")
BRANCH = PageContext(P("content/posts/_index.md"), "/posts/", "en")
REGULAR = PageContext(P("content/posts/reg.md"), "/posts/reg/", "en")
VI_ONLY = PageContext(P("content/vionly/index.vi.md"), "/vi/vionly/", "vi")


def ref(url: str, kind: RefKind = RefKind.MARKDOWN, **flags: bool) -> RawRef:
    return RawRef(kind, url, 10, 10 + len(url), 3, 5, **flags)


def resolve(
    url: str, page: PageContext = REGULAR, site: Site | None = None, kind: RefKind = RefKind.MARKDOWN, **flags: bool
):
    site = site or make_site(markup={"goldmark": {"renderer": {"unsafe": True}}})
    return resolve_ref(site, INDEX, page, ref(url, kind, **flags))


@pytest.mark.parametrize(
    "url, page, file",
    [
        ("/images/cat.png", REGULAR, "static/images/cat.png"),
        ("/images/a%20b.png", REGULAR, "static/images/a b.png"),  # percent-decoded (UTF-8)
        ("/images/a b.png", REGULAR, "static/images/a b.png"),
        ("/images/cat.png?v=2#top", REGULAR, "static/images/cat.png"),  # query, fragment dropped
        ("/img/" + nfd("café.png"), REGULAR, "static/img/" + nfd("café.png")),
        ("/img/cafe%CC%81.png", REGULAR, "static/img/" + nfd("café.png")),
        ("/images/%E9.jpg", REGULAR, "static/images/\udce9.jpg"),  # a byte that is no UTF-8, as the file name has it
        ("/images/%e9.jpg", REGULAR, "static/images/\udce9.jpg"),
        ("a.png", LEAF, "content/posts/leaf/a.png"),  # leaf bundle, published under the page
        ("./sub/d.png", LEAF, "content/posts/leaf/sub/d.png"),
        ("sec.png", BRANCH, "content/posts/sec.png"),  # branch bundle
        ("../sec.png", REGULAR, "content/posts/sec.png"),  # relative to /posts/reg/
        ("../leaf/a.png", REGULAR, "content/posts/leaf/a.png"),
        ("https://example.org/images/cat.png", REGULAR, "static/images/cat.png"),  # this site
        ("//example.org/images/cat.png", REGULAR, "static/images/cat.png"),
    ],
)
def test_ok(url: str, page: PageContext, file: str) -> None:
    result = resolve(url, page)
    assert (result.status, result.file, result.hint) == (Status.OK, P(file), "")
    assert result.page == page.path
    assert result.ref.url == url


@pytest.mark.parametrize(
    "url, status",
    [
        ("https://cdn.example.com/x.png", Status.REMOTE),
        ("//cdn.example.com/x.png", Status.REMOTE),
        ("http://example.org/images/cat.png", Status.REMOTE),  # another scheme than baseURL
        ("mailto:me@example.org", Status.REMOTE),
        ("ftp://example.org/x.png", Status.REMOTE),
        ("data:image/png;base64,iVBORw0KGgo=", Status.DATA_URI),
        ("DATA:image/gif;base64,R0lGOD==", Status.DATA_URI),
    ],
)
def test_remote_and_data(url: str, status: Status) -> None:
    result = resolve(url)
    assert (result.status, result.file) == (status, None)


def test_case_mismatch_names_the_real_file() -> None:
    result = resolve("/images/dog.png")
    assert result.status is Status.CASE_MISMATCH
    assert result.file == P("static/images/Dog.PNG")
    assert "/images/Dog.PNG" in result.hint and "letter case" in result.hint


def test_nfc_url_for_an_nfd_file_is_a_case_mismatch() -> None:
    # Checked: Hugo on Linux publishes the NFD name byte for byte; an NFC URL then 404s.
    result = resolve("/img/café.png")
    assert unicodedata.is_normalized("NFC", result.ref.url)
    assert result.status is Status.CASE_MISMATCH
    assert result.file == P("static/img") / nfd("café.png")
    assert "Unicode normalisation" in result.hint


@pytest.mark.parametrize(
    "url, hint",
    [
        ("/images/x.png", "did you mean /images/x.png.png (static/images/x.png.png)?"),
        ("/shots/deep//deep/y.png", "did you mean /shots/deep/y.png (static/shots/deep/y.png)?"),
        ("/shots/deep/deep/y.png", "did you mean /shots/deep/y.png (static/shots/deep/y.png)?"),
        ("/static/images/cat.png", "did you mean /images/cat.png (static/images/cat.png)?"),
        ("/pics/y.png", "did you mean /shots/deep/y.png (static/shots/deep/y.png)?"),
        ("a.png", "did you mean /posts/leaf/a.png (content/posts/leaf/a.png)?"),  # from /posts/reg/
        ("/nothing-like-it.png", ""),
    ],
)
def test_missing_with_near_name_hint(url: str, hint: str) -> None:
    result = resolve(url)
    assert (result.status, result.file, result.hint) == (Status.MISSING, None, hint)


def test_missing_hints_for_paths_that_are_not_urls() -> None:
    assert "path on your disk" in resolve("C:\\photos\\cat.png").hint
    assert resolve("images\\cat.png", BRANCH).hint == "use / in URLs, not \\"
    assert resolve("   ").status is Status.MISSING
    assert resolve("#top").status is Status.MISSING


@pytest.mark.parametrize("url", ["../../../x.png", "../../../images/cat.png", "/../images/cat.png"])
def test_climbing_above_the_site_root_is_outside_site(url: str) -> None:
    result = resolve(url, REGULAR)
    assert (result.status, result.file) == (Status.OUTSIDE_SITE, None)


def test_not_rendered_markdown_keeps_the_file() -> None:
    result = resolve("/images/cat.png", rendered=False)
    assert (result.status, result.file) == (Status.NOT_RENDERED, P("static/images/cat.png"))
    assert "printed as text" in result.hint
    missing = resolve("/images/x.png", rendered=False)
    assert missing.status is Status.NOT_RENDERED
    assert "also missing: did you mean /images/x.png.png" in missing.hint


def test_raw_html_needs_unsafe() -> None:
    safe = make_site()
    result = resolve("/images/cat.png", site=safe, kind=RefKind.HTML, raw_html=True)
    assert (result.status, result.file) == (Status.NOT_RENDERED, P("static/images/cat.png"))
    assert "markup.goldmark.renderer.unsafe = true" in result.hint
    assert resolve("/images/cat.png", kind=RefKind.HTML, raw_html=True).status is Status.OK
    # Markdown is rendered whatever `unsafe` says.
    assert resolve("/images/cat.png", site=safe).status is Status.OK


# baseURL https://example.org/sub/: what works depends on canonifyURLs and relativeURLs.
# Checked by rendering both forms with each setting and fetching the rendered src.
@pytest.mark.parametrize(
    "settings, url, status",
    [
        ({}, "/sub/images/cat.png", Status.OK),
        ({}, "/images/cat.png", Status.MISSING),  # fetched from the host root, outside /sub/
        ({"canonifyURLs": True}, "/images/cat.png", Status.OK),  # becomes https://example.org/sub/...
        ({"canonifyURLs": True}, "/sub/images/cat.png", Status.OK),  # not doubled
        ({"relativeURLs": True}, "/images/cat.png", Status.OK),  # becomes ../../images/...
        ({"relativeURLs": True}, "/sub/images/cat.png", Status.MISSING),  # ../../sub/images: doubled
        ({"relativeURLs": True, "canonifyURLs": True}, "/images/cat.png", Status.OK),  # relative wins
        ({"relativeURLs": True, "canonifyURLs": True}, "/sub/images/cat.png", Status.MISSING),
    ],
)
def test_base_url_subpath(settings: dict, url: str, status: Status) -> None:
    site = site_from_config(ROOT, {"baseURL": "https://example.org/sub/", **settings})
    result = resolve_ref(site, INDEX, REGULAR, ref(url))
    assert result.status is status
    # Either way gallery knows which file was meant, so the ref can be rewritten.
    assert result.file == P("static/images/cat.png")
    if status is Status.MISSING:
        assert "/sub/" in result.hint


def test_base_url_subpath_absolute_and_front_matter() -> None:
    site = site_from_config(ROOT, {"baseURL": "https://example.org/sub/"})
    absolute = resolve_ref(site, INDEX, REGULAR, ref("https://example.org/sub/images/cat.png"))
    assert (absolute.status, absolute.file) == (Status.OK, P("static/images/cat.png"))
    assert resolve_ref(site, INDEX, REGULAR, ref("https://example.org/images/cat.png")).status is Status.REMOTE
    # Themes pass front matter through relURL/absURL or resources: accept both forms.
    for url in ("/images/cat.png", "/sub/images/cat.png"):
        assert resolve_ref(site, INDEX, REGULAR, ref(url, RefKind.FRONTMATTER)).status is Status.OK


def test_bundle_in_two_languages_without_render_hooks() -> None:
    # A shared resource is published once, under the default language's page (checked).
    site = make_site(markup={"goldmark": {"renderer": {"unsafe": True}}})
    assert resolve("a.png", LEAF, site).status is Status.OK
    vi = resolve("a.png", LEAF_VI, site)  # /vi/posts/leaf/a.png is not published
    assert (vi.status, vi.hint) == (Status.MISSING, "did you mean /posts/leaf/a.png (content/posts/leaf/a.png)?")
    assert resolve("A.PNG", LEAF, site).status is Status.CASE_MISMATCH


def test_bundle_in_two_languages_with_render_hooks() -> None:
    # Multilingual sites get Hugo's embedded render hooks: a Markdown image naming a page
    # resource is rewritten to where the resource is published, matching case-insensitively.
    site = make_site(**ML, markup={"goldmark": {"renderer": {"unsafe": True}}})
    assert site.render_hooks
    for url in ("a.png", "./a.png", "A.PNG", "sub/d.png", "a.png?x=1#y"):
        result = resolve(url, LEAF_VI, site)
        assert result.status is Status.OK, url
        assert result.file and result.file.name in ("a.png", "d.png")
    # Raw HTML gets no hook: from /vi/posts/leaf/ the browser asks /vi/posts/leaf/a.png.
    html = resolve("a.png", LEAF_VI, site, kind=RefKind.HTML, raw_html=True)
    assert html.status is Status.MISSING
    assert resolve("a.png", LEAF, site, kind=RefKind.HTML, raw_html=True).status is Status.OK


def test_render_hooks_with_relative_urls_and_a_subpath_break() -> None:
    # Checked: the hook writes /sub/posts/leaf/a.png and relativeURLs turns it into
    # ../../../sub/posts/leaf/a.png from /sub/vi/posts/leaf/, which 404s.
    site = site_from_config(ROOT, {"baseURL": "https://example.org/sub/", "relativeURLs": True, **ML})
    result = resolve_ref(site, INDEX, LEAF_VI, ref("a.png"))
    assert (result.status, result.file) == (Status.MISSING, P("content/posts/leaf/a.png"))
    assert "relativeURLs" in result.hint
    # The figure shortcode too, even on a one-language site.
    mono = site_from_config(ROOT, {"baseURL": "https://example.org/sub/", "relativeURLs": True})
    figure = resolve_ref(mono, INDEX, LEAF, ref("a.png", RefKind.SHORTCODE))
    assert (figure.status, figure.file) == (Status.MISSING, P("content/posts/leaf/a.png"))
    assert resolve_ref(mono, INDEX, LEAF, ref("a.png", RefKind.FRONTMATTER)).status is Status.OK


def test_unpublished_resource_hint() -> None:
    # Checked: v.png has no language suffix, so it belongs to en, and vionly has no en page.
    site = make_site(**ML, markup={"goldmark": {"renderer": {"unsafe": True}}})
    result = resolve("v.png", VI_ONLY, site)
    assert (result.status, result.file) == (Status.MISSING, None)
    assert "content/vionly/v.png exists but Hugo publishes it nowhere" in result.hint


def test_assets_are_published_when_a_shortcode_or_hook_uses_them() -> None:
    site = make_site(markup={"goldmark": {"renderer": {"unsafe": True}}})
    html = ref("/images/logo.png", RefKind.HTML, raw_html=True)
    figure = ref("images/logo.png", RefKind.SHORTCODE)
    before = resolve_ref(site, INDEX, REGULAR, html)
    assert (before.status, before.file) == (Status.MISSING, P("assets/images/logo.png"))
    assert "only when" in before.hint
    # Hugo's figure shortcode looks the src up in assets/ and publishes it.
    assert resolve_ref(site, INDEX, REGULAR, figure).status is Status.OK
    used = published_asset(site, INDEX, REGULAR, figure)
    assert used == P("assets/images/logo.png")
    assert published_asset(site, INDEX, REGULAR, html) is None
    after = resolve_ref(site, INDEX.with_assets_published([used]), REGULAR, html)
    assert (after.status, after.file) == (Status.OK, P("assets/images/logo.png"))


def test_shortcode_finds_page_resources_case_insensitively() -> None:
    # Hugo's figure shortcode resolves its src as a page resource, even on one-language sites.
    result = resolve("A.png", LEAF, kind=RefKind.SHORTCODE)
    assert (result.status, result.file) == (Status.OK, P("content/posts/leaf/a.png"))


def test_later_static_file_wins_the_same_url() -> None:
    index = index_published([PublishedFile(P("static/x.png"), "/x.png"), PublishedFile(P("static_fr/x.png"), "/x.png")])
    result = resolve_ref(make_site(), index, REGULAR, ref("/x.png"))
    assert result.file == P("static_fr/x.png")


def test_find_orphans() -> None:
    images = [P("static/b.png"), P("static/a.png"), P("static/logo.png"), P("content/p/c.png"), P("static/a.png")]
    used = {P("static/b.png")}
    assert find_orphans(images, used, {"logo.png"}) == (P("content/p/c.png"), P("static/a.png"))
    assert find_orphans([], used, set()) == ()
