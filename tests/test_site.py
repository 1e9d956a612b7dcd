"""Reading the Hugo config: every format and location, case-insensitive keys, languages."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import pytest

from gallery.errors import ConfigError
from gallery.site import find_site_root, read_site, site_from_config

P = PurePosixPath


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


CONFIGS = {
    "hugo.toml": 'baseURL = "https://h.org/blog/"\ncanonifyURLs = true\n[markup.goldmark.renderer]\nunsafe = true\n',
    "config.toml": 'baseURL = "https://h.org/blog/"\ncanonifyURLs = true\n[markup.goldmark.renderer]\nunsafe = true\n',
    "hugo.yaml": "baseURL: https://h.org/blog/\ncanonifyURLs: true\nmarkup:\n  goldmark:\n    renderer:\n      unsafe: true\n",
    "hugo.yml": "baseURL: https://h.org/blog/\ncanonifyURLs: true\nmarkup:\n  goldmark:\n    renderer:\n      unsafe: true\n",
    "config.yaml": "baseURL: https://h.org/blog/\ncanonifyURLs: true\nmarkup:\n  goldmark:\n    renderer:\n      unsafe: true\n",
    "hugo.json": json.dumps(
        {"baseURL": "https://h.org/blog/", "canonifyURLs": True, "markup": {"goldmark": {"renderer": {"unsafe": True}}}}
    ),
    "config.json": json.dumps(
        {"baseURL": "https://h.org/blog/", "canonifyURLs": True, "markup": {"goldmark": {"renderer": {"unsafe": True}}}}
    ),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_every_config_format_and_name(tmp_path: Path, name: str) -> None:
    write(tmp_path, name, CONFIGS[name])
    site, gallery = read_site(tmp_path)
    assert site.config_files == (P(name),)
    assert site.base_url == "https://h.org/blog/"
    assert site.base_path == "/blog/"
    assert site.canonify_urls and site.unsafe_html
    assert not site.relative_urls and not site.ugly_urls
    assert gallery == {}
    assert site.root == tmp_path.resolve()


def test_hugo_toml_wins_over_config_toml(tmp_path: Path) -> None:
    # Checked with `hugo config`: config.toml is ignored when hugo.toml exists.
    write(tmp_path, "hugo.toml", 'baseURL = "https://new.org/"\n')
    write(tmp_path, "config.toml", 'baseURL = "https://old.org/"\nuglyURLs = true\n')
    site, _ = read_site(tmp_path)
    assert site.base_url == "https://new.org/"
    assert not site.ugly_urls
    assert site.config_files == (P("hugo.toml"),)


def test_config_dir_merges_key_files_over_the_root_file(tmp_path: Path) -> None:
    write(tmp_path, "hugo.toml", 'baseURL = "https://root.org/"\ntitle = "kept"\n')
    write(tmp_path, "config/_default/hugo.toml", 'baseURL = "https://dir.org/x/"\n')
    write(tmp_path, "config/_default/languages.toml", '[en]\nweight = 1\n[vi]\nweight = 2\ncontentDir = "content/vi"\n')
    write(tmp_path, "config/_default/markup.yaml", "goldmark:\n  renderer:\n    unsafe: true\n")
    write(tmp_path, "config/_default/gallery.toml", 'image_extensions = ["png"]\n[shortcodes]\nMyFig = ["src"]\n')
    write(tmp_path, "config/production/hugo.toml", "relativeURLs = true\n")
    write(tmp_path, "config/development/hugo.toml", "uglyURLs = true\n")
    site, gallery = read_site(tmp_path)
    assert site.base_url == "https://dir.org/x/"  # config/_default overrides the root file
    assert site.base_path == "/x/"
    assert site.relative_urls  # `hugo` builds for production
    assert not site.ugly_urls
    assert site.unsafe_html
    assert [lang.code for lang in site.languages] == ["en", "vi"]
    assert site.language("vi").content_dirs == (P("content/vi"),)
    assert site.language("vi").own_content_dir
    # Our table keeps its keys as written: shortcode names are case-sensitive.
    assert gallery == {"image_extensions": ["png"], "shortcodes": {"MyFig": ["src"]}}
    assert P("config/_default/languages.toml") in site.config_files
    assert P("config/production/hugo.toml") in site.config_files
    assert P("config/development/hugo.toml") not in site.config_files


def test_keys_are_case_insensitive(tmp_path: Path) -> None:
    write(
        tmp_path,
        "config.toml",
        'BaseURL = "https://h.org/Sub/"\nCanonifyURLs = true\nRELATIVEURLS = true\nuglyurls = true\n'
        'DisablePathToLower = true\nDefaultContentLanguage = "VI"\nDefaultContentLanguageInSubdir = true\n'
        "[Languages.EN]\nWeight = 2\n[Languages.VI]\nWeight = 1\nContentDir = 'noi-dung'\n"
        "[Markup.Goldmark.Renderer]\nUnsafe = true\n[Gallery]\nfrontmatter_keys = ['cover']\n",
    )
    site, gallery = read_site(tmp_path)
    assert site.base_path == "/Sub/"
    assert site.canonify_urls and site.relative_urls and site.ugly_urls and site.disable_path_to_lower
    assert site.unsafe_html
    assert [(lang.code, lang.url_prefix) for lang in site.languages] == [("vi", "/vi"), ("en", "/en")]
    assert site.language("VI").content_dirs == (P("noi-dung"),)
    assert gallery == {"frontmatter_keys": ["cover"]}


def test_static_dir_string_list_and_numbered(tmp_path: Path) -> None:
    root = tmp_path
    site = site_from_config(root, {"staticDir": "assets-static"})
    assert site.languages[0].static_dirs == (P("assets-static"),)
    site = site_from_config(root, {"staticdir": ["a", "b"], "staticDir3": "c", "StaticDir0": "z"})
    assert site.languages[0].static_dirs == (P("a"), P("b"), P("z"), P("c"))
    assert site_from_config(root, {}).languages[0].static_dirs == (P("static"),)
    with pytest.raises(ConfigError, match="staticdir"):
        site_from_config(root, {"staticDir": 3})


def test_languages_with_their_own_dirs(tmp_path: Path) -> None:
    config = {
        "defaultContentLanguage": "en",
        "contentDir": "content",
        "staticDir": ["static"],
        "languages": {
            "fr": {"weight": 3, "contentDir": "content_fr", "staticDir": ["static", "static_fr"]},
            "en": {"weight": 1},
            "vi": {"weight": 2, "staticDir2": "static_vi"},
            "de": {"weight": 4, "disabled": True},
        },
    }
    site = site_from_config(tmp_path, config)
    en, vi, fr = site.languages
    assert (en.code, en.url_prefix, en.content_dirs, en.static_dirs) == ("en", "", (P("content"),), (P("static"),))
    assert (vi.code, vi.url_prefix, vi.static_dirs) == ("vi", "/vi", (P("static"), P("static_vi")))
    assert (fr.content_dirs, fr.static_dirs) == ((P("content_fr"),), (P("static"), P("static_fr")))
    assert fr.own_content_dir and not vi.own_content_dir
    with pytest.raises(KeyError):
        site.language("de")
    # Multilingual single-host sites get Hugo's embedded render hooks (checked with 0.147.9).
    assert site.render_hooks


def test_default_language_falls_back_to_first_by_weight(tmp_path: Path) -> None:
    # Checked with `hugo config`: "en" is not configured, so vi (weight 1) is the default.
    site = site_from_config(tmp_path, {"languages": {"fr": {"weight": 2}, "vi": {"weight": 1}}})
    assert [(lang.code, lang.url_prefix) for lang in site.languages] == [("vi", ""), ("fr", "/fr")]


@pytest.mark.parametrize(
    "config, hooks",
    [
        ({}, False),
        ({"languages": {"en": {}, "vi": {}}}, True),
        ({"languages": {"en": {}, "vi": {}}, "markup": {"goldmark": {"duplicateResourceFiles": True}}}, False),
        ({"languages": {"en": {"baseURL": "https://en/"}, "vi": {"baseURL": "https://vi/"}}}, False),
        ({"markup": {"goldmark": {"renderHooks": {"image": {"enableDefault": True}}}}}, True),
        ({"languages": {"en": {}, "vi": {}}, "markup": {"goldmark": {"renderHooks": {"image": {"enableDefault": False}}}}}, False),
    ],
)
def test_render_hooks(tmp_path: Path, config: dict, hooks: bool) -> None:
    assert site_from_config(tmp_path, config).render_hooks is hooks


@pytest.mark.parametrize(
    "base_url, base_path",
    [("", "/"), ("/", "/"), ("https://h.org", "/"), ("https://h.org/", "/"), ("https://h.org/a/b", "/a/b/"), ("http://h/x/", "/x/")],
)
def test_base_path(tmp_path: Path, base_url: str, base_path: str) -> None:
    assert site_from_config(tmp_path, {"baseURL": base_url}).base_path == base_path


def test_themes(tmp_path: Path) -> None:
    assert site_from_config(tmp_path, {"theme": "learn"}).theme_dirs == (P("themes/learn"),)
    assert site_from_config(tmp_path, {"theme": ["a", "b"], "themesDir": "t"}).theme_dirs == (P("t/a"), P("t/b"))


@pytest.mark.parametrize(
    "name, text",
    [
        ("config.toml", 'baseURL = "https://h.org/"\n[markup\nunsafe = true\n'),
        ("hugo.yaml", "baseURL: [unclosed\n"),
        ("hugo.json", '{"baseURL": }'),
        ("config/_default/languages.toml", "[en\n"),
    ],
)
def test_malformed_config_names_the_file(tmp_path: Path, name: str, text: str) -> None:
    write(tmp_path, name, text)
    with pytest.raises(ConfigError) as info:
        read_site(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{name}: malformed config: ")
    assert "\n" not in message
    assert len(message) > len(f"{name}: malformed config: ")


def test_gallery_table_must_be_a_table(tmp_path: Path) -> None:
    write(tmp_path, "hugo.toml", 'gallery = "yes"\n')
    with pytest.raises(ConfigError, match=r"\[gallery\] must be a table"):
        read_site(tmp_path)


def test_find_site_root_from_a_nested_path(tmp_path: Path) -> None:
    write(tmp_path, "hugo.yaml", "baseURL: /\n")
    nested = tmp_path / "content" / "posts" / "deep"
    nested.mkdir(parents=True)
    assert find_site_root(nested) == tmp_path.resolve()
    assert find_site_root(tmp_path) == tmp_path.resolve()


def test_find_site_root_with_only_a_config_dir(tmp_path: Path) -> None:
    write(tmp_path, "config/_default/hugo.toml", 'baseURL = "/"\n')
    (tmp_path / "content").mkdir()
    assert find_site_root(tmp_path / "content") == tmp_path.resolve()
    site, _ = read_site(tmp_path)
    assert site.config_files == (P("config/_default/hugo.toml"),)


def test_find_site_root_fails_naming_the_path(tmp_path: Path) -> None:
    lonely = tmp_path / "no-site-here"
    lonely.mkdir()
    with pytest.raises(ConfigError) as info:
        find_site_root(lonely)
    assert str(lonely) in str(info.value)
    assert "config.toml" in str(info.value)
