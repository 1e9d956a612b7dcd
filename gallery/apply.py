"""Apply a plan: the only code that changes a site. It decides nothing; the plan did.

Order, chosen so that every reference resolves at every moment, even if the process is
killed: the journal first; then each renamed image gets its new name as a second link
(old and new names both work); metadata is stripped (atomic replace); pages are rewritten
(atomic replace) to the new names and to the kept copies of duplicates; only then are the
old names and the duplicates removed (a duplicate that is not byte-identical to its kept
copy goes to the originals store first), and the journal last. A run that finds a journal
completes it before doing anything else.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import os
import unicodedata
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from .edit import StaleEdit, apply_edits
from .fs import ORIGINALS, TEMPORARY_SUFFIX, fsync_folder, keep_original, link_or_copy, write_atomic
from .journal import clear_journal, read_journal, write_journal
from .metadata import strip_metadata
from .model import Edit, Merge, PageEdit, Plan, Rename, Report, StripMetadata


def apply_plan(root: Path, plan: Plan, command: str, keep_tags: tuple[str, ...] = ()) -> Report:
    """Write the journal, carry the plan out, clear the journal. Call with the site lock held."""
    write_journal(root, command, plan_to_json(plan, keep_tags))
    report = _execute(root, plan, keep_tags)
    clear_journal(root)
    return report


def recover(root: Path) -> tuple[str, Report] | None:
    """Complete a run that was interrupted (its journal is still there); call with the lock held."""
    found = read_journal(root)
    if found is None:
        return None
    command, document = found
    plan, keep_tags = plan_from_json(document)
    _remove_temporaries(root, plan)
    report = _execute(root, plan, keep_tags)
    clear_journal(root)
    return command, report


def _execute(root: Path, plan: Plan, keep_tags: tuple[str, ...]) -> Report:
    failures: list[str] = []
    linked = [rename for rename in plan.renames if _link(root, rename, keep_tags, failures)]
    missing = {rename.new for rename in plan.renames} - {rename.new for rename in linked}
    # A page is pointed at a kept copy only while it exists; otherwise it keeps the duplicate, which stays.
    missing |= {merge.keep for merge in plan.merges if not (root / merge.keep).exists()}
    # An image that could not get its new name still loses its metadata, under its old name.
    kept_name = {rename.new: rename.old for rename in plan.renames if rename.new in missing}
    stripped, saved = 0, 0
    for strip in plan.strips:
        where = dataclasses.replace(strip, path=kept_name.get(strip.path, strip.path))
        saved_now = _strip(root, where, keep_tags, failures)
        if saved_now is not None:
            stripped += 1
            saved += saved_now
    # A page left as it was still uses the old names its edits would have replaced: they stay.
    still_used: set[PurePosixPath] = set()
    written = sum(_edit_page(root, page, missing, still_used, failures) for page in plan.pages)
    for rename in linked:
        if rename.new in still_used:
            failures.append(f"{rename.old}: kept beside {rename.new}, since a page that uses it was not updated")
        else:
            _unlink_old(root, rename, failures)
    merged = sum(_merge(root, merge, still_used, failures) for merge in plan.merges)
    return Report(len(linked), stripped, saved, written, failures=tuple(failures), merged=merged)


def _link(root: Path, rename: Rename, keep_tags: tuple[str, ...], failures: list[str]) -> bool:
    """Give the image its new name beside the old one; True when the new name exists."""
    old, new = root / rename.old, root / rename.new
    moving = _case_temporary(old)
    # os.path.exists: False, not ENAMETOOLONG, when a 255-byte old name has no room for the suffix.
    if os.path.exists(moving) and not new.exists():
        try:
            os.rename(moving, new)  # a run was killed halfway through a case-only rename: finish it
        except OSError as e:
            failures.append(f"{rename.old}: cannot move {moving.name} to {rename.new}: {e.strerror}")
            return False
    if new.exists():
        if old.exists() and not _same_image(old, new, keep_tags):
            failures.append(f"{rename.new}: exists with other content; {rename.old} keeps its name")
            return False
        return True  # done by an earlier, interrupted run (or a case-only rename, handled below)
    try:
        link_or_copy(old, new)
    except OSError as e:
        failures.append(f"{rename.old}: cannot create {rename.new}: {e.strerror}")
        return False
    return True


def _same_image(old: Path, new: Path, keep_tags: tuple[str, ...]) -> bool:
    """Whether `new` is `old` under a second name, or (once an interrupted run stripped it) `old` stripped."""
    if os.path.samefile(old, new):
        return True
    data, linked = old.read_bytes(), new.read_bytes()
    return linked == data or linked == strip_metadata(data, keep_tags)


def _strip(root: Path, strip: StripMetadata, keep_tags: tuple[str, ...], failures: list[str]) -> int | None:
    """Bytes saved (0 for a HEIF, stripped in place), or None when nothing was written."""
    path = root / strip.path
    try:
        data = path.read_bytes()
        stripped = strip_metadata(data, keep_tags)
        if stripped is data:
            return None
        write_atomic(path, stripped, root)
    except (OSError, ValueError) as e:
        failures.append(f"{strip.path}: metadata not removed: {getattr(e, 'strerror', None) or e}")
        return None
    return len(data) - len(stripped)


def _edit_page(
    root: Path, page: PageEdit, missing: set[PurePosixPath], still_used: set[PurePosixPath], failures: list[str]
) -> bool:
    """Rewrite a page's URL spans; True when the page was written.

    When it cannot be, the new names its edits point at go into `still_used`.
    """
    path = root / page.page
    try:
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if digest == page.after:
            return False  # already written by an interrupted run
        edits = [edit for edit in page.edits if edit.needs is None or edit.needs not in missing]
        if digest != page.before:
            raise StaleEdit("changed since it was read")
        write_atomic(path, apply_edits(data, edits), root)
    except (StaleEdit, OSError) as e:
        why = f"{e}; run the command again" if isinstance(e, StaleEdit) else e.strerror
        failures.append(f"{page.page}: not updated: {why}")
        still_used.update(edit.needs for edit in page.edits if edit.needs is not None)
        return False
    return True


def _unlink_old(root: Path, rename: Rename, failures: list[str]) -> None:
    """Remove the old name once the new one exists (and the folders that leaves empty)."""
    old, new = root / rename.old, root / rename.new
    if not new.exists():
        return
    try:
        if old.exists():
            if _one_entry(root, rename):
                # A case-only rename on a case-insensitive file system: the one entry answers to
                # both spellings, so it is renamed (through a temporary name) rather than removed.
                temporary = _case_temporary(old)
                os.rename(old, temporary)
                os.rename(temporary, new)
            else:
                old.unlink()
            fsync_folder(old.parent)
        # Also when an interrupted run removed the old name but not yet its emptied folders.
        _remove_empty_folders(root, old.parent)
    except OSError as e:
        failures.append(f"{rename.old}: old name not removed: {e.strerror}")


def _merge(root: Path, merge: Merge, still_used: set[PurePosixPath], failures: list[str]) -> bool:
    """Remove a duplicate its pages no longer use (and the folders that leaves empty); True once it is gone."""
    duplicate, keep = root / merge.duplicate, root / merge.keep
    if merge.keep in still_used:
        failures.append(f"{merge.duplicate}: kept, since a page that uses it was not pointed at {merge.keep}")
        return False
    if not keep.exists():
        failures.append(f"{merge.duplicate}: kept, since {merge.keep} is gone")
        return False
    try:
        if os.path.lexists(duplicate):
            # One file under two paths (a symbolic link): removing one would remove the copy kept.
            if os.path.realpath(duplicate) == os.path.realpath(keep):
                failures.append(f"{merge.duplicate}: kept, since it is the same file as {merge.keep}")
                return False
            if not merge.identical:
                keep_original(root, merge.duplicate)
            elif duplicate.read_bytes() != keep.read_bytes():
                failures.append(f"{merge.duplicate}: kept, since its bytes no longer equal {merge.keep}'s")
                return False
            duplicate.unlink()
            fsync_folder(duplicate.parent)
        # Also when an interrupted run removed the duplicate but not yet its emptied folders.
        _remove_empty_folders(root, duplicate.parent)
    except OSError as e:
        failures.append(f"{merge.duplicate}: not removed: {e.strerror}")
        return False
    return True


def _case_temporary(old: Path) -> Path:
    return old.with_name(old.name + TEMPORARY_SUFFIX)


def _one_entry(root: Path, rename: Rename) -> bool:
    """Whether the old and new names, differing only in case (or Unicode form), are one directory entry.

    Then removing the old name would remove the image. Only an exact listing tells: on a
    case-insensitive disk, both names exist and are the same file, as two hard links are.
    A case-only change of a folder (`4-Event/a.png` -> `4-event/a.png`) counts too.
    """
    if _folded(rename.old) != _folded(rename.new):
        return False
    return not (_listed(root, rename.old) and _listed(root, rename.new))


def _folded(path: PurePosixPath) -> str:
    return unicodedata.normalize("NFC", str(path)).casefold()


def _listed(root: Path, path: PurePosixPath) -> bool:
    """Whether each part of `path` is an entry of its folder, spelled exactly so."""
    folder = root
    for part in path.parts:
        if part not in os.listdir(folder):
            return False
        folder = folder / part
    return True


def _remove_empty_folders(root: Path, folder: Path) -> None:
    """Remove folders emptied by renames and merges, up to (not including) the site root."""
    while folder != root and root in folder.parents:
        try:
            folder.rmdir()
        except FileNotFoundError:
            pass  # removed by an interrupted run, which may not have reached its parent
        except OSError:
            return
        else:
            fsync_folder(folder.parent)
        folder = folder.parent


def _remove_temporaries(root: Path, plan: Plan) -> None:
    """Temporary files a killed run may have left beside the files it was writing."""
    paths = [r.new for r in plan.renames] + [s.path for s in plan.strips] + [p.page for p in plan.pages]
    paths += [ORIGINALS / m.duplicate for m in plan.merges if not m.identical]
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            (root / path).with_name(f".{path.name}{TEMPORARY_SUFFIX}").unlink()


# --- the journal's form of a plan ---------------------------------------------------------------


def _bytes(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def plan_to_json(plan: Plan, keep_tags: tuple[str, ...]) -> dict[str, Any]:
    """The plan as JSON-ready data (problems are not needed to carry it out)."""
    return {
        "keep_tags": list(keep_tags),
        "renames": [[str(r.old), str(r.new)] for r in plan.renames],
        "strips": [[str(s.path), s.saves, s.gps] for s in plan.strips],
        "pages": [
            {
                "page": str(p.page),
                "before": p.before,
                "after": p.after,
                "edits": [
                    [e.start, e.end, _bytes(e.old), _bytes(e.new), str(e.needs) if e.needs else None] for e in p.edits
                ],
            }
            for p in plan.pages
        ],
        "merges": [[str(m.duplicate), str(m.keep), m.identical] for m in plan.merges],
    }


def plan_from_json(document: Mapping[str, Any]) -> tuple[Plan, tuple[str, ...]]:
    """Read back what plan_to_json wrote."""
    pages = tuple(
        PageEdit(
            PurePosixPath(p["page"]),
            tuple(
                Edit(start, end, base64.b64decode(old), base64.b64decode(new), PurePosixPath(needs) if needs else None)
                for start, end, old, new, needs in p["edits"]
            ),
            p["before"],
            p["after"],
        )
        for p in document["pages"]
    )
    plan = Plan(
        renames=tuple(Rename(PurePosixPath(old), PurePosixPath(new)) for old, new in document["renames"]),
        strips=tuple(StripMetadata(PurePosixPath(path), saves, gps) for path, saves, gps in document["strips"]),
        pages=pages,
        # Journals written before merges existed have none.
        merges=tuple(
            Merge(PurePosixPath(duplicate), PurePosixPath(keep), identical)
            for duplicate, keep, identical in document.get("merges", ())
        ),
    )
    return plan, tuple(document["keep_tags"])
