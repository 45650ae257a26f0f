"""Every test gets exactly one tier, from its location; a marker naming another tier is refused."""

from __future__ import annotations

import pytest

from forge.testing.tiers import TIERS, TierError, tier_for, tier_of


@pytest.mark.parametrize(
    ("path", "tier"),
    [
        ("tests/e2e/test_sessions.py", "e2e"),
        ("tests/e2e/plugins/test_x.py", "e2e"),
        ("tests/conformance/test_conformance.py", "conformance"),
        ("tests/bench/test_bench_runs.py", "bench"),
        ("tests/faults/test_kills.py", "faults"),
        ("services/router/tests/test_router_inline.py", "unit"),
        ("libs/testing/tests/test_tiers.py", "unit"),
        ("plugins/tests/e2e/test_x.py", "unit"),  # only the top-level tests/ folders are tiers
        ("tests/test_e2e.py", "unit"),
    ],
)
def test_the_tier_follows_the_location(path: str, tier: str) -> None:
    assert tier_of(path.split("/")) == tier


def test_a_marker_that_agrees_with_the_location_is_accepted() -> None:
    assert tier_for("tests/e2e/test_a.py::t", ["tests", "e2e", "test_a.py"], ["e2e"]) == "e2e"
    assert tier_for("x/tests/test_a.py::t", ["x", "tests", "test_a.py"], ["parametrize"]) == "unit"


def test_a_marker_naming_another_tier_is_refused() -> None:
    with pytest.raises(TierError, match="marked e2e but its location makes it unit"):
        tier_for("libs/x/tests/test_a.py::t", ["libs", "x", "tests", "test_a.py"], ["e2e"])
    with pytest.raises(TierError, match="marked bench, unit"):
        tier_for("tests/e2e/test_a.py::t", ["tests", "e2e", "test_a.py"], ["unit", "bench"])


def test_this_test_carries_exactly_one_tier_the_unit_tier(request: pytest.FixtureRequest) -> None:
    tiers = {m.name for m in request.node.iter_markers() if m.name in TIERS}
    assert tiers == {"unit"}


def test_every_tier_is_a_registered_marker(pytestconfig: pytest.Config) -> None:
    # --strict-markers refuses an unregistered one; this keeps the list and the plugin in step.
    registered = {line.split(":", 1)[0] for line in pytestconfig.getini("markers")}
    assert set(TIERS) <= registered
