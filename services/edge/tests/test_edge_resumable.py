"""Resumable SSE answers at the edge, on an in-memory bus: the priming event, ids, a pause from
the upstream closing the client's stream, the resume by its owner only, and bad resumes."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from typing import Any

import httpx

from forge.cli.tokens import mint
from forge.core import subjects
from forge.core.bus import Headers
from forge.edge.app import build_asgi, build_edge
from forge.edge.config import EdgeConfig
from forge.edge.state import Edge
from forge.edge.transports import resumable
from forge.proto.envelope import ENVELOPE_DECODER, ok
from forge.proto.identity import IdentitySnapshot, UserAccess
from forge.proto.upstream import STREAM_PAUSED
from forge.testing.membus import MemoryBus

SECRET = "s" * 40
PROGRESS = b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}'
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t"}}
LEGACY = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25"}
USERS = [
    UserAccess(email=name, id=f"u-{name}", is_admin=True, permissions=("*",))
    for name in ("alice", "bob")
]


def edge_on(bus: MemoryBus) -> Edge:
    edge = build_edge(EdgeConfig(jwt_secret=SECRET, request_timeout_s=5, sse_retry_ms=250), bus)
    edge.identity.apply_snapshot(IdentitySnapshot(users=USERS))
    edge.identity.loaded.set()
    return edge


def http(edge: Edge, who: str = "alice") -> httpx.AsyncClient:
    headers = {"Authorization": "Bearer " + mint(SECRET, who)}
    transport = httpx.ASGITransport(app=build_asgi(edge))
    return httpx.AsyncClient(transport=transport, base_url="http://edge", headers=headers)


async def pausing_router(bus: MemoryBus) -> None:
    """A call whose upstream reports progress, closes its stream (a pause), then answers."""

    async def handle(data: bytes, headers: Headers) -> bytes:
        envelope = ENVELOPE_DECODER.decode(data)
        await bus.publish(subjects.stream(envelope.id), PROGRESS)
        await bus.publish(subjects.stream(envelope.id), STREAM_PAUSED)
        await asyncio.sleep(0.1)
        return ok(b'{"content":[]}')

    await bus.serve(subjects.ROUTER_RPC, handle)


def events(text: str) -> list[dict[str, str]]:
    found = []
    for block in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in block.splitlines() if line.strip())
        if fields:
            found.append({k: v.strip() for k, v in fields.items()})
    return found


async def test_a_paused_call_closes_the_stream_and_its_owner_resumes_it() -> None:
    bus = MemoryBus()
    await pausing_router(bus)
    edge = edge_on(bus)
    async with http(edge) as alice, http(edge, "bob") as bob:
        first = await alice.post("/mcp", json=CALL, headers=LEGACY)
        assert first.headers["content-type"] == "text/event-stream"
        priming, progress = events(first.text)  # closed before the answer: no third event
        assert priming["retry"] == "250" and priming["data"] == ""
        key = priming["id"].removesuffix("-0")
        assert len(key) == 32 and progress["id"] == f"{key}-1"
        assert "forge" not in first.text  # the pause marker never reaches the client

        stranger = await bob.get("/mcp", headers={**LEGACY, "Last-Event-ID": progress["id"]})
        assert stranger.status_code == 404

        resumed = await alice.get("/mcp", headers={**LEGACY, "Last-Event-ID": progress["id"]})
        assert resumed.status_code == 200
        (answer,) = events(resumed.text)
        assert answer["id"] == f"{key}-2" and '"result":{"content":[]}' in answer["data"]

        again = await alice.get("/mcp", headers={**LEGACY, "Last-Event-ID": priming["id"]})
        assert [e["id"] for e in events(again.text)] == [f"{key}-1", f"{key}-2"]


async def test_a_resume_of_no_stream_is_404_and_a_malformed_id_400() -> None:
    edge = edge_on(MemoryBus())
    async with http(edge) as alice:
        unknown = await alice.get("/mcp", headers={**LEGACY, "Last-Event-ID": "0" * 32 + "-3"})
        malformed = await alice.get("/mcp", headers={**LEGACY, "Last-Event-ID": "seven"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"].startswith("no resumable stream")
    assert malformed.status_code == 400


async def test_a_client_older_than_2025_11_25_gets_no_priming_event() -> None:
    bus = MemoryBus()
    await pausing_router(bus)
    edge = edge_on(bus)
    old = {**LEGACY, "MCP-Protocol-Version": "2025-06-18"}
    async with http(edge) as alice:
        answer = await alice.post("/mcp", json=CALL, headers=old)
    found = events(answer.text)
    assert [e["data"][:20] for e in found] == [PROGRESS.decode()[:20], '{"jsonrpc":"2.0","id']
    assert all("retry" not in e and e["id"] for e in found)


async def test_a_stream_not_stored_numbers_each_event_and_nothing_else() -> None:
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    numbered = resumable.numbered(send, resumable.GET_STREAM_PREFIX)
    await numbered({"type": "http.response.start", "status": 200, "headers": []})
    await numbered({"type": "http.response.body", "body": b"event: message\ndata: {}\n\n"})
    await numbered({"type": "http.response.body", "body": b": ping\n\n"})
    await numbered({"type": "http.response.body", "body": b"event: message\ndata: []\n\n"})
    bodies = [m["body"] for m in sent[1:]]
    first, second = bodies[0].split(b"\n")[0], bodies[2].split(b"\n")[0]
    assert first.startswith(b"id: g") and first.endswith(b"-1")
    assert second == first[:-1] + b"2" and bodies[1] == b": ping\n\n"
