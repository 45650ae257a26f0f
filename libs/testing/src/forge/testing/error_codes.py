"""Checks that keep forge.core.errors the one table of error codes, and docs/errors.md true to it.

- `stray_codes`: a JSON-RPC error number (-32000..-32999) written anywhere in Forge's sources
  but the table, either as a number or inside a JSON string (`'{"code": -326xx, ...}'`). The
  sample servers (servers/) stand in for other people's MCP servers and are not Forge's code.
- `render_table` / `sync_doc`: docs/errors.md's table of codes, generated from `CODES`.

`python -m forge.testing.error_codes` checks both (exit 1 naming what is wrong); `--write`
rewrites the doc's table first.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeGuard

from forge.core.errors import CODES, Code, defined_by
from forge.testing.sources import ROOT, python_files

# Forge's own sources (forge.testing.sources.SOURCES): each takes its codes from the table.
TABLE_MODULE = Path("libs/core/src/forge/core/errors.py")
DOC = Path("docs/errors.md")
BEGIN = "<!-- codes: generated from forge.core.errors by `python -m forge.testing.error_codes"
BEGIN += " --write`; edit the table there -->"
END = "<!-- /codes -->"
_LOW, _HIGH = 32000, 32999  # JSON-RPC's reserved -32768..-32000, and the MCP SDKs' -32800
_IN_TEXT = re.compile(rb'"code"\s*:\s*-32\d{3}\b')


def _is_code(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and _LOW <= value <= _HIGH


def codes_in(source: str) -> Iterator[tuple[int, str]]:
    """(line, what) for every error number written in `source` (Python)."""
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and _is_code(node.operand.value)
        ):
            yield node.lineno, f"-{node.operand.value}"
        elif isinstance(node, ast.Constant) and isinstance(node.value, str | bytes):
            text = node.value.encode() if isinstance(node.value, str) else node.value
            for found in _IN_TEXT.finditer(text):
                yield node.lineno, found.group().decode()


def source_files(root: Path = ROOT) -> Iterator[Path]:
    return python_files(root, skip=(TABLE_MODULE,))


def stray_codes(files: Iterable[Path], root: Path = ROOT) -> list[str]:
    """`path:line: code` for each error number outside the table."""
    found = []
    for path in files:
        for line, what in codes_in(path.read_text(encoding="utf-8")):
            found.append(f"{path.relative_to(root)}:{line}: {what}")
    return found


def _row(entry: Code) -> str:
    name = f"`{entry.name}`"
    error = f"`{entry.error.__name__}`"
    origin = defined_by(entry.code)
    return f"| {entry.code} | {name} | {error} | {entry.http_status} | {origin} | {entry.meaning} |"


def render_table(codes: Iterable[Code] = CODES) -> str:
    """The Markdown table of every code, between its markers."""
    head = [
        BEGIN,
        "| code | name | class | REST status | defined by | meaning |",
        "|---|---|---|---|---|---|",
    ]
    rows = [_row(entry) for entry in sorted(codes, key=lambda entry: -entry.code)]
    return "\n".join([*head, *rows, END])


def sync_doc(text: str, table: str) -> str:
    """`text` with its generated table replaced by `table`; ValueError without the markers."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{DOC} has lost the markers of its table of codes")
    return text[:start] + table + text[end + len(END) :]


def problems(root: Path = ROOT) -> list[str]:
    """What is wrong today: stray codes, a table of codes in the doc that drifted."""
    found = [
        f"{where}: use a constant of forge.core.errors"
        for where in stray_codes(source_files(root), root)
    ]
    doc = (root / DOC).read_text(encoding="utf-8")
    try:
        if sync_doc(doc, render_table()) != doc:
            found.append(f"{DOC}: its table of codes differs from forge.core.errors.CODES")
    except ValueError as exc:
        found.append(str(exc))
    return found


def main(argv: list[str]) -> int:
    if "--write" in argv:
        path = ROOT / DOC
        path.write_text(sync_doc(path.read_text(encoding="utf-8"), render_table()), "utf-8")
    found = problems()
    for problem in found:
        print(problem, file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
