"""The error-code checks: the tree passes them, and each fails on a deliberately broken input."""

from __future__ import annotations

from pathlib import Path

import pytest

from forge.core.errors import CODES
from forge.testing import error_codes
from forge.testing.error_codes import (
    BEGIN,
    DOC,
    END,
    codes_in,
    problems,
    render_table,
    stray_codes,
    sync_doc,
)


def test_the_tree_has_no_stray_codes_and_its_doc_matches_the_table() -> None:
    assert problems() == []


def test_a_bare_code_anywhere_but_the_table_is_found() -> None:
    source = """
STATUS = {-32600: 400}
def fail():
    return _error(id, -32603, "boom")
"""
    assert list(codes_in(source)) == [(2, "-32600"), (4, "-32603")]


def test_a_code_written_inside_json_text_is_found() -> None:
    source = (
        """REPLY = b'{"error":{"code":-32000,"message":"closed"}}'\nTEXT = '{"code": -32602}'\n"""
    )
    assert [line for line, _ in codes_in(source)] == [1, 2]


def test_codes_named_in_prose_or_outside_the_error_range_are_not_stray() -> None:
    source = '''
"""Raise ParseError (-32700) for bytes that are not UTF-8."""
from forge.core.errors import INVALID_REQUEST
STATUS = {INVALID_REQUEST: 400}
PORT = 32000
OFFSET = -31999
'''
    assert list(codes_in(source)) == []


def test_a_stray_code_in_a_service_is_reported_with_its_place(tmp_path: Path) -> None:
    module = tmp_path / "services" / "edge" / "src" / "forge" / "edge" / "statuses.py"
    module.parent.mkdir(parents=True)
    module.write_text("STATUS = {\n    -32005: 403,\n}\n")
    table = tmp_path / "libs" / "core" / "src" / "forge" / "core" / "errors.py"
    table.parent.mkdir(parents=True)
    table.write_text("FORBIDDEN = -32005\n")  # the table itself is where codes belong
    files = list(error_codes.source_files(tmp_path))
    assert files == [module]
    assert stray_codes(files, tmp_path) == ["services/edge/src/forge/edge/statuses.py:2: -32005"]


def test_the_generated_table_has_one_row_per_code() -> None:
    table = render_table()
    for row in CODES:
        assert (
            f"| {row.code} | `{row.name}` | `{row.error.__name__}` | {row.http_status} |" in table
        )
    assert len(table.splitlines()) == len(CODES) + 4  # markers, header, rule


def _tree(tmp_path: Path, doc: str) -> Path:
    (tmp_path / "docs").mkdir(parents=True)
    (tmp_path / DOC).write_text(doc)
    return tmp_path


def test_a_doc_whose_table_was_edited_by_hand_drifts(tmp_path: Path) -> None:
    fresh = f"# Errors\n\n{render_table()}\n\nmore prose\n"
    assert problems(_tree(tmp_path, fresh)) == []
    edited = fresh.replace("| 404 |", "| 410 |", 1)
    assert problems(_tree(tmp_path / "edited", edited)) == [
        f"{DOC}: its table of codes differs from forge.core.errors.CODES"
    ]


def test_a_doc_without_the_markers_is_refused(tmp_path: Path) -> None:
    assert problems(_tree(tmp_path, "# Errors\n")) == [
        f"{DOC} has lost the markers of its table of codes"
    ]
    with pytest.raises(ValueError):
        sync_doc("# Errors\n", render_table())


def test_writing_the_doc_replaces_only_the_table() -> None:
    stale = f"before\n{BEGIN}\n| old |\n{END}\nafter\n"
    assert sync_doc(stale, render_table()) == f"before\n{render_table()}\nafter\n"
