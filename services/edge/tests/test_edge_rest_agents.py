"""The /a2a REST routes behind the guard: each route's permission, ContextForge's body and query
shapes reaching the registry's agents.* operations, and views that never show credentials. A
small catalog registry answers over a real NATS."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from edge_harness import SECRET, IdentityRegistry, client, edge_on, stop, user

from forge.cli.tokens import mint
from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.core.errors import NotFoundError
from forge.proto.envelope import Envelope

ADMIN = user("root@example.com", "platform_admin")
DEV = user("dev@example.com", "developer")
VERA = user("vera@example.com", "viewer")
_ENC = msgspec.json.Encoder()
AGENT = {
    "id": "a1",
    "name": "Echo",
    "slug": "echo",
    "url": "http://agent.example/a2a",
    "auth_type": "bearer",
    "auth": "sealed-credentials-blob",
    "owner": DEV.email,
    "team_id": "team-a",
    "visibility": "team",
}


async def registry(bus: NatsBus) -> list[Envelope]:
    """The catalog registry's agents.*: the canned agent; `missing` is not found."""
    seen: list[Envelope] = []

    async def handle(envelope: Envelope) -> bytes:
        seen.append(envelope)
        op = envelope.method.split(".")[2]
        if msgspec.json.decode(envelope.params).get("id") == "missing":
            raise NotFoundError("no agent has this id")
        if op == "delete":
            return _ENC.encode({"id": "a1", "deleted": True})
        return _ENC.encode([AGENT] if op == "list" else AGENT)

    subject = subjects.registry(subjects.CATALOG, "agents", "*")
    await rpc.serve_envelopes(bus, subject, handle, queue=None)
    return seen


@pytest.fixture
async def edge(bus: NatsBus) -> Any:
    await IdentityRegistry(bus, [ADMIN, DEV, VERA]).start()
    started = await edge_on(bus)
    try:
        yield started
    finally:
        await stop(started)


ROUTES = [
    ("POST", "/a2a", {"name": "x", "url": "http://agent.example"}, "a2a.create"),
    ("GET", "/a2a", None, "a2a.read"),
    ("GET", "/a2a/a1", None, "a2a.read"),
    ("PUT", "/a2a/a1", {"description": "d"}, "a2a.update"),
    ("DELETE", "/a2a/a1", None, "a2a.delete"),
    ("POST", "/a2a/a1/toggle", None, "a2a.update"),
    ("POST", "/a2a/a1/card/refresh", None, "a2a.update"),
    ("GET", "/v1/a2a/a1", None, "a2a.read"),
]


@pytest.mark.parametrize(("method", "path", "body", "permission"), ROUTES)
async def test_every_route_needs_its_permission(
    edge: Any, bus: NatsBus, method: str, path: str, body: Any, permission: str
) -> None:
    await registry(bus)
    for who in (VERA, DEV, ADMIN):
        async with client(edge, mint(SECRET, who.email)) as http:
            response = await http.request(method, path, json=body)
        if permission in who.permissions or who.is_admin:
            assert response.status_code in (200, 201), (who.email, response.text)
        else:
            assert response.status_code == 403, (who.email, response.text)
            assert response.json()["data"] == {"permission": permission}


async def test_contextforge_shapes_reach_the_registry(edge: Any, bus: NatsBus) -> None:
    seen = await registry(bus)
    wrapped = {"agent": {"name": "n", "endpoint_url": "http://e"}, "visibility": "public"}
    async with client(edge, mint(SECRET, ADMIN.email)) as http:
        assert (await http.post("/a2a", json=wrapped)).status_code == 201
        await http.post("/a2a/a1/toggle", params={"activate": "false"})
        await http.post("/a2a/a1/toggle?activate=TRUE")
        await http.post("/a2a/a1/toggle", json={"activate": False})
        await http.post("/a2a/a1/card/refresh")
        await http.put("/a2a/a1", json={"id": "other", "name": "m"})
    assert [(e.method, msgspec.json.decode(e.params)) for e in seen] == [
        (
            "catalog.agents.create",
            {"visibility": "public", "name": "n", "endpoint_url": "http://e"},
        ),
        ("catalog.agents.toggle", {"activate": False, "id": "a1"}),
        ("catalog.agents.toggle", {"activate": True, "id": "a1"}),
        ("catalog.agents.toggle", {"activate": False, "id": "a1"}),
        ("catalog.agents.refresh", {"id": "a1"}),
        ("catalog.agents.update", {"name": "m", "id": "a1"}),  # the path's id wins
    ]


async def test_agents_never_show_their_credentials(edge: Any, bus: NatsBus) -> None:
    await registry(bus)
    async with client(edge, mint(SECRET, DEV.email)) as http:
        views = [
            (await http.get("/a2a")).json()[0],
            (await http.get("/a2a/a1")).json(),
            (await http.put("/a2a/a1", json={})).json(),
            (await http.post("/a2a/a1/toggle")).json(),
            (await http.post("/a2a/a1/card/refresh")).json(),
            (await http.post("/a2a", json={"name": "n", "url": "u"})).json(),
        ]
    for view in views:
        assert "auth" not in view and "sealed-credentials-blob" not in str(view)
        assert view["auth_type"] == "bearer"
        assert view["endpoint_url"] == view["url"] == AGENT["url"]


async def test_an_agent_the_caller_cannot_see_is_not_found_and_bad_bodies_are_400(
    edge: Any, bus: NatsBus
) -> None:
    seen = await registry(bus)
    async with client(edge, mint(SECRET, VERA.email)) as http:
        hidden = await http.delete("/a2a/missing")
        assert hidden.status_code == 404 and hidden.json()["code"] == -32006
        visible = await http.delete("/a2a/a1")
        assert visible.status_code == 403 and visible.json()["code"] == -32005
    async with client(edge, mint(SECRET, ADMIN.email)) as http:
        assert (await http.post("/a2a", content=b"{oops")).status_code == 400
        assert (await http.post("/a2a", json=[1])).status_code == 400
        assert (await http.put("/a2a/a1", content=b"\xff\xfe")).status_code == 400
    assert [e.method for e in seen] == ["catalog.agents.get", "catalog.agents.get"]
