"""optimize --downscale-sources: oversized originals rewritten in place, upright, same name, no metadata."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import piexif
import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms, ImageDraw

from conftest import make_image
from gallery.cli import cli
from gallery.config import Config
from gallery.downscale import downscaled_source
from gallery.errors import ConfigError
from gallery.manifest import manifest_from_json
from gallery.variants import VariantSettings

PAGE = "![big](/images/big.jpg)\n![small](/images/small.jpg)\n"
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
# 1920 px wide upright: the 4000x3000 sideways photo (3000x4000 upright) becomes 1920x2560
CONFIG = 'baseURL = "https://example.org/"\n[gallery]\nmax_source_width = 1920\n'
GPS = {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((52, 1), (22, 1), (0, 1))}


def big_photo(path: Path) -> Path:
    """4000x3000 stored pixels, shown as 3000x4000 (Orientation 6), red in the stored top-left corner, GPS."""
    image = Image.linear_gradient("L").resize((4000, 3000)).convert("RGB")
    ImageDraw.Draw(image).rectangle([0, 0, 400, 300], fill=(255, 0, 0))
    exif = piexif.dump({"0th": {piexif.ImageIFD.Orientation: 6}, "GPS": GPS})
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "JPEG", quality=95, exif=exif, icc_profile=ICC)
    return path


def run(root: Path, *flags: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["optimize", str(root / "static/images"), *flags], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_oversized_photo_is_downscaled_upright_in_place_and_variants_follow(site_factory) -> None:
    root = site_factory({"content/p.md": PAGE}, CONFIG)
    big = big_photo(root / "static/images/big.jpg")
    make_image(root / "static/images/small.jpg", size=(800, 600), fmt="JPEG")
    small_before = ((root / "static/images/small.jpg").read_bytes(), (root / "static/images/small.jpg").stat().st_mtime_ns)

    status, out, err = run(root, "--downscale-sources")

    assert status == 0, err
    assert "downscaled static/images/big.jpg: 3000x4000 " in out and " -> 1920x2560 " in out
    assert "downscaled 1 of 2 images" in out
    with Image.open(big) as image:
        assert image.size == (1920, 2560)  # upright pixels: no Orientation tag needed
        assert image.getexif().get(0x0112, 1) == 1 and not image.getexif().get_ifd(0x8825)
        assert image.info.get("icc_profile") == ICC
        red = image.convert("RGB").getpixel((1900, 20))  # stored top-left is displayed top-right
        assert red[0] > 200 and red[1] < 60 and red[2] < 60
    small = root / "static/images/small.jpg"
    assert (small.read_bytes(), small.stat().st_mtime_ns) == small_before
    scan = CliRunner().invoke(cli, ["scan", str(root), "--format", "json"], catch_exceptions=False)
    refs = json.loads(scan.stdout)["refs"]
    assert {(r["file"], r["status"]) for r in refs} == {("static/images/big.jpg", "ok"), ("static/images/small.jpg", "ok")}
    entry = manifest_from_json((root / "data/gallery.json").read_bytes())["static/images/big.jpg"]
    assert (entry.width, entry.height, entry.bytes) == (1920, 2560, big.stat().st_size)
    assert {v.width for v in entry.variants} == {480, 960, 1600}


def test_png_over_the_byte_limit_is_recompressed_at_its_size() -> None:
    image = Image.linear_gradient("L").resize((1200, 900)).convert("RGB")
    out = BytesIO()
    image.save(out, "PNG", compress_level=0)  # stored uncompressed: 3.2 MB
    data = out.getvalue()
    smaller = downscaled_source(data, 2560, 1_500_000, VariantSettings())
    assert smaller is not None and len(smaller) < len(data) // 2
    with Image.open(BytesIO(smaller)) as result:
        assert (result.format, result.size) == ("PNG", (1200, 900))
        assert result.convert("RGB").tobytes() == image.tobytes()  # lossless
    assert downscaled_source(smaller, 2560, 1_500_000, VariantSettings()) is None


def test_dry_run_counts_oversized_sources_and_writes_nothing(site_factory) -> None:
    root = site_factory({"content/p.md": PAGE})
    big_photo(root / "static/images/big.jpg")
    make_image(root / "static/images/small.jpg", size=(800, 600), fmt="JPEG")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}

    for flags in (("--dry-run", "--downscale-sources"), ("--dry-run",)):
        status, out, _ = run(root, *flags)
        assert status == 0
        assert "1 of 2 images over max_source_width = 2560 or max_source_bytes = 1500000" in out
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()} == before


def test_truncated_jpeg_is_one_error_and_exit_3_while_others_are_downscaled(site_factory) -> None:
    root = site_factory({"content/p.md": PAGE + "![bad](/images/bad.jpg)\n"}, CONFIG)
    big_photo(root / "static/images/big.jpg")
    make_image(root / "static/images/small.jpg", size=(800, 600), fmt="JPEG")
    whole = big_photo(root / "static/bad.jpg").read_bytes()
    (root / "static/images/bad.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "static/bad.jpg").unlink()

    status, out, err = run(root, "--downscale-sources")

    assert status == 3
    errors = [line for line in err.splitlines() if "not downscaled" in line]
    assert len(errors) == 1 and errors[0].startswith("error: static/images/bad.jpg: not downscaled: ")
    assert "downscaled static/images/big.jpg" in out
    with Image.open(root / "static/images/big.jpg") as image:
        assert image.size == (1920, 2560)


def test_plain_run_mentions_oversized_sources_without_touching_them(site_factory) -> None:
    root = site_factory({"content/p.md": PAGE})
    big = big_photo(root / "static/images/big.jpg")
    status, _, err = run(root)
    assert status == 0
    assert "note: 1 of 1 images over max_source_width = 2560" in err
    with Image.open(big) as image:
        assert image.size == (4000, 3000)


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "2560"])
def test_limits_must_be_whole_numbers_above_zero(value: object) -> None:
    assert Config.from_table({"max_source_width": 3000, "max_source_bytes": 10}).max_source_width == 3000
    for key in ("max_source_width", "max_source_bytes"):
        with pytest.raises(ConfigError, match=f"{key} must be a whole number above 0"):
            Config.from_table({key: value})
