"""URL span edits: retargeting a URL as its author wrote it, applying edits to page bytes, relative URLs."""

from __future__ import annotations

import unicodedata

import pytest

from gallery.edit import StaleEdit, apply_edits, relative_url, retarget_url, spelled_path
from gallery.model import Edit


@pytest.mark.parametrize(
    ("raw", "old", "new", "expected"),
    [
        ("/images/Cat_Photo.JPG", ("Cat_Photo.JPG",), ("cat-photo.jpg",), "/images/cat-photo.jpg"),
        # percent-encoded UTF-8, matched decoded
        (
            "/images/%E1%BA%A2nh%20s%E1%BB%B1%20ki%E1%BB%87n.JPG",
            ("Ảnh sự kiện.JPG",),
            ("anh-su-kien.jpg",),
            "/images/anh-su-kien.jpg",
        ),
        # an angle-bracket destination holds raw spaces
        ("/images/Angle Photo.JPG", ("Angle Photo.JPG",), ("angle-photo.jpg",), "/images/angle-photo.jpg"),
        # query and fragment kept
        ("../img/A.JPG?v=2#top", ("A.JPG",), ("a.jpg",), "../img/a.jpg?v=2#top"),
        ("/images/A.JPG#x?y", ("A.JPG",), ("a.jpg",), "/images/a.jpg#x?y"),
        # a folder and its file; the part before the tail is kept as written, capitals included
        ("/Images/Event%203/A.JPG", ("Event 3", "A.JPG"), ("event-3", "a.jpg"), "/Images/event-3/a.jpg"),
        # a segment that does not change keeps its spelling
        ("/images/Event%203/A.JPG", ("Event 3", "A.JPG"), ("Event 3", "a.jpg"), "/images/Event%203/a.jpg"),
        ("/images/Event 3/A.JPG", ("Event 3", "A.JPG"), ("Event 3", "a.jpg"), "/images/Event 3/a.jpg"),
        # the URL differs from the file in case: still the same file
        ("/images/cat_photo.jpg", ("Cat_Photo.JPG",), ("cat-photo.jpg",), "/images/cat-photo.jpg"),
        # NFD in the page, NFC on disk
        (unicodedata.normalize("NFD", "/images/Ảnh.JPG"), ("Ảnh.JPG",), ("anh.jpg",), "/images/anh.jpg"),
        # Markdown escapes and HTML entities are read before matching
        ("/images/a\\_b.JPG", ("a_b.JPG",), ("a-b.jpg",), "/images/a-b.jpg"),
        ("/images/Tom&amp;Jerry.JPG", ("Tom&Jerry.JPG",), ("tom-jerry.jpg",), "/images/tom-jerry.jpg"),
        # a new name that is not URL-safe is percent-encoded, whatever the context
        ("/images/a.png", ("a.png",), ("ảnh (1) & #2?.png",), "/images/%E1%BA%A3nh%20%281%29%20%26%20%232%3F.png"),
        ("/images/a.png", ("a.png",), ("100%.png",), "/images/100%25.png"),
        # relative, with dot segments
        ("./Ảnh 1.JPG", ("Ảnh 1.JPG",), ("anh-1.jpg",), "./anh-1.jpg"),
        # a name whose bytes are not UTF-8 (os.fsdecode keeps 0xE9 as a surrogate), %-encoded byte for byte
        ("/images/caf%E9.jpg", ("caf\udce9.jpg",), ("caf.jpg",), "/images/caf.jpg"),
        ("/images/a.jpg", ("a.jpg",), ("caf\udce9 x.jpg",), "/images/caf%E9%20x.jpg"),
        ("https://example.org/docs/images/X.JPG", ("X.JPG",), ("x.jpg",), "https://example.org/docs/images/x.jpg"),
    ],
)
def test_retarget_url(raw: str, old: tuple[str, ...], new: tuple[str, ...], expected: str) -> None:
    assert retarget_url(raw, old, new) == expected


@pytest.mark.parametrize(
    ("raw", "old"),
    [
        ("/images/B.JPG", ("A.JPG",)),
        ("/images/A.JPG.bak", ("A.JPG",)),
        ("A.JPG", ("images", "A.JPG")),
        ("/other/A.JPG", ("images", "A.JPG")),
        ("/images/A.JPG", ()),
        ("/images/", ("A.JPG",)),
    ],
)
def test_retarget_url_that_does_not_end_in_the_old_name_is_none(raw: str, old: tuple[str, ...]) -> None:
    assert retarget_url(raw, old, ("x",) * len(old)) is None


def test_apply_edits_changes_only_the_spans_in_any_order() -> None:
    data = "\ufeffa ![x](/i/A.JPG)\r\n<img src='/i/B B.JPG'>\r\n".encode()
    a, b = data.index(b"/i/A.JPG"), data.index(b"/i/B B.JPG")
    edits = [
        Edit(b, b + 10, b"/i/B B.JPG", b"/i/b-b.jpg"),
        Edit(a, a + 8, b"/i/A.JPG", "/i/ả.jpg".encode()),
    ]
    assert apply_edits(data, edits) == "\ufeffa ![x](/i/ả.jpg)\r\n<img src='/i/b-b.jpg'>\r\n".encode()
    assert apply_edits(data, []) == data
    # an insertion and a deletion are spans too
    assert apply_edits(b"abc", [Edit(1, 1, b"", b"X"), Edit(2, 3, b"c", b"")]) == b"aXb"


def test_apply_edits_refuses_a_stale_span() -> None:
    data = b"![x](/i/A.JPG)"
    with pytest.raises(StaleEdit, match="byte 5"):
        apply_edits(data, [Edit(5, 13, b"/i/B.JPG", b"/i/b.jpg")])
    with pytest.raises(StaleEdit):
        apply_edits(data[:10], [Edit(5, 13, b"/i/A.JPG", b"/i/a.jpg")])  # the page got shorter


def test_apply_edits_refuses_overlapping_spans() -> None:
    data = b"0123456789"
    with pytest.raises(ValueError, match="overlapping edits at byte 3"):
        apply_edits(data, [Edit(0, 4, b"0123", b""), Edit(3, 5, b"34", b"")])
    with pytest.raises(ValueError, match="overlapping"):
        apply_edits(data, [Edit(2, 4, b"23", b"x"), Edit(2, 4, b"23", b"y")])


@pytest.mark.parametrize(
    ("page", "target", "expected"),
    [
        ("/posts/trip/", "/images/a.jpg", "../../images/a.jpg"),
        ("/posts/trip/", "/posts/trip/a.jpg", "a.jpg"),
        ("/posts/trip/", "/posts/other/a.jpg", "../other/a.jpg"),
        ("/vi/posts/trip/", "/posts/trip/a.jpg", "../../../posts/trip/a.jpg"),
        ("/", "/images/a.jpg", "images/a.jpg"),
        ("/posts/a.html", "/images/a.jpg", "../images/a.jpg"),
        ("/posts/trip/", "/posts/trip/sub/", "sub/"),
    ],
)
def test_relative_url(page: str, target: str, expected: str) -> None:
    assert relative_url(page, target) == expected


def test_spelled_path_encodes_only_what_needs_it() -> None:
    assert spelled_path("/images/a-b_c.d~e.jpg") == "/images/a-b_c.d~e.jpg"
    assert spelled_path("/images/Ảnh 1/x (2).jpg") == "/images/%E1%BA%A2nh%201/x%20%282%29.jpg"
    assert spelled_path("/images/caf\udce9.jpg") == "/images/caf%E9.jpg"
