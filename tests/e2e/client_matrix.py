"""What the client matrices share (test_ts_clients, test_sdk_client_matrix): two real upstreams,
each behind a virtual server that exposes it under its original names, what each answers to a
client connected to it directly, and the check that what a client got through Forge is the same.

The upstreams: `demo`, the Python SDK demo server, which speaks both eras (Forge mirrors the
client's), and `everything`, the reference server-everything (TypeScript SDK v1), which speaks
only 2025-11-25 (Forge translates for a modern client).

Each client session lists and then calls, reads and gets what the upstream's plan names, and
reports its answers under these keys: `tools`, `resources`, `templates` and `prompts` (the
listed entries), `calls`, `reads` and `gets` (the results, in the plan's order)."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Set
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from pydantic import BaseModel

from forge.cli.demo import register
from forge.cli.mesh import Mesh
from forge.upstream_proxy.transports.codec import CLIENT_CAPABILITIES
from tests.conformance import harness

LEGACY, MODERN = "2025-11-25", "2026-07-28"
_INFO = {"name": "direct", "version": "1"}
PLANS: dict[str, dict[str, Any]] = {
    "demo": {
        "calls": [
            {"name": "echo", "arguments": {"text": "through forge"}},
            {"name": "add", "arguments": {"a": 2, "b": 3.5}},
        ],
        "reads": ["forge://demo/readme", "forge://demo/numbers/3"],  # the second by a template
        "gets": [
            {"name": "greeting", "arguments": {"name": "Ada"}},
            {"name": "summarize", "arguments": {"text": "a long story"}},
        ],
    },
    # Content of every kind it has that is the same on each call (its dynamic resources carry
    # the time): structured, image, annotated, resource links; a prompt without arguments.
    "everything": {
        "calls": [
            {"name": "get-structured-content", "arguments": {"location": "Chicago"}},
            {"name": "get-tiny-image", "arguments": {}},
            {
                "name": "get-annotated-message",
                "arguments": {"messageType": "success", "includeImage": True},
            },
            {"name": "get-resource-links", "arguments": {"count": 2}},
        ],
        "reads": [
            "demo://resource/static/document/architecture.md",
            "demo://resource/static/document/features.md",
        ],
        "gets": [
            {"name": "args-prompt", "arguments": {"city": "Paris", "state": "TX"}},
            {"name": "simple-prompt", "arguments": {}},
        ],
    },
}
UPSTREAMS = tuple(PLANS)
# list -> the entries' key
LISTS = {"tools": "name", "resources": "uri", "templates": "uriTemplate", "prompts": "name"}
RESULTS = ("calls", "reads", "gets")
# What an era or a hop adds to a result, not what the upstream said.
_ENVELOPE = {"_meta", "resultType", "ttlMs", "cacheScope"}
# What 2025-11-25 has that 2026-07-28 does not (tasks left the core for an extension): a modern
# client may drop it, as the TypeScript client does.
_LEGACY_ONLY: dict[str, Set[str]] = {"tools": {"execution"}}


@dataclass(frozen=True)
class Target:
    """One upstream as the matrix sees it."""

    base: str  # the virtual server's base URL: `<base>/mcp`, `<base>/sse`, `<base>/ws`
    plan: dict[str, Any]
    direct: dict[str, Any]  # what the upstream answers a client connected to it directly


def dumped(model: BaseModel) -> Any:
    """An SDK result as it was on the wire (camelCase, no absent fields)."""
    return model.model_dump(by_alias=True, mode="json", exclude_none=True)


async def session_answers(client: Client, plan: dict[str, Any]) -> dict[str, Any]:
    """The plan's operations, with the official Python SDK client."""
    return {
        "tools": dumped(await client.list_tools())["tools"],
        "calls": [
            dumped(await client.call_tool(call["name"], call["arguments"]))
            for call in plan["calls"]
        ],
        "resources": dumped(await client.list_resources())["resources"],
        "templates": dumped(await client.list_resource_templates())["resourceTemplates"],
        "reads": [dumped(await client.read_resource(uri)) for uri in plan["reads"]],
        "prompts": dumped(await client.list_prompts())["prompts"],
        "gets": [
            dumped(await client.get_prompt(get["name"], get["arguments"])) for get in plan["gets"]
        ],
    }


