"""pytest plugin: every test gets exactly one tier marker, from where it lives.

`tests/e2e`, `tests/conformance`, `tests/bench` and `tests/faults` are their own tiers; every
other test (handler tests on the in-memory bus, one service against a real nats-server and
PostgreSQL) is `unit`, the tier `make test-fast` runs. Markers come from the location rather than
from decorators so that a new test cannot be forgotten; a decorator naming another tier than its
location is refused, so `-m unit` never silently takes in a mesh test.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

UNIT = "unit"
# The top-level folders under tests/ that are tiers of their own.
FOLDERS = ("e2e", "conformance", "bench", "faults")
TIERS = (UNIT, *FOLDERS)


class TierError(Exception):
    """A test whose markers name another tier than its location, or more than one."""


def tier_of(parts: Sequence[str]) -> str:
    """The tier of a test file from its path's parts, relative to the repository root."""
    if len(parts) > 2 and parts[0] == "tests" and parts[1] in FOLDERS:
        return parts[1]
    return UNIT


def tier_for(nodeid: str, parts: Sequence[str], marked: Iterable[str]) -> str:
    """The one tier of a test: its location's, which any tier marker it carries must agree with."""
    tier = tier_of(parts)
    others = sorted({name for name in marked if name in TIERS} - {tier})
    if others:
        raise TierError(f"{nodeid} is marked {', '.join(others)} but its location makes it {tier}")
    return tier


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    wrong: list[str] = []
    for item in items:
        try:
            parts = item.path.relative_to(config.rootpath).parts
        except ValueError:
            parts = ()  # outside the repository (a pytester run): not a tier folder
        try:
            tier = tier_for(item.nodeid, parts, (m.name for m in item.iter_markers()))
        except TierError as exc:
            wrong.append(str(exc))
            continue
        item.add_marker(getattr(pytest.mark, tier))
    if wrong:
        raise pytest.UsageError("tests in the wrong tier:\n" + "\n".join(wrong))
