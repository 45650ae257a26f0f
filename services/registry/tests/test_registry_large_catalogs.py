"""Gateways with large catalogs: discovered in streamed pages and stored in batches, announced
in chunks (and readable page by page); registered whole, or (when discovery, storing or
announcing fails) not at all."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec
import pytest
from registry_harness import ADMIN, CONFIG, Client, FakeUpstreamProxy, code_of

from forge.core import claims, rpc, subjects
from forge.core.bus import NatsBus
from forge.core.errors import (
    CONFLICT,
    PAYLOAD_TOO_LARGE,
    UPSTREAM_UNAVAILABLE,
    PayloadTooLargeError,
)
from forge.proto.catalog import INLINE_TOOLS, TOOLS_CHUNK, TOOLS_PAGE_SIZE
from forge.proto.envelope import Envelope
from forge.proto.mcp import Tool
from forge.registry.app import Registry
from forge.registry.catalog.store import Store

GATEWAY = {"name": "Many", "url": "http://127.0.0.1:9000/mcp"}


async def _all_pages(client: Client, gateway_id: str) -> list[dict[str, Any]]:
    """The gateway's tools as a cache following a paged event reads them."""
    tools: list[dict[str, Any]] = []
    after = None
    while True:
        page = await client("tools", "page", {"gateway_id": gateway_id, "after": after})
        assert len(page["tools"]) <= TOOLS_PAGE_SIZE
        tools += page["tools"]
        after = page["next"]
        if after is None:
            return tools


async def test_a_gateway_with_ten_thousand_tools_is_streamed_in_and_announced_paged(
    client: Client, upstream: FakeUpstreamProxy
) -> None:
    upstream.tools = [Tool(name=f"tool_{n:05d}") for n in range(10_000)]
    upstream.page_size = 700
    gateway = await client("gateways", "create", GATEWAY)
    chunks = client.events("tools", "changed")
    assert [(c["chunk"], c["final"], c["count"]) for c in chunks] == [
        (n, n == 9, 10_000) for n in range(10)
    ]
    assert len({c["change"] for c in chunks}) == 1
    assert all(len(c["tools"]) == TOOLS_CHUNK for c in chunks)
    listed = await client("tools", "list")
    assert len(listed) == 10_000
    announced = {t["id"]: t for c in chunks for t in c["tools"]}
    assert announced == {t["id"]: t for t in listed}
    paged = await _all_pages(client, gateway["id"])
    assert {t["id"]: t for t in paged} == announced and len(paged) == 10_000
    # Few tools: the event carries them, as before.
    upstream.tools = upstream.tools[:INLINE_TOOLS]
    await client("gateways", "refresh", {"id": gateway["id"]})
    last = client.events("tools", "changed")[-1]
    assert "change" not in last and len(last["tools"]) == INLINE_TOOLS


async def test_a_streamed_registration_that_fails_half_way_leaves_nothing_behind(
    client: Client, upstream: FakeUpstreamProxy
) -> None:
    upstream.tools = [Tool(name="b-c")]
    first = await client("gateways", "create", {"name": "a", "url": "http://127.0.0.1:9001/mcp"})
    upstream.page_size = 1_000
    # The upstream goes away after 8 pages (a batch of 5,000 tools stored by then).
    upstream.tools = [Tool(name=f"tool_{n:05d}") for n in range(12_000)]
    upstream.fail_after_pages = 8
    assert await code_of(client("gateways", "create", GATEWAY)) == UPSTREAM_UNAVAILABLE
    # The store refuses the last page: its tool `c` would be exposed as `a-b-c`, gateway a's.
    upstream.fail_after_pages = None
    upstream.tools = [Tool(name=f"tool_{n:05d}") for n in range(6_000)] + [Tool(name="c")]
    new = {"name": "a-b", "url": "http://127.0.0.1:9002/mcp"}
    assert await code_of(client("gateways", "create", new)) == CONFLICT
    assert [g["id"] for g in await client("gateways", "list")] == [first["id"]]
    assert [t["name"] for t in await client("tools", "list")] == ["a-b-c"]
    assert [e["gateway_id"] for e in client.events("tools", "changed")] == [first["id"]]
    # Nothing half-stored holds a name: both register now.
    upstream.tools = [Tool(name=f"tool_{n:05d}") for n in range(6_000)]
    assert len(await _all_pages(client, (await client("gateways", "create", new))["id"])) == 6_000
    assert (await client("gateways", "create", GATEWAY))["name"] == "Many"


async def test_a_discovery_larger_than_one_message_may_be_registers_in_pieces(
    bus: NatsBus, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Over real NATS, with the bus's bound on one message lowered to 1 MiB (NATS's own
    max_payload): 3,000 tools (some 2 MiB listed whole) could not be discovered in one reply;
    streamed, they are."""
    monkeypatch.setattr(claims, "MAX_MESSAGE_BYTES", 1024 * 1024)
    text = {"type": "string", "description": "what to look for " * 20}
    schema = {"type": "object", "properties": {"query": text}}
    tools = [Tool(name=f"search_{n:05d}", inputSchema=schema) for n in range(3_000)]
    assert len(msgspec.json.encode(tools)) > claims.MAX_MESSAGE_BYTES
    upstream = FakeUpstreamProxy(tools=tools, bus=bus, page_size=500)
    await rpc.serve_envelopes(bus, subjects.upstream_any("discover"), upstream.discover, queue=None)
    await Registry(bus, store, CONFIG).start()
    events: list[bytes] = []

    async def heard(subject: str, data: bytes) -> None:
        events.append(data)

    await bus.subscribe(subjects.event(subjects.CATALOG, "tools", "changed"), heard)
    client = Client(bus)  # type: ignore[arg-type]
    gateway = await client("gateways", "create", GATEWAY)
    assert len(await _all_pages(client, gateway["id"])) == 3_000
    await asyncio.sleep(0.2)
    chunks = [msgspec.json.decode(e) for e in events]
    assert [c["chunk"] for c in chunks] == [0, 1, 2] and chunks[-1]["final"]
    # The one-message path fails with this bound: the reply is refused as too large.
    upstream.page_size = None
    envelope = Envelope(
        id=uuid.uuid4().hex,
        method="catalog.gateways.refresh",
        params=msgspec.Raw(msgspec.json.encode({"id": gateway["id"]})),
        principal=ADMIN,
        deadline=time.time() + 10,
    )
    subject = subjects.registry(subjects.CATALOG, "gateways", "refresh")
    with pytest.raises(PayloadTooLargeError):
        await rpc.call(bus, subject, envelope)
    assert len(await _all_pages(client, gateway["id"])) == 3_000  # and changed nothing


async def test_a_registration_whose_announcement_fails_leaves_nothing_behind(
    client: Client, upstream: FakeUpstreamProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = client.bus.publish

    async def refuse_tools(subject: str, payload: bytes) -> None:
        if subject.endswith(".tools.changed") and b'"tools":[]' not in payload:
            raise PayloadTooLargeError("too large for the bus")
        await publish(subject, payload)

    monkeypatch.setattr(client.bus, "publish", refuse_tools)
    assert await code_of(client("gateways", "create", GATEWAY)) == PAYLOAD_TOO_LARGE
    assert await client("gateways", "list") == []
    assert await client("tools", "list") == []
    assert await client("resources", "list") == []
    # The caches that heard of it hear of its end.
    [announced] = client.events("gateways", "changed")
    assert client.events("gateways", "deleted") == [{"id": announced["id"]}]
    # Its name is free again.
    monkeypatch.setattr(client.bus, "publish", publish)
    assert (await client("gateways", "create", GATEWAY))["name"] == "Many"
