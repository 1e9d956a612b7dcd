"""File-name rules: normalized names, the [gallery.names] table, and rename plans."""

from __future__ import annotations

import random
import re
import unicodedata
from pathlib import PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gallery.errors import ConfigError
from gallery.names import NameInput, NameRules, RenamePlan, normalized_folder, normalized_name, plan_renames

RULES = NameRules()
CLEAN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*\.[a-z0-9]+$")
CLEAN_STEM = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
P = PurePosixPath
BASE = P("static/images")


@pytest.mark.parametrize(
    ("name", "real_format", "expected"),
    [
        ("Event2.1jpeg.jpeg", "JPEG", "event2-1.jpg"),
        ("Event2.1jpeg.jpeg", None, "event2-1.jpg"),
        ("diagram.png.png", "PNG", "diagram.png"),
        ("diagram.png.png", None, "diagram.png"),
        ("photo.JPG.jpg", "JPEG", "photo.jpg"),
        ("photo.JPG.jpg", None, "photo.jpg"),
        ("a.jpg.jpeg.png", "PNG", "a.png"),
        ("Screen Shot 2025-11-17 at 9.01.PNG", "PNG", "screen-shot-2025-11-17-at-9-01.png"),
        ("Screen Shot 2025-11-17 at 9.01.PNG", None, "screen-shot-2025-11-17-at-9-01.png"),
        ("IMG_20181112_083629.jpg", "JPEG", "img-20181112-083629.jpg"),
        ("event1(1).jpg", "JPEG", "event1-1.jpg"),
        ("Ảnh sự kiện.JPG", "JPEG", "anh-su-kien.jpg"),
        ("Ảnh sự kiện.JPG", None, "anh-su-kien.jpg"),
        (unicodedata.normalize("NFD", "Ảnh sự kiện.JPG"), None, "anh-su-kien.jpg"),
        ("Đà Lạt.jpeg", None, "da-lat.jpg"),
        ("ĐƯỜNG Phố.png", "PNG", "duong-pho.png"),
        ("Ærø Straße.PNG", None, "aero-strasse.png"),
        ("þorn Ðóra œuvre łódź.gif", "GIF", "thorn-dora-oeuvre-lodz.gif"),
        ("CAFÉ.jpg", None, "cafe.jpg"),
        (unicodedata.normalize("NFD", "CAFÉ.jpg"), None, "cafe.jpg"),
        ("Москва.jpg", "JPEG", "moskva.jpg"),
        ("Αθήνα.png", "PNG", "athina.png"),
        ("東京タワー.png", "PNG", "dongjingtawa.png"),
        ("😀 party 🎉.png", "PNG", "party.png"),
        ("a,b&c+d#e%f?g'h\"i[j]{k}.png", "PNG", "a-b-c-d-e-f-g-h-i-j-k.png"),
        ("--x__y  z--.png", "PNG", "x-y-z.png"),
        ("-x.png", None, "x.png"),
        (".hidden.png", None, "hidden.png"),
        ("trailing.-.png", None, "trailing.png"),
        # the extension follows the real format
        ("photo.png", "JPEG", "photo.jpg"),
        ("photo.jpg", "MPO", "photo.jpg"),
        ("photo.jpg", "WEBP", "photo.webp"),
        ("photo.jpg", "AVIF", "photo.avif"),
        ("scan.tif", "TIFF", "scan.tiff"),
        ("scan.TIF", None, "scan.tiff"),
        ("old.bmp", "BMP", "old.bmp"),
        ("logo.SVG", "SVG", "logo.svg"),
        ("photo.jpe", None, "photo.jpg"),
        ("photo.jfif", "JPEG", "photo.jpg"),
        ("no-extension", "PNG", "no-extension.png"),
        ("no-extension", None, "no-extension"),
        ("photo.HEIC", "HEIF", "photo.heic"),  # a format without a rule keeps its extension
        ("photo.psd", "PNG", "photo-psd.png"),  # only image extensions are taken for a wrong one
        ("Screen Shot at 9.01", None, "screen-shot-at-9-01"),  # `01` is no extension
        ("Screen Shot at 9.01", "PNG", "screen-shot-at-9-01.png"),
        ("version.2png.png", "PNG", "version-2.png"),
        ("motif.png", "PNG", "motif.png"),  # a stem ending in an extension word is left alone
        (".png", "PNG", "png.png"),
        ("jpg.jpg", None, "jpg.jpg"),
        ("already-clean.jpg", "JPEG", "already-clean.jpg"),
        ("100%.png", "PNG", "100.png"),
    ],
)
def test_normalized_name(name: str, real_format: str | None, expected: str) -> None:
    assert normalized_name(name, real_format, RULES) == expected
    assert normalized_name(expected, real_format, RULES) == expected


