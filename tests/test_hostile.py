"""Hostile and odd inputs, through the real commands (issue 7, promise 4).

A file gallery cannot use gets one line on stderr naming it and the problem; the run goes on with
the other files and exits 3; the file keeps its bytes and its mtime. Odd but valid images (CMYK,
16-bit, LA, palette alpha, MPO, animations, SVG, messy names) simply work.
"""

from __future__ import annotations

import functools
import io
import json
import os
import stat
import struct
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import numpy as np
import piexif
import pytest
from conftest import REPO, run, write_site
from PIL import Image

CONFIG = (
    'baseURL = "https://example.org/"\n[markup.goldmark.renderer]\nunsafe = true\n'
    # Small, so that a 200x150 picture is a decompression bomb; every other test image is below it.
    "[gallery.variants]\nmax_pixels = 20000\nwidths = [32, 64]\n"
)
COMMANDS = {
    "scan": ("scan",),
    "check": ("check",),
    "optimize": ("optimize", "static/images"),
    "optimize --downscale-sources": ("optimize", "static/images", "--downscale-sources"),
    "fix-refs": ("fix-refs", "content"),
    "fix-refs --merge-similar": ("fix-refs", "content", "--merge-similar"),
    "dupes": ("dupes",),
}
# Commands that decode pixels (fix-refs --merge-similar, to find the same picture in other bytes).
DECODING = {"check", "optimize", "optimize --downscale-sources", "fix-refs --merge-similar", "dupes"}
TEXT_BOMB = 256 << 20  # what each text chunk bomb would inflate to


# --- inputs, built in code ---------------------------------------------------------------------


def photo(seed: int, size: tuple[int, int] = (64, 48), noise: bool = False) -> Image.Image:
    """A picture unlike any other seed's: random blocks (or, with `noise`, random pixels) that JPEG cannot shrink."""
    rng = np.random.default_rng(seed)
    shape = (size[1], size[0], 3) if noise else (6, 8, 3)
    image = Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8))
    return image if noise else image.resize(size, Image.Resampling.NEAREST)


def encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


@functools.cache
def deflated_zeros(size: int) -> bytes:
    deflate = zlib.compressobj(9)
    block = bytes(1 << 20)
    return b"".join(deflate.compress(block) for _ in range(size >> 20)) + deflate.flush()


def text_bomb(kind: bytes, before_pixels: bool) -> bytes:
    """A valid PNG with a zTXt or iTXt chunk that inflates to TEXT_BOMB bytes, before or after IDAT."""
    png = encoded(photo(90), "PNG")
    header = b"Comment\0\0" if kind == b"zTXt" else b"Comment\0\1\0\0\0"  # iTXt: compressed, no language
    chunk = png_chunk(kind, header + deflated_zeros(TEXT_BOMB))
    at = png.index(b"IDAT") - 4 if before_pixels else len(png) - 12  # before IDAT, or before IEND
    return png[:at] + chunk + png[at:]


def bomb_png(side: int) -> bytes:
    """A 1-bit side x side PNG of zeros: a few hundred kB that would decode to side**2 pixels."""
    ihdr = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    rows = side * (1 + (side + 7) // 8)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", deflated_zeros(rows))
        + png_chunk(b"IEND", b"")
    )


def ico_holding(png: bytes) -> bytes:
    """An ICO file whose one image is `png`, its directory claiming 256x256 as for any icon."""
    entry = struct.pack("<BBBBHHII", 0, 0, 0, 0, 1, 32, len(png), 6 + 16)
    return struct.pack("<HHH", 0, 1, 1) + entry + png


