"""Per-team grants in the catalog registry: a role bound on one team acts on that team's entries
only (creating there, changing, deleting, binding plugins); a global binding acts everywhere."""

from __future__ import annotations

from typing import Any

from registry_harness import Client, code_of, person

from forge.core.errors import FORBIDDEN
from forge.proto.access import BUILTIN_ROLES
from forge.proto.envelope import Principal

TEAMS = ("team-a", "team-c")
# Owns what team C holds: a developer of team C, bound globally.
OWNER = person("owen@x", "p-owen", "team-c", role="developer")
OWNER_A = person("ada@x", "p-ada", "team-a", role="developer")
# team_admin of team A (a binding on A), a plain viewer elsewhere, a member of both teams.
ANN = Principal(
    subject="ann@x",
    teams=("p-ann", *TEAMS),
    roles=("viewer",),
    permissions=BUILTIN_ROLES["viewer"],
    team_roles={"team-a": ("team_admin",)},
    team_permissions={
        "team-a": tuple(p for p in BUILTIN_ROLES["team_admin"] if p not in BUILTIN_ROLES["viewer"])
    },
)
# team_admin bound globally, a member of both teams.
GLOBAL = person("gil@x", "p-gil", *TEAMS, role="team_admin")


def gateway(team: str, name: str) -> dict[str, Any]:
    return {"name": name, "url": "http://127.0.0.1:9000/mcp", "visibility": "team", "team_id": team}


def binding(team: str) -> dict[str, Any]:
    return {"plugin": "pii", "team_id": team, "visibility": "team"}


async def test_a_team_scoped_team_admin_cannot_change_or_delete_another_teams_gateway(
    client: Client,
) -> None:
    theirs = await client("gateways", "create", gateway("team-c", "C"), as_=OWNER)
    update = {"id": theirs["id"], "description": "mine now"}
    assert await code_of(client("gateways", "update", update, as_=ANN)) == FORBIDDEN
    refresh = client("gateways", "refresh", {"id": theirs["id"]}, as_=ANN)
    assert await code_of(refresh) == FORBIDDEN
    delete = client("gateways", "delete", {"id": theirs["id"]}, as_=ANN)
    assert await code_of(delete) == FORBIDDEN
    moved = {"id": theirs["id"], "team_id": "team-a"}
    assert await code_of(client("gateways", "update", moved, as_=ANN)) == FORBIDDEN


async def test_a_team_scoped_team_admin_manages_their_own_teams_gateways(client: Client) -> None:
    ours = await client("gateways", "create", gateway("team-a", "A"), as_=OWNER_A)
    update = {"id": ours["id"], "description": "checked"}
    assert (await client("gateways", "update", update, as_=ANN))["description"] == "checked"
    assert (await client("gateways", "delete", {"id": ours["id"]}, as_=ANN))["deleted"]


async def test_a_team_scoped_grant_creates_only_in_its_team(client: Client) -> None:
    created = await client("gateways", "create", gateway("team-a", "Mine"), as_=ANN)
    assert created["team_id"] == "team-a"
    refused = client("gateways", "create", gateway("team-c", "Theirs"), as_=ANN)
    assert await code_of(refused) == FORBIDDEN
    into_c = {"name": "S", "team_id": "team-c", "visibility": "team"}
    assert await code_of(client("servers", "create", into_c, as_=ANN)) == FORBIDDEN
    # Without a team, the personal team: where the team A binding grants nothing.
    personal = client("gateways", "create", {"name": "P", "url": gateway("x", "P")["url"]}, as_=ANN)
    assert await code_of(personal) == FORBIDDEN


async def test_a_team_scoped_team_admin_manages_plugin_bindings_of_their_team_only(
    client: Client,
) -> None:
    theirs = await client("plugin_bindings", "create", binding("team-c"), as_=GLOBAL)
    change = {"id": theirs["id"], "priority": 1}
    assert await code_of(client("plugin_bindings", "update", change, as_=ANN)) == FORBIDDEN
    delete = client("plugin_bindings", "delete", {"id": theirs["id"]}, as_=ANN)
    assert await code_of(delete) == FORBIDDEN
    create = client("plugin_bindings", "create", binding("team-c"), as_=ANN)
    assert await code_of(create) == FORBIDDEN
    ours = await client("plugin_bindings", "create", binding("team-a"), as_=ANN)
    moved = {"id": ours["id"], "team_id": "team-c"}
    assert await code_of(client("plugin_bindings", "update", moved, as_=ANN)) == FORBIDDEN
    assert (await client("plugin_bindings", "delete", {"id": ours["id"]}, as_=ANN))["deleted"]


async def test_a_global_team_admin_manages_every_team_they_belong_to(client: Client) -> None:
    for owner, team in ((OWNER, "team-c"), (OWNER_A, "team-a")):
        theirs = await client("gateways", "create", gateway(team, team), as_=owner)
        assert (await client("gateways", "delete", {"id": theirs["id"]}, as_=GLOBAL))["deleted"]
        made = await client("plugin_bindings", "create", binding(team), as_=GLOBAL)
        assert (await client("plugin_bindings", "delete", {"id": made["id"]}, as_=GLOBAL))[
            "deleted"
        ]
