"""Issue 9, items 5, 8 and three of 10, against the real mesh: hostile input never gets a 5xx
(or a traceback in a log) on any transport or REST route; X-Forwarded-For moves no client into
an API token's CIDR scope unless its proxy is trusted; two Authorization headers are refused;
slow clients are cut off; a legacy session works only on the endpoint that opened it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest

from forge.cli.mesh import SERVICES, Mesh, spawn, stop_process
from forge.embedded.process import free_port
from forge.testing import eventually_sync
from forge.testing.slow_client import read_until_closed, trickler
from tests.e2e.conftest import INIT, answering
from tests.e2e.security_kit import Person, api_token, login, make_user, ok, rest
from tests.e2e.test_transports import events

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
PARSE, INVALID, PARAMS = -32700, -32600, -32602
SESSION_NOT_FOUND = -32009
# A short header and body timeout for the edge the slow-client tests talk to.
SLOW_S = 1.0
TRUSTED = "127.0.0.1"
CIDR, INSIDE = "10.20.0.0/16", "10.20.0.5"


def nested(depth: int) -> bytes:
    return b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"a":' + (
        b"[" * depth + b"]" * depth + b"}}"
    )


# (name, JSON-RPC body, the codes it may get: None for "any answer but a 5xx and -32603").
MCP_CASES: list[tuple[str, bytes, set[int] | None]] = [
    ("100k-deep JSON", nested(100_000), {INVALID}),
    ("65-deep JSON", nested(65), {INVALID}),
    ("invalid UTF-8 in the method", b'{"jsonrpc":"2.0","id":1,"method":"tools/\xff"}', {PARSE}),
    (
        "invalid UTF-8 in params",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\xc3("}}',
        {PARSE},
    ),
    ("NUL escape in the method", b'{"jsonrpc":"2.0","id":1,"method":"tools\\u0000"}', {INVALID}),
    (
        "NUL escape in a tool name",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a\\u0000"}}',
        {INVALID},
    ),
    ("raw NUL", b'{"jsonrpc":"2.0","id":1,"method":"ping\x00"}', {INVALID}),
    (
        "unpaired surrogate",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"\\ud800"}}',
        {PARSE},
    ),
    ("huge integer id", b'{"jsonrpc":"2.0","id":' + b"9" * 5000 + b',"method":"ping"}', {INVALID}),
    ("huge float id", b'{"jsonrpc":"2.0","id":1e999,"method":"ping"}', {INVALID}),
    (
        "huge numbers in params",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":{"n":'
        + b"9" * 5000
        + b',"f":1e999}}}',
        None,
    ),
    ("duplicate keys", b'{"jsonrpc":"2.0","id":1,"method":"x","method":"ping"}', None),
    ("method a number", b'{"jsonrpc":"2.0","id":1,"method":1}', {INVALID}),
    ("method null", b'{"jsonrpc":"2.0","id":1,"method":null}', {INVALID}),
    ("id an object", b'{"jsonrpc":"2.0","id":{},"method":"ping"}', {INVALID}),
    ("params a string", b'{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}', {INVALID}),
    ("params an array", b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[]}', {INVALID}),
    (
        "tool name a number",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}',
        {PARAMS, INVALID},
    ),
    (
        "arguments a list",
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":[]}}',
        {PARAMS, INVALID},
    ),
    (
        "uri an object",
        b'{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":{}}}',
        {PARAMS, INVALID},
    ),
    ("jsonrpc a number", b'{"jsonrpc":2,"id":1,"method":"ping"}', {INVALID}),
    ("an array", b"[1,2]", {INVALID}),
    ("a string", b'"ping"', {INVALID}),
    ("a number", b"1", {INVALID}),
    ("null", b"null", {INVALID}),
    ("not JSON", b"{nope", {PARSE}),
    ("empty", b"", {PARSE, INVALID}),
]
MCP_IDS = [case[0] for case in MCP_CASES]


def check_reply(name: str, status: int, body: bytes, expected: set[int] | None) -> None:
    assert status < 500, (name, status, body[:300])
    reply = json.loads(body)
    error = reply.get("error") if isinstance(reply, dict) else None
    if expected is None:
        assert error is None or error["code"] != -32603, (name, reply)
    else:
        assert error is not None and error["code"] in expected, (name, reply)


@pytest.fixture(scope="module")
def logs(mesh: Mesh) -> Iterator[None]:
    """Every log line the services write while this module runs holds no traceback."""
    offsets = {name: _size(mesh, name) for name in SERVICES}
    yield
    for name, offset in offsets.items():
        with open(mesh.log_path(name), "rb") as log:
            log.seek(offset)
            written = log.read().decode("utf-8", "replace")
        assert "Traceback" not in written, (name, written[-3000:])


def _size(mesh: Mesh, name: str) -> int:
    try:
        return mesh.log_path(name).stat().st_size
    except FileNotFoundError:
        return 0


# --- item 8 over Streamable HTTP (both eras), HTTP+SSE and WebSocket ----------------------------


@pytest.mark.parametrize(("name", "body", "expected"), MCP_CASES, ids=MCP_IDS)
@pytest.mark.parametrize("path", ["/mcp", "/servers/{server}/mcp"])
def test_hostile_json_rpc_over_legacy_streamable_http_is_a_json_rpc_error(
    mesh: Mesh,
    admin_token: str,
    server: str,
    logs: None,
    path: str,
    name: str,
    body: bytes,
    expected: set[int] | None,
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}", "Content-Type": "application/json"}
    url = mesh.url + path.format(server=server)
    response = httpx.post(url, content=body, headers=headers, timeout=30)
    check_reply(name, response.status_code, response.content, expected)


@pytest.mark.parametrize(("name", "body", "expected"), MCP_CASES, ids=MCP_IDS)
def test_hostile_json_rpc_over_modern_streamable_http_is_a_json_rpc_error(
    mesh: Mesh, admin_token: str, logs: None, name: str, body: bytes, expected: set[int] | None
) -> None:
    headers = {
        "Authorization": f"Bearer {admin_token}",
        "Content-Type": "application/json",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/list",
    }
    response = httpx.post(mesh.url + "/mcp", content=body, headers=headers, timeout=30)
    # The modern era refuses more (its headers must repeat the body): any 4xx code will do,
    # where the legacy one expects a particular one.
    check_reply(name, response.status_code, response.content, None)
    assert response.status_code != 200 or expected is None, (name, response.text)


async def test_hostile_json_rpc_over_the_sse_transport_is_a_json_rpc_error(
    mesh: Mesh, admin_token: str, logs: None
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        async with http.stream("GET", mesh.url + "/sse") as stream:
            received = events(stream)
            async with asyncio.timeout(10):
                _, endpoint = await anext(received)
            for name, body, expected in MCP_CASES:
                response = await http.post(mesh.url + endpoint, content=body)
                if response.status_code == 202:  # parsed: the answer comes on the stream
                    async with asyncio.timeout(10):
                        _, answer = await anext(received)
                    check_reply(name, 200, answer.encode(), expected)
                else:
                    check_reply(name, response.status_code, response.content, expected)


async def test_hostile_json_rpc_over_websocket_is_a_json_rpc_error(
    mesh: Mesh, admin_token: str, logs: None
) -> None:
    url = mesh.url.replace("http://", "ws://") + "/ws"
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        http.websocket(url, subprotocols=["mcp"], max_message_size_bytes=1 << 20) as ws,
    ):
        for name, body, expected in MCP_CASES:
            if not body:
                continue  # an empty frame carries no message: nothing to answer
            await ws.send_bytes(body)
            async with asyncio.timeout(10):
                answer = await ws.receive_text()
            check_reply(name, 200, answer.encode(), expected)
        await ws.send_text(json.dumps(LIST))
        async with asyncio.timeout(10):
            assert "result" in json.loads(await ws.receive_text())


# --- item 8 over REST ----------------------------------------------------------------------------

HOSTILE_IDS = [
    b"%00",
    b"a%00b",
    b"%ff",
    b"%ED%A0%80",  # a surrogate, UTF-8 encoded
    b"%0a",
    b"x" * 8000,
    b"%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    b"%27%20OR%20%271%27%3D%271",
    b"-1",
    b"99999999999999999999999999",
    b"%E5%90%8D%E5%89%8D",
    b"null",
]
ID_ROUTES = [
    ("GET", "/gateways/{}"),
    ("PUT", "/gateways/{}"),
    ("DELETE", "/gateways/{}"),
    ("POST", "/gateways/{}/tools/refresh"),
    ("GET", "/tools/{}"),
    ("GET", "/resources/{}"),
    ("GET", "/prompts/{}"),
    ("GET", "/servers/{}"),
    ("PUT", "/servers/{}"),
    ("DELETE", "/servers/{}"),
    ("PATCH", "/servers/{}"),
    ("GET", "/v1/tools/{}"),
    ("GET", "/teams/{}"),
    ("PUT", "/teams/{}"),
    ("DELETE", "/teams/{}"),
    ("GET", "/teams/{}/members"),
    ("GET", "/tokens/{}"),
    ("DELETE", "/tokens/{}"),
    ("GET", "/auth/email/admin/users/{}"),
    ("GET", "/rbac/roles/{}"),
    ("GET", "/rbac/users/{}/roles"),
    ("GET", "/plugins/bindings/{}"),
    ("DELETE", "/plugins/bindings/{}"),
    ("GET", "/gateways/{}/oauth/authorize"),
]


def raw_request(mesh: Mesh, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client library cleans them up); the status and the body."""
    host, port = mesh.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def http_request(method: str, target: bytes, token: str, body: bytes = b"", *extra: bytes) -> bytes:
    lines = [
        method.encode() + b" " + target + b" HTTP/1.1",
        b"Host: 127.0.0.1",
        b"Authorization: Bearer " + token.encode(),
        b"Content-Type: application/json",
        b"Content-Length: " + str(len(body)).encode(),
        b"Connection: close",
        *extra,
    ]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