@pytest.mark.parametrize(
    ("name", "real_format", "rules", "expected"),
    [
        ("Event2.1jpeg.jpeg", "JPEG", NameRules(jpeg_extension=".jpeg"), "event2-1.jpeg"),
        ("Event2.1jpeg.jpeg", None, NameRules(jpeg_extension=".jpeg"), "event2-1.jpeg"),
        ("photo.JPG", None, NameRules(jpeg_extension=".jpeg"), "photo.jpeg"),
        ("scan.tiff", "TIFF", NameRules(tiff_extension=".tif"), "scan.tif"),
        ("IMG_2018__0836.jpg", "JPEG", NameRules(underscores=False), "img_2018_0836.jpg"),
        ("_a_-_b_.jpg", "JPEG", NameRules(underscores=False), "a-b.jpg"),
        ("Ảnh Sự KIỆN.JPG", "JPEG", NameRules(lowercase=False), "Anh-Su-KIEN.jpg"),
    ],
)
def test_normalized_name_follows_rules(name: str, real_format: str | None, rules: NameRules, expected: str) -> None:
    assert normalized_name(name, real_format, rules) == expected
    assert normalized_name(expected, real_format, rules) == expected


def test_names_without_letters_get_a_stable_short_hash() -> None:
    only_emoji = normalized_name("😀.png", "PNG", RULES)
    assert re.fullmatch(r"[0-9a-f]{8}\.png", only_emoji)
    assert normalized_name("🎉.png", "PNG", RULES) != only_emoji
    assert normalized_name(only_emoji, "PNG", RULES) == only_emoji
    # undecodable bytes reach Python as lone surrogates
    assert re.fullmatch(r"[0-9a-f]{8}\.jpg", normalized_name("\udcff.jpg", None, RULES))
    assert re.fullmatch(r"[0-9a-f]{8}", normalized_folder("!!!", RULES))


def test_a_non_latin_name_is_transliterated_not_dropped() -> None:
    assert normalized_name("사진.jpg", "JPEG", RULES) == "sajin.jpg"
    assert normalized_name("القاهرة.jpg", "JPEG", RULES) == "lqhrh.jpg"


@pytest.mark.parametrize(
    ("max_length", "expected"),
    [
        (24, "anh-su-kien-nam-anh.jpg"),  # the cut falls after a hyphen
        (30, "anh-su-kien-nam-anh-su.jpg"),  # `kie|n`: cut back to the hyphen before it
        (255, "anh-su-kien-nam-" * 15 + "anh-su-kien.jpg"),  # the cut falls on a hyphen
    ],
)
def test_long_names_are_capped_at_a_separator(max_length: int, expected: str) -> None:
    name = "Ảnh sự kiện năm " * 20 + ".jpeg"
    assert len(name.encode()) > 255
    out = normalized_name(name, "JPEG", NameRules(max_length=max_length))
    assert out == expected
    assert len(out) <= max_length