def truncated_jpeg() -> bytes:
    """A JPEG cut in its scan data: the header (and Pillow's verify()) pass, only decoding fails."""
    data = encoded(photo(91, (160, 120), noise=True), "JPEG", quality=95)
    return data[: len(data) // 2]


def forged_tiff() -> bytes:
    """A TIFF claiming 49155 samples per pixel: Pillow refuses it, and logs a line about it first."""
    data = encoded(photo(95), "TIFF")
    ifd = struct.unpack_from("<I", data, 4)[0]
    for at in range(ifd + 2, ifd + 2 + 12 * struct.unpack_from("<H", data, ifd)[0], 12):
        if struct.unpack_from("<H", data, at)[0] == 277:  # SamplesPerPixel, a SHORT
            return data[: at + 8] + struct.pack("<H", 49155) + data[at + 10 :]
    raise AssertionError("Pillow wrote no SamplesPerPixel")


def blank_avif() -> bytes:
    """An AVIF whose coded picture is zeros: its header opens, its decoder raises RuntimeError."""
    data = encoded(photo(96), "AVIF")
    at = data.index(b"mdat") + 4
    return data[:at] + bytes(len(data) - at)


def cut_animation() -> bytes:
    """An animated GIF cut inside a later frame: its first frame decodes, the animation does not."""
    data = encoded(photo(97), "GIF", save_all=True, append_images=[photo(98), photo(99)])
    return data[: len(data) * 3 // 4]


def corrupt_exif_jpeg() -> bytes:
    """A JPEG whose EXIF IFD0 claims 0x7FFF entries: piexif raises struct.error, Pillow warns."""
    exif = piexif.dump({"0th": {piexif.ImageIFD.Make: b"Cam"}, "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N"}})
    data = encoded(photo(92), "JPEG", exif=exif)
    tiff = data.index(b"Exif\0\0") + 6
    ifd0 = tiff + struct.unpack_from(">I", data, tiff + 4)[0]
    corrupt = data[:ifd0] + b"\x7f\xff" + data[ifd0 + 2 :]
    with pytest.raises(struct.error):
        piexif.load(corrupt)
    return corrupt


HEIC = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + bytes(64)

# Files gallery cannot use, and what the one line about each must say.
BAD_FILES: dict[str, tuple[Callable[[], bytes], str]] = {
    "zero.jpg": (lambda: b"", "empty file"),
    "text.jpg": (lambda: b"hello, I am not a picture\n", "not an image"),
    "eps.jpg": (lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "EPS image"),
    "pdf.jpg": (lambda: b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", "not an image"),
    "pcx.jpg": (lambda: encoded(photo(93), "PCX"), "PCX image"),
    "photo.heic": (lambda: HEIC, "HEIC/HEIF image: Pillow decodes it only with a plugin (pillow-heif); pip install"),
    "heic-named.jpg": (lambda: HEIC, "HEIC/HEIF image"),
    "bomb.png": (
        lambda: encoded(photo(94, (200, 150)), "PNG"),
        "too large: 200x150 px is over the decompression-bomb limit",
    ),
    "huge-bomb.png": (lambda: bomb_png(30000), "too large: 30000x30000 px is over the decompression-bomb limit"),
    # Pillow decodes an ICO's image while it opens the file, with no pixel limit of its own.
    "bomb.ico": (lambda: ico_holding(bomb_png(30000)), "too large: 30000x30000 px"),
    "ztxt-bomb.png": (lambda: text_bomb(b"zTXt", before_pixels=True), "MAX_TEXT_CHUNK"),
    "forged.tiff": (forged_tiff, "cannot open TIFF image: corrupt header"),
}
# Bad only once decoded: reported by the commands that decode pixels (optimize strips the iTXt chunk first).
DECODE_FAILURES: dict[str, tuple[Callable[[], bytes], str, set[str]]] = {
    "truncated.jpg": (truncated_jpeg, "cannot decode JPEG image", DECODING),
    "itxt-bomb.png": (
        lambda: text_bomb(b"iTXt", before_pixels=False),
        "MAX_TEXT_CHUNK",
        {"check", "fix-refs --merge-similar", "dupes"},
    ),
    "blank.avif": (blank_avif, "cannot decode AVIF image", DECODING),
    # Duplicate detection decodes the first frame only, which is whole.
    "cut-anim.gif": (cut_animation, "cannot decode GIF animation", {"optimize", "optimize --downscale-sources"}),
}
# Not files at all, and what the line must say.
SPECIAL = {
    "fifo.jpg": "not a regular file",
    "device.jpg": "not a regular file",
    "loop": "symlink loop",
    "loop-a.jpg": "symlink loop",
    "loop-b.jpg": "symlink loop",
    "outside.jpg": "outside the site root",
    "outside-dir": "outside the site root",
}


def odd_but_valid() -> dict[str, bytes]:
    """Images every command must handle like any other: name -> bytes."""
    return {
        "cmyk.jpg": encoded(photo(1).convert("CMYK"), "JPEG", quality=95),
        "deep.png": encoded(photo(2).convert("L").point(lambda v: v * 257, "I").convert("I;16"), "PNG"),
        "la.png": encoded(Image.merge("LA", (photo(3).convert("L"), photo(23).convert("L"))), "PNG"),
        "pa.png": encoded(photo(4).quantize(16), "PNG", transparency=bytes([0, 128] + [255] * 14)),
        "stereo.jpg": encoded(photo(5), "MPO", save_all=True, append_images=[photo(6)]),
        "anim.gif": encoded(photo(7), "GIF", save_all=True, append_images=[photo(8)], duration=100, loop=0),
        "anim.webp": encoded(photo(9), "WEBP", save_all=True, append_images=[photo(10)], duration=100, loop=0),
        "favicon.jpg": encoded(photo(11, (32, 32)), "ICO", bitmap_format="bmp"),  # an ICO under a JPEG name
        "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10"/></svg>',
        "bad-exif.jpg": corrupt_exif_jpeg(),
        "cafe\u0301.jpg": encoded(photo(12), "JPEG"),  # NFD, as macOS writes names
        "\U0001f431 cat.jpg": encoded(photo(13), "JPEG"),
        "-x.jpg": encoded(photo(14), "JPEG"),
        "n" * 251 + ".jpg": encoded(photo(15), "JPEG"),  # 255 bytes, the longest name ext4 allows
        "A.jpg": encoded(photo(16), "JPEG"),
        "a.jpg": encoded(photo(17), "JPEG"),
        os.fsdecode(b"caf\xe9.jpg"): encoded(photo(18), "JPEG"),  # Latin-1 bytes: not UTF-8
    }


# Clean names optimize gives the odd names, and what the reference in the page becomes.
RENAMED = {
    "favicon.jpg": "favicon.ico",
    "cafe\u0301.jpg": "cafe.jpg",
    "\U0001f431 cat.jpg": "cat.jpg",
    "-x.jpg": "x.jpg",
    "n" * 251 + ".jpg": "n" * 76 + ".jpg",
    "A.jpg": "a-2.jpg",  # a.jpg keeps its name; on a case-insensitive disk they would be one file
    os.fsdecode(b"caf\xe9.jpg"): "caf.jpg",
}


def page_of(names: list[str]) -> str:
    """A page with one Markdown image per name (URL-encoded as a browser would request it)."""
    return "".join(f"![{i}](/images/{quote(name, errors='surrogateescape')})\n\n" for i, name in enumerate(names))


def build_valid_site(root: Path) -> Path:
    images = odd_but_valid()
    files: dict[str, str | bytes | None] = {f"static/images/{name}": data for name, data in images.items()}
    # The Latin-1 name is referenced as a browser requests it, byte for byte: /images/caf%E9.jpg.
    write_site(root, {**files, "content/posts/odd.md": page_of([*images, "folder.png"])}, CONFIG)
    (root / "static/images/folder.png").mkdir()  # a folder with an image's name is no image
    return root


def build_hostile_site(root: Path) -> Path:
    """Two good images (one with a messy name) beside every bad file, non-file and escaping link."""
    bad = {name: make() for name, (make, _) in BAD_FILES.items()}
    bad |= {name: make() for name, (make, _, _) in DECODE_FAILURES.items()}
    files: dict[str, str | bytes | None] = {f"static/images/{name}": data for name, data in bad.items()}
    files["static/images/good.jpg"] = encoded(photo(20), "JPEG")
    files["static/images/Good Two.png"] = encoded(photo(21), "PNG")
    files["content/posts/hostile.md"] = page_of(["good.jpg", "Good Two.png", *bad, *SPECIAL])
    write_site(root, files, CONFIG)
    folder = root / "static/images"
    os.mkfifo(folder / "fifo.jpg")
    if os.geteuid() == 0:
        os.mknod(folder / "device.jpg", stat.S_IFCHR | 0o644, os.makedev(1, 3))  # /dev/null's numbers
    else:
        os.symlink("fifo.jpg", folder / "device.jpg")  # only root may make a device: a link to the FIFO then
    os.symlink(".", folder / "loop")
    os.symlink("loop-b.jpg", folder / "loop-a.jpg")
    os.symlink("loop-a.jpg", folder / "loop-b.jpg")
    outside = root.parent / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(encoded(photo(22), "JPEG"))
    os.symlink(outside / "secret.jpg", folder / "outside.jpg")
    os.symlink(outside, folder / "outside-dir")
    return root


# --- helpers ---------------------------------------------------------------------------------


def run_gallery(root: Path, *args: str) -> tuple[int, str, str]:
    """The real CLI in its own process, so that a command blocking on a FIFO fails the test instead of hanging it.

    Without pillow-heif, so that a HEIC file gets the message naming the extra (tests/test_heic.py has the rest).
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "tests/without_heif"), str(REPO)])}
    done = subprocess.run([sys.executable, "-m", "gallery", *args], cwd=root, env=env, capture_output=True, timeout=60)
    return done.returncode, done.stdout.decode(errors="surrogateescape"), done.stderr.decode(errors="surrogateescape")


def file_states(folder: Path) -> dict[str, tuple[str, object]]:
    """What each entry of `folder` is, without opening anything but regular files: bytes and mtime, or link target."""
    states: dict[str, tuple[str, object]] = {}
    for entry in os.scandir(folder):
        mode = entry.stat(follow_symlinks=False).st_mode
        if stat.S_ISLNK(mode):
            states[entry.name] = ("link", os.readlink(entry.path))
        elif stat.S_ISREG(mode):
            states[entry.name] = ("file", (Path(entry.path).read_bytes(), entry.stat().st_mtime_ns))
        else:
            states[entry.name] = ("other", stat.S_IFMT(mode))
    return states


def problem_lines(stderr: str) -> dict[str, list[str]]:
    """stderr's `warning:`, `error:` and `failed:` lines by the file they name."""
    lines: dict[str, list[str]] = {}
    for line in stderr.splitlines():
        level, _, rest = line.partition(": ")
        if level in ("warning", "error", "failed"):
            lines.setdefault(rest.split(": ", 1)[0], []).append(line)
    return lines


def manifest(root: Path) -> dict[str, dict]:
    return json.loads((root / "data/gallery.json").read_bytes())["images"]


def variants_of(root: Path, source: str) -> Iterator[tuple[dict, Image.Image]]:
    for variant in manifest(root)[source]["variants"]:
        yield variant, Image.open(root / variant["path"])


# --- hostile inputs: one line each, the run goes on, exit 3, files untouched --------------------


@pytest.mark.parametrize("command", COMMANDS)
def test_each_bad_file_gets_one_line_and_is_left_untouched(tmp_path: Path, command: str) -> None:
    root = build_hostile_site(tmp_path / "site")
    folder = root / "static/images"
    before = file_states(folder)
    files = {name: (folder / name).read_bytes() for name, (kind, _) in before.items() if kind == "file"}
    outside = (root.parent / "outside/secret.jpg").read_bytes()

    code, out, err = run_gallery(root, *COMMANDS[command])

    # No crash, and nothing but one-line messages: no Python warning or log record from Pillow.
    assert all(line.startswith(("warning: ", "error: ", "failed: ", "note: ")) for line in err.splitlines()), err
    assert code == 3, (out, err)
    wanted = {name: problem for name, (_, problem) in BAD_FILES.items()} | SPECIAL
    wanted |= {name: problem for name, (_, problem, where) in DECODE_FAILURES.items() if command in where}
    lines = problem_lines(err)
    assert sorted(lines) == sorted(f"static/images/{name}" for name in wanted), err
    for name, problem in wanted.items():
        (line,) = lines[f"static/images/{name}"]
        assert problem in line, line

    after = file_states(folder)
    bad = set(BAD_FILES) | set(DECODE_FAILURES) | set(SPECIAL)
    if command.startswith("optimize"):
        bad -= {"itxt-bomb.png"}  # its text chunk is metadata: stripped without inflating it
        assert b"iTXt" not in (folder / "itxt-bomb.png").read_bytes()
    assert {name: after.get(name) for name in bad} == {name: before[name] for name in bad}
    assert (root.parent / "outside/secret.jpg").read_bytes() == outside

    # The good images went through the same run.
    if command.startswith("optimize"):
        assert "Good Two.png" not in after and (folder / "good-two.png").read_bytes() == files["Good Two.png"]
        made = {"static/images/good.jpg", "static/images/good-two.png", "static/images/itxt-bomb.png"}
        assert set(manifest(root)) == made
        assert "](/images/good-two.png)" in (root / "content/posts/hostile.md").read_text()
    if command == "check":
        assert "bad-filename: static/images/Good Two.png should be good-two.png" in out
    if command == "scan":
        listed = json.loads(run_gallery(root, "scan", "--format", "json")[1])["images"]
        assert {image["file"] for image in listed} >= {"static/images/good.jpg", "static/images/Good Two.png"}


def test_no_command_hangs_on_a_fifo_named_like_a_page(tmp_path: Path) -> None:
    # A FIFO where a page should be: scanning content must not open it (open() would wait for a writer).
    root = write_site(tmp_path / "site", {"content/posts/a.md": "![a](/images/a.jpg)\n"}, CONFIG)
    (root / "static/images").mkdir(parents=True)
    (root / "static/images/a.jpg").write_bytes(encoded(photo(30), "JPEG"))
    os.mkfifo(root / "content/posts/b.md")
    for command in COMMANDS.values():
        code, _, err = run_gallery(root, *command)
        assert code == 3 and "content/posts/b.md: not a regular file" in err, err


def test_text_chunk_bombs_are_never_inflated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Each chunk would inflate to 256 MiB: Pillow refuses past PngImagePlugin.MAX_TEXT_CHUNK (1 MiB), and
    # the metadata reader inflates at most 16 MiB of a chunk to read its keyword.
    root = write_site(tmp_path / "site", {"content/posts/a.md": "![a](/images/z.png)\n\n![b](/images/i.png)\n"}, CONFIG)
    (root / "static/images").mkdir(parents=True)
    (root / "static/images/z.png").write_bytes(text_bomb(b"zTXt", before_pixels=True))
    (root / "static/images/i.png").write_bytes(text_bomb(b"iTXt", before_pixels=False))
    monkeypatch.chdir(root)
    tracemalloc.start()
    try:
        for command in (("scan",), ("check",), ("dupes",), ("fix-refs",), ("optimize", "static/images", "--jobs", "1")):
            code, _, err = run(*command)
            assert code == 3 and "static/images/z.png" in err, err
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{peak / 2**20:.0f} MiB allocated at the peak"


# --- odd but valid inputs: they work --------------------------------------------------------------


@pytest.mark.parametrize("command", ["scan", "check", "dupes", "fix-refs"])
def test_odd_but_valid_images_read_without_a_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    root = build_valid_site(tmp_path / "site")
    before = file_states(root / "static/images")
    monkeypatch.chdir(root)
    code, out, err = run(*COMMANDS[command])
    assert "Traceback" not in err and "Warning:" not in err, err
    assert not problem_lines(err), err
    # check fails on its findings (the corrupt EXIF may hold GPS; /images/folder.png is no file), nothing else does.
    assert code == (1 if command == "check" else 0), (out, err)
    assert file_states(root / "static/images") == before
    if command == "check":
        assert "gps: static/images/bad-exif.jpg" in out and "broken-ref: image not found: /images/folder.png" in out
    if command == "dupes":
        assert out.strip() == "no duplicates", out


def test_optimize_makes_correct_variants_of_odd_but_valid_images(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build_valid_site(tmp_path / "site")
    images = odd_but_valid()
    monkeypatch.chdir(root)
    code, out, err = run("optimize", "static/images", "--downscale-sources")
    assert (code, problem_lines(err)) == (0, {}), (out, err)
    assert "Warning:" not in err, err

    # Renamed where the name was messy, same bytes under the new name (metadata apart), references following.
    folder = root / "static/images"
    page = (root / "content/posts/odd.md").read_text(encoding="utf-8")
    for old, new in RENAMED.items():
        assert not (folder / old).exists() and (folder / new).read_bytes()[-200:] == images[old][-200:], old
        assert f"](/images/{new})" in page
    assert (folder / "a.jpg").read_bytes() == images["a.jpg"]
    # bad-exif lost its unreadable EXIF, without a re-encode (the scan data is the same bytes).
    assert b"Exif" not in (folder / "bad-exif.jpg").read_bytes()
    assert (folder / "bad-exif.jpg").read_bytes()[-500:] == images["bad-exif.jpg"][-500:]

    sources = manifest(root)
    for name in ["cmyk.jpg", "deep.png", "la.png", "pa.png", "stereo.jpg", "anim.gif", "anim.webp", "logo.svg"]:
        assert f"static/images/{name}" in sources, name
    assert set(sources) >= {f"static/images/{new}" for new in RENAMED.values()}
    assert sources["static/images/logo.svg"]["variants"] == []  # passed through

    # CMYK: sRGB variants with the colours of the source (Pillow's Adobe inversion undone right).
    source = np.asarray(Image.open(folder / "cmyk.jpg").convert("RGB"), dtype=float).mean(axis=(0, 1))
    for variant, image in variants_of(root, "static/images/cmyk.jpg"):
        assert image.mode == "RGB" and variant["format"] in ("avif", "webp", "jpeg")
        assert np.abs(np.asarray(image.convert("RGB"), dtype=float).mean(axis=(0, 1)) - source).max() < 8
    # 16-bit grey: scaled to 8 bits, not clipped to white.
    grey = np.asarray(photo(2).convert("L"), dtype=float).mean()
    for _, image in variants_of(root, "static/images/deep.png"):
        assert abs(np.asarray(image.convert("L"), dtype=float).mean() - grey) < 8
    # Alpha kept in the PNG fallback of LA and palette-alpha sources.
    for name in ("la.png", "pa.png"):
        pngs = [image for variant, image in variants_of(root, f"static/images/{name}") if variant["format"] == "png"]
        assert pngs and all(image.convert("RGBA").getchannel("A").getextrema()[0] < 255 for image in pngs)
    # MPO: a still JPEG-named photo; animations keep both frames in every format.
    assert {v["format"] for v in sources["static/images/stereo.jpg"]["variants"]} == {"avif", "webp", "jpeg"}
    for name in ("anim.gif", "anim.webp"):
        entry = sources[f"static/images/{name}"]
        assert entry["animated"] and {v["format"] for v in entry["variants"]} == {"avif", "webp", "gif"}
        for variant, image in variants_of(root, f"static/images/{name}"):
            if variant["format"] != "avif":  # Pillow counts AVIF frames only when built with its decoder
                assert getattr(image, "n_frames", 1) == 2, variant
    # Every variant is the width it claims.
    for entry in sources.values():
        for variant in entry["variants"]:
            with Image.open(root / variant["path"]) as image:
                assert image.size == (variant["width"], variant["height"])

    # A second run finds nothing to do.
    code, out, err = run("optimize", "static/images")
    assert code == 0 and "renamed 0" not in err and "rendered 0" in out, (out, err)