@pytest.mark.parametrize(("method", "route"), ID_ROUTES, ids=[f"{m} {r}" for m, r in ID_ROUTES])
def test_hostile_ids_in_rest_paths_never_get_a_5xx(
    mesh: Mesh, admin_token: str, logs: None, method: str, route: str
) -> None:
    body = b'{"name":"renamed"}' if method in ("PUT", "PATCH") else b""
    for hostile in HOSTILE_IDS:
        target = route.replace("{}", hostile.decode("latin-1")).encode("latin-1")
        status, answer = raw_request(mesh, http_request(method, target, admin_token, body))
        assert status < 500, (method, target[:80], status, answer[:300])
        if b"%00" in hostile or b"%ff" in hostile or b"%0a" in hostile:
            assert status == 400, (method, target[:80], status, answer[:300])


HOSTILE_BODIES: list[tuple[str, bytes]] = [
    ("100k-deep", b'{"name":' + b"[" * 100_000 + b"]" * 100_000 + b"}"),
    ("invalid UTF-8", b'{"name":"\xff\xfe"}'),
    ("NUL escape", b'{"name":"a\\u0000b","url":"http://127.0.0.1:1/","email":"a\\u0000@x"}'),
    ("raw NUL", b'{"name":"a\x00b"}'),
    ("unpaired surrogate", b'{"name":"\\udc00"}'),
    ("huge integer", b'{"name":"n","expires_in_days":' + b"9" * 5000 + b"}"),
    ("huge float", b'{"name":"n","ttl":1e999,"expires_in_days":1e999}'),
    ("int64 overflow", b'{"name":"n","expires_in_days":99999999999999999999}'),
    ("duplicate keys", b'{"name":"a","name":"b"}'),
    ("an array", b"[]"),
    ("a string", b'"x"'),
    ("null", b"null"),
    ("not JSON", b"{nope"),
]
FIELDS = [
    "name",
    "url",
    "transport",
    "visibility",
    "team_id",
    "tags",
    "description",
    "auth_type",
    "auth_headers",
    "headers",
    "command",
    "env",
    "associated_tools",
    "associated_resources",
    "associated_prompts",
    "email",
    "password",
    "full_name",
    "roles",
    "is_admin",
    "permissions",
    "teams",
    "server_id",
    "cidrs",
    "expires_in_days",
    "plugin",
    "config",
    "hook",
    "priority",
    "mode",
    "role",
    "scope",
    "permission",
]
WRONG_TYPES: list[Any] = [{}, [], 1, -1, 1.5, True, None, "x" * 100_000, 10**30, [[[[]]]]]
BODY_ROUTES = [
    ("POST", "/gateways"),
    ("POST", "/servers"),
    ("POST", "/teams"),
    ("POST", "/tokens"),
    ("POST", "/tokens/revocations"),
    ("POST", "/auth/login"),
    ("POST", "/auth/email/admin/users"),
    ("POST", "/auth/email/change-password"),
    ("POST", "/plugins/bindings"),
    ("POST", "/rbac/roles"),
    ("POST", "/rbac/permissions/check"),
    ("POST", "/admin/secrets/reseal"),
]


