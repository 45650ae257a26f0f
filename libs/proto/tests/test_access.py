"""forge.proto.access: per-team permission evaluation, and the documented built-in roles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from forge.proto import access
from forge.proto.envelope import Principal

DOCS = Path(__file__).parents[3] / "docs" / "identity.md"

# team_admin bound on team A only, plus a global viewer binding.
ANN = Principal(
    subject="ann@x",
    teams=("p-ann", "team-a", "team-c"),
    roles=("viewer",),
    permissions=access.BUILTIN_ROLES["viewer"],
    team_roles={"team-a": ("team_admin",)},
    team_permissions={"team-a": ("gateways.update", "gateways.delete", "plugins.manage")},
)


def test_a_team_scoped_grant_holds_on_its_team_only() -> None:
    assert access.permits(ANN, "gateways.delete", "team-a")
    assert not access.permits(ANN, "gateways.delete", "team-c")
    assert not access.permits(ANN, "gateways.delete", None)  # an entry of no team


def test_a_global_grant_holds_on_every_team_and_on_entries_of_no_team() -> None:
    for team in ("team-a", "team-c", "anything", None):
        assert access.permits(ANN, "tools.read", team)


def test_without_a_team_the_question_is_whether_it_is_held_on_some_team() -> None:
    assert access.permits(ANN, "plugins.manage")
    assert access.permits(ANN, "plugins.manage", access.ANY_TEAM)
    assert not access.permits(ANN, "users.create")


def test_star_on_one_team_grants_everything_there_only() -> None:
    boss = Principal(subject="b@x", team_permissions={"team-a": (access.ALL,)})
    assert access.permits(boss, "gateways.delete", "team-a")
    assert not access.permits(boss, "gateways.delete", "team-c")


def test_platform_admins_and_global_star_hold_everything_everywhere() -> None:
    for principal in (
        Principal(subject="a@x", is_admin=True),
        Principal(subject="s@x", permissions=(access.ALL,)),
    ):
        assert access.permits(principal, "admin.config", "team-c")
        assert access.permits(principal, "admin.config", None)


def test_a_role_holds_globally_or_on_its_team_only() -> None:
    assert access.holds_role(ANN, "team_admin", "team-a")
    assert not access.holds_role(ANN, "team_admin", "team-c")
    assert not access.holds_role(ANN, "team_admin", None)
    assert access.holds_role(ANN, "viewer", "team-c")


def test_seeing_everything_takes_a_global_platform_binding() -> None:
    on_team = Principal(subject="v@x", team_roles={"team-a": ("platform_viewer",)})
    assert not access.sees_everything(on_team)
    assert access.sees_everything(Principal(subject="v@x", roles=("platform_viewer",)))


def _documented_roles() -> dict[str, set[str]]:
    """The role table of docs/identity.md: role -> permissions ticked, `a.b/c` spelt out."""
    lines = DOCS.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| permission |"))
    roles = [c.strip().strip("`") for c in lines[start].strip("|").split("|")[1:]]
    held: dict[str, set[str]] = {role: set() for role in roles}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = set()
        for token in re.findall(r"`([^`]+)`", cells[0]):
            resource, _, actions = token.partition(".")
            names |= {f"{resource}.{action}" for action in actions.split("/")}
        for role, cell in zip(roles, cells[1:], strict=True):
            if cell == "✓":
                held[role] |= names
    return held


@pytest.mark.parametrize("role", list(access.BUILTIN_ROLES))
def test_the_documented_role_table_is_exactly_what_the_built_in_roles_hold(role: str) -> None:
    documented = _documented_roles()
    granted = access.BUILTIN_ROLES[role]
    expected = set(access.PERMISSIONS) if access.ALL in granted else set(granted)
    assert documented[role] == expected


def test_the_documented_role_table_names_every_permission_and_only_those() -> None:
    every = set().union(*_documented_roles().values())
    assert every == set(access.PERMISSIONS)
