"""The security suite: every attack the issue names is tried against the real mesh and refused
with the right status and code; nothing the caller may not see leaks through any transport."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from httpx2.websockets import WebSocketUpgradeError
from joserfc import jwt
from joserfc.jwk import OctKey

from forge.cli.mesh import Mesh
from forge.cli.tokens import mint
from forge.core.bus import NatsBus
from forge.testing import eventually_sync
from tests.e2e import security_kit as kit
from tests.e2e.conftest import INIT
from tests.e2e.mcp_ws import websocket_client
from tests.e2e.security_kit import (
    LIST,
    PASSWORD,
    World,
    api_token,
    call_body,
    login,
    names,
    ok,
    rest,
)
from tests.e2e.test_transports import events

# The suite's fixtures, shared with the other security suites (each module gets its own).
fastecho = kit.fastecho
world = kit.world

INJECTIONS = [
    "'; DROP TABLE users; --",
    '{"$ne": null}',
    "Robert'); DELETE FROM gateways WHERE ('1'='1",
    '" OR ""="',
    "名前 ✓ ünïcödé",
    "<script>alert(1)</script>",
]


# --- tokens: forged, alg none, expired, wrong audience / issuer, revoked ------------------------


def _none_token(subject: str) -> str:
    header = {"alg": "none", "typ": "JWT"}
    now = int(time.time())
    claims = {"sub": subject, "exp": now + 600, "jti": "x", "aud": "forge", "iss": "forge"}

    def b64(value: dict[str, Any]) -> str:
        import base64

        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{b64(header)}.{b64(claims)}."


def bad_tokens(mesh: Mesh) -> dict[str, str]:
    admin = "admin@forge.local"
    return {
        "forged signature": mint("f" * 48, admin, admin=True),
        "alg none": _none_token(admin),
        "expired": mint(mesh.secret, admin, ttl_s=-120),
        "wrong audience": mint(mesh.secret, admin, audience="someone-else"),
        "wrong issuer": mint(mesh.secret, admin, issuer="https://evil.example"),
        "no jti": jwt.encode(
            {"alg": "HS256"},
            {"sub": admin, "exp": int(time.time()) + 600, "aud": "forge", "iss": "forge"},
            OctKey.import_key(mesh.secret),
        ),
        "unknown user": mint(mesh.secret, "nobody-at-all@example.com"),
    }


BAD_TOKEN_KINDS = [
    "forged signature",
    "alg none",
    "expired",
    "wrong audience",
    "wrong issuer",
    "no jti",
    "unknown user",
]


@pytest.mark.parametrize("kind", BAD_TOKEN_KINDS)
def test_bad_tokens_are_refused_on_every_http_endpoint(mesh: Mesh, world: World, kind: str) -> None:
    token = bad_tokens(mesh)[kind]
    headers = {"Authorization": f"Bearer {token}"}
    for path in ("/mcp", f"/servers/{world.server_public}/mcp"):
        response = httpx.post(mesh.url + path, json=INIT, headers=headers)
        assert response.status_code == 401, (kind, path, response.text)
        assert response.json()["error"]["code"] == -32004
        challenge = response.headers["www-authenticate"]
        assert "resource_metadata=" in challenge, challenge
    response = httpx.get(mesh.url + "/tools", headers=headers)
    assert response.status_code == 401 and response.json()["code"] == -32004
    with httpx.stream("GET", mesh.url + "/sse", headers=headers) as stream:
        assert stream.status_code == 401


@pytest.mark.parametrize("kind", ["forged signature", "alg none", "expired", "wrong audience"])
async def test_bad_tokens_are_refused_on_websocket(mesh: Mesh, world: World, kind: str) -> None:
    url = mesh.url.replace("http://", "ws://") + "/ws"
    with pytest.raises(WebSocketUpgradeError) as raised:
        async with websocket_client(url, {"Authorization": f"Bearer {bad_tokens(mesh)[kind]}"}):
            pass
    assert raised.value.response.status_code in (401, 403)


def test_a_revoked_session_token_is_refused_at_once(mesh: Mesh, world: World) -> None:
    person = login(mesh, world.bob.email)
    assert httpx.post(mesh.url + "/mcp", json=LIST, headers=person.headers).status_code == 200
    ok(httpx.post(mesh.url + "/auth/logout", headers=person.headers))

    def refused() -> httpx.Response | None:
        response = httpx.post(mesh.url + "/mcp", json=LIST, headers=person.headers)
        return response if response.status_code == 401 else None

    response = eventually_sync(refused, within_s=5, what="the logged-out token is refused")
    assert response.status_code == 401
    assert "revoked" in response.json()["error"]["message"]


def test_protected_resource_metadata_is_served(mesh: Mesh, world: World) -> None:
    root = ok(httpx.get(mesh.url + "/.well-known/oauth-protected-resource"))
    assert root["resource"] == mesh.url + "/mcp"
    assert root["authorization_servers"]
    per_server = ok(
        httpx.get(
            mesh.url + f"/.well-known/oauth-protected-resource/servers/{world.server_public}/mcp"
        )
    )
    assert per_server["resource"] == mesh.url + f"/servers/{world.server_public}/mcp"


def test_a_token_for_one_server_is_refused_on_another(mesh: Mesh, world: World) -> None:
    audience = f"{mesh.url}/servers/{world.server_a}/mcp"
    token = mint(mesh.secret, world.alice.email, audience=audience)
    headers = {"Authorization": f"Bearer {token}"}
    here = httpx.post(mesh.url + f"/servers/{world.server_a}/mcp", json=LIST, headers=headers)
    assert here.status_code == 200, here.text
    there = httpx.post(mesh.url + f"/servers/{world.server_public}/mcp", json=LIST, headers=headers)
    assert there.status_code == 401 and there.json()["error"]["code"] == -32004


def test_a_disallowed_origin_is_refused(mesh: Mesh, world: World) -> None:
    headers = {**world.alice.headers, "Origin": "https://evil.example"}
    response = httpx.post(mesh.url + "/mcp", json=LIST, headers=headers)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == -32005
    allowed = {**world.alice.headers, "Origin": mesh.url}
    assert httpx.post(mesh.url + "/mcp", json=LIST, headers=allowed).status_code == 200


# --- API tokens: CIDR, server scope ---------------------------------------------------------


def wait_accepted(mesh: Mesh, path: str, token: str) -> httpx.Response:
    """API tokens reach the edge's cache by event: wait until it stops saying 'unknown'."""

    def accepted() -> httpx.Response | None:
        response = httpx.post(
            mesh.url + path, json=LIST, headers={"Authorization": f"Bearer {token}"}
        )
        return response if response.status_code != 401 else None

    return eventually_sync(accepted, within_s=5, what="the edge knows the new API token")


