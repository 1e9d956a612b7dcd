"""The command line: one test per exit status and output format, run through click."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import piexif
import pytest
from conftest import make_image, run
from PIL import Image

from gallery.cli import cli

PAGE = """---
title: "Sự kiện"
image: /images/cover.jpg
---

Ảnh: ![sân khấu](/images/Stage%201.jpg "Sân khấu")

![wrong case](/images/stage%201.JPG)
![gone](/images/gone.png)

<center>
![hidden](/images/cover.jpg)
</center>
"""
FILES = {
    "content/posts/event.md": PAGE,
    "static/images/Stage 1.jpg": None,
    "static/images/cover.jpg": None,
    "static/images/unused.png": None,
}


@pytest.fixture
def event_site(site_factory) -> Path:
    """FILES with three different pictures (make_image's default makes byte-identical ones: duplicates)."""
    root = site_factory(FILES)
    make_image(root / "static/images/Stage 1.jpg", pattern=1, fmt="JPEG")
    make_image(root / "static/images/unused.png", pattern=2, fmt="PNG")
    return root


def test_scan_json_reports_every_status_with_exact_spans(site_factory) -> None:
    root = site_factory(FILES)
    code, out, _ = run("scan", str(root), "--format", "json")
    assert code == 0
    report = json.loads(out)
    statuses = {(ref["url"], ref["kind"]): ref["status"] for ref in report["refs"]}
    assert statuses == {
        ("/images/cover.jpg", "frontmatter"): "ok",
        ("/images/Stage%201.jpg", "markdown"): "ok",
        ("/images/stage%201.JPG", "markdown"): "case-mismatch",
        ("/images/gone.png", "markdown"): "missing",
        ("/images/cover.jpg", "markdown"): "not-rendered",
    }
    data = (root / "content/posts/event.md").read_bytes()
    for ref in report["refs"]:
        assert data[ref["start"] : ref["end"]].decode() == ref["url"]
        line = data.split(b"\n")[ref["line"] - 1].decode()
        assert line[ref["column"] - 1 :].startswith(ref["url"])
    stage = next(r for r in report["refs"] if r["url"] == "/images/Stage%201.jpg")
    assert stage["file"] == "static/images/Stage 1.jpg"
    assert report["orphans"] == ["static/images/unused.png"]
    images = {image["file"]: image for image in report["images"]}
    assert images["static/images/cover.jpg"]["refs"] == 2
    assert (images["static/images/unused.png"]["width"], images["static/images/unused.png"]["format"]) == (64, "PNG")


def test_scan_text_names_each_problem_with_page_and_line(site_factory) -> None:
    root = site_factory(FILES)
    code, out, _ = run("scan", str(root))
    assert code == 0
    assert "content/posts/event.md:8: case-mismatch:" in out
    assert "Stage 1.jpg" in out.split("content/posts/event.md:8:")[1].splitlines()[0]
    assert "content/posts/event.md:9: missing: image not found: /images/gone.png" in out
    assert "content/posts/event.md:12: not-rendered:" in out
    assert "static/images/unused.png: orphan" in out


def test_scan_from_a_folder_inside_the_site_finds_the_root(site_factory) -> None:
    root = site_factory(FILES)
    code, out, _ = run("scan", str(root / "content" / "posts"), "--format", "json")
    assert code == 0
    assert len(json.loads(out)["refs"]) == 5


def test_check_exits_1_with_findings_and_0_when_clean(event_site: Path) -> None:
    root = event_site
    code, out, _ = run("check", str(root))
    assert code == 1
    assert out.splitlines()[-2:] == [
        "content/posts/event.md:6: warning: bad-filename: static/images/Stage 1.jpg should be stage-1.jpg:"
        " run `gallery optimize static/images`",
        "3 errors, 1 warning in 2 images (0.0 MB over budget)",
    ]
    (root / "content/posts/event.md").write_text("![ok](/images/cover.jpg)\n", encoding="utf-8")
    code, out, _ = run("check", str(root))
    assert (code, out.splitlines()[-1]) == (0, "0 errors, 1 warning in 1 image (0.0 MB over budget)")
    (root / "static/images/Stage 1.jpg").rename(root / "static/images/stage-1.jpg")
    assert run("check", str(root))[:2] == (0, "no problems in 3 images\n")


def test_check_json_and_github_formats(event_site: Path) -> None:
    root = event_site
    code, out, _ = run("check", str(root), "--format", "json")
    assert code == 1
    findings = json.loads(out)["findings"]
    assert [(f["rule"], f["page"], f["line"]) for f in findings] == [
        ("case-mismatch", "content/posts/event.md", 8),
        ("broken-ref", "content/posts/event.md", 9),
        ("not-rendered", "content/posts/event.md", 12),
        ("bad-filename", "content/posts/event.md", 6),
    ]
    assert findings[-1]["file"] == "static/images/Stage 1.jpg"
    assert json.loads(out)["summary"] == {
        "errors": 3,
        "warnings": 1,
        "images_with_findings": 2,
        "images_checked": 3,
        "bytes_over_budget": 0,
    }
    code, out, _ = run("check", str(root), "--format", "github")
    assert code == 1
    assert out.splitlines()[1].startswith("::error file=content/posts/event.md,line=9,title=broken-ref::")
    assert out.splitlines()[-1] == "3 errors, 1 warning in 2 images (0.0 MB over budget)"


def test_check_severity_and_ignore_from_config_and_flags(event_site: Path) -> None:
    root = event_site
    (root / "config.toml").write_text(
        'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
        '[gallery.check]\nbroken-ref = "warning"\nnot-rendered = "off"\n'
    )
    code, out, _ = run("check", str(root), "--format", "json")
    assert [(f["rule"], f["severity"]) for f in json.loads(out)["findings"]] == [
        ("case-mismatch", "error"),
        ("broken-ref", "warning"),
        ("bad-filename", "warning"),
    ]
    assert code == 1
    assert run("check", str(root), "--severity", "case-mismatch=warning")[0] == 0
    ignored = run("check", str(root), "--ignore", "content/posts/*", "--ignore", "static/*")
    assert ignored[1] == "no problems in 0 images\n"


def test_check_reports_gps_and_names_until_optimize_fixes_them(site_factory) -> None:
    gps = {
        piexif.GPSIFD.GPSLatitudeRef: b"N",
        piexif.GPSIFD.GPSLatitude: ((10, 1), (46, 1), (0, 1)),
    }
    root = site_factory({"content/a.md": "![x](/images/Phone%20Photo.JPG)\n"})
    path = root / "static/images/Phone Photo.JPG"
    make_image(path, fmt="JPEG")
    Image.open(path).save(path, exif=piexif.dump({"GPS": gps, "0th": {piexif.ImageIFD.Make: b"Phone"}}))
    code, out, _ = run("check", str(root), "--format", "json")
    assert code == 1
    assert {(f["rule"], f["severity"]) for f in json.loads(out)["findings"]} == {
        ("gps", "error"),
        ("metadata", "warning"),
        ("bad-filename", "warning"),
    }
    assert run("optimize", str(root / "static/images"))[0] == 0
    assert (root / "content/a.md").read_text() == "![x](/images/phone-photo.jpg)\n"
    code, out, _ = run("check", str(root))
    assert (code, out.strip().splitlines()[-1]) == (0, "0 errors, 1 warning in 1 image (0.0 MB over budget)")
    assert "unoptimized: the <picture> markup for static/images/phone-photo.jpg is not written yet" in out
    assert run("fix-refs", str(root / "content"))[0] == 0
    code, out, _ = run("check", str(root))
    assert (code, out.strip()) == (0, "no problems in 1 image")


def test_unknown_config_key_is_a_usage_error_naming_it(site_factory) -> None:
    config = '[gallery]\nfrontmater_keys = ["image"]\n'
    root = site_factory(FILES, config)
    code, _, err = run("scan", str(root))
    assert code == 2
    assert "unknown key frontmater_keys" in err
    assert "config.toml" in err


def test_no_site_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("scan", str(tmp_path))
    assert code == 2
    assert str(tmp_path) in err


def test_unreadable_content_warns_and_exits_3_after_scanning_the_rest(site_factory) -> None:
    files = dict(FILES)
    files["content/latin1.md"] = "caf\xe9 ![x](/images/cover.jpg)\n".encode("latin-1")
    files["content/broken-front.md"] = "---\ntitle: [unclosed\n---\n![y](/images/cover.jpg)\n"
    root = site_factory(files)
    code, out, err = run("scan", str(root), "--format", "json")
    assert code == 3
    warnings = err.strip().splitlines()
    assert any(w.startswith("warning: content/latin1.md: ") and "UTF-8" in w for w in warnings)
    assert any(w.startswith("warning: content/broken-front.md: front matter: invalid YAML") for w in warnings)
    pages = {ref["page"] for ref in json.loads(out)["refs"]}
    assert {"content/latin1.md", "content/broken-front.md", "content/posts/event.md"} <= pages


def test_frontmatter_key_flag_overrides_config(site_factory) -> None:
    root = site_factory(FILES)
    code, out, _ = run("scan", str(root), "--format", "json", "--frontmatter-key", "banner")
    assert code == 0
    assert "frontmatter" not in {ref["kind"] for ref in json.loads(out)["refs"]}


@pytest.mark.parametrize("command", sorted(cli.commands))
def test_every_command_has_help_with_an_example(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0
    assert "Example:" in out


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run([sys.executable, "-m", "gallery", "--version"], capture_output=True, text=True)
    assert result.returncode == 0
    assert result.stdout.startswith("gallery, version ")
