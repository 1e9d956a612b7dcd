"""The browser test infrastructure itself: Chromium picks the candidate `<picture>` markup asks for, at each width."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser import measure, require_chromium, serve
from PIL import Image, ImageDraw, ImageFilter

WIDTHS = (480, 960, 1600)
FORMATS = {"avif": "AVIF", "webp": "WEBP", "jpg": "JPEG"}
# Room for the response headers in a transfer size; Chromium counts a fixed 300 bytes, the spec allows the real ones.
HEADER_ALLOWANCE = 1024


def make_photo(size: tuple[int, int] = (1600, 1067)) -> Image.Image:
    """Something photo-like, so encoders behave as on photos: smooth gradients, soft shapes, grain."""
    width, height = size
    sky = Image.linear_gradient("L").resize(size)
    image = Image.merge("RGB", (sky, sky.transpose(Image.Transpose.ROTATE_180), Image.new("L", size, 140)))
    draw = ImageDraw.Draw(image)
    draw.ellipse([width // 8, height // 5, width // 2, 4 * height // 5], fill=(230, 180, 60))
    draw.rectangle([3 * width // 5, height // 3, 9 * width // 10, height], fill=(40, 90, 50))
    draw.polygon([(0, height), (width // 3, height // 2), (2 * width // 3, height)], fill=(90, 70, 120))
    image = image.filter(ImageFilter.GaussianBlur(6))
    grain = Image.effect_noise(size, 24).convert("RGB")
    return Image.blend(image, grain, 0.08)


def srcset(ext: str) -> str:
    return ", ".join(f"a-{width}.{ext} {width}w" for width in WIDTHS)


PAGE = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>picture</title>
<style>body {{ margin: 0 }} img {{ max-width: 100%; height: auto; display: block }}</style></head>
<body>
<img src="b.png" width="200" height="100" alt="plain">
<div style="height: 3000px"></div>
<picture>
<source type="image/avif" srcset="{srcset("avif")}" sizes="100vw">
<source type="image/webp" srcset="{srcset("webp")}" sizes="100vw">
<img src="a-960.jpg" srcset="{srcset("jpg")}" sizes="100vw" width="1600" height="1067"
 loading="lazy" decoding="async" alt="x">
</picture>
</body></html>
"""


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("picture")
    photo = make_photo()
    for width in WIDTHS:
        scaled = photo.resize((width, round(photo.height * width / photo.width)), Image.Resampling.LANCZOS)
        for ext, fmt in FORMATS.items():
            scaled.save(root / f"a-{width}.{ext}", format=fmt, quality=60)
    photo.resize((200, 100)).save(root / "b.png")
    (root / "index.html").write_text(PAGE, encoding="utf-8")
    (root / "broken.html").write_text('<!doctype html><img src="b.png" alt="ok"><img src="nope.jpg" alt="gone">')
    return root


@pytest.fixture(scope="module")
def base_url(site: Path) -> Iterator[str]:
    require_chromium()
    with serve(site) as url:
        yield url


def test_server_sends_image_types(base_url: str) -> None:
    for name, expected in [("a-480.avif", "image/avif"), ("a-480.webp", "image/webp"), ("a-480.jpg", "image/jpeg")]:
        with urllib.request.urlopen(base_url + name) as response:
            assert response.headers["Content-Type"] == expected


@pytest.mark.parametrize(
    ("width", "dpr", "chosen"),
    [(390, 1, "a-480.avif"), (390, 2, "a-960.avif"), (1440, 1, "a-1600.avif")],
)
def test_picture_candidate_follows_width_and_pixel_ratio(
    site: Path, base_url: str, width: int, dpr: float, chosen: str
) -> None:
    started = time.perf_counter()
    page = measure(base_url + "index.html", width, dpr)
    print(f"measure {width}px @{dpr}x: {time.perf_counter() - started:.2f} s")

    plain, picture = page.images
    assert plain.current_src == base_url + "b.png"
    assert picture.current_src == base_url + chosen
    assert all(image.complete and image.natural_width > 0 for image in page.images)
    # A `w` candidate's natural size is in CSS px: its pixels over the density the sizes attribute gives it,
    # rounded down; here sizes is 100vw, so the viewport width whatever the file.
    assert width - 1 <= picture.natural_width <= width
    assert picture.client_width == width  # headless Chromium's scrollbars overlay the page and take no width
    # Only the chosen candidate is fetched: no JPEG fallback, no second size.
    assert sorted(page.image_urls) == sorted([base_url + "b.png", base_url + chosen])
    bodies = (site / "b.png").stat().st_size + (site / chosen).stat().st_size
    assert page.image_body_bytes == bodies
    assert bodies < page.image_bytes <= bodies + HEADER_ALLOWANCE * len(page.image_urls)
    assert page.console_errors == ()


def test_broken_image_shows(base_url: str) -> None:
    page = measure(base_url + "broken.html", 800, 1)

    ok, broken = page.images
    assert ok.complete and ok.natural_width > 0
    assert broken.complete and broken.natural_width == 0
    assert any("404" in error and "nope.jpg" in error for error in page.console_errors)
