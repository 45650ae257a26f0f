"""Red-team findings F1, F2, F8 and F10 against the real mesh: wrongly typed params on either
MCP era are a JSON-RPC error, never a 500 (F1); a non-canonical IPv4 host is refused at
registration and a redirect to one is a clear error (F2); names, descriptions, tags and maps
have length limits and env is for stdio gateways only (F8); a slow body is 408 on MCP as on
REST (F10)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from forge.cli.mesh import Mesh
from forge.core.errors import FORBIDDEN
from forge.embedded.process import free_port
from forge.testing.listener import Listener
from tests.e2e.security_kit import Person, login, make_user, ok, rest
from tests.e2e.test_security_input import edge_with, logs, open_edge  # noqa: F401 - fixture

MODERN = "2026-07-28"
LEGACY = "2025-11-25"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
PV = "io.modelcontextprotocol/protocolVersion"
PARAMS, INTERNAL = -32602, -32603
SLOW_S = 1.0


@pytest.fixture(scope="module")
def dev(mesh: Mesh, admin_token: str) -> Person:
    email = f"redteam-input-{uuid.uuid4().hex[:6]}@example.com"
    make_user(mesh, admin_token, email, "developer")
    return login(mesh, email)


@pytest.fixture(scope="module")
def server(mesh: Mesh, admin_token: str) -> str:
    with rest(mesh, admin_token) as http:
        body = {"name": f"redteam-{uuid.uuid4().hex[:6]}", "visibility": "public"}
        created = ok(http.post("/servers", json=body))
    return str(created["id"])


def mcp_post(
    url: str, token: str, method: str, params: Any, era: str, name_header: str | None = None
) -> httpx.Response:
    body: dict[str, Any] = {"jsonrpc": "2.0", "method": method, "params": params}
    if not method.startswith("notifications/"):
        body["id"] = 1
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if era == "modern":
        headers |= {"MCP-Protocol-Version": MODERN, "Mcp-Method": method}
        if name_header is not None:
            headers["Mcp-Name"] = name_header
    else:
        headers["MCP-Protocol-Version"] = LEGACY
    return httpx.post(url, json=body, headers=headers, timeout=30)


def no_internal_error(label: str, response: httpx.Response) -> None:
    assert response.status_code < 500, (label, response.status_code, response.text[:300])
    if response.status_code == 202 and not response.content:
        return  # a notification, accepted
    error = response.json().get("error")
    assert error is None or error["code"] != INTERNAL, (label, response.text[:300])


# --- F1: the exact finding, then every method x wrong types x _meta x headers --------------------

F1_CASES = [
    ("tools/call", {"name": 5, "arguments": {}}),
    ("tools/call", {"name": [], "arguments": {}}),
    ("tools/call", {"name": {}, "arguments": {}}),
    ("prompts/get", {"name": {}}),
    ("resources/read", {"uri": 5}),
]


@pytest.mark.parametrize("path", ["/mcp", "/servers/{server}/mcp"])
@pytest.mark.parametrize(("method", "params"), F1_CASES, ids=[f"{m} {p}" for m, p in F1_CASES])
def test_a_wrongly_typed_name_on_modern_mcp_is_400_invalid_params(
    mesh: Mesh,
    dev: Person,
    server: str,
    logs: None,  # noqa: F811
    path: str,
    method: str,
    params: dict[str, Any],
) -> None:
    url = mesh.url + path.format(server=server)
    response = mcp_post(url, dev.token, method, {**params, "_meta": META}, "modern", "x")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == PARAMS
    legacy = mcp_post(url, dev.token, method, params, "legacy")
    assert legacy.status_code == 200 and legacy.json()["error"]["code"] == PARAMS, legacy.text


# What each method reads from its params; every one gets every wrong type.
METHOD_FIELDS: dict[str, tuple[str, ...]] = {
    "server/discover": (),
    "initialize": ("protocolVersion", "capabilities", "clientInfo"),
    "ping": (),
    "tools/list": ("cursor",),
    "tools/call": ("name", "arguments", "task"),
    "resources/list": ("cursor",),
    "resources/templates/list": ("cursor",),
    "resources/read": ("uri",),
    "resources/subscribe": ("uri",),
    "resources/unsubscribe": ("uri",),
    "prompts/list": ("cursor",),
    "prompts/get": ("name", "arguments"),
    "completion/complete": ("ref", "argument", "context"),
    "tasks/list": ("cursor",),
    "tasks/get": ("taskId",),
    "tasks/result": ("taskId",),
    "tasks/update": ("taskId", "status"),
    "tasks/cancel": ("taskId",),
    "logging/setLevel": ("level",),
    "notifications/cancelled": ("requestId", "reason"),
    "notifications/initialized": (),
    "no/such/method": (),
}
WRONG: list[Any] = [5, 1.5, True, None, [], [1], {}, {"a": 1}, "", 10**20]
META_VARIANTS: list[Any] = [
    "x",
    5,
    [],
    {},
    {PV: 5},
    {PV: None},
    {PV: "1999-01-01"},
    {**META, "io.modelcontextprotocol/clientCapabilities": 5},
    {**META, "io.modelcontextprotocol/clientInfo": "x"},
    {**META, "io.modelcontextprotocol/clientInfo": {"name": 5}},
    {**META, "progressToken": {}},
    {**META, "progressToken": [1]},
]
HEADER_VARIANTS: list[dict[str, str]] = [
    {"Mcp-Method": "other"},
    {"Mcp-Method": ""},
    {"Mcp-Name": ""},
    {"MCP-Protocol-Version": "garbage"},
    {"Mcp-Session-Id": "x.y.z"},
]


@pytest.mark.parametrize("era", ["modern", "legacy"])
@pytest.mark.parametrize("method", list(METHOD_FIELDS))
def test_wrong_types_in_any_params_field_never_get_a_5xx(
    mesh: Mesh,
    dev: Person,
    logs: None,  # noqa: F811
    era: str,
    method: str,
) -> None:
    url = mesh.url + "/mcp"
    meta = {"_meta": META} if era == "modern" else {}
    for field in METHOD_FIELDS[method] + ("name", "uri"):
        for value in WRONG:
            label = f"{era} {method} {field}={value!r}"
            name = value if isinstance(value, str) else "x"
            response = mcp_post(url, dev.token, method, {field: value, **meta}, era, name)
            no_internal_error(label, response)
    for variant in META_VARIANTS:
        params = {"name": "x", "uri": "x", "_meta": variant}
        response = mcp_post(url, dev.token, method, params, era, "x")
        no_internal_error(f"{era} {method} _meta={variant!r}", response)
    if era == "modern":
        for extra in HEADER_VARIANTS:
            headers = {
                "Authorization": f"Bearer {dev.token}",
                "MCP-Protocol-Version": MODERN,
                "Mcp-Method": method,
                "Mcp-Name": "x",
                **extra,
            }
            params = {"name": "x", "_meta": META}
            body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
            response = httpx.post(url, json=body, headers=headers, timeout=30)
            no_internal_error(f"{method} headers {extra}", response)


# --- F2: non-canonical IPv4 hosts ----------------------------------------------------------------


@pytest.mark.parametrize("transport", ["streamablehttp", "sse", "websocket"])
@pytest.mark.parametrize("host", ["2130706433", "0177.0.0.1", "127.1", "0x7f.0.0.1", "0"])
def test_a_gateway_on_a_non_canonical_ipv4_host_is_refused_with_422(
    mesh: Mesh, dev: Person, host: str, transport: str
) -> None:
    scheme = "ws" if transport == "websocket" else "http"
    body = {"name": f"nc-{uuid.uuid4().hex[:6]}", "url": f"{scheme}://{host}:47555/mcp"}
    with rest(mesh, dev.token) as http:
        response = http.post("/gateways", json={**body, "transport": transport})
    assert response.status_code == 422, response.text
    assert response.json()["data"]["field"] == "url"


@pytest.mark.parametrize("location", ["http://0:{port}/x", "http://2130706433:{port}/x"])
def test_a_redirect_to_a_non_canonical_host_is_a_clear_error(
    mesh: Mesh,
    dev: Person,
    logs: None,  # noqa: F811
    location: str,
) -> None:
    redirect = Listener(redirect_to=location.format(port=free_port()), redirect_status=302)
    with redirect, rest(mesh, dev.token) as http:
        body = {"name": f"rd-{uuid.uuid4().hex[:6]}", "url": f"{redirect.url}/mcp"}
        response = http.post("/gateways", json=body)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == FORBIDDEN


# --- F8: field limits ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(mesh: Mesh, dev: Person, demo: dict[str, Any]) -> str:
    """A developer's own HTTP gateway (to the demo server)."""
    body = {"name": f"lim-{uuid.uuid4().hex[:6]}", "url": demo["url"]}
    with rest(mesh, dev.token) as http:
        return str(ok(http.post("/gateways", json=body))["id"])