def test_a_long_word_is_cut_hard() -> None:
    assert normalized_name("x" * 300 + ".png", "PNG", RULES) == "x" * 76 + ".png"
    # cutting back to the only hyphen would keep less than half
    assert normalized_name("ab " + "x" * 300 + ".png", "PNG", RULES) == "ab-" + "x" * 73 + ".png"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Event 3", "event-3"),
        ("4-Event", "4-event"),
        ("event_3", "event-3"),
        ("Sự kiện 2024.v1", "su-kien-2024-v1"),
        (".drafts", "drafts"),
        (unicodedata.normalize("NFD", "Đà Lạt"), "da-lat"),
    ],
)
def test_normalized_folder(name: str, expected: str) -> None:
    assert normalized_folder(name, RULES) == expected
    assert normalized_folder(expected, RULES) == expected


NAMES = st.text(st.characters(categories=("L", "M", "N", "P", "S", "Zs"), exclude_characters="/"), max_size=120)
EXTENSIONS = st.sampled_from(["", ".jpg", ".JPEG", ".png", ".PNG", ".gif", ".webp", ".tif", ".jpg.jpg", ".1jpeg"])
FORMATS = st.sampled_from([None, "JPEG", "PNG", "GIF", "WEBP", "TIFF", "MPO", "SVG", "HEIF"])
LENGTHS = st.sampled_from([24, 40, 80, 255])


@settings(max_examples=400)
@given(NAMES, EXTENSIONS, FORMATS, LENGTHS)
def test_normalized_name_is_clean_capped_and_stable(stem: str, ext: str, real_format: str | None, length: int) -> None:
    rules = NameRules(max_length=length)
    out = normalized_name(stem + ext, real_format, rules)
    assert len(out) <= length
    assert CLEAN.match(out) if "." in out else CLEAN_STEM.match(out), out
    if real_format not in (None, "HEIF"):
        assert "." in out
    assert normalized_name(out, real_format, rules) == out
    nfd = unicodedata.normalize("NFD", stem + ext)
    assert normalized_name(nfd, real_format, rules) == out


@given(NAMES)
def test_normalized_folder_is_clean_and_stable(name: str) -> None:
    out = normalized_folder(name, RULES)
    assert CLEAN_STEM.match(out) and len(out) <= RULES.max_length
    assert normalized_folder(out, RULES) == out


# --- [gallery.names] ----------------------------------------------------------------------------------------


def test_from_table_defaults_and_values() -> None:
    assert NameRules.from_table({}) == NameRules()
    rules = NameRules.from_table(
        {"lowercase": False, "underscores": False, "jpeg_extension": "JPEG", "tiff_extension": ".tif",
         "max_length": 40, "folders": False}
    )  # fmt: skip
    assert rules == NameRules(
        lowercase=False, underscores=False, jpeg_extension=".jpeg", tiff_extension=".tif", max_length=40, folders=False
    )


def test_from_table_names_unknown_keys_and_lists_known_ones() -> None:
    with pytest.raises(ConfigError) as e:
        NameRules.from_table({"lower_case": True, "maxlength": 3}, "[gallery.names]")
    message = str(e.value)
    assert "[gallery.names]: unknown keys lower_case, maxlength" in message
    assert "known: folders, jpeg_extension, lowercase, max_length, tiff_extension, underscores" in message


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"lowercase": "yes"}, ("lowercase", "'yes'", "true or false")),
        ({"folders": 1}, ("folders", "1")),
        ({"jpeg_extension": ".png"}, ("jpeg_extension", "'.png'", ".jpg, .jpeg")),
        ({"jpeg_extension": 1}, ("jpeg_extension", "1")),
        ({"tiff_extension": ".tf"}, ("tiff_extension", ".tif, .tiff")),
        ({"max_length": "80"}, ("max_length", "'80'", "24 to 255")),
        ({"max_length": True}, ("max_length", "True")),
        ({"max_length": 10}, ("max_length", "10")),
        ({"max_length": 256}, ("max_length", "256")),
    ],
)
def test_from_table_rejects_bad_values(table: dict[str, object], words: tuple[str, ...]) -> None:
    with pytest.raises(ConfigError) as e:
        NameRules.from_table(table)
    assert all(w in str(e.value) for w in words), str(e.value)


