"""Every kind of bad input gets its documented status and JSON-RPC code, and nothing breaks."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from forge.cli.mesh import Mesh
from forge.cli.tokens import mint

MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}


def modern_call(name: str, arguments: dict[str, Any], **header_overrides: str) -> dict[str, Any]:
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": name}
    headers.update(header_overrides)
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": META},
    }
    return {"headers": headers, "json": body}


async def test_malformed_json_is_a_parse_error(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/mcp", content=b'{"jsonrpc": "2.0", "id": 1,', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700


@pytest.mark.parametrize(
    "body",
    [
        b"[]",
        b'[{"jsonrpc":"2.0","id":1,"method":"ping"}]',
        b'"just a string"',
        b'{"jsonrpc":"1.0","id":1,"method":"ping"}',
        b'{"jsonrpc":"2.0","id":1}',
        b'{"jsonrpc":"2.0","id":1,"method":42}',
        b'{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}',
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[1,2]}',
    ],
)
async def test_a_json_rpc_object_of_the_wrong_shape_is_an_invalid_request(
    client: httpx.AsyncClient, body: bytes
) -> None:
    response = await client.post("/mcp", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600


async def test_unknown_method_is_method_not_found_in_both_eras(client: httpx.AsyncClient) -> None:
    legacy = await client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/explode"})
    assert legacy.status_code == 200
    assert legacy.json()["error"]["code"] == -32601
    modern = await client.post(
        "/mcp",
        headers={"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/explode"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/explode", "params": {"_meta": META}},
    )
    assert modern.status_code == 404
    assert modern.json()["error"]["code"] == -32601


async def test_unknown_tool_is_invalid_params(
    client: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    response = await client.post("/mcp", **modern_call("nope-nothing", {}))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32602
    assert response.json()["id"] == 7


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer not-a-jwt", "Basic YWRtaW46YWRtaW4=", "Bearer a.b.c"],
)
async def test_missing_or_bad_token_is_refused_with_401(
    mesh: Mesh, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    async with httpx.AsyncClient(base_url=mesh.url) as http:
        for path in ("/mcp", "/gateways"):
            method = "POST" if path == "/mcp" else "GET"
            response = await http.request(
                method, path, headers=headers, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}
            )
            assert response.status_code == 401
            assert response.headers["www-authenticate"].startswith("Bearer")


async def test_token_signed_with_another_key_or_expired_is_refused(mesh: Mesh) -> None:
    forged = mint("x" * 48, "mallory@example.com", admin=True)
    expired = mint(mesh.secret, "admin@forge.local", ttl_s=-60)
    async with httpx.AsyncClient(base_url=mesh.url) as http:
        for token in (forged, expired):
            response = await http.post(
                "/mcp",
                headers={"Authorization": f"Bearer {token}"},
                json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            )
            assert response.status_code == 401
            assert response.json()["error"]["code"] == -32004


@pytest.mark.parametrize(
    "override",
    [
        {"Mcp-Method": "tools/list"},
        {"Mcp-Name": "demo-add"},
    ],
)
async def test_header_that_disagrees_with_the_body_is_refused(
    client: httpx.AsyncClient, demo: dict[str, Any], override: dict[str, str]
) -> None:
    response = await client.post("/mcp", **modern_call("demo-echo", {"text": "x"}, **override))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32020


async def test_missing_modern_meta_is_invalid_params(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/mcp",
        headers={"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/list"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32602


async def test_unsupported_protocol_version_names_the_supported_ones(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        "/mcp",
        headers={"MCP-Protocol-Version": "2099-01-01", "Mcp-Method": "tools/list"},
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {"_meta": META}},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32022
    assert MODERN in error["data"]["supported"]


async def test_body_over_the_size_limit_is_refused_with_413(client: httpx.AsyncClient) -> None:
    huge = (
        b'{"jsonrpc":"2.0","id":1,"method":"ping","params":{"pad":"'
        + b"x" * (5 * 1024 * 1024)
        + b'"}}'
    )
    response = await client.post("/mcp", content=huge)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == -32008


async def test_upstream_that_is_down_is_a_clear_error(
    mesh: Mesh, client: httpx.AsyncClient, admin_token: str
) -> None:
    from forge.cli.demo import register, start_server

    proc, port = start_server(mesh, "forge.servers.demo")
    try:
        register(mesh, admin_token, "doomed", f"http://127.0.0.1:{port}/mcp")
    finally:
        proc.kill()
        proc.wait()
    response = await client.post("/mcp", **modern_call("doomed-echo", {"text": "anyone?"}))
    # Refused, not timed out: the error comes at once rather than at the deadline.
    assert response.json()["error"]["code"] == -32001


async def test_upstream_that_is_too_slow_times_out_before_the_deadline(
    client: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    response = await client.post("/mcp", **modern_call("demo-slow", {"seconds": 30}))
    assert response.json()["error"]["code"] == -32011


async def test_the_mesh_is_still_ready_after_all_the_bad_input(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert set(response.json()["services"].values()) == {"ok"}
