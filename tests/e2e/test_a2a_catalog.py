"""A2A agents in the catalog through the mesh: ContextForge's `/a2a` REST routes, the card fetched
from a real local HTTP server, the agent's tool listed on /mcp and in virtual servers, and what
must be refused (bad cards, addresses the SSRF guard refuses, another team's private agent)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from forge.cli.mesh import Mesh
from forge.testing import eventually_sync
from forge.testing.card_server import CARD_PATH, CardServer, card_v1
from tests.e2e.security_kit import LIST, Person, login, make_user, names, ok, rest


@dataclass
class People:
    owen: Person  # developer, his personal team only
    cora: Person  # developer, her personal team only


@pytest.fixture(scope="module")
def people(mesh: Mesh, admin_token: str) -> People:
    run = uuid.uuid4().hex[:6]
    emails = {k: f"{k}-a2a-{run}@example.com" for k in ("owen", "cora")}
    for email in emails.values():
        make_user(mesh, admin_token, email, "developer")
    return People(login(mesh, emails["owen"]), login(mesh, emails["cora"]))


@pytest.fixture
def agent_server() -> Iterator[CardServer]:
    with CardServer() as server:
        server.serve_card(card_v1(server.url + "/a2a", "Echo Agent"))
        yield server


def unique(prefix: str) -> str:
    return f"{prefix} {uuid.uuid4().hex[:6]}"


def slug(name: str) -> str:
    return name.lower().replace(" ", "-")


def listed_on(mesh: Mesh, token: str, path: str = "/mcp") -> set[str]:
    headers = {"Authorization": f"Bearer {token}"}
    return names(ok(httpx.post(mesh.url + path, json=LIST, headers=headers)))


def until_listed(mesh: Mesh, token: str, tool: str, present: bool, path: str = "/mcp") -> None:
    eventually_sync(
        lambda: (tool in listed_on(mesh, token, path)) == present,
        within_s=15,
        every_s=0.1,
        what=f"{tool} {'listed' if present else 'gone'} on {path}",
    )


def test_an_agent_registered_over_rest_is_a_tool_until_disabled_or_deleted(
    mesh: Mesh, admin_token: str, agent_server: CardServer
) -> None:
    name = unique("Echo")
    tool = f"a2a-{slug(name)}"
    with rest(mesh, admin_token) as http:
        body = {"name": name, "url": agent_server.url, "visibility": "public"}
        created = http.post("/a2a", json={**body, "auth_type": "bearer", "auth_token": "tok"})
        agent = ok(created, 201)
        assert "auth" not in agent and "tok" not in created.text
        assert agent["auth_type"] == "bearer"
        assert (agent["protocol_version"], agent["binding"]) == ("1.0", "jsonrpc")
        assert agent["url"] == agent["endpoint_url"] == agent_server.url + "/a2a"
        assert agent["streaming"] is True
        assert agent_server.requests == [CARD_PATH]
        for path in (f"/a2a/{agent['id']}", f"/v1/a2a/{agent['id']}"):
            one = ok(http.get(path))
            assert one.pop("metrics")["totalExecutions"] == 0  # the view of one: its metrics too
            assert one == agent
        assert agent["id"] in {a["id"] for a in ok(http.get("/a2a"))}
        [rest_tool] = [t for t in ok(http.get("/tools")) if t["gatewayId"] == agent["id"]]
        assert rest_tool["name"] == tool
        assert rest_tool["inputSchema"]["required"] == ["message"]
        until_listed(mesh, admin_token, tool, True)

        server = ok(
            http.post(
                "/servers", json={"name": unique("S"), "associated_tools": [rest_tool["id"]]}
            ),
            201,
        )
        until_listed(mesh, admin_token, tool, True, f"/servers/{server['id']}/mcp")

        off = ok(http.post(f"/a2a/{agent['id']}/toggle", params={"activate": "false"}))
        assert off["enabled"] is False
        until_listed(mesh, admin_token, tool, False)
        assert ok(http.get(f"/servers/{server['id']}"))["associated_tools"] == []
        on = ok(http.post(f"/a2a/{agent['id']}/toggle"))
        assert on["enabled"] is True
        until_listed(mesh, admin_token, tool, True)

        agent_server.serve_card(card_v1(agent_server.url + "/v2", "Echo", description="Newer"))
        refreshed = ok(http.post(f"/a2a/{agent['id']}/card/refresh"))
        assert (refreshed["url"], refreshed["description"]) == (agent_server.url + "/v2", "Newer")
        renamed = ok(http.put(f"/a2a/{agent['id']}", json={"name": name + " Two"}))
        assert renamed["slug"] == slug(name) + "-two"
        until_listed(mesh, admin_token, tool + "-two", True)

        assert ok(http.delete(f"/a2a/{agent['id']}")) == {"id": agent["id"], "deleted": True}
        until_listed(mesh, admin_token, tool + "-two", False)
        assert http.get(f"/a2a/{agent['id']}").status_code == 404
        ok(http.delete(f"/servers/{server['id']}"))


def test_contextforge_shaped_bodies_are_accepted(
    mesh: Mesh, admin_token: str, agent_server: CardServer
) -> None:
    name = unique("Cf Agent")
    body = {
        "agent": {
            "name": name,
            "endpoint_url": agent_server.url,
            "agent_type": "generic",
            "auth_type": "authheaders",
            "auth_header_key": "X-Api-Key",
            "auth_value": "key-1",
            "tags": ["demo"],
        },
        "visibility": "public",
    }
    with rest(mesh, admin_token) as http:
        created = http.post("/a2a", json=body)
        agent = ok(created, 201)
        assert (agent["name"], agent["visibility"], agent["tags"]) == (name, "public", ["demo"])
        assert agent["auth_type"] == "headers" and "key-1" not in created.text
        ok(http.delete(f"/a2a/{agent['id']}"))


@pytest.mark.parametrize(
    ("url", "status"),
    [
        ("http://169.254.169.254/", 403),  # cloud metadata: link-local
        ("http://10.1.2.3:8080/", 403),  # a private address the operator has not allowed
        ("http://0x7f.0.0.1/", 422),  # a non-canonical IPv4 spelling
        ("ftp://127.0.0.1/", 422),
        ("not a url", 422),
    ],
)
def test_addresses_the_guard_refuses_are_refused_and_nothing_is_stored(
    mesh: Mesh, admin_token: str, url: str, status: int
) -> None:
    name = unique("Bad")
    with rest(mesh, admin_token) as http:
        response = http.post("/a2a", json={"name": name, "url": url})
        assert response.status_code == status, response.text
        assert response.json()["detail"]
        assert name not in {a["name"] for a in ok(http.get("/a2a"))}


@pytest.mark.parametrize(
    "card",
    ['{"name": "truncated', "<html>hello</html>", '{"description": "no name"}', "[1, 2]"],
)
def test_what_is_not_an_agent_card_is_a_422(
    mesh: Mesh, admin_token: str, agent_server: CardServer, card: str
) -> None:
    agent_server.put(CARD_PATH, card, content_type="application/json")
    with rest(mesh, admin_token) as http:
        response = http.post("/a2a", json={"name": unique("Broken"), "url": agent_server.url})
        assert response.status_code == 422, response.text
        assert "card" in response.json()["detail"]


def test_bad_requests_are_clear_errors(mesh: Mesh, admin_token: str) -> None:
    with rest(mesh, admin_token) as http:
        assert http.post("/a2a", content=b"{not json").status_code == 400
        assert http.post("/a2a", json=["a"]).status_code == 400
        assert http.post("/a2a", json={"url": "http://127.0.0.1:1/"}).status_code == 422
        assert http.get("/a2a/no-such-agent").status_code == 404
        assert http.post("/a2a/no-such-agent/toggle").status_code == 404
        assert http.post("/a2a/no-such-agent/card/refresh").status_code == 404
    assert httpx.get(mesh.url + "/a2a").status_code == 401


def test_another_teams_private_agent_is_invisible_and_not_modifiable(
    mesh: Mesh, admin_token: str, people: People, agent_server: CardServer
) -> None:
    owen, cora = people.owen, people.cora
    name = unique("Private")
    tool = f"a2a-{slug(name)}"
    with rest(mesh, owen.token) as http:
        body = {"name": name, "url": agent_server.url, "visibility": "private"}
        agent = ok(http.post("/a2a", json=body), 201)
    until_listed(mesh, owen.token, tool, True)
    with rest(mesh, cora.token) as http:
        assert agent["id"] not in {a["id"] for a in ok(http.get("/a2a"))}
        assert all(t["gatewayId"] != agent["id"] for t in ok(http.get("/tools")))
        for response in (
            http.get(f"/a2a/{agent['id']}"),
            http.put(f"/a2a/{agent['id']}", json={"name": "Mine now"}),
            http.post(f"/a2a/{agent['id']}/toggle"),
            http.post(f"/a2a/{agent['id']}/card/refresh"),
            http.delete(f"/a2a/{agent['id']}"),
        ):
            assert response.status_code == 404, response.text
    assert tool not in listed_on(mesh, cora.token)
    with rest(mesh, owen.token) as http:
        assert ok(http.get(f"/a2a/{agent['id']}"))["name"] == name
        ok(http.post(f"/a2a/{agent['id']}/toggle", params={"activate": "false"}))
        # A developer holds no a2a.delete (as no gateways.delete): 403 for the owner who sees it.
        refused = http.delete(f"/a2a/{agent['id']}")
        assert refused.status_code == 403
        assert refused.json()["data"] == {"permission": "a2a.delete"}
    until_listed(mesh, owen.token, tool, False)
    with rest(mesh, admin_token) as http:
        ok(http.delete(f"/a2a/{agent['id']}"))
