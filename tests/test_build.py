"""optimize's variants step: incremental, deterministic across --jobs, stale files removed, manifest kept."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from conftest import make_image
from gallery.cli import cli
from gallery.manifest import manifest_from_json, manifest_to_json

PAGE = "![a](/images/a.jpg)\n![b](/images/b.png)\n"


def site_with_images(site_factory) -> Path:
    root = site_factory({"content/p.md": PAGE})
    make_image(root / "static/images/a.jpg", size=(1200, 800), fmt="JPEG")
    make_image(root / "static/images/b.png", size=(700, 500), pattern=2, fmt="PNG")
    return root


def optimize(root: Path, *flags: str) -> dict:
    result = CliRunner().invoke(
        cli, ["optimize", str(root / "static/images"), "--format", "json", *flags], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.strip().splitlines()[-1])


def tree(folder: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(folder).as_posix(): (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()
    }


def test_variants_cover_widths_without_upscaling_and_land_in_the_manifest(site_factory) -> None:
    root = site_with_images(site_factory)
    summary = optimize(root)
    assert (summary["images"], summary["rendered"]) == (2, 2)
    manifest = manifest_from_json((root / "data/gallery.json").read_bytes())
    a = manifest["static/images/a.jpg"]
    assert (a.width, a.height, a.format) == (1200, 800, "JPEG")
    assert sorted({(v.width, v.format) for v in a.variants}) == sorted(
        (w, f) for w in (480, 960, 1200) for f in ("avif", "webp", "jpeg")
    )
    for variant in a.variants:
        path = root / variant.path
        assert path.is_file() and path.stat().st_size == variant.bytes
        assert variant.url == "/" + Path(variant.path).relative_to("static").as_posix()
        with Image.open(path) as image:
            assert image.size == (variant.width, variant.height)
    b = manifest["static/images/b.png"]
    assert {v.width for v in b.variants} == {480, 700}
    assert manifest_from_json(manifest_to_json(manifest)) == manifest


def test_second_run_writes_nothing(site_factory) -> None:
    root = site_with_images(site_factory)
    optimize(root)
    before = tree(root / "static") | {"manifest": ((root / "data/gallery.json").read_bytes(), 0)}
    summary = optimize(root)
    assert (summary["rendered"], summary["variants_written"], summary["removed"]) == (0, 0, 0)
    after = tree(root / "static") | {"manifest": ((root / "data/gallery.json").read_bytes(), 0)}
    assert after == before


def test_changed_source_is_rerendered_and_its_old_variants_removed(site_factory) -> None:
    root = site_with_images(site_factory)
    optimize(root)
    old = {v.path for v in manifest_from_json((root / "data/gallery.json").read_bytes())["static/images/a.jpg"].variants}
    make_image(root / "static/images/a.jpg", size=(1000, 700), pattern=3, fmt="JPEG")
    summary = optimize(root)
    assert summary["rendered"] == 1
    new = {v.path for v in manifest_from_json((root / "data/gallery.json").read_bytes())["static/images/a.jpg"].variants}
    assert not old & new
    assert not any((root / path).exists() for path in old)
    assert summary["removed"] == len(old)


def test_removed_source_loses_its_entry_and_variants(site_factory) -> None:
    root = site_with_images(site_factory)
    optimize(root)
    (root / "static/images/b.png").unlink()
    (root / "content/p.md").write_text("![a](/images/a.jpg)\n", encoding="utf-8")
    optimize(root)
    manifest = manifest_from_json((root / "data/gallery.json").read_bytes())
    assert set(manifest) == {"static/images/a.jpg"}
    assert not list((root / "static/_gallery").rglob("b.*"))


def test_jobs_2_gives_the_same_bytes_as_jobs_1(site_factory, tmp_path: Path) -> None:
    one = site_with_images(site_factory)
    two = tmp_path / "copy"
    two.mkdir()
    for path in one.rglob("*"):
        if path.is_file():
            target = two / path.relative_to(one)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    optimize(one, "--jobs", "1")
    optimize(two, "--jobs", "2")
    assert {k: v[0] for k, v in tree(one / "static/_gallery").items()} == {
        k: v[0] for k, v in tree(two / "static/_gallery").items()
    }


def test_variants_are_not_sources_orphans_or_bad_names(site_factory) -> None:
    root = site_with_images(site_factory)
    optimize(root)
    result = CliRunner().invoke(cli, ["scan", str(root), "--format", "json"], catch_exceptions=False)
    report = json.loads(result.stdout)
    assert {image["file"] for image in report["images"]} == {"static/images/a.jpg", "static/images/b.png"}
    assert report["orphans"] == []
    assert CliRunner().invoke(cli, ["check", str(root)]).exit_code == 0
