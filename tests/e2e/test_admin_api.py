"""The REST admin API: gateways, tools and virtual servers, with catalog changes live everywhere."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import httpx
import msgspec

from forge.cli.demo import start_server
from forge.cli.mesh import Mesh, stop_process
from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.proto.envelope import Envelope, Principal

MODERN = "2026-07-28"
META = {"io.modelcontextprotocol/protocolVersion": MODERN}


async def call(client: httpx.AsyncClient, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        "/mcp",
        headers={"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": name},
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments, "_meta": META},
        },
    )
    body: dict[str, Any] = response.json()
    return body


async def test_gateway_registered_after_start_is_callable_without_restart(
    mesh: Mesh, client: httpx.AsyncClient
) -> None:
    proc, port = start_server(mesh, "forge.servers.demo")
    try:
        created = await client.post(
            "/gateways", json={"name": "Late Comer", "url": f"http://127.0.0.1:{port}/mcp"}
        )
        assert created.status_code == 201, created.text
        gateway = created.json()
        assert gateway["slug"] == "late-comer"
        body = await call(client, "late-comer-add", {"a": 2, "b": 3})
        assert body["result"]["isError"] is False
        assert "5" in body["result"]["content"][0]["text"]
        listed = await client.get("/gateways")
        assert gateway["id"] in {g["id"] for g in listed.json()}
        fetched = await client.get(f"/gateways/{gateway['id']}")
        assert fetched.json()["url"] == f"http://127.0.0.1:{port}/mcp"
        refreshed = await client.post(f"/gateways/{gateway['id']}/tools/refresh")
        assert refreshed.status_code == 200
        deleted = await client.delete(f"/gateways/{gateway['id']}")
        assert deleted.status_code == 200
        gone = await call(client, "late-comer-add", {"a": 2, "b": 3})
        assert gone["error"]["code"] == -32602
        assert (await client.get(f"/gateways/{gateway['id']}")).status_code == 404
    finally:
        stop_process(proc)


async def test_tools_are_listed_with_contextforge_field_names(
    client: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    tools = (await client.get("/tools")).json()
    echo = next(t for t in tools if t["name"] == "demo-echo")
    assert echo["originalName"] == "echo"
    assert echo["gatewayId"] == demo["id"]
    assert echo["inputSchema"]["type"] == "object"
    assert (await client.get(f"/tools/{echo['id']}")).json()["name"] == "demo-echo"
    assert (await client.get("/v1/tools")).status_code == 200


async def test_registering_an_unreachable_gateway_is_refused_and_stores_nothing(
    client: httpx.AsyncClient, mesh: Mesh
) -> None:
    from forge.embedded.process import free_port

    response = await client.post(
        "/gateways", json={"name": "nowhere", "url": f"http://127.0.0.1:{free_port()}/mcp"}
    )
    assert response.status_code == 502
    assert response.json()["code"] == -32001
    names = {g["name"] for g in (await client.get("/gateways")).json()}
    assert "nowhere" not in names


async def test_bad_registration_input_is_refused_with_a_clear_status(
    client: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    bad_url = await client.post("/gateways", json={"name": "x", "url": "ftp://example"})
    assert bad_url.status_code == 422
    no_name = await client.post("/gateways", json={"url": "http://127.0.0.1:1/mcp"})
    assert no_name.status_code == 422
    not_json = await client.post("/gateways", content=b"{nope")
    assert not_json.status_code == 400
    duplicate = await client.post("/gateways", json={"name": "demo", "url": demo["url"]})
    assert duplicate.status_code == 409
    unknown_tool = await client.post(
        "/servers", json={"name": "ghosts", "associated_tools": ["does-not-exist"]}
    )
    assert unknown_tool.status_code == 422
    assert (await client.get("/gateways/'; DROP TABLE gateways; --")).status_code == 404
    assert (await client.get("/servers/nope")).status_code == 404


async def test_virtual_server_lifecycle(client: httpx.AsyncClient, demo: dict[str, Any]) -> None:
    created = await client.post(
        "/servers", json={"name": "lifecycle", "associated_tools": ["demo-echo"]}
    )
    assert created.status_code == 201, created.text
    server = created.json()
    assert len(server["associated_tools"]) == 1
    assert server["id"] in {s["id"] for s in (await client.get("/servers")).json()}
    assert (await client.get(f"/servers/{server['id']}")).json()["name"] == "lifecycle"
    assert (await client.delete(f"/servers/{server['id']}")).status_code == 200
    assert (await client.get(f"/servers/{server['id']}")).status_code == 404
    response = await client.post(
        f"/servers/{server['id']}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == -32006


async def test_health_needs_no_token(mesh: Mesh) -> None:
    async with httpx.AsyncClient(base_url=mesh.url) as http:
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/ready")).status_code == 200


async def test_a_stdio_gateways_environment_values_never_come_back_from_the_api(
    client: httpx.AsyncClient,
) -> None:
    import sys

    command = [sys.executable, "-m", "forge.servers.demo", "--transport", "stdio"]
    created = await client.post(
        "/gateways",
        json={
            "name": "stdio-secret",
            "transport": "stdio",
            "command": command,
            "env": {"DEMO_API_KEY": "s3cret-value"},
        },
    )
    assert created.status_code == 201, created.text
    gateway = created.json()
    try:
        for response in (
            created,
            await client.get(f"/gateways/{gateway['id']}"),
            await client.get("/gateways"),
        ):
            assert "s3cret-value" not in response.text
        assert gateway["env"] == {"DEMO_API_KEY": "********"}
        body = await call(client, "stdio-secret-echo", {"text": "over stdio"})
        assert "result" in body, body
        assert body["result"]["content"][0]["text"] == "over stdio"
    finally:
        await client.delete(f"/gateways/{gateway['id']}")


async def test_upstream_credentials_given_at_registration_never_come_back(
    client: httpx.AsyncClient, demo: dict[str, Any]
) -> None:
    secret = f"hdr-{uuid.uuid4().hex}"
    created = await client.post(
        "/gateways",
        json={
            "name": f"with-creds-{uuid.uuid4().hex[:6]}",
            "url": demo["url"],
            "auth_type": "authheaders",
            "auth_headers": [{"key": "X-Api-Key", "value": secret}],
        },
    )
    assert created.status_code == 201, created.text
    gateway = created.json()
    try:
        assert gateway["auth_type"] == "headers"
        for response in (
            created,
            await client.get(f"/gateways/{gateway['id']}"),
            await client.get("/gateways"),
        ):
            assert secret not in response.text
        refused = await client.post(
            "/gateways",
            json={"name": "bad-creds", "url": demo["url"], "auth_type": "basic"},
        )
        assert refused.status_code == 422
        assert refused.json()["data"] == {"field": "auth_username"}
    finally:
        await client.delete(f"/gateways/{gateway['id']}")


async def test_a_renamed_gateway_is_called_by_its_new_name_at_once(
    mesh: Mesh, client: httpx.AsyncClient
) -> None:
    proc, port = start_server(mesh, "forge.servers.demo")
    bus = await NatsBus.connect(mesh.nats_url, "admin-api-test")
    try:
        name = f"before-{uuid.uuid4().hex[:6]}"
        created = await client.post(
            "/gateways", json={"name": name, "url": f"http://127.0.0.1:{port}/mcp"}
        )
        assert created.status_code == 201, created.text
        gateway = created.json()
        assert (await call(client, f"{name}-add", {"a": 1, "b": 1}))["result"]["isError"] is False
        renamed = f"after-{uuid.uuid4().hex[:6]}"
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method="catalog.gateways.update",
            params=msgspec.Raw(msgspec.json.encode({"id": gateway["id"], "name": renamed})),
            principal=Principal(subject="admin@forge.local", is_admin=True),
            deadline=time.time() + 10,
        )
        subject = subjects.registry(subjects.CATALOG, "gateways", "update")
        updated = msgspec.json.decode(await rpc.call(bus, subject, envelope))
        assert updated["slug"] == renamed and updated.get("auth") is None
        # The router follows the change events (they may land just after the reply): no
        # restart, no refresh.
        async with asyncio.timeout(10):
            for _ in range(200):
                body = await call(client, f"{renamed}-add", {"a": 2, "b": 2})
                if "result" in body:
                    break
        assert "4" in body["result"]["content"][0]["text"]
        gone = await call(client, f"{name}-add", {"a": 2, "b": 2})
        assert gone["error"]["code"] == -32602
        await client.delete(f"/gateways/{gateway['id']}")
    finally:
        await bus.close()
        stop_process(proc)
