"""Perceptual duplicates: copies found whatever was done to them, look-alikes never, on images made in code."""

from __future__ import annotations

import itertools
import json
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from conftest import run, write_site
from dupeset import COPIES, diagram, encode, flat_images, labelled_set, photo, screenshot
from PIL import Image

from gallery.config import Config
from gallery.dupes import find_duplicates
from gallery.manifest import manifest_from_json
from gallery.model import ImageFile
from gallery.names import NameRules
from gallery.similar import Fingerprint, candidate_pairs, compare, fingerprint, picture, similar_groups, trimmed

PICTURES = {"photo": photo(101), "screenshot": screenshot(201), "diagram": diagram(301)}


@pytest.mark.parametrize("kind", PICTURES)
@pytest.mark.parametrize("copy", COPIES)
def test_every_kind_of_copy_is_the_same_picture(kind: str, copy: str) -> None:
    original = PICTURES[kind]
    verdict = compare(picture(encode(original, "PNG")), picture(COPIES[copy](original)[1]))
    assert verdict.same, verdict


LOOKALIKES = {
    "burst frame": (photo(101), photo(101, shift=(0.02, 0.005))),
    "one word changed": (screenshot(201), screenshot(201, changed_line=3)),
    "another state": (screenshot(201), screenshot(201, state=1)),
    "diagram label changed": (diagram(301), diagram(301, changed_label=1)),
}


@pytest.mark.parametrize("kind", LOOKALIKES)
@pytest.mark.parametrize("copy", ["png", "quality-55", "resized-50"])
def test_lookalikes_are_not_the_same_picture_even_when_reencoded(kind: str, copy: str) -> None:
    first, second = LOOKALIKES[kind]
    verdict = compare(picture(encode(first, "PNG")), picture(COPIES[copy](second)[1]))
    assert not verdict.same, verdict


def test_flat_pictures_have_no_hashes_and_never_group() -> None:
    items = list(flat_images())
    blanks = [item for item in items if item.family.startswith(("blank", "nearblank"))]
    assert all(fingerprint(item.data).hashes == () for item in blanks)
    images = [_image(item.name, item.data) for item in items]
    data = {image.path: item.data for image, item in zip(images, items, strict=True)}
    family = {PurePosixPath(item.name): item.family for item in items}
    groups = list(similar_groups(images, data.__getitem__, lambda image: str(image.path)))
    # Blank pages of any size and shade, and one word in three places, are not one picture; a logo
    # and its small copy may be (pHash is unsteady on flat shapes, so it is not asserted).
    assert all(len({family[m.path] for m in members}) == 1 for members, _ in groups), groups


def test_letterbox_bars_and_margins_are_trimmed_until_none_is_left() -> None:
    content = np.full((100, 160), 200, dtype=np.uint8)
    content[20:80, 30:130] = np.random.default_rng(1).integers(0, 150, (60, 100))  # the picture, kept whole
    letterboxed = np.zeros((100, 240), dtype=np.uint8)
    letterboxed[:, 40:200] = content
    assert trimmed(letterboxed).shape == (60, 100)
    assert trimmed(content).shape == (60, 100)


def test_a_cropped_copy_is_a_candidate_through_a_window_hash() -> None:
    original = photo(102)
    cropped = COPIES["crop-8-corner"](original)[1]
    prints = [fingerprint(encode(original, "PNG")), fingerprint(cropped)]
    whole_only = [Fingerprint(f.hashes[:1] * len(f.hashes)) for f in prints]
    assert (0, 1) in candidate_pairs(prints)
    assert (
        bin(whole_only[0].hashes[0] ^ whole_only[1].hashes[0]).count("1") > 10
    )  # the whole-image hash alone misses it


def test_fingerprint_text_round_trips_and_rejects_older_formats() -> None:
    found = fingerprint(encode(photo(103), "JPEG"))
    assert Fingerprint.from_text(found.to_text()) == found
    assert Fingerprint.from_text("flat") == Fingerprint(())
    assert Fingerprint.from_text("c3a1f0e0d0c0b0a0") is None  # a single pHash, as manifest version 1 held


def test_precision_and_recall_on_a_labelled_set() -> None:
    """A smaller cut of bench/dupes_eval.py's set (the bench's full set: precision 0.995, recall 0.917)."""
    items = list(labelled_set(photos=2, screenshots=2, diagrams=1))
    images = [_image(item.name, item.data) for item in items]
    data = {PurePosixPath(item.name): item.data for item in items}
    family = {PurePosixPath(item.name): item.family for item in items}
    groups = similar_groups(images, data.__getitem__, lambda image: (-(image.width * image.height), str(image.path)))
    flagged = {
        frozenset(pair) for members, _ in groups for pair in itertools.combinations([m.path for m in members], 2)
    }
    true = {frozenset((a, b)) for a, b in itertools.combinations(data, 2) if family[a] == family[b]}
    precision = len(flagged & true) / len(flagged)
    recall = len(flagged & true) / len(true)
    assert precision >= 0.99 and recall >= 0.85, (precision, recall, sorted(map(sorted, flagged - true))[:5])


