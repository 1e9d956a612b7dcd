"""Walking and reading a real site on disk: languages, bundles, symlinks, FIFOs, encodings."""

from __future__ import annotations

import os
import struct
import threading
import zlib
from pathlib import Path, PurePosixPath

import pytest
from conftest import make_image
from PIL import Image

from gallery.config import DEFAULT_IMAGE_EXTENSIONS
from gallery.fs import (
    SiteReader,
    find_names_outside_content,
    iter_content_files,
    iter_published_images,
    parse_front_matter,
    read_front_matter,
    read_image_file,
    read_text_file,
    write_atomic,
)
from gallery.model import ImageFile, RawRef, RefKind, ScanWarning, Status
from gallery.resolve import ContentFile, PageContext, PublishedFile, index_published, page_url, resolve_ref
from gallery.site import read_site

P = PurePosixPath
PAGE = "---\ntitle: t\n---\nx\n"
ML_CONFIG = (
    'baseURL = "https://example.org/"\ndefaultContentLanguage = "en"\n'
    "[languages.en]\nweight = 1\n[languages.vi]\nweight = 2\n"
    '[languages.fr]\nweight = 3\ncontentDir = "content_fr"\nstaticDir = ["static", "static_fr"]\n'
)


def write(root: Path, files: dict[str, str | None]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if text is None:
            path.write_bytes(b"")
        else:
            path.write_text(text, encoding="utf-8")
    return root


def split(items) -> tuple[list, list[ScanWarning]]:
    values = [i for i in items if not isinstance(i, ScanWarning)]
    return values, [i for i in items if isinstance(i, ScanWarning)]


def published(site) -> dict[str, str | None]:
    files, warnings = split(list(iter_published_images(site, DEFAULT_IMAGE_EXTENSIONS)))
    assert warnings == []
    return {str(f.path): f.url_path for f in files}


@pytest.fixture
def ml_site(tmp_path: Path):
    write(
        tmp_path,
        {
            "config.toml": ML_CONFIG,
            "content/_index.md": PAGE,
            "content/Posts/_index.md": PAGE,
            "content/Posts/Sec Img.PNG": None,
            "content/Posts/Sub Dir/in sub.jpg": None,  # not a bundle: belongs to the section
            "content/Posts/My Leaf/index.md": PAGE,
            "content/Posts/My Leaf/index.vi.md": PAGE,
            "content/Posts/My Leaf/Photo One.PNG": None,
            "content/Posts/My Leaf/Imgs/Deep.JPG": None,
            "content/Posts/My Leaf/only.vi.png": None,
            "content/Posts/My Leaf/notes.md": PAGE,  # a resource of the leaf, not a page
            "content/Posts/Leaf Slug/index.md": "---\nslug: Leafy\n---\n",
            "content/Posts/Leaf Slug/ls.png": None,
            "content/Posts/reg.vi.md": PAGE,
            "content/Posts/old.mkd": PAGE,  # Hugo 0.147.9 does not render .mkd
            "content/NoIdx/Deep/p.md": PAGE,
            "content/NoIdx/Deep/Cap S.png": None,
            "content/Images/X.png": None,  # no pages: the home page's resource
            "content/vionly/index.vi.md": PAGE,
            "content/vionly/v.png": None,
            "content/.hidden/h.png": None,
            "content/Posts/.draft.md": PAGE,
            "content_fr/post/leaf/index.md": PAGE,
            "content_fr/post/leaf/f.png": None,
            "static/img/s.png": None,
            "static/.well-known/x.png": None,
            "static/css/site.css": "body { background: url(../img/bg.png) }",
            "static_fr/img/fr.png": None,
            "assets/images/logo.png": None,
            "themes/t/static/theme.png": None,
        },
    )
    return read_site(tmp_path)[0]


def test_content_files_and_their_languages(ml_site) -> None:
    files, warnings = split(list(iter_content_files(ml_site)))
    assert warnings == []
    assert [(str(f.path), f.language) for f in files] == [
        ("content/NoIdx/Deep/p.md", "en"),
        ("content/Posts/Leaf Slug/index.md", "en"),
        ("content/Posts/My Leaf/index.md", "en"),
        ("content/Posts/My Leaf/index.vi.md", "vi"),
        ("content/Posts/_index.md", "en"),
        ("content/Posts/reg.vi.md", "vi"),
        ("content/_index.md", "en"),
        ("content/vionly/index.vi.md", "vi"),
        ("content_fr/post/leaf/index.md", "fr"),
    ]
    assert files[-1].content_path == P("post/leaf/index.md")


def test_published_images_as_hugo_publishes_them(ml_site) -> None:
    # Every URL here is where Hugo 0.147.9 and 0.168 wrote the file in public/ for this site.
    assert published(ml_site) == {
        "static/img/s.png": "/img/s.png",
        "static/.well-known/x.png": "/.well-known/x.png",  # hidden static files are copied
        "static_fr/img/fr.png": "/img/fr.png",  # a language's static dir lands at the root
        "content/Images/X.png": "/Images/X.png",
        "content/NoIdx/Deep/Cap S.png": "/noidx/Deep/Cap S.png",  # section lowercased, resource not
        "content/Posts/Leaf Slug/ls.png": "/posts/leafy/ls.png",
        "content/Posts/My Leaf/Imgs/Deep.JPG": "/posts/my-leaf/Imgs/Deep.JPG",
        "content/Posts/My Leaf/Photo One.PNG": "/posts/my-leaf/Photo One.PNG",
        "content/Posts/My Leaf/only.vi.png": "/vi/posts/my-leaf/only.vi.png",
        "content/Posts/Sec Img.PNG": "/posts/Sec Img.PNG",
        "content/Posts/Sub Dir/in sub.jpg": "/posts/Sub Dir/in sub.jpg",
        "content/vionly/v.png": None,  # belongs to en, and vionly has no en page
        "content_fr/post/leaf/f.png": "/fr/post/leaf/f.png",
        "assets/images/logo.png": "/images/logo.png",
    }


def test_published_image_details(ml_site) -> None:
    files, _ = split(list(iter_published_images(ml_site, [".PNG"])))  # extensions: any case
    by_path = {str(f.path): f for f in files}
    assert by_path["assets/images/logo.png"].asset
    assert by_path["content/Posts/My Leaf/Photo One.PNG"].bundle == P("content/Posts/My Leaf")
    assert by_path["content/Posts/My Leaf/only.vi.png"].language == "vi"
    assert "content/Posts/My Leaf/Imgs/Deep.JPG" not in by_path


def test_theme_static_files_are_published_under_the_site_ones(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "hugo.toml": 'theme = "t"\n',
            "themes/t/static/x.png": None,
            "static/x.png": None,
            "themes/t/static/only.png": None,
        },
    )
    site = read_site(tmp_path)[0]
    files, _ = split(list(iter_published_images(site, [".png"])))
    index = index_published(files)
    assert index.by_url["/x.png"].path == P("static/x.png")  # the site's own copy wins
    assert index.by_url["/only.png"].path == P("themes/t/static/only.png")