def test_an_api_token_works_within_its_scope(mesh: Mesh, world: World) -> None:
    token = api_token(mesh, world.alice, cidrs=["127.0.0.0/8"])
    response = wait_accepted(mesh, "/mcp", token)
    assert response.status_code == 200, response.text
    assert world.tool_a["name"] in names(response.json())


def test_an_api_token_used_from_outside_its_cidr_is_refused(mesh: Mesh, world: World) -> None:
    token = api_token(mesh, world.alice, cidrs=["10.20.0.0/16"])
    response = wait_accepted(mesh, "/mcp", token)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == -32005


def test_a_server_scoped_token_is_refused_on_another_server(mesh: Mesh, world: World) -> None:
    token = api_token(mesh, world.alice, server_id=world.server_a)
    assert wait_accepted(mesh, f"/servers/{world.server_a}/mcp", token).status_code == 200
    for path in (f"/servers/{world.server_public}/mcp", "/mcp"):
        response = httpx.post(
            mesh.url + path, json=LIST, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code == 403, (path, response.text)
        assert response.json()["error"]["code"] == -32005


# --- visibility: team A's tools do not exist for team B --------------------------------------


def test_team_b_does_not_see_team_a_tools_over_streamable_http(mesh: Mesh, world: World) -> None:
    a_names = {world.tool_a["name"], world.private_tool["name"]}
    alice = httpx.post(mesh.url + "/mcp", json=LIST, headers=world.alice.headers).json()
    assert a_names <= names(alice)
    bob = httpx.post(mesh.url + "/mcp", json=LIST, headers=world.bob.headers).json()
    assert not a_names & names(bob)
    for name in a_names:
        called = httpx.post(mesh.url + "/mcp", json=call_body(name), headers=world.bob.headers)
        assert called.status_code == 200
        error = called.json()["error"]
        assert error["code"] == -32602 and "Unknown tool" in error["message"], error


def test_the_private_tool_is_hidden_from_the_owners_team(mesh: Mesh, world: World) -> None:
    vera = httpx.post(mesh.url + "/mcp", json=LIST, headers=world.vera.headers).json()
    assert world.tool_a["name"] in names(vera)
    assert world.private_tool["name"] not in names(vera)


def test_team_b_cannot_use_team_a_server(mesh: Mesh, world: World) -> None:
    path = f"/servers/{world.server_a}/mcp"
    for body in (LIST, call_body(world.tool_a["name"])):
        response = httpx.post(mesh.url + path, json=body, headers=world.bob.headers)
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == -32006
    assert httpx.post(mesh.url + path, json=LIST, headers=world.alice.headers).status_code == 200


def test_team_b_cannot_reach_team_a_entities_over_rest(mesh: Mesh, world: World) -> None:
    with rest(mesh, world.bob.token) as http:
        listed = {t["id"] for t in ok(http.get("/tools"))}
        assert world.tool_a["id"] not in listed and world.private_tool["id"] not in listed
        for tool in (world.tool_a, world.private_tool):
            response = http.get(f"/tools/{tool['id']}")
            assert response.status_code == 404 and response.json()["code"] == -32006
        assert http.get(f"/servers/{world.server_a}").status_code == 404
        assert world.server_a not in {s["id"] for s in ok(http.get("/servers"))}
        gateway = world.tool_a["gatewayId"]
        assert http.delete(f"/gateways/{gateway}").status_code == 404
        assert http.get(f"/gateways/{gateway}").status_code == 404


async def test_team_b_does_not_see_team_a_tools_over_sse(mesh: Mesh, world: World) -> None:
    async with httpx.AsyncClient(headers=world.bob.headers, timeout=30) as http:
        async with http.stream("GET", mesh.url + "/sse") as stream:
            received = events(stream)
            _, endpoint = await anext(received)
            assert (await http.post(mesh.url + endpoint, json=INIT)).status_code == 202
            async with asyncio.timeout(10):
                await anext(received)
            assert (await http.post(mesh.url + endpoint, json=LIST)).status_code == 202
            async with asyncio.timeout(10):
                _, listed = await anext(received)
            assert world.tool_a["name"] not in names(json.loads(listed))
            body = call_body(world.tool_a["name"], 3)
            assert (await http.post(mesh.url + endpoint, json=body)).status_code == 202
            async with asyncio.timeout(10):
                _, answer = await anext(received)
            assert json.loads(answer)["error"]["code"] == -32602


async def test_team_b_does_not_see_team_a_tools_over_websocket(mesh: Mesh, world: World) -> None:
    from mcp import Client

    url = mesh.url.replace("http://", "ws://") + "/ws"
    async with Client(websocket_client(url, world.bob.headers), mode="legacy") as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        assert world.tool_a["name"] not in listed
        with pytest.raises(Exception) as raised:  # the SDK raises MCPError for error replies
            await client.call_tool(world.tool_a["name"], {"text": "hi"})
        assert "Unknown tool" in str(raised.value)


# --- permissions: viewer, developer ------------------------------------------------------------


def test_a_viewer_cannot_call_a_tool(mesh: Mesh, world: World) -> None:
    response = httpx.post(
        mesh.url + "/mcp", json=call_body(world.tool_a["name"]), headers=world.vera.headers
    )
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == -32005
    listed = httpx.post(mesh.url + "/mcp", json=LIST, headers=world.vera.headers)
    assert listed.status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/auth/email/admin/users", {"email": "x@example.com", "password": PASSWORD}),
        ("GET", "/auth/email/admin/users", None),
        ("POST", "/rbac/roles", {"name": "sneaky", "permissions": ["*"]}),
        ("POST", "/rbac/users/{alice}/roles", {"role": "platform_admin"}),
        ("GET", "/audit", None),
        ("POST", "/admin/secrets/reseal", {}),
    ],
)
def test_a_developer_cannot_use_admin_routes(
    mesh: Mesh, world: World, method: str, path: str, body: Any
) -> None:
    with rest(mesh, world.bob.token) as http:
        response = http.request(method, path.format(alice=world.alice.email), json=body)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == -32005