def _image(name: str, data: bytes) -> ImageFile:
    from io import BytesIO

    with Image.open(BytesIO(data)) as image:
        return ImageFile(PurePosixPath(name), len(data), image.width, image.height, image.format)


def test_the_copy_kept_has_most_pixels_then_is_lossless_then_most_used_then_cleanest() -> None:
    original = photo(104)
    files = {
        "big.jpg": encode(original, "JPEG", quality=90),
        "small.jpg": encode(original.resize((400, 300)), "JPEG", quality=90),
    }
    images = [_image(name, data) for name, data in files.items()]
    read = {image.path: files[str(image.path)] for image in images}.__getitem__
    (group,) = find_duplicates(images, read, {}, NameRules(), similar=True)
    assert (group.keep, group.duplicates, group.reason) == (
        PurePosixPath("big.jpg"),
        (PurePosixPath("small.jpg"),),
        "perceptual",
    )

    same_size = {"a.jpg": encode(original, "JPEG", quality=70), "b.png": encode(original, "PNG")}
    images = [_image(name, data) for name, data in same_size.items()]
    (group,) = find_duplicates(
        images, {i.path: same_size[str(i.path)] for i in images}.__getitem__, {}, NameRules(), True
    )
    assert group.keep == PurePosixPath("b.png")  # the JPEG is the lossy re-encode

    identical = {
        "Copy of IMG 1.JPG": files["big.jpg"],
        "img-1.jpg": files["big.jpg"],
        "used-a-lot.jpg": files["big.jpg"],
    }
    images = [_image(name, data) for name, data in identical.items()]
    read = {i.path: identical[str(i.path)] for i in images}.__getitem__
    assert find_duplicates(images, read, {}, NameRules(), True)[0].keep == PurePosixPath("img-1.jpg")  # cleanest name
    uses = {PurePosixPath("used-a-lot.jpg"): 2}
    assert find_duplicates(images, read, uses, NameRules(), True)[0].keep == PurePosixPath("used-a-lot.jpg")


def test_dupes_on_any_folder_prints_json_groups(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    original = screenshot(205)
    (folder / "console.png").write_bytes(encode(original, "PNG"))
    (folder / "console-copy.png").write_bytes(encode(original, "PNG"))
    (folder / "sub").mkdir()
    (folder / "sub" / "console-small.jpg").write_bytes(COPIES["resized-50"](original)[1])
    (folder / "console-changed.png").write_bytes(encode(screenshot(205, changed_line=1), "PNG"))
    (folder / "notes.jpg").write_text("not an image")
    code, out, err = run("dupes", str(folder), "--format", "json")
    assert code == 3 and "notes.jpg: not an image Pillow can read" in err
    assert json.loads(out) == {
        "groups": [
            {"keep": "console.png", "duplicates": ["console-copy.png"], "reason": "identical", "distance": 0},
            {"keep": "console.png", "duplicates": ["sub/console-small.jpg"], "reason": "perceptual", "distance": 0},
        ]
    }


def test_dupes_in_a_site_lists_groups_with_sizes_and_prefers_the_referenced_copy(tmp_path: Path) -> None:
    original = photo(106)
    root = write_site(
        tmp_path / "site",
        {
            "content/a.md": "![](/images/b.jpg)\n",
            "static/images/a.jpg": encode(original, "JPEG", quality=85),
            "static/images/b.jpg": encode(original, "JPEG", quality=85),
            "static/images/other.jpg": encode(photo(107), "JPEG"),
        },
    )
    code, out, _ = run("dupes", str(root / "static/images"))
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("static/images/b.jpg  800x600  ") and lines[0].endswith("keep (identical bytes)")
    assert lines[1].startswith("  static/images/a.jpg  800x600  ")
    assert lines[2].startswith("1 group of duplicates: 1 duplicate to remove")


def test_optimize_stores_fingerprints_that_dupes_then_uses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = photo(108)
    root = write_site(
        tmp_path / "site",
        {
            "content/a.md": "![](/images/a.jpg)\n![](/images/b.jpg)\n",
            "static/images/a.jpg": encode(original, "JPEG", quality=90),
            "static/images/b.jpg": encode(original.resize((400, 300)), "JPEG", quality=70),
        },
    )
    code, _, err = run("optimize", str(root / "static/images"), "--jobs", "1")
    assert code == 0, err
    entries = manifest_from_json((root / Config().manifest).read_bytes())
    for name in ("a.jpg", "b.jpg"):
        stored = Fingerprint.from_text(entries[f"static/images/{name}"].fingerprint)
        assert stored == fingerprint((root / "static/images" / name).read_bytes())

    def no_hashing(pixels: object) -> Fingerprint:
        raise AssertionError("fingerprint recomputed although the manifest holds it")

    monkeypatch.setattr("gallery.similar.fingerprint_of", no_hashing)
    code, out, _ = run("dupes", str(root), "--format", "json")
    assert json.loads(out)["groups"][0]["duplicates"] == ["static/images/b.jpg"]