TOO_LONG: list[tuple[str, Any]] = [
    ("description", "d" * 3_000_000),
    ("description", "d" * 2001),
    ("name", "n" * 256),
    ("tags", ["t"] * 65),
    ("tags", ["t" * 256]),
    ("url", "http://example.com/" + "u" * 2048),
    ("auth_headers", {f"X-{i}": "v" for i in range(65)}),
    ("auth_headers", {"X-Big": "v" * 8193}),
]


@pytest.mark.parametrize(
    ("field", "value"), TOO_LONG, ids=[f"{f}-{i}" for i, (f, _) in enumerate(TOO_LONG)]
)
def test_a_field_beyond_its_limit_is_refused_with_422(
    mesh: Mesh, dev: Person, gateway: str, field: str, value: Any
) -> None:
    with rest(mesh, dev.token) as http:
        updated = http.put(f"/gateways/{gateway}", json={field: value})
        created = http.post("/gateways", json={"name": "lim", "url": "http://h/", field: value})
        server = http.post("/servers", json={"name": "lim", field: value})
    assert updated.status_code == 422, updated.text[:300]
    assert created.status_code == 422, created.text[:300]
    if field in ("description", "name", "tags"):
        assert server.status_code == 422, server.text[:300]


def test_a_description_at_the_limit_is_stored(mesh: Mesh, dev: Person, gateway: str) -> None:
    with rest(mesh, dev.token) as http:
        ok(http.put(f"/gateways/{gateway}", json={"description": "d" * 2000}))


