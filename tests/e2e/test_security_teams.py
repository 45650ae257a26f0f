"""Issue 9 item 2: a role bound to one team acts in that team only, over REST, MCP and in the
registry. The user who found it: team_admin of team A (a binding on A), a plain member of team C.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from forge.cli.mesh import Mesh
from forge.testing import eventually_sync
from tests.e2e import security_kit as kit
from tests.e2e.security_kit import Person, call_body, echo_tool, login, make_user, ok, rest

FORBIDDEN = -32005
fastecho = kit.fastecho  # the shared upstream fixture (module-scoped, one per suite)


@dataclass
class Teams:
    admin: str  # the platform admin's token
    tara: Person  # viewer globally, team_admin on team A only; a member of A and C
    gabe: Person  # team_admin globally; a member of A and C
    exa: Person  # viewer globally, developer on team A only; a member of A and C
    team_a: str
    team_c: str
    gateway_a: str  # team A's gateway (visibility team), owned by its owner
    gateway_c: str  # team C's gateway (visibility team), owned by its owner
    binding_c: str  # a plugin binding of team C (visibility team)
    tool_a: str
    tool_c: str
    run: str


def _grant(http: httpx.Client, email: str, role: str, team_id: str | None = None) -> None:
    body: dict[str, Any] = {"role": role} if team_id is None else {"role": role, "team_id": team_id}
    ok(http.post(f"/rbac/users/{email}/roles", json=body))


def _until_granted(mesh: Mesh, person: Person, permission: str, team_id: str) -> None:
    """Wait (bounded) until the edge's identity cache holds the new binding."""
    with rest(mesh, person.token) as http:
        eventually_sync(
            lambda: permission in ok(http.get("/rbac/my/permissions", params={"team_id": team_id})),
            within_s=15,
            what=f"{permission} reaches the edge",
        )


def _gateway(name: str, url: str, team: str) -> dict[str, Any]:
    return {"name": name, "url": url, "team_id": team, "visibility": "team"}


@pytest.fixture(scope="module")
def teams(mesh: Mesh, admin_token: str, fastecho: str) -> Teams:
    run = uuid.uuid4().hex[:6]
    emails = {k: f"{k}-tm-{run}@example.com" for k in ("owen", "cora", "tara", "gabe", "exa")}
    for who in ("owen", "cora"):
        make_user(mesh, admin_token, emails[who], "developer")
    for who in ("tara", "exa"):
        make_user(mesh, admin_token, emails[who], "viewer")
    make_user(mesh, admin_token, emails["gabe"], "team_admin")
    owen, cora = login(mesh, emails["owen"]), login(mesh, emails["cora"])
    with rest(mesh, owen.token) as http:
        team_a = ok(http.post("/teams", json={"name": f"tm-a-{run}"}))["id"]
    with rest(mesh, cora.token) as http:
        team_c = ok(http.post("/teams", json={"name": f"tm-c-{run}"}))["id"]
    for owner, team in ((owen, team_a), (cora, team_c)):
        with rest(mesh, owner.token) as http:
            for who in ("tara", "gabe", "exa"):
                ok(http.put(f"/teams/{team}/members/{emails[who]}", json={"role": "member"}))
    with rest(mesh, admin_token) as http:
        _grant(http, emails["tara"], "team_admin", team_a)
        _grant(http, emails["exa"], "developer", team_a)
        binding_c = ok(
            http.post(
                "/plugins/bindings", json={"plugin": "pii", "team_id": team_c, "visibility": "team"}
            )
        )["id"]
    owen, cora = login(mesh, emails["owen"]), login(mesh, emails["cora"])
    with rest(mesh, owen.token) as http:
        gateway_a = ok(http.post("/gateways", json=_gateway(f"tm-a-{run}", fastecho, team_a)))
    with rest(mesh, cora.token) as http:
        gateway_c = ok(http.post("/gateways", json=_gateway(f"tm-c-{run}", fastecho, team_c)))
    tara, gabe, exa = (login(mesh, emails[k]) for k in ("tara", "gabe", "exa"))
    _until_granted(mesh, tara, "gateways.delete", team_a)
    _until_granted(mesh, exa, "tools.execute", team_a)
    return Teams(
        admin_token,
        tara,
        gabe,
        exa,
        team_a,
        team_c,
        gateway_a["id"],
        gateway_c["id"],
        binding_c,
        echo_tool(mesh, exa.token, f"tm-a-{run}")["name"],
        echo_tool(mesh, exa.token, f"tm-c-{run}")["name"],
        run,
    )