# --- SSRF ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0:8080/mcp",
        "http://[::ffff:169.254.169.254]/mcp",
        "http://10.1.2.3/mcp",
    ],
)
def test_upstreams_on_private_addresses_are_refused(mesh: Mesh, world: World, url: str) -> None:
    # The test mesh allows loopback only (FORGE_UPSTREAM_ALLOWED_NETWORKS); the registry tests
    # check 127.0.0.1 refused when nothing is allowed.
    with rest(mesh, world.admin.token) as http:
        response = http.post("/gateways", json={"name": f"ssrf-{uuid.uuid4().hex[:6]}", "url": url})
    assert response.status_code == 403, response.text
    assert response.json()["code"] == -32005


# --- injection strings in every name field -------------------------------------------------


@pytest.mark.parametrize("text", INJECTIONS)
def test_injection_strings_in_name_fields_are_harmless(mesh: Mesh, world: World, text: str) -> None:
    suffix = uuid.uuid4().hex[:4]
    name = f"{text} {suffix}"
    with rest(mesh, world.admin.token) as http:
        attempts = [
            http.post("/teams", json={"name": name}),
            http.post("/servers", json={"name": name}),
            http.post("/gateways", json={"name": name, "url": "http://169.254.169.254/"}),
            http.post("/tokens", json={"name": name}),
            http.post("/rbac/roles", json={"name": name, "permissions": ["tools.read"]}),
            http.post(
                "/auth/email/admin/users",
                json={
                    "email": f"inj-{suffix}@example.com",
                    "password": PASSWORD,
                    "full_name": name,
                },
            ),
            http.get(f"/tools/{text}"),
            http.get(f"/teams/{text}"),
        ]
        for response in attempts:
            assert response.status_code < 500, (response.request.url, response.text)
            assert response.status_code in (200, 201, 403, 404, 409, 422), response.text
        created_team = attempts[0]
        if created_team.status_code == 201:
            assert created_team.json()["name"] == name
        # Nothing was damaged: lists still answer.
        for path in ("/tools", "/servers", "/gateways", "/teams"):
            assert http.get(path).status_code == 200


# --- cost: authentication adds no database round trip to a warm call ----------------------


@pytest.fixture
async def mesh_bus(mesh: Mesh) -> AsyncIterator[NatsBus]:
    bus = await NatsBus.connect(mesh.nats_url, "security-test")
    try:
        yield bus
    finally:
        await bus.close()


async def test_warm_calls_make_no_identity_registry_request(
    mesh: Mesh, world: World, mesh_bus: NatsBus
) -> None:
    seen: list[str] = []

    async def count(subject: str, data: bytes, reply: str) -> None:
        seen.append(subject)

    subscription = await mesh_bus.subscribe_with_reply("forge.registry.identity.>", count)
    try:
        async with httpx.AsyncClient(headers=world.alice.headers, timeout=30) as http:
            body = call_body(world.tool_a["name"])
            warm = await http.post(mesh.url + "/mcp", json=body)
            assert "result" in warm.json(), warm.text
            await asyncio.sleep(0.2)
            seen.clear()
            for _ in range(100):
                response = await http.post(mesh.url + "/mcp", json=body)
                assert "result" in response.json()
        await asyncio.sleep(0.2)
    finally:
        await subscription.unsubscribe()
    assert seen == []
