"""What the e2e security suites share: the people they make and log in, the REST client they
use, the fastecho upstream and the two-team world of test_security.py.

A module-scoped fixture here is imported by each suite that uses it (`from ... import fastecho`),
so each suite still gets its own instance, started and stopped with the module."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from forge.cli.demo import Demo, start_server
from forge.cli.mesh import Mesh
from forge.testing import eventually_sync

PASSWORD = "Correct-Horse-Battery-9"


@dataclass
class Person:
    email: str
    token: str
    teams: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclass
class World:
    """Who exists and what they own: team A's private gateway and server, and the people."""

    admin: Person
    alice: Person  # developer, member of team A
    bob: Person  # developer, member of team B only
    vera: Person  # viewer, member of team A
    team_a: str
    team_b: str
    tool_a: dict[str, Any]  # a tool of team A's gateway (visibility team)
    private_tool: dict[str, Any]  # a tool of alice's private gateway
    server_a: str  # a virtual server of team A (visibility team)
    server_public: str  # a public virtual server holding only public tools


def rest(mesh: Mesh, token: str) -> httpx.Client:
    return httpx.Client(base_url=mesh.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def ok(response: httpx.Response, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200, 201)), (
        response.status_code,
        response.text,
    )
    return response.json()


def make_user(mesh: Mesh, admin: str, email: str, role: str) -> None:
    with rest(mesh, admin) as http:
        ok(
            http.post(
                "/auth/email/admin/users",
                json={"email": email, "password": PASSWORD, "full_name": email, "roles": [role]},
            )
        )


def login(mesh: Mesh, email: str) -> Person:
    response = httpx.post(mesh.url + "/auth/login", json={"email": email, "password": PASSWORD})
    token = ok(response)["access_token"]
    me = ok(httpx.get(mesh.url + "/auth/email/me", headers={"Authorization": f"Bearer {token}"}))
    return Person(email, token, list(me.get("teams", [])))


def echo_tool(mesh: Mesh, token: str, gateway: str) -> dict[str, Any]:
    """The gateway's `echo` tool as the REST API shows it to `token`'s owner."""
    with rest(mesh, token) as http:
        tools = eventually_sync(
            lambda: [t for t in ok(http.get("/tools")) if t["name"] == f"{gateway}-echo"],
            within_s=15,
            every_s=0.1,
            what=f"{gateway}-echo is listed",
        )
        return tools[0]


@pytest.fixture(scope="module")
def fastecho(mesh: Mesh) -> Iterator[str]:
    proc, port = start_server(mesh, "forge.servers.fastecho", "--era", "both")
    server = Demo(proc, f"http://127.0.0.1:{port}/mcp")
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def world(mesh: Mesh, admin_token: str, fastecho: str) -> World:
    run = uuid.uuid4().hex[:6]
    emails = {k: f"{k}-{run}@example.com" for k in ("alice", "bob", "vera")}
    make_user(mesh, admin_token, emails["alice"], "developer")
    make_user(mesh, admin_token, emails["bob"], "developer")
    make_user(mesh, admin_token, emails["vera"], "viewer")
    alice, bob = login(mesh, emails["alice"]), login(mesh, emails["bob"])
    with rest(mesh, alice.token) as http:
        team_a = ok(http.post("/teams", json={"name": f"team-a-{run}"}))["id"]
        ok(http.put(f"/teams/{team_a}/members/{emails['vera']}", json={"role": "member"}))
        ok(
            http.post(
                "/gateways",
                json={
                    "name": f"sec-a-{run}",
                    "url": fastecho,
                    "visibility": "team",
                    "team_id": team_a,
                },
            )
        )
        ok(
            http.post(
                "/gateways",
                json={"name": f"sec-p-{run}", "url": fastecho, "visibility": "private"},
            )
        )
    with rest(mesh, bob.token) as http:
        team_b = ok(http.post("/teams", json={"name": f"team-b-{run}"}))["id"]
    # Memberships changed after the logins: log in again so the tokens' teams are current
    # (they are resolved per request from the identity cache, so this only refreshes `teams`).
    alice, bob, vera = (login(mesh, emails[k]) for k in ("alice", "bob", "vera"))
    tool_a = echo_tool(mesh, alice.token, f"sec-a-{run}")
    private_tool = echo_tool(mesh, alice.token, f"sec-p-{run}")
    with rest(mesh, alice.token) as http:
        server_a = ok(
            http.post(
                "/servers",
                json={
                    "name": f"srv-a-{run}",
                    "associated_tools": [tool_a["id"]],
                    "visibility": "team",
                    "team_id": team_a,
                },
            )
        )["id"]
    with rest(mesh, bob.token) as http:
        server_public = ok(
            http.post("/servers", json={"name": f"srv-pub-{run}", "visibility": "public"})
        )["id"]
    admin = Person("admin@forge.local", admin_token, [])
    return World(
        admin, alice, bob, vera, team_a, team_b, tool_a, private_tool, server_a, server_public
    )


def call_body(name: str, request_id: int = 1) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": request_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": {"text": "hi"}},
    }


LIST = {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}


def names(listing: dict[str, Any]) -> set[str]:
    return {t["name"] for t in listing["result"]["tools"]}


def api_token(mesh: Mesh, person: Person, **scope: Any) -> str:
    with rest(mesh, person.token) as http:
        created = ok(http.post("/tokens", json={"name": f"t-{uuid.uuid4().hex[:6]}", **scope}))
    return str(created["token"])