def test_env_on_an_http_gateway_is_refused(
    mesh: Mesh, dev: Person, gateway: str, demo: dict[str, Any]
) -> None:
    env = {"LD_PRELOAD": "/tmp/x.so"}
    with rest(mesh, dev.token) as http:
        updated = http.put(f"/gateways/{gateway}", json={"env": env})
        created = http.post("/gateways", json={"name": "envy", "url": demo["url"], "env": env})
        assert updated.status_code == 422, updated.text
        assert updated.json()["data"]["field"] == "env"
        assert created.status_code == 422, created.text
        assert "LD_PRELOAD" not in json.dumps(ok(http.get(f"/gateways/{gateway}")))


@pytest.mark.parametrize(
    ("route", "body"),
    [
        ("/teams", {"name": "t" * 256}),
        ("/teams", {"name": "t", "description": "d" * 2001}),
        ("/tokens", {"name": "n" * 256}),
        ("/tokens", {"name": "n", "teams": ["t"] * 1001}),
    ],
)
def test_identity_fields_beyond_their_limit_are_refused_with_422(
    mesh: Mesh, dev: Person, route: str, body: dict[str, Any]
) -> None:
    with rest(mesh, dev.token) as http:
        assert http.post(route, json=body).status_code == 422


# --- F10: a slow body ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_edge(mesh: Mesh) -> Iterator[str]:
    with edge_with(mesh, "edge-redteam-slow", FORGE_EDGE_BODY_TIMEOUT_S=str(SLOW_S)) as url:
        yield url


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        (b"/teams", b""),
        (b"/mcp", b""),
        (b"/mcp", b"MCP-Protocol-Version: " + MODERN.encode() + b"\r\nMcp-Method: tools/list\r\n"),
    ],
    ids=["rest", "mcp-legacy", "mcp-modern"],
)
async def test_a_body_that_never_arrives_is_408_on_rest_and_mcp(
    slow_edge: str, admin_token: str, path: bytes, headers: bytes
) -> None:
    reader, writer = await open_edge(slow_edge)
    writer.write(
        b"POST "
        + path
        + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + admin_token.encode()
        + b"\r\n"
        + headers
        + b"Content-Type: application/json\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{"
    )
    await writer.drain()
    async with asyncio.timeout(SLOW_S * 8):
        answer = await reader.read()
    writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"408", head
    if path == b"/mcp":
        assert json.loads(body)["error"]["code"] == -32600