def test_two_languages_at_different_depths_end_to_end(ml_site) -> None:
    files, _ = split(list(iter_published_images(ml_site, DEFAULT_IMAGE_EXTENSIONS)))
    index = index_published(files)
    pages = {}
    for cf in split(list(iter_content_files(ml_site)))[0]:
        url = page_url(ml_site, cf, read_front_matter(ml_site.root, cf.path))
        pages[str(cf.path)] = PageContext(cf.path, url, cf.language)
    vi = pages["content/Posts/My Leaf/index.vi.md"]
    assert vi.url == "/vi/posts/my-leaf/"
    md = resolve_ref(ml_site, index, vi, RawRef(RefKind.MARKDOWN, "Photo%20One.PNG", 0, 1, 1, 1))
    assert (md.status, md.file) == (Status.OK, P("content/Posts/My Leaf/Photo One.PNG"))
    html = resolve_ref(ml_site, index, vi, RawRef(RefKind.HTML, "Photo One.PNG", 0, 1, 1, 1, raw_html=True))
    assert html.status is Status.NOT_RENDERED  # unsafe is off; and /vi/posts/my-leaf/ has no copy
    assert "also missing" in html.hint
    fr = pages["content_fr/post/leaf/index.md"]
    assert resolve_ref(ml_site, index, fr, RawRef(RefKind.HTML, "f.png", 0, 1, 1, 1)).status is Status.OK
    deep = pages["content/NoIdx/Deep/p.md"]
    assert deep.url == "/noidx/deep/p/"
    # ../Cap S.png from /noidx/deep/p/ asks for /noidx/deep/Cap S.png: the folder's case differs.
    near = resolve_ref(ml_site, index, deep, RawRef(RefKind.HTML, "../Cap%20S.png", 0, 1, 1, 1))
    assert (near.status, near.file) == (Status.CASE_MISMATCH, P("content/NoIdx/Deep/Cap S.png"))