@pytest.mark.parametrize(("method", "route"), BODY_ROUTES, ids=[f"{m} {r}" for m, r in BODY_ROUTES])
def test_hostile_rest_bodies_never_get_a_5xx(
    mesh: Mesh, admin_token: str, logs: None, method: str, route: str
) -> None:
    if route == "/admin/secrets/reseal":
        bodies = HOSTILE_BODIES  # with a valid body it would really reseal: wrong types only
    else:
        wrong = [
            (f"every field {value!r:.20}", json.dumps(dict.fromkeys(FIELDS, value)).encode())
            for value in WRONG_TYPES
        ]
        bodies = HOSTILE_BODIES + wrong
    for name, body in bodies:
        status, answer = raw_request(mesh, http_request(method, route.encode(), admin_token, body))
        assert status < 500, (route, name, status, answer[:300])
        if name in ("100k-deep", "invalid UTF-8", "NUL escape", "raw NUL", "unpaired surrogate"):
            assert status == 400, (route, name, status, answer[:300])


HOSTILE_HEADERS = [
    b"X-Note: \xff\xfe",
    b"User-Agent: a\x00b",
    b"X-Note: a\x01b",
    b"Mcp-Session-Id: \xc3(",
    b"MCP-Protocol-Version: \xed\xa0\x80",
]


