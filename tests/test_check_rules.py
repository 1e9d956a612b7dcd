"""`gallery check` as the CI gate: oversized and duplicate images, where findings point, inline accepts, summary."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath

import numpy as np
import piexif
import pytest
from conftest import make_image, run
from PIL import Image, ImageDraw

from gallery.check import Accept, find_accepts, find_findings
from gallery.config import Config
from gallery.model import DuplicateGroup
from gallery.plan import scan_site
from gallery.site import read_site

BASE = 'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
FIX = "run `gallery optimize --downscale-sources static/images`"


def photo(path: Path, size: tuple[int, int] = (900, 700), pattern: int = 0) -> Path:
    """A JPEG (quality 95) with a shape and light that `pattern` moves, under strong grain: about 1 byte
    per pixel, so the default 900x700 is over the default max_bytes (500 KB) while within the other limits."""
    width, height = size
    image = Image.linear_gradient("L").rotate(90 * pattern).resize(size).convert("RGB")
    x = (pattern % 4) * width // 5
    ImageDraw.Draw(image).ellipse([x, height // 4, x + width // 3, 3 * height // 4], fill=(255, 255, 255))
    grain = np.random.default_rng(pattern).integers(-100, 100, (height, width, 3))
    pixels = (np.asarray(image, np.int16) + grain).clip(0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, "JPEG", quality=95)
    return path


def megabytes(path: Path) -> str:
    return f"{path.stat().st_size / 1e6:.1f}"


def lines(root: Path, *flags: str) -> list[str]:
    """The output lines of `gallery check` with `flags`."""
    return run("check", str(root), *flags)[1].splitlines()


# --- oversized -------------------------------------------------------------------------------


def test_oversized_by_bytes_names_size_and_limit(site_factory) -> None:
    root = site_factory({"content/p.md": "# Trip\n\n![big](/images/big.jpg)\n"})
    big = photo(root / "static/images/big.jpg")
    code, out, _ = run("check", str(root))
    assert code == 1
    assert out.splitlines() == [
        f"content/p.md:3: error: oversized: static/images/big.jpg is {megabytes(big)} MB (limit 0.5 MB): {FIX}",
        f"1 error, 0 warnings in 1 image ({(big.stat().st_size - 500_000) / 1e6:.1f} MB over budget)",
    ]


def test_oversized_by_edge_is_measured_upright(site_factory) -> None:
    root = site_factory({"content/p.md": "![tall](/images/tall.jpg)\n"})
    tall = make_image(root / "static/images/tall.jpg", size=(2600, 100), fmt="JPEG")
    Image.open(tall).save(tall, exif=piexif.dump({"0th": {piexif.ImageIFD.Orientation: 6}}))  # shown 100x2600
    assert lines(root, "--severity", "metadata=off") == [
        f"content/p.md:1: error: oversized: static/images/tall.jpg is 100x2600 px (limit 2560 long edge): {FIX}",
        "1 error, 0 warnings in 1 image (0.0 MB over budget)",
    ]


@pytest.mark.parametrize(
    ("size", "over"),
    [
        ((2300, 2300), "2300x2300 px = 5.3 MP (limit 5.0 MP)"),
        ((2600, 2000), "2600x2000 px = 5.2 MP (limits 2560 long edge, 5.0 MP)"),
        ((2240, 2240), "2240x2240 px = 5.02 MP (limit 5.00 MP)"),  # one decimal would print both as 5.0
    ],
)
def test_oversized_by_pixels(site_factory, size: tuple[int, int], over: str) -> None:
    root = site_factory({"content/p.md": "![wide](/images/wide.png)\n"})
    make_image(root / "static/images/wide.png", size=size, fmt="PNG")
    assert lines(root)[0] == f"content/p.md:1: error: oversized: static/images/wide.png is {over}: {FIX}"


def test_limits_come_from_the_config(site_factory) -> None:
    config = BASE + "[gallery.check]\nmax_edge = 60\nmax_pixels = 2000\n"
    root = site_factory({"content/p.md": "![a](/images/a.png)\n![b](/images/b.png)\n"}, config)
    make_image(root / "static/images/a.png", size=(64, 48), pattern=1, fmt="PNG")
    make_image(root / "static/images/b.png", size=(40, 40), pattern=2, fmt="PNG")  # 1600 px, long edge 40
    assert lines(root) == [
        "content/p.md:1: error: oversized: static/images/a.png is 64x48 px = 0.003 MP"
        f" (limits 60 long edge, 0.002 MP): {FIX}",
        "1 error, 0 warnings in 1 image (0.0 MB over budget)",
    ]


def test_formats_gallery_cannot_rewrite_say_what_to_do(site_factory) -> None:
    svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"></svg>'
    svg = svg[:-6] + "<!-- padding -->".ljust(1700 - len(svg)) + "</svg>"  # 1700 bytes
    files = {"content/p.md": "![a](/images/a.gif)\n![b](/images/b.svg)\n", "static/images/b.svg": svg}
    root = site_factory(files, BASE + "[gallery.check]\nmax_bytes = 1000\n")
    make_image(root / "static/images/a.gif", size=(200, 150), fmt="GIF")
    out = lines(root)
    assert out[0].startswith("content/p.md:1: error: oversized: static/images/a.gif is ")
    assert out[0].endswith(
        " MB (limit 0.001 MB): gallery rewrites only JPEG and PNG: resize or recompress it by hand, keeping its name"
    )
    assert out[1] == (
        "content/p.md:2: error: oversized: static/images/b.svg is 0.002 MB (limit 0.001 MB):"
        " minify it (e.g. with svgo) or simplify it by hand"
    )


# --- summary and where findings point ----------------------------------------------------------

SUMMARY_PAGE = "![a](/images/a.jpg)\n![b](/images/b.jpg)\n![c](/images/Cee.png)\n"


def summary_site(site_factory) -> tuple[Path, int]:
    """Two images over max_bytes and one badly named; the bytes they are over by in all."""
    root = site_factory({"content/p.md": SUMMARY_PAGE})
    over = sum(
        photo(root / f"static/images/{name}.jpg", pattern=n).stat().st_size - 500_000 for n, name in enumerate("ab")
    )
    make_image(root / "static/images/Cee.png", pattern=3, fmt="PNG")
    return root, over


def test_summary_line_counts_errors_warnings_images_and_bytes_over_budget(site_factory) -> None:
    root, over = summary_site(site_factory)
    code, out, _ = run("check", str(root))
    assert code == 1
    assert out.splitlines()[-1] == f"2 errors, 1 warning in 3 images ({over / 1e6:.1f} MB over budget)"
    code, out, _ = run("check", str(root), "--format", "json")
    assert json.loads(out)["summary"] == {
        "errors": 2,
        "warnings": 1,
        "images_with_findings": 3,
        "images_checked": 3,
        "bytes_over_budget": over,
    }
    code, out, _ = run("check", str(root), "--severity", "oversized=off", "--ignore", "static/images/Cee.png")
    assert (code, out) == (0, "no problems in 2 images\n")


def test_github_annotations_land_on_the_markdown_line_or_on_the_image(site_factory) -> None:
    root = site_factory({"content/p.md": "Intro\n\n![big](/images/big.jpg)\n"})
    photo(root / "static/images/big.jpg", pattern=1)
    photo(root / "static/images/unused.jpg", pattern=2)
    code, out, _ = run("check", str(root), "--format", "github")
    assert code == 1
    annotations = [line.split("::")[1] for line in out.splitlines()[:-1]]
    assert annotations == [
        "error file=content/p.md,line=3,title=oversized",
        "error file=static/images/unused.jpg,title=oversized",
    ]
    assert out.splitlines()[-1].startswith("2 errors, 0 warnings in 2 images (")


def test_image_findings_point_at_the_first_page_line_of_a_page_not_ignored(site_factory) -> None:
    files = {
        "content/a.md": "Text\n\n![x](/images/Big%20One.jpg)\n",
        "content/b.md": "![x](/images/Big%20One.jpg)\n",
        "content/c.md": "\n\n\n\n![x](/images/Big%20One.jpg)\n",
    }
    root = site_factory(files)
    photo(root / "static/images/Big One.jpg")
    where = [line.split(": ")[0] for line in lines(root)[:-1]]
    assert where == ["content/a.md:3", "content/a.md:3"]  # bad-filename and oversized
    where = [line.split(": ")[0] for line in lines(root, "--ignore", "content/a.md")[:-1]]
    assert where == ["content/b.md:1", "content/b.md:1"]
    assert lines(root, "--ignore", "static/images/*") == ["no problems in 0 images"]


# --- inline accept -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("![x](a.jpg) <!-- gallery-accept: gps -->", [(1, ("gps",))]),
        ("# T\r\n<!--gallery-accept:oversized,gps -- a reason, with commas -->\r\n", [(2, ("oversized", "gps"))]),
        (
            "<!-- gallery-accept: oversized metadata -- a -- b --> <!-- gallery-accept: gps -->",
            [(1, ("oversized", "metadata")), (1, ("gps",))],
        ),
        ("<!-- gallery-accept: -->", [(1, ())]),
        ("<!-- not gallery-accept: gps -->\n<!--\ngallery-accept: gps -->", []),
    ],
)
def test_accept_comments_are_read_with_their_lines(text: str, expected: list[tuple[int, tuple[str, ...]]]) -> None:
    page = PurePosixPath("content/p.md")
    assert find_accepts(text, page) == tuple(Accept(page, line, rules) for line, rules in expected)


def test_inline_accept_on_the_same_line_or_the_line_above(site_factory) -> None:
    page = (
        "![a](/images/a.jpg) <!-- gallery-accept: oversized -- the full scan, on purpose -->\n"
        "<!-- gallery-accept: oversized, bad-filename -->\n"
        "![b](/images/B.jpg)\n"
    )
    root = site_factory({"content/p.md": page})
    photo(root / "static/images/a.jpg", pattern=1)
    photo(root / "static/images/B.jpg", pattern=2)
    assert run("check", str(root)) == (0, "no problems in 2 images\n", "")


def test_inline_accept_covers_only_its_rules_and_the_next_line(site_factory) -> None:
    page = (
        "<!-- gallery-accept: bad-filename -->\n"
        "![a](/images/a.jpg)\n"  # accepted: bad-filename only, a.jpg has none; its oversized stays
        "<!-- gallery-accept: oversized -->\n"
        "\n"
        "![b](/images/b.jpg)\n"  # two lines below the comment: not accepted
        "![c](/images/c.jpg) and again ![c](/images/c.jpg) <!-- gallery-accept: oversized -->\n"
    )
    root = site_factory({"content/p.md": page, "content/q.md": "![c](/images/c.jpg)\n"})
    for n, name in enumerate("abc"):
        photo(root / f"static/images/{name}.jpg", pattern=n)
    where = [line.split(": oversized: ")[0] for line in lines(root)[:-1]]
    assert where == ["content/p.md:2: error", "content/p.md:5: error"]  # c.jpg: accepted on p.md:6, enough


def test_inline_accept_after_a_reference_is_for_that_line_only(site_factory) -> None:
    page = "![soon](/images/later.jpg) <!-- gallery-accept: broken-ref -- the CMS uploads it -->\n![x](/images/x.jpg)\n"
    root = site_factory({"content/p.md": page})
    assert lines(root) == [
        "content/p.md:2: error: broken-ref: image not found: /images/x.jpg",
        "1 error, 0 warnings in 0 images (0.0 MB over budget)",
    ]


def test_inline_accept_with_an_unknown_rule_is_a_warning_at_its_line(site_factory) -> None:
    page = "# Post\n<!-- gallery-accept: oversize, gps -->\n![a](/images/a.jpg)\n"
    root = site_factory({"content/p.md": page})
    photo(root / "static/images/a.jpg")
    code, out, _ = run("check", str(root))
    assert code == 1
    assert out.splitlines()[0] == (
        "content/p.md:2: warning: gallery-accept: unknown rule oversize in gallery-accept (rules: broken-ref,"
        " case-mismatch, not-rendered, bad-filename, gps, metadata, oversized, duplicate, unoptimized)"
    )
    assert out.splitlines()[1].startswith("content/p.md:3: error: oversized: ")


# --- severity and ignore -----------------------------------------------------------------------


def test_severity_and_ignore_apply_to_the_new_rules(site_factory) -> None:
    root = site_factory({"content/p.md": "![a](/images/a.jpg)\n![b](/images/b.jpg)\n"})
    photo(root / "static/images/a.jpg")
    (root / "static/images/b.jpg").write_bytes((root / "static/images/a.jpg").read_bytes())
    rules = [line.split(": ")[2] for line in lines(root)[:-1]]
    assert rules == ["oversized", "oversized", "duplicate"]
    assert lines(root, "--severity", "oversized=warning", "--severity", "duplicate=off")[-1].startswith(
        "0 errors, 2 warnings in 2 images ("
    )
    assert run("check", str(root), "--severity", "oversized=off", "--ignore", "static/images/b.jpg") == (
        0,
        "no problems in 1 image\n",
        "",
    )
    (root / "config.toml").write_text(BASE + '[gallery.check]\noversized = "off"\nduplicate = "warning"\n')
    assert lines(root) == [
        "content/p.md:2: warning: duplicate: static/images/b.jpg is the same picture as static/images/a.jpg"
        " (identical bytes): run `gallery fix-refs` to point its references at the kept copy and remove it",
        "0 errors, 1 warning in 1 image (0.0 MB over budget)",
    ]


# --- duplicate ---------------------------------------------------------------------------------


def test_duplicate_detection_is_not_run_when_the_rule_is_off(site_factory, monkeypatch: pytest.MonkeyPatch) -> None:
    root = site_factory({"content/p.md": "![a](/images/a.jpg)\n"})
    make_image(root / "static/images/a.jpg", pattern=1, fmt="JPEG")

    def decoding(*args: object, **kwargs: object) -> None:
        raise AssertionError("duplicates looked for although the rule is off")

    monkeypatch.setattr("gallery.cli.site_duplicates", decoding)
    assert run("check", str(root), "--severity", "duplicate=off")[0] == 0


def test_identical_files_are_duplicates_of_the_copy_kept(site_factory) -> None:
    root = site_factory({"content/p.md": "![a](/images/a.jpg)\n"})
    a = make_image(root / "static/images/a.jpg", pattern=1, fmt="JPEG")
    (root / "static/old").mkdir()
    (root / "static/old/copy.jpg").write_bytes(a.read_bytes())
    code, out, _ = run("check", str(root))
    assert code == 1
    assert out.splitlines() == [
        "static/old/copy.jpg: error: duplicate: static/old/copy.jpg is the same picture as static/images/a.jpg"
        " (identical bytes): run `gallery fix-refs` to point its references at the kept copy and remove it",
        "1 error, 0 warnings in 1 image (0.0 MB over budget)",
    ]


def test_perceptual_duplicate_names_the_distance_and_the_flag(site_factory) -> None:
    root = site_factory({"content/p.md": "![a](/images/a.jpg)\n\n![b](/images/b.jpg)\n"})
    make_image(root / "static/images/a.jpg", size=(64, 48), pattern=1, fmt="JPEG")
    make_image(root / "static/images/b.jpg", size=(32, 24), pattern=1, fmt="JPEG")
    site, table = read_site(root)
    config = Config.from_table(table)
    group = DuplicateGroup(
        PurePosixPath("static/images/a.jpg"), (PurePosixPath("static/images/b.jpg"),), "perceptual", 3
    )
    findings = find_findings(scan_site(site, config), config, config.check, {}, (group,))
    assert [(f.rule, f.severity, f.where, f.message) for f in findings] == [
        (
            "duplicate",
            "error",
            "content/p.md:3",
            "static/images/b.jpg is the same picture as static/images/a.jpg (perceptual, distance 3):"
            " run `gallery fix-refs --merge-similar` to point its references at the kept copy and remove it",
        )
    ]


# --- optimize --downscale-sources makes the check pass -----------------------------------------


def oversized_site(site_factory, config: str = BASE) -> Path:
    page = "![a](/images/a.jpg)\n![t](/images/tall.png)\n![s](/images/small.jpg)\n"
    root = site_factory({"content/p.md": page}, config)
    photo(root / "static/images/a.jpg", pattern=1)  # over max_bytes only
    make_image(root / "static/images/tall.png", size=(1000, 2700), pattern=2, fmt="PNG")  # over max_edge only
    make_image(root / "static/images/small.jpg", size=(300, 200), pattern=3, fmt="JPEG")
    return root


def test_downscale_sources_makes_check_pass_and_keeps_the_originals(site_factory) -> None:
    root = oversized_site(site_factory)
    before = {name: (root / "static/images" / name).read_bytes() for name in ("a.jpg", "tall.png", "small.jpg")}
    assert [line.split(": ")[2] for line in lines(root)[:-1]] == ["oversized", "oversized"]

    code, out, err = run("optimize", str(root / "static/images"), "--downscale-sources")

    assert code == 0, err
    assert "downscaled 2 of 3 images (the originals are kept in .gallery/originals/)" in out
    assert "downscaled static/images/tall.png: 1000x2700 " in out and " -> 948x2560 " in out
    assert "(original kept as .gallery/originals/static/images/a.jpg)" in out
    assert run("fix-refs", str(root / "content"))[0] == 0  # the variants go into the pages too
    assert run("check", str(root)) == (0, "no problems in 3 images\n", "")
    for name, fmt in (("a.jpg", "JPEG"), ("tall.png", "PNG")):
        assert (root / ".gallery/originals/static/images" / name).read_bytes() == before[name]
        with Image.open(root / "static/images" / name) as image:
            assert image.format == fmt
    assert (root / "static/images/small.jpg").read_bytes() == before["small.jpg"]
    assert not (root / ".gallery/originals/static/images/small.jpg").exists()


def test_downscale_sources_in_the_config_makes_plain_optimize_downscale(site_factory) -> None:
    root = oversized_site(site_factory, BASE + "[gallery]\ndownscale_sources = true\n")
    code, out, err = run("optimize", str(root / "static/images"))
    assert code == 0, err
    assert "downscaled 2 of 3 images" in out
    assert run("check", str(root))[0] == 0


@pytest.mark.parametrize(("value", "shown"), [('"yes"', "'yes'"), ("1", "1")])
def test_downscale_sources_must_be_true_or_false(site_factory, value: str, shown: str) -> None:
    root = site_factory({"content/p.md": ""}, BASE + f"[gallery]\ndownscale_sources = {value}\n")
    code, _, err = run("check", str(root))
    assert code == 2
    assert f"[gallery] downscale_sources must be true or false, got {shown}" in err


def test_old_size_keys_are_a_config_error_saying_where_they_moved(site_factory) -> None:
    root = site_factory({"content/p.md": ""}, BASE + "[gallery]\nmax_source_width = 2000\nmax_source_bytes = 900000\n")
    code, _, err = run("check", str(root))
    assert code == 2
    assert (
        "config.toml [gallery] max_source_width moved to [gallery.check] max_edge;"
        " max_source_bytes moved to [gallery.check] max_bytes (max_pixels limits the pixel count too)"
    ) in err