def test_symlinks_inside_are_followed_outside_and_loops_are_not(tmp_path: Path) -> None:
    site_root = tmp_path / "site"
    outside = tmp_path / "outside"
    write(outside, {"secret.png": None, "dir/also.png": None})
    write(site_root, {"hugo.toml": "", "static/real/r.png": None, "content/_index.md": PAGE})
    static = site_root / "static"
    os.symlink("real", static / "linkdir")
    os.symlink("real/r.png", static / "linkfile.png")
    os.symlink(outside / "dir", static / "outdir")
    os.symlink(outside / "secret.png", static / "secret.png")
    os.symlink("..", static / "real" / "loop")
    os.symlink(outside, site_root / "content" / "out")
    site = read_site(site_root)[0]
    files, warnings = split(list(iter_published_images(site, [".png"])))
    assert sorted(f.url_path for f in files) == ["/linkdir/r.png", "/linkfile.png", "/real/r.png"]
    assert {(str(w.path), w.message) for w in warnings} == {
        ("static/outdir", "symlink to outside the site root, not followed"),
        ("static/secret.png", "symlink to outside the site root, not followed"),
        ("content/out", "symlink to outside the site root, not followed"),
        ("static/real/loop", "symlink loop, not followed"),
        ("static/linkdir/loop", "symlink loop, not followed"),
    }
    _, content_warnings = split(list(iter_content_files(site)))
    assert [str(w.path) for w in content_warnings] == ["content/out"]
    # Reading through a link to outside is refused too.
    refused = read_image_file(site_root, P("static/secret.png"))
    assert isinstance(refused, ScanWarning) and "outside the site root" in refused.message
    text, warning = read_text_file(site_root, P("static/secret.png"))
    assert text is None and warning is not None