@pytest.mark.parametrize("header", HOSTILE_HEADERS)
@pytest.mark.parametrize(("method", "target"), [("GET", b"/tools"), ("POST", b"/mcp")])
def test_hostile_header_values_are_refused_with_400(
    mesh: Mesh, admin_token: str, logs: None, header: bytes, method: str, target: bytes
) -> None:
    body = json.dumps(LIST).encode() if method == "POST" else b""
    status, answer = raw_request(mesh, http_request(method, target, admin_token, body, header))
    assert status == 400, (header, status, answer[:300])


@pytest.mark.parametrize(
    "target",
    [b"/tools?x=%00", b"/tools?x=%ff", b"/message?session_id=%00", b"/mcp?x=%0a", b"/tools/%00"],
)
def test_nul_and_bad_utf8_in_query_strings_and_paths_are_refused_with_400(
    mesh: Mesh, admin_token: str, logs: None, target: bytes
) -> None:
    method = "GET" if target.startswith(b"/tools") else "POST"
    body = json.dumps(LIST).encode() if method == "POST" else b""
    status, answer = raw_request(mesh, http_request(method, target, admin_token, body))
    assert status == 400, (target, status, answer[:300])
    if target.startswith((b"/mcp", b"/message")):
        assert json.loads(answer)["error"]["code"] == INVALID
    else:
        assert json.loads(answer)["code"] == INVALID