def test_a_team_scoped_team_admin_cannot_update_or_delete_another_teams_gateway(
    mesh: Mesh, teams: Teams
) -> None:
    with rest(mesh, teams.tara.token) as http:
        # They can see it (a member of C): refused, not hidden.
        assert ok(http.get(f"/gateways/{teams.gateway_c}"))["id"] == teams.gateway_c
        update = http.put(f"/gateways/{teams.gateway_c}", json={"description": "mine now"})
        assert update.status_code == 403, update.text
        delete = http.delete(f"/gateways/{teams.gateway_c}")
        assert delete.status_code == 403, delete.text
        ok(http.get(f"/gateways/{teams.gateway_c}"))  # still there


def test_a_team_scoped_team_admin_cannot_manage_another_teams_plugin_bindings(
    mesh: Mesh, teams: Teams
) -> None:
    with rest(mesh, teams.tara.token) as http:
        change = http.put(f"/plugins/bindings/{teams.binding_c}", json={"priority": 1})
        assert change.status_code == 403, change.text
        delete = http.delete(f"/plugins/bindings/{teams.binding_c}")
        assert delete.status_code == 403, delete.text
        create = http.post("/plugins/bindings", json={"plugin": "pii", "team_id": teams.team_c})
        assert create.status_code == 403, create.text
        held = ok(http.get("/rbac/my/permissions", params={"team_id": teams.team_c}))
        assert "plugins.manage" not in held and "gateways.delete" not in held


def test_a_team_scoped_team_admin_still_manages_their_own_teams_entries(
    mesh: Mesh, teams: Teams
) -> None:
    with rest(mesh, teams.tara.token) as http:
        update = {"description": "checked by the team admin"}
        changed = ok(http.put(f"/gateways/{teams.gateway_a}", json=update))
        assert changed["description"] == update["description"]
        made = ok(http.post("/plugins/bindings", json={"plugin": "pii", "team_id": teams.team_a}))
        ok(http.put(f"/plugins/bindings/{made['id']}", json={"priority": 2}))
        ok(http.delete(f"/plugins/bindings/{made['id']}"))
        check = {"permission": "gateways.delete", "team_id": teams.team_a}
        assert ok(http.post("/rbac/permissions/check", json=check))["granted"] is True
        check["team_id"] = teams.team_c
        assert ok(http.post("/rbac/permissions/check", json=check))["granted"] is False


def test_a_team_scoped_developer_cannot_call_another_teams_tool_over_mcp(
    mesh: Mesh, teams: Teams
) -> None:
    theirs = httpx.post(
        mesh.url + "/mcp", json=call_body(teams.tool_c), headers=teams.exa.headers, timeout=30
    )
    assert theirs.json()["error"]["code"] == FORBIDDEN, theirs.text
    ours = httpx.post(
        mesh.url + "/mcp", json=call_body(teams.tool_a), headers=teams.exa.headers, timeout=30
    )
    assert ours.status_code == 200 and "error" not in ours.json(), ours.text


def test_a_global_team_admin_still_manages_every_team_they_belong_to(
    mesh: Mesh, teams: Teams
) -> None:
    with rest(mesh, teams.gabe.token) as http:
        changed = ok(http.put(f"/gateways/{teams.gateway_c}", json={"description": "by gabe"}))
        assert changed["description"] == "by gabe"
        ok(http.put(f"/gateways/{teams.gateway_a}", json={"description": "by gabe"}))
        ok(http.put(f"/plugins/bindings/{teams.binding_c}", json={"priority": 3}))
        ok(http.delete(f"/plugins/bindings/{teams.binding_c}"))
        ok(http.delete(f"/gateways/{teams.gateway_c}"))