def run_with_timeout(fn, *args):
    """Run fn in a daemon thread; fail (instead of hanging the suite) if it blocks."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(fn(*args)), daemon=True)
    thread.start()
    thread.join(timeout=10)
    assert not thread.is_alive(), f"{fn.__name__} blocked: it opened the FIFO"
    return result[0]


def test_fifo_named_jpg_is_never_opened(tmp_path: Path) -> None:
    write(tmp_path, {"hugo.toml": "", "static/ok.png": None})
    os.mkfifo(tmp_path / "static" / "photo.jpg")
    site = read_site(tmp_path)[0]
    files, warnings = split(run_with_timeout(lambda: list(iter_published_images(site, [".jpg", ".png"]))))
    assert [str(f.path) for f in files] == ["static/ok.png"]
    assert [(str(w.path), "not a regular file" in w.message) for w in warnings] == [("static/photo.jpg", True)]
    image = run_with_timeout(read_image_file, tmp_path, P("static/photo.jpg"))
    assert isinstance(image, ScanWarning) and "not a regular file" in image.message
    text, warning = run_with_timeout(read_text_file, tmp_path, P("static/photo.jpg"))
    assert text is None and warning is not None


def test_site_reader_answers_as_the_one_file_readers(tmp_path: Path) -> None:
    # The reader resolves each folder once and opens names in it with O_NOFOLLOW; a link,
    # a missing file or a folder outside must still get the answers of a full realpath.
    site_root, outside = tmp_path / "site", tmp_path / "outside"
    write(outside, {"secret.md": "s", "back": None})
    write(site_root, {"hugo.toml": "", "content/a.md": "a", "content/sub/b.md": "b"})
    make_image(site_root / "static" / "img" / "p.png", fmt="PNG")
    content = site_root / "content"
    os.symlink("a.md", content / "link.md")
    os.symlink(outside / "secret.md", content / "out.md")
    os.symlink("sub", content / "linkdir")
    os.symlink(outside, content / "outdir")
    (outside / "back").unlink()
    os.symlink(content / "a.md", outside / "back")  # out of the site, then back in
    os.symlink("nowhere.md", content / "broken.md")
    os.mkfifo(content / "fifo.md")
    os.symlink("..", content / "sub" / "up")  # folders below a link resolve through it
    os.symlink(outside, content / "sub" / "deep-out")
    paths = [
        "content/a.md", "content/link.md", "content/out.md", "content/linkdir/b.md", "content/outdir/secret.md",
        "content/outdir/back", "content/broken.md", "content/fifo.md", "content/sub", "content/none.md",
        "content/a.md/x", "..", "../outside/secret.md", "/etc/hostname", "static/img/p.png", "static/img/../img/p.png",
        "content/sub/up/a.md", "content/sub/up/sub/b.md", "content/sub/deep-out/secret.md", "content/none/x.md",
    ]  # fmt: skip
    reader = SiteReader(site_root)
    for path in map(P, paths):
        assert run_with_timeout(reader.read_text, path) == read_text_file(site_root, path), path
        assert run_with_timeout(reader.read_image, path) == read_image_file(site_root, path), path


def test_read_text_file_non_utf8_bom_and_offsets(tmp_path: Path) -> None:
    data = "\ufeff---\ntitle: café\n---\n".encode() + b"caf\xe9 ![x](/a.png)\n"
    (tmp_path / "page.md").write_bytes(data)
    text, warning = read_text_file(tmp_path, P("page.md"))
    assert text is not None and text.startswith("\ufeff---")
    assert warning is not None and warning.path == P("page.md") and "not valid UTF-8" in warning.message
    bad = data.index(b"\xe9")
    assert f"offset {bad}" in warning.message
    # Byte offsets survive: re-encoding with surrogateescape gives the file back.
    assert text.encode("utf-8", "surrogateescape") == data
    start = text.index("/a.png")
    assert data[len(text[:start].encode("utf-8", "surrogateescape")) :].startswith(b"/a.png")
    (tmp_path / "good.md").write_text("ok ✓", encoding="utf-8")
    assert read_text_file(tmp_path, P("good.md")) == ("ok ✓", None)


def test_read_text_file_unreadable(tmp_path: Path) -> None:
    (tmp_path / "folder.md").mkdir()
    text, warning = read_text_file(tmp_path, P("folder.md"))
    assert text is None and warning is not None and warning.path == P("folder.md")
    text, warning = read_text_file(tmp_path, P("absent.md"))
    assert text is None and warning is not None and "cannot read" in warning.message


def test_read_image_file_formats(tmp_path: Path) -> None:
    make_image(tmp_path / "a.png", (64, 48), fmt="PNG")
    make_image(tmp_path / "b.jpg", (30, 20), fmt="JPEG")
    make_image(tmp_path / "lies.png", (10, 12), fmt="JPEG")  # format by content, not name
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="10"/>')
    (tmp_path / "junk.jpg").write_bytes(b"not an image at all")
    (tmp_path / "page.eps").write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n")
    assert read_image_file(tmp_path, P("a.png")) == ImageFile(
        P("a.png"), (tmp_path / "a.png").stat().st_size, 64, 48, "PNG"
    )
    assert read_image_file(tmp_path, P("b.jpg")).format == "JPEG"
    lies = read_image_file(tmp_path, P("lies.png"))
    assert (lies.width, lies.height, lies.format) == (10, 12, "JPEG")
    svg = read_image_file(tmp_path, P("logo.svg"))
    assert (svg.width, svg.height, svg.format) == (None, None, "SVG")
    assert svg.bytes == (tmp_path / "logo.svg").stat().st_size
    junk = read_image_file(tmp_path, P("junk.jpg"))
    assert isinstance(junk, ScanWarning) and "not an image" in junk.message
    first, second = Image.new("RGB", (16, 8), "red"), Image.new("RGB", (16, 8), "blue")
    first.save(tmp_path / "stereo.jpg", format="MPO", save_all=True, append_images=[second])
    assert read_image_file(tmp_path, P("stereo.jpg")).format == "MPO"
    # EPS goes through Ghostscript in Pillow: never opened, only named from its first bytes.
    eps = read_image_file(tmp_path, P("page.eps"))
    assert isinstance(eps, ScanWarning) and eps.message.startswith("EPS image")


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height, with no pixel data after it."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))


def test_large_image_is_read_from_its_header_only(tmp_path: Path) -> None:
    # 12000 x 12000 RGB would take 432 MB to decode; the file holds almost no pixel data,
    # so only a header read can report its size (decoding would fail on the missing data).
    (tmp_path / "huge.png").write_bytes(png_header_only(12000, 12000))
    image = read_image_file(tmp_path, P("huge.png"))
    assert isinstance(image, ImageFile)
    assert (image.width, image.height, image.format) == (12000, 12000, "PNG")
    (tmp_path / "bomb.png").write_bytes(png_header_only(60000, 60000))
    bomb = read_image_file(tmp_path, P("bomb.png"))
    assert isinstance(bomb, ScanWarning) and "decompression-bomb" in bomb.message


def test_front_matter_formats(tmp_path: Path) -> None:
    assert parse_front_matter("---\nslug: a\nurl: /x/\n---\nbody") == {"slug": "a", "url": "/x/"}
    assert parse_front_matter('+++\nslug = "b"\n+++\n') == {"slug": "b"}
    assert parse_front_matter('{"slug": "c"}\nbody') == {"slug": "c"}
    assert parse_front_matter("\ufeff---\nslug: d\n---\n") == {"slug": "d"}
    assert parse_front_matter("no front matter") == {}
    assert parse_front_matter("---\n: [bad\n---\n") == {}
    (tmp_path / "p.md").write_text('+++\nSlug = "E"\n+++\n', encoding="utf-8")
    assert read_front_matter(tmp_path, P("p.md")) == {"Slug": "E"}


def test_names_outside_content(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "hugo.toml": 'theme = "t"\n[params]\nlogo = "/img/from-config.png"\n',
            "layouts/partials/head.html": '<link rel="icon" href="/favicon.png">',
            "themes/t/layouts/_default/baseof.html": '{{ $hero := resources.Get "hero.jpg" }}',
            "assets/css/main.scss": ".a { background: url('/img/My%20Photo.png') }",
            "static/js/app.js": 'const p = "sprites/icons.webp";',
            "data/team.yaml": "photo: people/Ann.JPG\n",
            "i18n/en.toml": 'banner = "banner-en.png"\n',
            "content/post.md": "![x](/img/only-in-content.png)",
            "static/img/only-in-content.png": None,
        },
    )
    site = read_site(tmp_path)[0]
    names = {
        "favicon.png", "hero.jpg", "My Photo.png", "icons.webp", "Ann.JPG", "banner-en.png",
        "from-config.png", "only-in-content.png", "ann.jpg", "never.png", "con.png",
    }  # fmt: skip
    assert find_names_outside_content(site, names) == {
        "favicon.png", "hero.jpg", "My Photo.png", "icons.webp", "Ann.JPG", "banner-en.png", "from-config.png",
    }  # fmt: skip
    assert find_names_outside_content(site, set()) == set()


def test_content_file_values_are_hashable(ml_site) -> None:
    files, _ = split(list(iter_content_files(ml_site)))
    assert len(set(files)) == len(files)
    assert isinstance(files[0], ContentFile)
    assert hash(PublishedFile(P("a.png"), "/a.png")) == hash(PublishedFile(P("a.png"), "/a.png"))


def test_large_image_fixture_is_real(tmp_path: Path) -> None:
    # Guard for the header-only test: Pillow itself cannot decode the truncated file.
    (tmp_path / "huge.png").write_bytes(png_header_only(2000, 2000))
    with Image.open(tmp_path / "huge.png") as im, pytest.raises(OSError):
        im.load()


# --- writing ---------------------------------------------------------------------------------


def test_write_atomic_writes_through_a_link_inside_the_root_and_keeps_it(tmp_path: Path) -> None:
    root = tmp_path / "site"
    (root / "shared").mkdir(parents=True)
    (root / "content").mkdir()
    (root / "shared/a.md").write_text("old\n")
    (root / "content/a.md").symlink_to("../shared/a.md")
    write_atomic(root / "content/a.md", b"new\n", root)
    assert (root / "content/a.md").readlink() == Path("../shared/a.md")
    assert (root / "shared/a.md").read_bytes() == b"new\n"
    assert sorted(p.name for p in (root / "content").iterdir()) == ["a.md"]  # no temporary file left


@pytest.mark.parametrize("link", ["content/a.md", "content/linked-folder/a.md"])
def test_write_atomic_refuses_a_link_leading_outside_the_root(tmp_path: Path, link: str) -> None:
    root = tmp_path / "site"
    (root / "content").mkdir(parents=True)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "a.md").write_text("theirs\n")
    (root / "content/a.md").symlink_to(outside / "a.md")
    (root / "content/linked-folder").symlink_to(outside)
    with pytest.raises(PermissionError, match="outside the site root") as raised:
        write_atomic(root / link, b"ours\n", root)
    assert raised.value.filename == str(root / link)
    assert (outside / "a.md").read_text() == "theirs\n" and sorted(os.listdir(outside)) == ["a.md"]
    assert (root / "content/a.md").is_symlink()


def test_write_atomic_without_a_root_never_replaces_a_link(tmp_path: Path) -> None:
    (tmp_path / "target.json").write_text("{}")
    (tmp_path / "link.json").symlink_to("target.json")
    with pytest.raises(PermissionError, match="symbolic link"):
        write_atomic(tmp_path / "link.json", b"[]")
    assert (tmp_path / "link.json").is_symlink() and (tmp_path / "target.json").read_text() == "{}"