def test_the_mesh_still_answers_after_the_hostile_input(
    mesh: Mesh, admin_token: str, logs: None
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    assert httpx.get(mesh.url + "/ready").status_code == 200
    assert httpx.get(mesh.url + "/tools", headers=headers).status_code == 200
    response = httpx.post(mesh.url + "/mcp", json=LIST, headers=headers)
    assert response.status_code == 200 and "result" in response.json()


# --- item 10: two Authorization headers ----------------------------------------------------------


@pytest.fixture(scope="module")
def dev(mesh: Mesh, admin_token: str) -> Person:
    email = f"input-dev-{uuid.uuid4().hex[:6]}@example.com"
    make_user(mesh, admin_token, email, "developer")
    return login(mesh, email)


@pytest.fixture(scope="module")
def server(mesh: Mesh, admin_token: str) -> str:
    """A public virtual server, to open sessions on."""
    with rest(mesh, admin_token) as http:
        created = ok(http.post("/servers", json={"name": f"input-{uuid.uuid4().hex[:6]}"}))
    return str(created["id"])


def two_authorizations(first: str, second: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {first}"), ("Authorization", f"Bearer {second}")]


@pytest.mark.parametrize("order", ["admin first", "developer first"])
def test_two_authorization_headers_are_refused_on_rest_and_streamable_http(
    mesh: Mesh, admin_token: str, dev: Person, order: str
) -> None:
    tokens = (admin_token, dev.token) if order == "admin first" else (dev.token, admin_token)
    headers = two_authorizations(*tokens)
    for method, path in [("GET", "/tools"), ("GET", "/auth/email/admin/users"), ("GET", "/sse")]:
        with httpx.stream(method, mesh.url + path, headers=headers, timeout=30) as response:
            answer = json.loads(response.read())
            assert response.status_code == 400, (path, answer)
            error = answer["error"] if path == "/sse" else answer  # JSON-RPC on MCP paths
            assert error["code"] == INVALID
    for path in ("/mcp", "/message?session_id=x"):
        response = httpx.post(mesh.url + path, json=LIST, headers=headers, timeout=30)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["error"]["code"] == INVALID


async def test_two_authorization_headers_are_refused_on_websocket(
    mesh: Mesh, admin_token: str, dev: Person
) -> None:
    from httpx2.websockets import WebSocketUpgradeError

    url = mesh.url.replace("http://", "ws://") + "/ws"
    async with httpx2.AsyncClient(timeout=30) as http:
        with pytest.raises(WebSocketUpgradeError) as raised:
            async with http.websocket(
                url, subprotocols=["mcp"], headers=two_authorizations(dev.token, admin_token)
            ):
                pass
    assert raised.value.response.status_code in (400, 403)


# --- item 10: a legacy session works only where it was opened -----------------------------------


def initialize(mesh: Mesh, token: str, path: str) -> str:
    response = httpx.post(
        mesh.url + path, json=INIT, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.headers["mcp-session-id"]


def with_session(mesh: Mesh, token: str, path: str, sid: str, method: str = "POST") -> Any:
    headers = {"Authorization": f"Bearer {token}", "Mcp-Session-Id": sid}
    if method == "POST":
        return httpx.post(mesh.url + path, json=LIST, headers=headers, timeout=30)
    return httpx.request(method, mesh.url + path, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("opened_on", "used_on"),
    [
        ("/mcp", "/servers/{server}/mcp"),
        ("/servers/{server}/mcp", "/mcp"),
        ("/servers/{server}/mcp", "/servers/{other}/mcp"),
    ],
)
def test_a_streamable_http_session_is_unknown_on_another_endpoint(
    mesh: Mesh, admin_token: str, server: str, opened_on: str, used_on: str
) -> None:
    with rest(mesh, admin_token) as http:
        other = ok(http.post("/servers", json={"name": f"other-{uuid.uuid4().hex[:6]}"}))["id"]
    opened_on, used_on = (p.format(server=server, other=other) for p in (opened_on, used_on))
    sid = initialize(mesh, admin_token, opened_on)
    assert with_session(mesh, admin_token, opened_on, sid).status_code == 200
    for method in ("POST", "GET", "DELETE"):
        response = with_session(mesh, admin_token, used_on, sid, method)
        assert response.status_code == 404, (method, response.text)
        assert response.json()["error"]["code"] == SESSION_NOT_FOUND
    assert with_session(mesh, admin_token, opened_on, sid).status_code == 200  # not revoked


async def test_an_sse_session_is_unknown_on_another_endpoint(
    mesh: Mesh, admin_token: str, server: str
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        async with http.stream("GET", mesh.url + "/sse") as stream:
            received = events(stream)
            async with asyncio.timeout(10):
                _, endpoint = await anext(received)
            sid = endpoint.split("session_id=", 1)[1]
            elsewhere = await http.post(f"{mesh.url}/servers/{server}{endpoint}", json=INIT)
            assert elsewhere.status_code == 404, elsewhere.text
            assert elsewhere.json()["error"]["code"] == SESSION_NOT_FOUND
            # Nor is the SSE session a Streamable HTTP one.
            as_streamable = await http.post(
                mesh.url + "/mcp", json=LIST, headers={"Mcp-Session-Id": sid}
            )
            assert as_streamable.status_code == 404, as_streamable.text
            assert (await http.post(mesh.url + endpoint, json=INIT)).status_code == 202


async def test_a_session_opened_under_a_server_is_unknown_on_plain_sse(
    mesh: Mesh, admin_token: str, server: str
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        async with http.stream("GET", f"{mesh.url}/servers/{server}/sse") as stream:
            received = events(stream)
            async with asyncio.timeout(10):
                _, endpoint = await anext(received)
            plain = endpoint.removeprefix(f"/servers/{server}")
            response = await http.post(mesh.url + plain, json=INIT)
            assert response.status_code == 404, response.text
            assert (await http.post(mesh.url + endpoint, json=INIT)).status_code == 202


# --- item 5: X-Forwarded-For and API token CIDR scopes -------------------------------------------


def wait_known(url: str, token: str, **headers: str) -> httpx.Response:
    """API tokens reach the edge's cache by event: ask until it stops saying 'unknown'."""

    def known() -> httpx.Response | None:
        response = httpx.post(
            url + "/mcp", json=LIST, headers={"Authorization": f"Bearer {token}", **headers}
        )
        return response if response.status_code != 401 else None

    return eventually_sync(known, what="the edge knows the new API token")


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": INSIDE},
        {"X-Forwarded-For": f"{INSIDE}, 127.0.0.1"},
        {"Forwarded": f"for={INSIDE}"},
        {"X-Real-IP": INSIDE},
    ],
)
def test_a_forwarded_header_does_not_move_a_loopback_client_into_a_cidr_scope(
    mesh: Mesh, dev: Person, header: dict[str, str]
) -> None:
    token = api_token(mesh, dev, cidrs=[CIDR])
    response = wait_known(mesh.url, token, **header)
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == -32005
    rest_response = httpx.get(
        mesh.url + "/tools", headers={"Authorization": f"Bearer {token}", **header}
    )
    assert rest_response.status_code == 403, rest_response.text


@contextlib.contextmanager
def edge_with(mesh: Mesh, name: str, **settings: str) -> Iterator[str]:
    """Another edge replica on the mesh, with extra settings; its URL."""
    port = free_port()
    env = mesh.service_env()
    env.update({"FORGE_EDGE_PORT": str(port), **settings})
    with open(mesh.log_path(name), "ab") as log:
        proc = spawn([sys.executable, "-m", "forge.edge"], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        answering(mesh, proc, name, url + "/ready")
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module", params=["uvicorn", "hypercorn"])
def tuned_edge(mesh: Mesh, request: pytest.FixtureRequest) -> Iterator[str]:
    """An edge (on either HTTP server) that trusts loopback as its proxy and gives slow clients
    SLOW_S seconds."""
    with edge_with(
        mesh,
        f"edge-input-{request.param}",
        FORGE_EDGE_HTTP_SERVER=request.param,
        FORGE_EDGE_TRUSTED_PROXIES=TRUSTED,
        FORGE_EDGE_HEADER_TIMEOUT_S=str(SLOW_S),
        FORGE_EDGE_BODY_TIMEOUT_S=str(SLOW_S),
    ) as url:
        yield url


def test_a_trusted_proxy_names_the_client_the_cidr_scope_sees(
    mesh: Mesh, dev: Person, tuned_edge: str
) -> None:
    token = api_token(mesh, dev, cidrs=[CIDR])
    assert wait_known(tuned_edge, token, **{"X-Forwarded-For": INSIDE}).status_code == 200
    assert wait_known(tuned_edge, token).status_code == 403  # the proxy itself is outside
    outside = wait_known(tuned_edge, token, **{"X-Forwarded-For": "192.0.2.7"})
    assert outside.status_code == 403
    # Only X-Forwarded-For is read, even from a trusted proxy.
    assert wait_known(tuned_edge, token, **{"X-Real-IP": INSIDE}).status_code == 403


# --- item 10: slow clients ----------------------------------------------------------------------


def open_edge(url: str) -> Any:
    host, port = url.removeprefix("http://").split(":")
    return asyncio.open_connection(host, int(port))


async def test_a_client_sending_headers_slowly_is_cut_off(tuned_edge: str) -> None:
    reader, writer = await open_edge(tuned_edge)
    trickle = trickler(writer, b"GET /health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 100_000)
    async with asyncio.timeout(SLOW_S * 8):
        received = await read_until_closed(reader, trickle)
    assert received == b"" or received.startswith(b"HTTP/1.1 408"), received
    writer.close()


async def test_a_silent_connection_is_cut_off(tuned_edge: str) -> None:
    reader, writer = await open_edge(tuned_edge)
    async with asyncio.timeout(SLOW_S * 8):
        received = await read_until_closed(reader)
    # uvicorn says 408 first; hypercorn's keep-alive timer just closes.
    assert received == b"" or received.startswith(b"HTTP/1.1 408"), received
    writer.close()


@pytest.mark.parametrize("path", [b"/mcp", b"/servers/x", b"/teams"])
async def test_a_body_that_never_arrives_is_refused(
    tuned_edge: str, admin_token: str, path: bytes
) -> None:
    reader, writer = await open_edge(tuned_edge)
    method = b"PUT" if path == b"/servers/x" else b"POST"
    writer.write(
        method
        + b" "
        + path
        + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + admin_token.encode()
        + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    )
    await writer.drain()
    async with asyncio.timeout(SLOW_S * 8):
        status = await reader.readline()
    assert status.split(b" ")[1] == b"408", status  # MCP too, with -32600 in the body
    writer.close()


async def test_the_default_edge_still_serves_keep_alive_requests(mesh: Mesh) -> None:
    reader, writer = await open_edge(mesh.url)
    for _ in range(3):
        writer.write(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        async with asyncio.timeout(10):
            assert (await reader.readline()).startswith(b"HTTP/1.1 200")
            await reader.readuntil(b"}")
    writer.close()