async def _direct(url: str, plan: dict[str, Any]) -> dict[str, Any]:
    """What the upstream sends, on the wire, to a legacy client that declares what Forge's own
    upstream sessions declare (server-everything lists the tools that need sampling,
    elicitation or roots only to a client that declares them; what an upstream offers and
    answers is otherwise the same in both eras, and `everything` has no other)."""
    ids = itertools.count()
    headers = {"Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:

        async def ask(method: str, params: dict[str, Any]) -> dict[str, Any]:
            request_id = next(ids)
            body = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
            answer = await http.post(url, json=body)
            assert answer.status_code == 200, answer.text
            if "mcp-session-id" in answer.headers:
                http.headers["mcp-session-id"] = answer.headers["mcp-session-id"]
            for message in messages(answer):
                if message.get("id") == request_id:
                    assert "result" in message, message
                    result: dict[str, Any] = message["result"]
                    return result
            raise AssertionError(f"{method}: no answer in {answer.text}")

        await ask(
            "initialize",
            {"protocolVersion": LEGACY, "capabilities": CLIENT_CAPABILITIES, "clientInfo": _INFO},
        )
        http.headers["mcp-protocol-version"] = LEGACY
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (await http.post(url, json=initialized)).status_code == 202
        return {
            "tools": (await ask("tools/list", {}))["tools"],
            "calls": [await ask("tools/call", call) for call in plan["calls"]],
            "resources": (await ask("resources/list", {}))["resources"],
            "templates": (await ask("resources/templates/list", {}))["resourceTemplates"],
            "reads": [await ask("resources/read", {"uri": uri}) for uri in plan["reads"]],
            "prompts": (await ask("prompts/list", {}))["prompts"],
            "gets": [await ask("prompts/get", get) for get in plan["gets"]],
        }


def messages(answer: httpx.Response) -> list[dict[str, Any]]:
    """The JSON-RPC messages of an answer: a JSON body, or an SSE stream's `data:` lines."""
    if answer.headers.get("content-type", "").startswith("application/json"):
        return [answer.json()]
    lines = answer.text.splitlines()
    return [json.loads(line[5:]) for line in lines if line.startswith("data:") and line[5:].strip()]


async def _originals(rest: httpx2.AsyncClient, name: str, gateway_id: str) -> str:
    """A virtual server of every tool, resource and prompt of one gateway, under original names."""

    async def ids(kind: str) -> list[str]:
        listed = (await rest.get(f"/{kind}")).json()
        return [entry["id"] for entry in listed if entry["gatewayId"] == gateway_id]

    body = {
        "name": name,
        "original_names": True,
        "associated_tools": await ids("tools"),
        "associated_resources": await ids("resources") + await ids("resources/templates/list"),
        "associated_prompts": await ids("prompts"),
    }
    created = await rest.post("/servers", json=body)
    assert created.status_code == 201, created.text
    server_id: str = created.json()["id"]
    return server_id


@pytest.fixture(scope="module")
async def targets(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], request: pytest.FixtureRequest
) -> AsyncIterator[dict[str, Target]]:
    """Each upstream behind its own virtual server, with what it answers directly."""
    module = request.module.__name__.rsplit(".", 1)[-1]
    everything = harness.start_everything(mesh.log_path(f"everything-{module}"))
    headers = {"Authorization": f"Bearer {admin_token}"}
    servers: list[str] = []
    try:
        gateway = register(mesh, admin_token, f"everything-{module}", everything.base + "/mcp")
        urls = {"demo": (demo["url"], demo["id"]), "everything": (gateway["url"], gateway["id"])}
        async with httpx2.AsyncClient(base_url=mesh.url, headers=headers, timeout=30) as rest:
            found = {}
            for name, (url, gateway_id) in urls.items():
                servers.append(await _originals(rest, f"{name}-{module}", str(gateway_id)))
                found[name] = Target(
                    f"{mesh.url}/servers/{servers[-1]}",
                    PLANS[name],
                    await _direct(str(url), PLANS[name]),
                )
            yield found
            for server_id in servers:
                await rest.delete(f"/servers/{server_id}")
            await rest.delete(f"/gateways/{gateway['id']}")
    finally:
        everything.stop()


def _upstreams(entry: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in entry.items() if k not in _ENVELOPE}


def differences(answers: dict[str, Any], direct: dict[str, Any], version: str) -> list[str]:
    """Where what a client got through Forge, in protocol `version`, differs from what the
    upstream answers directly: every field the upstream sent, with its value (a client may add
    fields, such as a default `isError`; an era adds its envelope: `resultType`, cache hints,
    `_meta`; a modern client need not keep what its era lacks)."""
    found = []
    for kind, key in LISTS.items():
        got = {entry[key]: entry for entry in answers[kind]}
        want = {entry[key]: entry for entry in direct[kind]}
        if set(got) != set(want):
            found.append(f"{kind}: listed {sorted(got)}, directly {sorted(want)}")
            continue
        lacks = _LEGACY_ONLY.get(kind, frozenset()) if version == MODERN else frozenset()
        for name, entry in want.items():
            found += _fields(f"{kind} {name}", got[name], entry, lacks)
    for kind in RESULTS:
        for n, (got_one, want_one) in enumerate(zip(answers[kind], direct[kind], strict=True)):
            found += _fields(f"{kind}[{n}]", got_one, want_one)
    return found


def _fields(
    what: str, got: dict[str, Any], want: dict[str, Any], lacks: Set[str] = frozenset()
) -> list[str]:
    return [
        f"{what}: {field} is {got.get(field)!r}, directly {value!r}"
        for field, value in _upstreams(want).items()
        if field not in lacks and got.get(field) != value
    ]
