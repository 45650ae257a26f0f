"""Per-team grants at the edge: API token narrowing narrows each team's grants too, and the RBAC
routes answer per team when asked."""

from __future__ import annotations

from forge.edge.auth.token_rules import narrowed
from forge.edge.rest.rbac import effective_permissions
from forge.proto import access
from forge.proto.identity import TokenEntry, UserAccess

OWNER = UserAccess(
    email="ann@x",
    id="u-ann",
    roles=("viewer",),
    teams=("team-a", "team-c"),
    permissions=("tools.read",),
    team_roles={"team-a": ("team_admin",), "team-c": ("developer",)},
    team_permissions={
        "team-a": ("gateways.delete", "plugins.manage", "tools.execute"),
        "team-c": ("tools.execute",),
    },
)


def token(**scope: object) -> TokenEntry:
    return TokenEntry(id="t1", token_hash="h", user_email="ann@x", name="t", **scope)  # type: ignore[arg-type]


def test_a_token_narrowed_to_permissions_narrows_each_teams_grants() -> None:
    principal = narrowed(OWNER, token(permissions=("tools.read", "tools.execute")))
    assert principal.permissions == ("tools.read",)
    assert principal.team_permissions == {
        "team-a": ("tools.execute",),
        "team-c": ("tools.execute",),
    }
    assert not access.permits(principal, "gateways.delete", "team-a")
    assert access.permits(principal, "tools.execute", "team-c")


def test_a_token_narrowed_to_teams_drops_the_other_teams_grants_and_roles() -> None:
    principal = narrowed(OWNER, token(teams=("team-c",)))
    assert principal.teams == ("team-c",)
    assert principal.team_permissions == {"team-c": ("tools.execute",)}
    assert principal.team_roles == {"team-c": ("developer",)}
    assert not access.permits(principal, "plugins.manage")


def test_an_unnarrowed_token_keeps_every_teams_grants() -> None:
    principal = narrowed(OWNER, token())
    assert principal.team_permissions == OWNER.team_permissions
    assert principal.team_roles == OWNER.team_roles


def test_my_permissions_answer_per_team_when_a_team_is_given() -> None:
    principal = narrowed(OWNER, token())
    anywhere = effective_permissions(principal)
    assert {"gateways.delete", "plugins.manage", "tools.execute", "tools.read"} == set(anywhere)
    assert effective_permissions(principal, "team-c") == ["tools.read", "tools.execute"]
    assert effective_permissions(principal, "team-z") == ["tools.read"]
