"""A labelled set for duplicate detection, made in code: pictures, their copies, and look-alikes that are not copies.

Each `Item` belongs to a family: items of one family show the same picture (a copy resized,
re-encoded, converted, cropped, brightened, rotated with or without EXIF, grey-scaled or
letterboxed); items of different families are not duplicates, however alike they look (burst
shots of one scene, one screenshot in two states, a diagram with one label changed, blank and
near-blank images). Used by tests/test_similar.py and bench/dupes_eval.py.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageFont, ImageOps


@dataclass(frozen=True)
class Item:
    name: str  # file name, with the extension of its format
    family: str
    data: bytes


WORDS = (
    "instance running stopped pending subnet route table gateway bucket policy alarm metric region zone "
    "cluster service task role user group access key secret vpc endpoint lambda function queue topic "
    "deploy build status healthy unhealthy created updated deleted name type size cost daily monthly"
).split()


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def photo(seed: int, size: tuple[int, int] = (800, 600), shift: tuple[float, float] = (0.0, 0.0)) -> Image.Image:
    """A photo-like picture: smooth colour fields, shapes with soft edges, fine grain.

    `shift` moves the foreground shapes (a fraction of the size), as the next frame of a burst would.
    """
    rng = np.random.default_rng(seed)
    width, height = size
    low = rng.random((6, 8, 3))
    field = np.asarray(Image.fromarray((low * 255).astype(np.uint8)).resize(size, Image.Resampling.BICUBIC), float)
    image = Image.fromarray(np.clip(field, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    shapes = random.Random(seed)
    for _ in range(9):
        x, y = shapes.uniform(0, width), shapes.uniform(0, height)
        w, h = shapes.uniform(0.05, 0.3) * width, shapes.uniform(0.05, 0.3) * height
        x += shift[0] * width
        y += shift[1] * height
        colour = tuple(shapes.randrange(256) for _ in range(3))
        (draw.ellipse if shapes.random() < 0.5 else draw.rectangle)([x, y, x + w, y + h], fill=colour)
    pixels = np.asarray(image.filter(ImageFilter.GaussianBlur(1.5)), float)
    grain = np.random.default_rng(seed + 1).normal(0, 6, pixels.shape)
    return Image.fromarray(np.clip(pixels + grain, 0, 255).astype(np.uint8))


def screenshot(
    seed: int, changed_line: int | None = None, state: int = 0, size: tuple[int, int] = (1280, 800)
) -> Image.Image:
    """A console-like screenshot: title bar, side menu, a table of text rows, buttons.

    `changed_line` rewrites one row's text; `state` changes a status badge and a button, as the
    same console page does after an action.
    """
    rng = random.Random(seed)
    width, height = size
    image = Image.new("RGB", size, (246, 247, 249))
    draw = ImageDraw.Draw(image)
    accent = tuple(rng.randrange(40, 200) for _ in range(3))
    draw.rectangle([0, 0, width, 48], fill=(35, 47, 62))
    draw.text((20, 14), " ".join(rng.sample(WORDS, 3)).title(), fill="white", font=_font(20))
    draw.rectangle([0, 48, 220, height], fill=(255, 255, 255))
    for row in range(rng.randrange(6, 11)):
        draw.text((20, 70 + row * 30), rng.choice(WORDS).title(), fill=(60, 60, 60), font=_font(15))
    top = 90
    draw.text((250, 62), " ".join(rng.sample(WORDS, 4)).capitalize(), fill=(20, 20, 20), font=_font(24))
    rows = rng.randrange(8, 14)
    lines = [" ".join(rng.sample(WORDS, rng.randrange(4, 8))) for _ in range(rows)]
    if changed_line is not None:
        words = lines[changed_line % rows].split()
        words[len(words) // 2] = rng.choice([w for w in WORDS if w not in words])
        lines[changed_line % rows] = " ".join(words)
    for row, line in enumerate(lines):
        y = top + 40 + row * 34
        draw.line([250, y + 28, width - 30, y + 28], fill=(225, 228, 232))
        draw.text((260, y + 4), line, fill=(40, 40, 40), font=_font(16))
    badge = [(30, 140, 60), (200, 60, 40), (210, 150, 20)][state % 3]
    label = ["Running", "Stopped", "Pending"][state % 3]
    draw.rounded_rectangle([width - 200, 60, width - 40, 86], 8, fill=badge)
    draw.text((width - 180, 63), label, fill="white", font=_font(16))
    draw.rounded_rectangle([width - 360, 60, width - 220, 86], 8, fill=accent if state == 0 else (120, 120, 120))
    return image


def diagram(seed: int, changed_label: int | None = None, size: tuple[int, int] = (1000, 600)) -> Image.Image:
    """An architecture diagram: labelled boxes joined by arrows on white."""
    rng = random.Random(seed)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    boxes = []
    for n in range(rng.randrange(4, 7)):
        x, y = 60 + (n % 3) * 300 + rng.randrange(40), 80 + (n // 3) * 260 + rng.randrange(40)
        boxes.append((x, y))
        colour = tuple(rng.randrange(120, 250) for _ in range(3))
        draw.rounded_rectangle([x, y, x + 200, y + 110], 12, fill=colour, outline=(40, 40, 40), width=3)
        words = rng.sample(WORDS, 2)
        if changed_label == n:
            words[1] = rng.choice([w for w in WORDS if w not in words])
        draw.text((x + 16, y + 40), " ".join(words).title(), fill="black", font=_font(20))
    for (x1, y1), (x2, y2) in zip(boxes, boxes[1:], strict=False):
        draw.line([x1 + 200, y1 + 55, x2, y2 + 55], fill=(40, 40, 40), width=3)
    return image


def encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _crop(image: Image.Image, left: float, top: float, right: float, bottom: float) -> Image.Image:
    w, h = image.size
    return image.crop((round(w * left), round(h * top), round(w * (1 - right)), round(h * (1 - bottom))))


def _letterbox(image: Image.Image, ratio: float, colour: str) -> Image.Image:
    w, h = image.size
    if w / h < ratio:
        canvas = Image.new("RGB", (round(h * ratio), h), colour)
        canvas.paste(image, ((canvas.width - w) // 2, 0))
    else:
        canvas = Image.new("RGB", (w, round(w / ratio)), colour)
        canvas.paste(image, (0, (canvas.height - h) // 2))
    return canvas


def _wider(image: Image.Image) -> float:
    """An aspect ratio that needs bars: 16:9 for a 4:3 or 16:10 picture, square for a wider one."""
    return 16 / 9 if image.width / image.height < 1.7 else 1.0


def _exif_rotated(image: Image.Image) -> bytes:
    """Pixels stored rotated, with the Orientation tag that turns them upright again."""
    stored = image.transpose(Image.Transpose.ROTATE_90)  # tag 6 means: rotate 90° clockwise to display
    exif = Image.Exif()
    exif[0x0112] = 6
    return encode(stored, "JPEG", quality=90, exif=exif.tobytes())


def _scaled(image: Image.Image, factor: float) -> Image.Image:
    return image.resize((round(image.width * factor), round(image.height * factor)), Image.Resampling.LANCZOS)


Copy = Callable[[Image.Image], tuple[str, bytes]]

# The ways a copy of a picture ends up in a site: each gives (extension, bytes).
COPIES: dict[str, Copy] = {
    "resized-50": lambda im: ("jpg", encode(_scaled(im, 0.5), "JPEG", quality=85)),
    "resized-30": lambda im: ("jpg", encode(_scaled(im, 0.3), "JPEG", quality=85)),
    "quality-55": lambda im: ("jpg", encode(im, "JPEG", quality=55)),
    "png": lambda im: ("png", encode(im, "PNG")),
    "webp": lambda im: ("webp", encode(im, "WEBP", quality=75)),
    "crop-3": lambda im: ("jpg", encode(_crop(im, 0.03, 0.03, 0.03, 0.03), "JPEG", quality=90)),
    "crop-6-right": lambda im: ("jpg", encode(_crop(im, 0, 0, 0.06, 0), "JPEG", quality=90)),
    "crop-8-corner": lambda im: ("jpg", encode(_crop(im, 0.08, 0.08, 0, 0), "JPEG", quality=90)),
    "crop-10": lambda im: ("jpg", encode(_crop(im, 0.05, 0.05, 0.05, 0.05), "JPEG", quality=90)),
    "brighter": lambda im: ("jpg", encode(ImageEnhance.Brightness(im).enhance(1.25), "JPEG", quality=90)),
    "darker-contrast": lambda im: (
        "jpg",
        encode(ImageEnhance.Contrast(ImageEnhance.Brightness(im).enhance(0.85)).enhance(1.2), "JPEG", quality=90),
    ),
    "exif-rotated": lambda im: ("jpg", _exif_rotated(im)),
    "rotated-pixels": lambda im: ("jpg", encode(im, "JPEG", quality=90)),  # upright pixels, no tag
    "grey": lambda im: ("jpg", encode(ImageOps.grayscale(im), "JPEG", quality=90)),
    "letterbox-black": lambda im: ("jpg", encode(_letterbox(im, _wider(im), "black"), "JPEG", quality=90)),
    "letterbox-white": lambda im: ("png", encode(_letterbox(im, 1.0, "white"), "PNG")),
}  # fmt: skip


def labelled_set(photos: int = 10, screenshots: int = 8, diagrams: int = 5) -> Iterator[Item]:
    """Every picture with all its copies, plus the look-alikes (each its own family, with two copies)."""
    originals: list[tuple[str, Image.Image]] = []
    lookalikes: list[tuple[str, Image.Image]] = []
    for n in range(photos):
        originals.append((f"photo{n}", photo(100 + n)))
        # the next frames of a burst: the subject moved by 1-3%, the same background
        lookalikes.append((f"photo{n}-burst", photo(100 + n, shift=(0.01 + 0.01 * (n % 3), 0.005))))
    for n in range(screenshots):
        originals.append((f"screen{n}", screenshot(200 + n)))
        lookalikes.append((f"screen{n}-line", screenshot(200 + n, changed_line=n)))
        lookalikes.append((f"screen{n}-state", screenshot(200 + n, state=1 + n % 2)))
    for n in range(diagrams):
        originals.append((f"diagram{n}", diagram(300 + n)))
        lookalikes.append((f"diagram{n}-label", diagram(300 + n, changed_label=n % 4)))
    for family, image in originals:
        yield Item(f"{family}.png", family, encode(image, "PNG"))
        for copy, make in COPIES.items():
            ext, data = make(image)
            yield Item(f"{family}-{copy}.{ext}", family, data)
    for family, image in lookalikes:
        yield Item(f"{family}.png", family, encode(image, "PNG"))
        for copy in ("resized-50", "quality-55"):
            ext, data = COPIES[copy](image)
            yield Item(f"{family}-{copy}.{ext}", family, data)
    yield from flat_images()


def flat_images() -> Iterator[Item]:
    """Blank and nearly blank pictures and simple logos: each its own family, none a copy of another."""
    blank_sizes = [((1280, 800), (255, 255, 255)), ((1920, 1080), (255, 255, 255)), ((1280, 800), (240, 240, 240)),
                   ((800, 600), (0, 0, 0)), ((1024, 768), (250, 250, 252))]  # fmt: skip
    for n, (size, colour) in enumerate(blank_sizes):
        yield Item(f"blank{n}.png", f"blank{n}", encode(Image.new("RGB", size, colour), "PNG"))
    for n in range(3):  # a blank page with only a small title, in three places
        image = Image.new("RGB", (1280, 800), "white")
        ImageDraw.Draw(image).text((40 + 300 * n, 30), "Loading", fill=(90, 90, 90), font=_font(18))
        yield Item(f"nearblank{n}.png", f"nearblank{n}", encode(image, "PNG"))
    for n, shape in enumerate(("ellipse", "rectangle", "triangle")):
        image = Image.new("RGB", (400, 400), "white")
        draw = ImageDraw.Draw(image)
        box = [80, 80, 320, 320]
        if shape == "triangle":
            draw.polygon([(200, 80), (320, 320), (80, 320)], fill=(20, 90, 200))
        else:
            getattr(draw, shape)(box, fill=(20, 90, 200))
        yield Item(f"logo{n}.png", f"logo{n}", encode(image, "PNG"))
        yield Item(f"logo{n}-small.png", f"logo{n}", encode(image.resize((120, 120), Image.Resampling.LANCZOS), "PNG"))