def test_from_table_rejects_a_non_table() -> None:
    with pytest.raises(ConfigError, match="must be a table"):
        NameRules.from_table(["lowercase"], "[gallery.names]")  # type: ignore[arg-type]


# --- plan_renames ---------------------------------------------------------------------------------------------


def img(path: str, real_format: str | None = "PNG", digest: str | None = None) -> NameInput:
    return NameInput(P(path), real_format, digest or f"digest of {path}")


def renames(plan: RenamePlan) -> dict[str, str]:
    return {str(old): str(new) for old, new in plan.renames}


def test_plan_renames_messy_names_and_leaves_clean_ones_out() -> None:
    plan = plan_renames(
        [img("static/images/Event2.1jpeg.jpeg", "JPEG"), img("static/images/ok.png"), img("static/images/a b.png")],
        RULES,
        BASE,
    )
    assert plan.renames == (
        (P("static/images/Event2.1jpeg.jpeg"), P("static/images/event2-1.jpg")),
        (P("static/images/a b.png"), P("static/images/a-b.png")),
    )
    assert plan.skipped == ()


def test_different_files_with_one_target_are_numbered_by_old_path() -> None:
    plan = plan_renames(
        [img("i/diagram.png.png"), img("i/Diagram.PNG"), img("i/diagram (copy).png"), img("i/DIAGRAM.png")],
        RULES,
        P("i"),
    )
    assert renames(plan) == {
        "i/DIAGRAM.png": "i/diagram.png",
        "i/Diagram.PNG": "i/diagram-2.png",
        "i/diagram.png.png": "i/diagram-3.png",
        "i/diagram (copy).png": "i/diagram-copy.png",
    }


def test_case_only_pair_keeps_the_clean_file_in_place() -> None:
    plan = plan_renames([img("i/Diagram1.png"), img("i/diagram1.png")], RULES, P("i"))
    assert renames(plan) == {"i/Diagram1.png": "i/diagram1-2.png"}


def test_a_target_taken_by_an_untouched_file_or_a_number_is_skipped_over() -> None:
    plan = plan_renames([img("i/Cat.png"), img("i/cat.png"), img("i/cat-2.png")], RULES, P("i"))
    assert renames(plan) == {"i/Cat.png": "i/cat-3.png"}


def test_no_target_is_another_files_current_name() -> None:
    # a.jpg holds PNG bytes and moves to a.png; A.JPG must not be renamed onto a.jpg before it has moved
    plan = plan_renames([img("i/a.jpg", "PNG"), img("i/A.JPG", "JPEG")], RULES, P("i"))
    assert renames(plan) == {"i/a.jpg": "i/a.png", "i/A.JPG": "i/a-2.jpg"}


def test_case_variants_on_a_case_sensitive_disk_share_the_clean_name() -> None:
    plan = plan_renames([img("i/Photo.JPG", "JPEG"), img("i/photo.JPG", "JPEG")], RULES, P("i"))
    assert renames(plan) == {"i/Photo.JPG": "i/photo.jpg", "i/photo.JPG": "i/photo-2.jpg"}


def test_numbered_names_stay_within_max_length() -> None:
    rules = NameRules(max_length=24)
    plan = plan_renames([img(f"i/{'x' * 30}{'!' * k}.png") for k in range(3)], rules, P("i"))
    news = {str(new) for _, new in plan.renames}
    assert news == {"i/xxxxxxxxxxxxxxxxxxxx.png", "i/xxxxxxxxxxxxxxxxxx-2.png", "i/xxxxxxxxxxxxxxxxxx-3.png"}
    assert all(len(P(n).name) <= 24 for n in news)


