"""optimize --downscale-sources: oversized originals rewritten in place, upright, same name, no metadata."""

from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import numpy as np
import piexif
import pytest
from click.testing import CliRunner
from PIL import Image, ImageCms, ImageDraw

from conftest import make_image
from gallery.cli import cli
from gallery.config import Config
from gallery.downscale import SizeLimits, downscaled_source
from gallery.errors import ConfigError
from gallery.manifest import manifest_from_json
from gallery.variants import VariantSettings

PAGE = "![big](/images/big.jpg)\n![small](/images/small.jpg)\n"
ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
# A long edge of 2000 px: the 4000x3000 sideways photo (3000x4000 upright) becomes 1500x2000
CONFIG = 'baseURL = "https://example.org/"\n[gallery.check]\nmax_edge = 2000\n'
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
    with Image.open(big) as image:
        original = image.tobytes()
    make_image(root / "static/images/small.jpg", size=(800, 600), fmt="JPEG")
    small = root / "static/images/small.jpg"
    small_before = (small.read_bytes(), small.stat().st_mtime_ns)

    status, out, err = run(root, "--downscale-sources")

    assert status == 0, err
    assert "downscaled static/images/big.jpg: 3000x4000 " in out and " -> 1500x2000 " in out
    assert "downscaled 1 of 2 images (the originals are kept in .gallery/originals/)" in out
    with Image.open(root / ".gallery/originals/static/images/big.jpg") as kept:  # as it was before downscaling:
        assert kept.size == (4000, 3000) and kept.getexif().get(0x0112) == 6  # full size, only its GPS stripped
        assert kept.tobytes() == original
    with Image.open(big) as image:
        assert image.size == (1500, 2000)  # upright pixels: no Orientation tag needed
        assert image.getexif().get(0x0112, 1) == 1 and not image.getexif().get_ifd(0x8825)
        assert image.info.get("icc_profile") == ICC
        red = image.convert("RGB").getpixel((1480, 20))  # stored top-left is displayed top-right
        assert red[0] > 200 and red[1] < 60 and red[2] < 60
    assert (small.read_bytes(), small.stat().st_mtime_ns) == small_before
    scan = CliRunner().invoke(cli, ["scan", str(root), "--format", "json"], catch_exceptions=False)
    refs = json.loads(scan.stdout)["refs"]
    assert {(r["file"], r["status"]) for r in refs} == {(f"static/images/{n}.jpg", "ok") for n in ("big", "small")}
    entry = manifest_from_json((root / "data/gallery.json").read_bytes())["static/images/big.jpg"]
    assert (entry.width, entry.height, entry.bytes) == (1500, 2000, big.stat().st_size)
    assert {v.width for v in entry.variants} == {480, 960, 1500}


def test_png_over_the_byte_limit_is_recompressed_at_its_size() -> None:
    image = Image.linear_gradient("L").resize((1200, 900)).convert("RGB")
    out = BytesIO()
    image.save(out, "PNG", compress_level=0)  # stored uncompressed: 3.2 MB
    data = out.getvalue()
    limits = SizeLimits(max_bytes=1_500_000)
    smaller = downscaled_source(data, limits, VariantSettings())
    assert smaller is not None and len(smaller) < len(data) // 2
    with Image.open(BytesIO(smaller)) as result:
        assert (result.format, result.size) == ("PNG", (1200, 900))
        assert result.convert("RGB").tobytes() == image.tobytes()  # lossless
    assert downscaled_source(smaller, limits, VariantSettings()) is None


def grainy_jpeg(size: tuple[int, int]) -> bytes:
    """A JPEG at quality 95 of strong grain: about 1.5 bytes per pixel, and still 0.7 at quality 80."""
    pixels = np.random.default_rng(7).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


def test_over_max_bytes_only_is_made_smaller_until_it_fits() -> None:
    data = grainy_jpeg((1000, 750))
    limits = SizeLimits(max_bytes=200_000)
    assert len(data) > 4 * limits.max_bytes
    smaller = downscaled_source(data, limits, VariantSettings())
    assert smaller is not None and len(smaller) <= limits.max_bytes
    with Image.open(BytesIO(smaller)) as result:
        assert result.format == "JPEG"
        width, height = result.size
    assert width < 1000 and abs(width / height - 4 / 3) < 0.01
    assert downscaled_source(smaller, limits, VariantSettings()) is None  # it fits: left alone from now on


@pytest.mark.parametrize(
    ("size", "limits", "expected"),
    [
        ((2400, 2400), SizeLimits(max_bytes=10**8), (2236, 2236)),  # max_pixels 5 MP: 2236^2 = 4,999,696
        ((3000, 1000), SizeLimits(max_bytes=10**8), (2560, 853)),  # max_edge, short edge rounded half up
        ((3000, 1000), SizeLimits(max_bytes=10**8, max_edge=10**4, max_pixels=1_000_000), (1732, 577)),
    ],
)
def test_edge_and_pixel_limits_keep_the_aspect(
    size: tuple[int, int], limits: SizeLimits, expected: tuple[int, int]
) -> None:
    out = BytesIO()
    Image.linear_gradient("L").resize(size).save(out, "PNG")
    smaller = downscaled_source(out.getvalue(), limits, VariantSettings())
    assert smaller is not None
    with Image.open(BytesIO(smaller)) as result:
        assert result.size == expected
    assert expected[0] * expected[1] <= limits.max_pixels and max(expected) <= limits.max_edge


def test_dry_run_counts_oversized_sources_and_writes_nothing(site_factory) -> None:
    root = site_factory({"content/p.md": PAGE})
    big_photo(root / "static/images/big.jpg")
    make_image(root / "static/images/small.jpg", size=(800, 600), fmt="JPEG")
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}

    for flags in (("--dry-run", "--downscale-sources"), ("--dry-run",)):
        status, out, _ = run(root, *flags)
        assert status == 0
        assert "1 of 2 images over [gallery.check] max_bytes = 500000, max_edge = 2560 or max_pixels = 5000000" in out
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
        assert image.size == (1500, 2000)


def test_plain_run_mentions_oversized_sources_without_touching_them(site_factory) -> None:
    root = site_factory({"content/p.md": PAGE})
    big = big_photo(root / "static/images/big.jpg")
    status, _, err = run(root)
    assert status == 0
    assert "note: 1 of 1 images over [gallery.check] max_bytes = 500000," in err
    with Image.open(big) as image:
        assert image.size == (4000, 3000)


@pytest.mark.parametrize("value", [0, -1, True, 1.5, "2560"])
def test_limits_must_be_whole_numbers_above_zero(value: object) -> None:
    table = {"max_bytes": 10, "max_edge": 3000, "max_pixels": 20}
    assert Config.from_table({"check": table}).check.size == SizeLimits(10, 3000, 20)
    for key in table:
        with pytest.raises(ConfigError, match=rf"\[gallery.check\] {key} must be a whole number above 0"):
            Config.from_table({"check": {key: value}})


def test_old_keys_say_where_they_moved() -> None:
    with pytest.raises(ConfigError, match=r"max_source_width moved to \[gallery.check\] max_edge"):
        Config.from_table({"max_source_width": 2560})
