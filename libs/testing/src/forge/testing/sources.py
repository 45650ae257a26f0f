"""Forge's source tree as the lint checks walk it (import_rules, wire_types, error_codes)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[5]
# Forge's own sources. The sample servers (servers/) stand in for other people's MCP servers.
SOURCES = ("services/*/src", "libs/*/src", "plugins/src", "cli/src")


def folders(root: Path, patterns: Iterable[str]) -> Iterator[Path]:
    """The folders under `root` each glob pattern matches, pattern by pattern, sorted."""
    for pattern in patterns:
        yield from sorted(p for p in root.glob(pattern) if p.is_dir())


def python_files(
    root: Path = ROOT, patterns: Iterable[str] = SOURCES, skip: Collection[Path] = ()
) -> Iterator[Path]:
    """Each .py file in those folders, sorted, but those at or under a path of `skip`
    (relative to `root`)."""
    for folder in folders(root, patterns):
        for path in sorted(folder.rglob("*.py")):
            if not any(path.relative_to(root).is_relative_to(s) for s in skip):
                yield path