def test_identical_files_are_skipped_not_renamed_over_each_other() -> None:
    plan = plan_renames(
        [img("i/diagram.png.png", digest="d1"), img("i/Diagram.png", digest="d1"), img("i/diagram.png", digest="d1")],
        RULES,
        P("i"),
    )
    assert plan.renames == ()
    assert plan.skipped == (
        (P("i/Diagram.png"), "identical to i/diagram.png: left for the duplicate stage"),
        (P("i/diagram.png.png"), "identical to i/diagram.png: left for the duplicate stage"),
    )


def test_identical_files_are_skipped_even_when_the_first_was_numbered() -> None:
    plan = plan_renames(
        [img("i/cat.png", digest="other"), img("i/Cat.png", digest="d"), img("i/CAT.png", digest="d")], RULES, P("i")
    )
    assert renames(plan) == {"i/CAT.png": "i/cat-2.png"}
    assert plan.skipped == ((P("i/Cat.png"), "identical to i/cat-2.png: left for the duplicate stage"),)


def test_folders_below_base_are_renamed_for_every_file() -> None:
    plan = plan_renames(
        [
            img("Static/Images/4-Event/Event2.1jpeg.jpeg", "JPEG"),
            img("Static/Images/Event 3/A.png"),
            img("Static/Images/Event 3/b.png"),
            img("Static/Images/Event 3/Sub Dir/c.png"),
        ],
        RULES,
        P("Static/Images"),
    )
    assert renames(plan) == {
        "Static/Images/4-Event/Event2.1jpeg.jpeg": "Static/Images/4-event/event2-1.jpg",
        "Static/Images/Event 3/A.png": "Static/Images/event-3/a.png",
        "Static/Images/Event 3/b.png": "Static/Images/event-3/b.png",
        "Static/Images/Event 3/Sub Dir/c.png": "Static/Images/event-3/sub-dir/c.png",
    }


def test_only_file_names_change_outside_base_or_without_folders() -> None:
    files = [img("content/My Post/Cover Photo.png"), img("static/images/Event 3/A.png")]
    assert renames(plan_renames(files, RULES, BASE)) == {
        "content/My Post/Cover Photo.png": "content/My Post/cover-photo.png",
        "static/images/Event 3/A.png": "static/images/event-3/a.png",
    }
    assert renames(plan_renames(files, NameRules(folders=False), BASE)) == {
        "content/My Post/Cover Photo.png": "content/My Post/cover-photo.png",
        "static/images/Event 3/A.png": "static/images/Event 3/a.png",
    }


def test_folders_named_alike_merge_when_no_names_collide() -> None:
    plan = plan_renames([img("i/Event 3/a.png"), img("i/event_3/b.png"), img("i/event-3/c.png")], RULES, P("i"))
    assert renames(plan) == {"i/Event 3/a.png": "i/event-3/a.png", "i/event_3/b.png": "i/event-3/b.png"}


def test_folders_named_alike_with_colliding_names_are_numbered() -> None:
    plan = plan_renames(
        [img("i/Event 3/A.png"), img("i/event_3/a.png"), img("i/EVENT-3/Sub/x.png"), img("i/event 3/sub/X.png")],
        RULES,
        P("i"),
    )
    assert renames(plan) == {
        "i/EVENT-3/Sub/x.png": "i/event-3/sub/x.png",
        "i/Event 3/A.png": "i/event-3/a.png",
        "i/event 3/sub/X.png": "i/event-3-2/sub/x.png",
        "i/event_3/a.png": "i/event-3-2/a.png",
    }


def test_merged_folders_share_one_spelling_when_case_is_kept() -> None:
    plan = plan_renames([img("i/event 3/a.png"), img("i/Event 3/b.png")], NameRules(lowercase=False), P("i"))
    assert renames(plan) == {"i/Event 3/b.png": "i/Event-3/b.png", "i/event 3/a.png": "i/Event-3/a.png"}


