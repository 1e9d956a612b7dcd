"""Generate the demo site's images, including the defects `gallery` exists to fix."""

from __future__ import annotations

import argparse
import unicodedata
from pathlib import Path

import numpy as np
import piexif
from PIL import Image, ImageDraw, ImageFilter, ImageFont

Size = tuple[int, int]
RGB = tuple[int, int, int]
Camera = tuple[str, str, str]  # make, model, body serial number
REPO = Path(__file__).resolve().parent.parent
# Bitexco Financial Tower, Ho Chi Minh City, as EXIF degree/minute/second rationals.
GPS_LAT = ((10, 1), (46, 1), (1776, 100))
GPS_LON = ((106, 1), (42, 1), (1584, 100))
CANON: Camera = ("Canon", "Canon EOS R6", "032021001337")
IPHONE: Camera = ("Apple", "iPhone 15 Pro", "F2LXK0QJ1234")


def rng(seed: int) -> np.random.Generator:
    """Return the random generator for one image; each image has its own seed."""
    return np.random.default_rng(seed)


def colour(r: np.random.Generator, low: int, high: int) -> RGB:
    """Return a random colour with channels in [low, high)."""
    red, green, blue = (int(c) for c in r.integers(low, high, 3))
    return red, green, blue


def texture(r: np.random.Generator, size: Size, octaves: int = 5) -> np.ndarray:
    """Return fractal smooth noise in about [-1, 1], like uneven light on surfaces."""
    w, h = size
    total = np.zeros((h, w), np.float32)
    for i in range(octaves):
        cells = 4 * 2**i
        small = r.uniform(-1, 1, (max(2, cells * h // w), cells)).astype(np.float32)
        total += 0.5**i * np.asarray(Image.fromarray(small).resize(size, Image.Resampling.BICUBIC))
    return total / 2


def gradient(size: Size, top: RGB, bottom: RGB) -> Image.Image:
    """Return a vertical gradient from `top` to `bottom`."""
    w, h = size
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    px = np.array(top, np.float32) * (1 - t) + np.array(bottom, np.float32) * t
    return Image.fromarray(np.broadcast_to(px, (h, w, 3)).astype(np.uint8))


def finish(canvas: Image.Image, r: np.random.Generator, grain: float) -> Image.Image:
    """Soften the drawing and add uneven light, vignette and sensor grain, as a camera would."""
    w, h = canvas.size
    px = np.asarray(canvas.filter(ImageFilter.GaussianBlur(w / 1000)), np.float32)
    yy, xx = np.mgrid[-1 : 1 : h * 1j, -1 : 1 : w * 1j].astype(np.float32)
    light = (1 + 0.25 * texture(r, canvas.size)) * (1 - 0.2 * (xx**2 + yy**2))
    noise = r.normal(0, grain, (h, w, 1)).astype(np.float32)
    return Image.fromarray(np.clip(px * light[..., None] + noise, 0, 255).astype(np.uint8))


def person(d: ImageDraw.ImageDraw, x: float, y: float, s: float, shirt: RGB, skin: RGB) -> None:
    """Draw a head-and-shoulders figure whose shoulders are centred on (x, y), `s` pixels wide."""
    d.rounded_rectangle([x - s / 2, y, x + s / 2, y + 1.4 * s], radius=s / 3, fill=shirt)
    d.ellipse([x - s / 4, y - s / 1.8, x + s / 4, y + s / 20], fill=skin)
    d.chord([x - s / 4, y - s / 1.8, x + s / 4, y - s / 5], 180, 360, fill=(25, 20, 18))


def stage_scene(r: np.random.Generator, size: Size, grain: float = 4) -> Image.Image:
    """Draw a conference hall: backdrop, slide screen, speaker, light beams and rows of audience."""
    w, h = size
    img = gradient(size, colour(r, 10, 50), colour(r, 40, 90))
    d = ImageDraw.Draw(img)
    d.rectangle([0, 0.12 * h, w, 0.58 * h], fill=colour(r, 30, 110))
    sx, sw = r.uniform(0.15, 0.45) * w, r.uniform(0.3, 0.4) * w
    d.rectangle([sx, 0.18 * h, sx + sw, 0.48 * h], fill=colour(r, 180, 250))
    for i in range(5):  # slide title and bullet lines
        y = (0.22 + 0.05 * i) * h
        d.rectangle([sx + 0.06 * sw, y, sx + r.uniform(0.4, 0.9) * sw, y + 0.02 * h], fill=colour(r, 20, 90))
    d.polygon([(0, 0.7 * h), (w, 0.7 * h), (w, 0.58 * h), (0, 0.58 * h)], fill=colour(r, 60, 120))
    beams = Image.new("L", size)
    for _ in range(3):
        bx = r.uniform(0, w)
        ImageDraw.Draw(beams).polygon([(bx, 0), (bx - 0.12 * w, 0.7 * h), (bx + 0.12 * w, 0.7 * h)], fill=80)
    img.paste(colour(r, 200, 256), mask=beams)
    person(d, sx + sw + 0.08 * w, 0.45 * h, 0.05 * w, colour(r, 20, 200), (200, 160, 130))
    for row in range(4):
        y, s = (0.72 + 0.08 * row) * h, (0.045 + 0.02 * row) * w
        for x in np.arange(r.uniform(0, s), w + s, 1.15 * s):
            person(d, x + r.uniform(-0.1, 0.1) * s, y, s, colour(r, 15, 140), colour(r, 120, 200))
    return finish(img, r, grain)


def river_scene(r: np.random.Generator, size: Size, grain: float = 4) -> Image.Image:
    """Draw a Mekong dawn: warm sky, sun, a far bank of trees, streaked water and a few boats."""
    w, h = size
    img = gradient(size, (90, 120, 170), (240, 170, 110))
    d = ImageDraw.Draw(img)
    sun = r.uniform(0.2, 0.8) * w
    d.ellipse([sun - 0.05 * w, 0.3 * h, sun + 0.05 * w, 0.3 * h + 0.1 * w], fill=(255, 230, 180))
    for x in np.arange(0, w, 0.03 * w):
        top = r.uniform(0.35, 0.45) * h
        d.ellipse([x - 0.03 * w, top, x + 0.04 * w, 0.55 * h], fill=colour(r, 20, 70))
    d.rectangle([0, 0.5 * h, w, h], fill=(150, 110, 80))
    for _ in range(60):  # reflections of the sky on the water
        y, x = r.uniform(0.5, 1) * h, r.uniform(0, w)
        d.rectangle([x, y, x + r.uniform(0.05, 0.3) * w, y + 0.004 * h], fill=colour(r, 170, 240))
    for _ in range(4):
        x, y, s = r.uniform(0, w), r.uniform(0.6, 0.9) * h, r.uniform(0.06, 0.14) * w
        hull = [(x, y), (x + s, y), (x + 0.85 * s, y + 0.15 * s), (x + 0.1 * s, y + 0.15 * s)]
        d.polygon(hull, fill=(60, 40, 30))
        d.rectangle([x + 0.3 * s, y - 0.15 * s, x + 0.7 * s, y], fill=colour(r, 40, 160))
    return finish(img, r, grain)


def room_scene(r: np.random.Generator, size: Size, grain: float = 4) -> Image.Image:
    """Draw a workshop room: windows, long tables, laptops and seated people."""
    w, h = size
    img = gradient(size, colour(r, 170, 230), colour(r, 90, 150))
    d = ImageDraw.Draw(img)
    for x in np.arange(0.05 * w, w, 0.25 * w):
        d.rectangle([x, 0.08 * h, x + 0.15 * w, 0.38 * h], fill=(235, 240, 245))
    for row in range(3):
        y, s = (0.45 + 0.17 * row) * h, (0.06 + 0.025 * row) * w
        for x in np.arange(r.uniform(0, s), w, 1.6 * s):
            person(d, x, y, s, colour(r, 20, 200), colour(r, 120, 200))
            screen = [(x - 0.3 * s, y + 0.2 * s), (x + 0.3 * s, y + 0.2 * s), (x + 0.45 * s, y + 0.55 * s)]
            d.polygon([*screen, (x - 0.45 * s, y + 0.55 * s)], fill=(70, 70, 80))
        d.rectangle([0, y + 0.55 * s, w, y + 0.75 * s], fill=colour(r, 120, 170))
    return finish(img, r, grain)


def screenshot(size: Size) -> Image.Image:
    """Draw a macOS-style window screenshot of a web console, with transparent rounded corners."""
    w, h = size
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    font, small = ImageFont.load_default(22), ImageFont.load_default(15)
    d.rounded_rectangle([0, 0, w - 1, h - 1], radius=14, fill=(248, 249, 251, 255))
    for y in range(44):  # macOS title bars are a subtle gradient, not a flat grey
        d.line([(8, y), (w - 9, y)], fill=(236 - y // 4, 236 - y // 4, 238 - y // 4, 255))
    for i, dot in enumerate([(255, 95, 87), (254, 188, 46), (40, 200, 64)]):
        d.ellipse([18 + 24 * i, 15, 32 + 24 * i, 29], fill=(*dot, 255))
    d.text((w // 2 - 120, 12), "Pipeline Console - demo", font=small, fill=(60, 60, 60, 255))
    d.rectangle([0, 44, 240, h - 14], fill=(35, 47, 62, 255))
    for i, label in enumerate(["Pipelines", "Builds", "Deployments", "Images", "Settings"]):
        d.text((24, 80 + 40 * i), label, font=small, fill=(220, 225, 230, 255))
    d.text((280, 70), "web-performance-demo / image-pipeline", font=font, fill=(20, 20, 20, 255))
    for i, name in enumerate(["scan", "resize", "dedupe", "rewrite", "deploy"]):
        x, done = 280 + 225 * i, i < 3
        d.rounded_rectangle([x, 130, x + 200, 230], 8, fill=(255, 255, 255, 255), outline=(200, 205, 210, 255))
        d.text((x + 16, 148), name, font=font, fill=(30, 30, 30, 255))
        status, ink = ("Succeeded", (29, 129, 2, 255)) if done else ("In progress", (0, 115, 187, 255))
        d.text((x + 16, 190), status, font=small, fill=ink)
    for i in range(14):  # log lines of varying length
        y = 270 + 30 * i
        d.rectangle([280, y, 280 + 300 + (i * 137) % 800, y + 12], fill=(210, 214, 220, 255))
    return img


def diagram(size: Size) -> Image.Image:
    """Draw a flat few-colour flow diagram: boxes, arrows and labels."""
    w, h = size
    img = Image.new("RGB", size, (255, 255, 255))
    d = ImageDraw.Draw(img)
    font = ImageFont.load_default(20)
    steps = ["Markdown", "scan", "resize", "rewrite", "Hugo"]
    bw = w // (len(steps) * 2 - 1)
    for i, label in enumerate(steps):
        x, fill = 2 * i * bw, (255, 153, 0) if i in (0, 4) else (35, 47, 62)
        d.rounded_rectangle([x, h // 2 - 50, x + bw, h // 2 + 50], radius=10, fill=fill)
        d.text((x + bw // 2, h // 2), label, font=font, fill=(255, 255, 255), anchor="mm")
        if i:
            d.line([(x - bw + 8, h // 2), (x - 12, h // 2)], fill=(90, 90, 90), width=4)
            d.polygon([(x - 4, h // 2), (x - 18, h // 2 - 10), (x - 18, h // 2 + 10)], fill=(90, 90, 90))
    d.text((w // 2, 60), "Image pipeline", font=ImageFont.load_default(32), fill=(35, 47, 62), anchor="mm")
    return img


def camera_exif(camera: Camera, taken: str, orientation: int = 1) -> bytes:
    """Return EXIF bytes with camera, capture time, body serial number and a GPS fix in Ho Chi Minh City."""
    make, model, serial = camera
    return piexif.dump(
        {
            "0th": {
                piexif.ImageIFD.Make: make,
                piexif.ImageIFD.Model: model,
                piexif.ImageIFD.Orientation: orientation,
                piexif.ImageIFD.DateTime: taken,
            },
            "Exif": {piexif.ExifIFD.DateTimeOriginal: taken, piexif.ExifIFD.BodySerialNumber: serial},
            "GPS": {
                piexif.GPSIFD.GPSVersionID: (2, 2, 0, 0),
                piexif.GPSIFD.GPSLatitudeRef: "N",
                piexif.GPSIFD.GPSLatitude: GPS_LAT,
                piexif.GPSIFD.GPSLongitudeRef: "E",
                piexif.GPSIFD.GPSLongitude: GPS_LON,
            },
        }
    )


def save(img: Image.Image, path: Path, fmt: str | None = None, **options: object) -> None:
    """Save `img` to `path`, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, fmt, **options)


def main(root: Path) -> None:
    """Write every demo image under `root` (the Hugo site)."""
    images, event = root / "static/images", root / "static/images/4-Event"
    photo = (1600, 1200)
    # Camera EXIF with a GPS fix and a serial number: the privacy leak `gallery` strips.
    exif = camera_exif(CANON, "2025:11:17 08:58:41")
    save(stage_scene(rng(1), photo), event / "Event2.jpeg", quality=85, exif=exif)
    exif = camera_exif(CANON, "2025:11:17 09:14:05")
    save(stage_scene(rng(2), photo), event / "Event2.1jpeg.jpeg", quality=85, exif=exif)
    # Phones store sensor-landscape pixels and tag Orientation=6 (display rotated 90° clockwise),
    # so this portrait shot only looks upright once the tag is applied.
    stored = stage_scene(rng(3), (1200, 1600)).transpose(Image.Transpose.ROTATE_90)
    exif = camera_exif(IPHONE, "2025:11:17 10:02:37", orientation=6)
    save(stored, event / "Event2.2jpeg.jpeg", quality=85, exif=exif)
    save(stage_scene(rng(4), photo), event / "Event2.3jpeg.jpeg", quality=85)
    save(stage_scene(rng(5), photo), event / "Event2.4jpeg.jpeg", quality=85)
    save(stage_scene(rng(6), (4000, 3000)), event / "Event2.5jpeg.jpeg", quality=85)
    # A near-duplicate: decoded, halved and re-encoded, as when someone re-uploads a photo.
    with Image.open(event / "Event2.3jpeg.jpeg") as original:
        copy = original.resize((800, 600), Image.Resampling.LANCZOS)
    save(copy, event / "event2-3-copy.jpg", quality=60)
    save(room_scene(rng(7), (1280, 960)), event / "photo-booth.png", "JPEG", quality=85)
    save(room_scene(rng(8), (1000, 750), grain=6), event / "group-photo.png")
    # macOS can hand out NFD names; pin NFC so the Markdown references match byte for byte.
    name = unicodedata.normalize("NFC", "Ảnh sự kiện.JPG")
    save(room_scene(rng(9), photo), images / name, quality=90)
    save(room_scene(rng(10), (1280, 960)), images / "event1(1).jpg", quality=85)
    save(screenshot((1440, 900)), images / "Screen Shot 2025-11-17 at 9.01.PNG")
    save(diagram((1200, 500)), images / "diagram.png.png")
    # referenced as /images/4-Event/Event2.6jpeg.jpeg: uploaded to the wrong folder (`fix-refs` finds it)
    save(stage_scene(rng(14), photo), images / "Event2.6jpeg.jpeg", quality=85)
    save(river_scene(rng(11), (1600, 500)), images / "old-banner.jpg", quality=85)
    save(river_scene(rng(12), (1200, 630)), images / "mekong-cover.jpg", quality=85)
    save(river_scene(rng(13), (1600, 1067)), root / "content/posts/mekong-trip/river.jpg", quality=85)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("root", nargs="?", type=Path, default=REPO, help="site root (default: this repo)")
    main(parser.parse_args().root)
