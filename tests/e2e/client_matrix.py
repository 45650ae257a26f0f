"""What the client matrices share (test_ts_clients, test_sdk_client_matrix): a virtual server
that exposes the demo upstream under its original names, what that upstream answers directly,
and the check that the answers a client got through Forge are the same.

Each client session does the same six operations and reports its answers under these keys:
`tools`, `resources` and `prompts` (the listed entries), `call` (tools/call of echo), `read`
(resources/read of the readme) and `get` (prompts/get of greeting)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import BaseModel

from forge.cli.mesh import Mesh

README = "forge://demo/readme"
PLAN: dict[str, Any] = {
    "call": {"name": "echo", "arguments": {"text": "through forge"}},
    "read": README,
    "get": {"name": "greeting", "arguments": {"name": "Ada"}},
}
LISTS = {"tools": "name", "resources": "uri", "prompts": "name"}  # list -> the entries' key
RESULTS = ("call", "read", "get")
# What an era or a hop adds to a result, not what the upstream said.
_ENVELOPE = {"_meta", "resultType", "ttlMs", "cacheScope"}
LEGACY, MODERN = "2025-11-25", "2026-07-28"


def dumped(model: BaseModel) -> Any:
    """An SDK result as it was on the wire (camelCase, no absent fields)."""
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


async def session_answers(client: Client) -> dict[str, Any]:
    """The six operations, with the official Python SDK client."""
    return {
        "tools": dumped(await client.list_tools())["tools"],
        "call": dumped(await client.call_tool(PLAN["call"]["name"], PLAN["call"]["arguments"])),
        "resources": dumped(await client.list_resources())["resources"],
        "read": dumped(await client.read_resource(PLAN["read"])),
        "prompts": dumped(await client.list_prompts())["prompts"],
        "get": dumped(await client.get_prompt(PLAN["get"]["name"], PLAN["get"]["arguments"])),
    }


@pytest.fixture(scope="module")
async def direct(demo: dict[str, Any]) -> dict[str, Any]:
    """What the demo upstream answers to a client connected to it directly (the SDK client,
    legacy: what it offers and answers is the same in both eras)."""
    async with (
        httpx2.AsyncClient(timeout=30) as http,
        Client(streamable_http_client(demo["url"], http_client=http), mode="legacy") as client,
    ):
        return await session_answers(client)


@pytest.fixture(scope="module")
async def originals(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """A virtual server of every demo tool, resource and prompt under its original name: its
    base URL (`<base>/mcp`, `<base>/sse`, `<base>/ws`)."""
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx2.AsyncClient(base_url=mesh.url, headers=headers, timeout=30) as rest:

        async def ids(kind: str) -> list[str]:
            listed = (await rest.get(f"/{kind}")).json()
            return [entry["id"] for entry in listed if entry["gatewayId"] == demo["id"]]

        body = {
            "name": f"originals-{request.module.__name__.rsplit('.', 1)[-1]}",
            "original_names": True,
            "associated_tools": await ids("tools"),
            "associated_resources": await ids("resources"),
            "associated_prompts": await ids("prompts"),
        }
        created = await rest.post("/servers", json=body)
        assert created.status_code == 201, created.text
        server_id = created.json()["id"]
        try:
            yield f"{mesh.url}/servers/{server_id}"
        finally:
            await rest.delete(f"/servers/{server_id}")


def _upstreams(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in _ENVELOPE}


def differences(answers: dict[str, Any], direct: dict[str, Any]) -> list[str]:
    """Where what a client got through Forge differs from what the upstream answers directly:
    every field the upstream sent, with its value (a client may add fields, such as a default
    `isError`; an era adds its envelope: `resultType`, cache hints, `_meta`)."""
    found = []
    for kind, key in LISTS.items():
        got = {entry[key]: entry for entry in answers[kind]}
        want = {entry[key]: entry for entry in direct[kind]}
        if set(got) != set(want):
            found.append(f"{kind}: listed {sorted(got)}, directly {sorted(want)}")
            continue
        for name, entry in want.items():
            seen = {k: got[name].get(k) for k in _upstreams(entry)}
            if seen != _upstreams(entry):
                found.append(f"{kind} {name}: {seen} != {_upstreams(entry)}")
    for kind in RESULTS:
        want = _upstreams(direct[kind])
        seen = {k: answers[kind].get(k) for k in want}
        if seen != want:
            found.append(f"{kind}: {seen} != {want}")
    return found
