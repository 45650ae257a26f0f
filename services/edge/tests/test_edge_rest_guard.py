"""The REST admin API behind the guard: each route's permission, the new routes, and views that
show ownership and never a gateway's sealed credentials. A small catalog registry answers."""

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

GATEWAY = {
    "id": "g1",
    "name": "one",
    "slug": "one",
    "url": "http://upstream.example/mcp",
    "env": {"API_KEY": "hunter2"},
    "auth_type": "bearer",
    "auth": "sealed-credentials-blob",
    "owner": DEV.email,
    "team_id": "team-a",
    "visibility": "team",
}
TOOL = {
    "id": "t1",
    "name": "one-echo",
    "original_name": "echo",
    "gateway_id": "g1",
    "tool": {"name": "echo", "inputSchema": {"type": "object"}},
    "owner": DEV.email,
    "team_id": "team-a",
    "visibility": "team",
}
RESOURCE = {**TOOL, "uri": "file:///a", "resource": {"name": "a", "uri": "file:///a"}}
TEMPLATE = {**TOOL, "uri_template": "file:///{x}", "template": {"name": "x"}}
PROMPT = {**TOOL, "prompt": {"name": "p"}}


async def catalog(bus: NatsBus) -> list[Envelope]:
    """The catalog registry: canned records; `missing` is not found; records what it was asked."""
    seen: list[Envelope] = []
    records: dict[str, Any] = {
        "gateways": GATEWAY,
        "tools": TOOL,
        "resources": RESOURCE,
        "resource_templates": TEMPLATE,
        "prompts": PROMPT,
    }

    async def handle(envelope: Envelope) -> bytes:
        seen.append(envelope)
        _, entity, op = envelope.method.split(".")
        params = msgspec.json.decode(envelope.params)
        if params.get("id") == "missing":
            raise NotFoundError("no such thing")
        record = records.get(entity, {"id": params.get("id"), "params": params})
        return _ENC.encode([record] if op == "list" else record)

    await rpc.serve_envelopes(bus, subjects.registry_all(subjects.CATALOG), handle, queue=None)
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
    ("POST", "/gateways", {"name": "x", "url": "http://u.example"}, "gateways.create"),
    ("GET", "/gateways", None, "gateways.read"),
    ("GET", "/gateways/g1", None, "gateways.read"),
    ("PUT", "/gateways/g1", {"description": "d"}, "gateways.update"),
    ("DELETE", "/gateways/g1", None, "gateways.delete"),
    ("POST", "/gateways/g1/tools/refresh", None, "gateways.update"),
    ("GET", "/tools", None, "tools.read"),
    ("GET", "/tools/t1", None, "tools.read"),
    ("GET", "/resources", None, "resources.read"),
    ("GET", "/resources/t1", None, "resources.read"),
    ("GET", "/resources/templates/list", None, "resources.read"),
    ("GET", "/prompts", None, "prompts.read"),
    ("GET", "/prompts/t1", None, "prompts.read"),
    ("POST", "/servers", {"name": "s"}, "servers.create"),
    ("GET", "/servers", None, "servers.read"),
    ("GET", "/servers/s1", None, "servers.read"),
    ("PUT", "/servers/s1", {"name": "s2"}, "servers.update"),
    ("DELETE", "/servers/s1", None, "servers.delete"),
    ("POST", "/admin/secrets/reseal", None, "admin.config"),
]


@pytest.mark.parametrize(("method", "path", "body", "permission"), ROUTES)
async def test_every_route_needs_its_permission(
    edge: Any, bus: NatsBus, method: str, path: str, body: Any, permission: str
) -> None:
    await catalog(bus)
    for who in (VERA, DEV, ADMIN):
        async with client(edge, mint(SECRET, who.email)) as http:
            response = await http.request(method, path, json=body)
        if permission in who.permissions or who.is_admin:
            assert response.status_code in (200, 201), (who.email, response.text)
        else:
            assert response.status_code == 403, (who.email, response.text)
            assert response.json()["code"] == -32005
            assert response.json()["data"] == {"permission": permission}


async def test_new_routes_reach_their_registry_operations(edge: Any, bus: NatsBus) -> None:
    seen = await catalog(bus)
    async with client(edge, mint(SECRET, ADMIN.email)) as http:
        await http.put("/gateways/g1", json={"description": "d", "id": "other"})
        await http.put("/servers/s1", json={"name": "n"})
        await http.post("/admin/secrets/reseal")
        await http.post("/v1/admin/secrets/reseal", json={})
    assert [(e.method, msgspec.json.decode(e.params)) for e in seen] == [
        ("catalog.gateways.update", {"description": "d", "id": "g1"}),  # the path's id wins
        ("catalog.servers.update", {"name": "n", "id": "s1"}),
        ("catalog.secrets.reseal", {}),
        ("catalog.secrets.reseal", {}),
    ]
    assert seen[0].principal.subject == ADMIN.email


async def test_gateways_never_show_their_credentials(edge: Any, bus: NatsBus) -> None:
    await catalog(bus)
    async with client(edge, mint(SECRET, DEV.email)) as http:
        views = [
            (await http.get("/gateways")).json()[0],
            (await http.get("/gateways/g1")).json(),
            (await http.put("/gateways/g1", json={})).json(),
            (await http.post("/gateways", json={"name": "n", "url": "u"})).json(),
        ]
    for view in views:
        assert "auth" not in view
        assert view["auth_type"] == "bearer"
        assert view["env"] == {"API_KEY": "********"}
        assert "hunter2" not in str(view)


async def test_catalog_views_show_ownership(edge: Any, bus: NatsBus) -> None:
    await catalog(bus)
    async with client(edge, mint(SECRET, DEV.email)) as http:
        views = [
            (await http.get("/tools")).json()[0],
            (await http.get("/resources/t1")).json(),
            (await http.get("/resources/templates/list")).json()[0],
            (await http.get("/prompts")).json()[0],
        ]
    for view in views:
        assert view["owner"] == DEV.email
        assert view["teamId"] == "team-a"
        assert view["visibility"] == "team"


async def test_the_registrys_not_found_stays_not_found(edge: Any, bus: NatsBus) -> None:
    await catalog(bus)
    async with client(edge, mint(SECRET, ADMIN.email)) as http:
        for path in ("/gateways/missing", "/tools/missing", "/servers/missing"):
            response = await http.get(path)
            assert response.status_code == 404 and response.json()["code"] == -32006


async def test_rest_refusals_without_a_token_carry_a_challenge(edge: Any) -> None:
    async with client(edge) as http:
        response = await http.get("/gateways")
    assert response.status_code == 401 and response.json()["code"] == -32004
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="forge", resource_metadata="')
    assert challenge.endswith('/.well-known/oauth-protected-resource"')


async def test_an_entity_the_caller_cannot_see_is_not_found_rather_than_forbidden(
    edge: Any, bus: NatsBus
) -> None:
    seen = await catalog(bus)
    async with client(edge, mint(SECRET, VERA.email)) as http:
        hidden = await http.delete("/gateways/missing")
        assert hidden.status_code == 404 and hidden.json()["code"] == -32006
        visible = await http.delete("/gateways/g1")
        assert visible.status_code == 403 and visible.json()["code"] == -32005
        listing = await http.post("/gateways", json={"name": "n", "url": "u"})
        assert listing.status_code == 403  # no id: nothing to look up
    # Only lookups were made on the viewer's behalf: nothing was deleted or created.
    assert [e.method for e in seen] == ["catalog.gateways.get", "catalog.gateways.get"]