def test_a_clean_folder_keeps_its_name_and_the_messy_one_is_numbered() -> None:
    plan = plan_renames([img("i/Event 3/a.png"), img("i/event-3/a.png")], RULES, P("i"))
    assert renames(plan) == {"i/Event 3/a.png": "i/event-3-2/a.png"}


def test_a_folder_never_takes_a_files_name() -> None:
    plan = plan_renames([img("i/Photos/a.png"), img("i/photos", None)], RULES, P("i"))
    assert renames(plan) == {"i/Photos/a.png": "i/photos-2/a.png"}


def test_a_file_never_takes_a_folders_name() -> None:
    plan = plan_renames([img("i/photos/a.png"), img("i/Photos", None)], RULES, P("i"))
    assert renames(plan) == {"i/Photos": "i/photos-2"}


@settings(max_examples=60)
@given(st.randoms(use_true_random=False))
def test_plan_does_not_depend_on_input_order(rng: random.Random) -> None:
    files = [
        img("i/Event 3/A.png"), img("i/event_3/a.png"), img("i/event-3/b.png"), img("i/Diagram1.png"),
        img("i/diagram1.png"), img("i/diagram1.png.png", digest="same"), img("i/Diagram1.PNG", digest="same"),
        img("i/Ảnh sự kiện.JPG", "JPEG"), img(unicodedata.normalize("NFD", "i/Ảnh Sự Kiện.jpg"), "JPEG"),
    ]  # fmt: skip
    expected = plan_renames(files, RULES, P("i"))
    rng.shuffle(files)
    assert plan_renames(files, RULES, P("i")) == expected
    assert list(expected.renames) == sorted(expected.renames, key=lambda r: str(r[0]))
    news = [str(new).lower() for _, new in expected.renames]
    assert len(set(news)) == len(news)


MESSY_FILES = st.lists(
    st.builds(
        lambda folder, name, fmt, digest: img(f"i/{folder}{name}", fmt, digest),
        st.sampled_from(["", "Event 3/", "event_3/", "event-3/", "EVENT 3/Sub/", "event-3/sub/", "Ảnh/"]),
        st.builds(
            str.__add__,
            st.text("aAé _.(1)", min_size=1, max_size=6),
            st.sampled_from([".png", ".PNG", ".png.png", ".jpg", ".JPEG", ""]),
        ).filter(lambda name: name not in (".", "..")),
        st.sampled_from(["PNG", "JPEG", None]),
        st.sampled_from(["d1", "d2", "d3"]),
    ),
    max_size=12,
    unique_by=lambda f: f.path,
)


@settings(max_examples=300)
@given(MESSY_FILES, st.randoms(use_true_random=False))
def test_plan_invariants(files: list[NameInput], rng: random.Random) -> None:
    plan = plan_renames(files, RULES, P("i"))
    shuffled = list(files)
    rng.shuffle(shuffled)
    assert plan_renames(shuffled, RULES, P("i")) == plan
    moved, skipped = dict(plan.renames), dict(plan.skipped)
    assert not moved.keys() & skipped.keys()
    # every file that is not skipped ends up at a clean name of its own, on a case-insensitive disk too
    final = [moved.get(f.path, f.path) for f in files if f.path not in skipped]
    assert len({str(p).lower() for p in final}) == len(final)
    assert all(CLEAN.match(p.name) or CLEAN_STEM.match(p.name) for p in final), final
    assert all(CLEAN_STEM.match(part) for p in final for part in p.parent.relative_to("i").parts)
    folders = {str(d).lower() for p in final for d in p.parents}
    assert not folders & {str(p).lower() for p in final}
    # no rename lands on a name that another file has now, so the renames can run in any order
    olds = {f.path for f in files}
    for old, new in plan.renames:
        assert new not in olds - {old}
        assert all(str(o).lower() != str(new).lower() or str(o).lower() == str(old).lower() for o in olds)
