"""Issue 9, item 10, against the real mesh: a visible virtual server tells nothing of the entries
the caller cannot see, and a gateway name taken in another team is free in one's own."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from forge.cli.mesh import Mesh
from tests.e2e import security_kit as kit
from tests.e2e.security_kit import LIST, Person, echo_tool, login, make_user, names, ok, rest

fastecho = kit.fastecho  # the shared upstream fixture (module-scoped, one per suite)


@dataclass
class Teams:
    alice: Person  # developer, member of team A
    bob: Person  # developer, member of team B only
    team_a: str
    team_b: str
    run: str


@pytest.fixture(scope="module")
def teams(mesh: Mesh, admin_token: str) -> Teams:
    run = uuid.uuid4().hex[:6]
    emails = {k: f"{k}-cat-{run}@example.com" for k in ("alice", "bob")}
    for email in emails.values():
        make_user(mesh, admin_token, email, "developer")
    alice, bob = login(mesh, emails["alice"]), login(mesh, emails["bob"])
    with rest(mesh, alice.token) as http:
        team_a = ok(http.post("/teams", json={"name": f"cat-a-{run}"}))["id"]
    with rest(mesh, bob.token) as http:
        team_b = ok(http.post("/teams", json={"name": f"cat-b-{run}"}))["id"]
    # Log in again so that the tokens' teams include the new ones.
    return Teams(login(mesh, emails["alice"]), login(mesh, emails["bob"]), team_a, team_b, run)


def gateway(name: str, url: str, team: str, visibility: str) -> dict[str, Any]:
    return {"name": name, "url": url, "team_id": team, "visibility": visibility}


def test_a_public_server_does_not_list_the_ids_of_tools_the_caller_cannot_see(
    mesh: Mesh, teams: Teams, fastecho: str
) -> None:
    alice, bob, run = teams.alice, teams.bob, teams.run
    with rest(mesh, alice.token) as http:
        ok(http.post("/gateways", json=gateway(f"hid-{run}", fastecho, teams.team_a, "private")))
        ok(http.post("/gateways", json=gateway(f"pub-{run}", fastecho, teams.team_a, "public")))
    hidden = echo_tool(mesh, alice.token, f"hid-{run}")
    shown = echo_tool(mesh, alice.token, f"pub-{run}")
    with rest(mesh, alice.token) as http:
        server = ok(
            http.post(
                "/servers",
                json={
                    "name": f"mixed-{run}",
                    "associated_tools": [hidden["id"], shown["id"]],
                    "visibility": "public",
                    "team_id": teams.team_a,
                },
            )
        )
    assert server["associated_tools"] == [hidden["id"], shown["id"]]  # the owner sees both
    with rest(mesh, bob.token) as http:
        for prefix in ("", "/v1"):
            listed = [s for s in ok(http.get(f"{prefix}/servers")) if s["id"] == server["id"]]
            got = ok(http.get(f"{prefix}/servers/{server['id']}"))
            assert [s["associated_tools"] for s in listed] == [[shown["id"]]]
            assert got["associated_tools"] == [shown["id"]]
            assert hidden["id"] not in str(listed) + str(got)
    path = f"/servers/{server['id']}/mcp"
    bobs = httpx.post(mesh.url + path, json=LIST, headers=bob.headers)
    assert names(ok(bobs)) == {shown["name"]}
    alices = httpx.post(mesh.url + path, json=LIST, headers=alice.headers)
    assert names(ok(alices)) == {hidden["name"], shown["name"]}


def test_a_gateway_may_take_the_name_of_another_teams_private_gateway(
    mesh: Mesh, teams: Teams, fastecho: str
) -> None:
    name = f"Payroll {teams.run}"
    with rest(mesh, teams.alice.token) as http:
        theirs = ok(http.post("/gateways", json=gateway(name, fastecho, teams.team_a, "private")))
    with rest(mesh, teams.bob.token) as http:
        response = http.post("/gateways", json=gateway(name, fastecho, teams.team_b, "team"))
        mine = ok(response, 201)
        assert (mine["name"], mine["team_id"]) == (name, teams.team_b)
        assert mine["slug"] != theirs["slug"]
        for secret in (theirs["id"], teams.alice.email, teams.team_a):
            assert secret not in response.text
        assert [g["id"] for g in ok(http.get("/gateways")) if g["name"] == name] == [mine["id"]]
        tool = echo_tool(mesh, teams.bob.token, mine["slug"])
        assert tool["gatewayId"] == mine["id"]


def test_a_second_gateway_of_one_name_in_one_team_is_a_conflict(
    mesh: Mesh, teams: Teams, fastecho: str
) -> None:
    name = f"Billing {teams.run}"
    with rest(mesh, teams.bob.token) as http:
        ok(http.post("/gateways", json=gateway(name, fastecho, teams.team_b, "private")))
        clash = http.post("/gateways", json=gateway(name, fastecho, teams.team_b, "team"))
        assert clash.status_code == 409, clash.text
        assert clash.json()["code"] == -32007
        assert len([g for g in ok(http.get("/gateways")) if g["name"] == name]) == 1
