"""Markdown is never damaged (issue 7, promise 5), on hypothesis-generated documents (the scanner oracle's
generator: code fences and spans, HTML blocks and comments, reference definitions, tables, nested links,
shortcodes, CRLF, BOM, tabs): scanning never fails, a rename edits nothing but URL spans and leaves every
reference readable as the same reference, and the rewriter's markup reverts byte for byte (test_rewrite.py).
"""

from __future__ import annotations

from urllib.parse import unquote

from hypothesis import HealthCheck, given, settings
from test_markdown_oracle import documents

from gallery.config import Config
from gallery.edit import apply_edits, retarget_url
from gallery.markdown_inline import unescape
from gallery.model import Edit, RefKind
from gallery.scan import find_refs

NEW_NAME = "new name (1) & [x].jpg"  # spaces, parentheses, brackets and & must all be spelled safely


def renamed(data: bytes) -> tuple[bytes, list[Edit]]:
    """Every reference's file renamed to NEW_NAME, as `optimize` edits a page (only the URL spans)."""
    text = data.decode("utf-8", "surrogateescape")
    edits = []
    for ref in find_refs(text, Config()).refs:
        raw = data[ref.start : ref.end].decode("utf-8", "surrogateescape")
        path = raw.split("?", 1)[0].split("#", 1)[0]
        name = path.rsplit("/", 1)[-1]
        old = unquote(unescape(name))
        if not old or ref.kind == RefKind.FRONTMATTER:
            continue
        new = retarget_url(raw, (old,), (NEW_NAME,))
        if new is not None:
            edits.append(Edit(ref.start, ref.end, data[ref.start : ref.end], new.encode("utf-8", "surrogateescape")))
    return apply_edits(data, edits), edits


@settings(max_examples=400, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_a_rename_changes_only_url_spans_and_every_reference_reads_back_renamed(text: str) -> None:
    data = text.encode("utf-8", "surrogateescape")
    before = find_refs(text, Config()).refs
    after_bytes, edits = renamed(data)
    # Outside the edited spans not a byte changed.
    position, shift = 0, 0
    for edit in sorted(edits, key=lambda e: e.start):
        assert after_bytes[position + shift : edit.start + shift] == data[position : edit.start]
        shift += len(edit.new) - (edit.end - edit.start)
        position = edit.end
    assert after_bytes[position + shift :] == data[position:]
    # The page still holds the same references, of the same kinds, now naming the new file.
    after = find_refs(after_bytes.decode("utf-8", "surrogateescape"), Config()).refs
    assert [(r.kind, r.rendered) for r in after] == [(r.kind, r.rendered) for r in before]
    edited = {edit.start for edit in edits}
    for old, new in zip(before, after, strict=True):
        if old.start in edited:
            assert (
                unquote(new.url.split("?", 1)[0].split("#", 1)[0]).endswith("/" + NEW_NAME)
                or unquote(new.url.split("?", 1)[0].split("#", 1)[0]) == NEW_NAME
            ), (old.url, new.url)
