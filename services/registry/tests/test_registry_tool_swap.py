"""A gateway's tool set stored in bulk (offers.py: COPY, a staging table, set-based SQL): what a
refresh keeps, changes, drops and adds, and whom it tells."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import msgspec
import pytest
from registry_harness import ADMIN, CONFIG, Client, FakeUpstreamProxy

from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.core.errors import ForgeError
from forge.proto.envelope import Envelope
from forge.proto.mcp import Tool
from forge.registry.app import Registry
from forge.registry.catalog.store import Store

GATEWAY = {"name": "Docs", "url": "http://127.0.0.1:9000/mcp"}
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}


async def test_a_refresh_keeps_ids_counts_changes_and_tells_the_servers_that_lost_a_tool(
    client: Client, upstream: FakeUpstreamProxy
) -> None:
    upstream.tools = [Tool(name=f"t{n}", inputSchema=SCHEMA) for n in range(3000)]
    gateway = await client("gateways", "create", GATEWAY)
    before = {t["original_name"]: t for t in await client("tools", "list")}
    assert len(before) == 3000
    server = await client(
        "servers", "create", {"name": "Few", "associated_tools": ["docs-t0", "docs-t1"]}
    )
    # t0 goes, t1 changes its description, t2.. stay as they were, t3000 comes.
    upstream.tools = [
        Tool(name="t1", inputSchema=SCHEMA, description="new"),
        *(Tool(name=f"t{n}", inputSchema=SCHEMA) for n in range(2, 3001)),
    ]
    summary = await client("gateways", "refresh", {"id": gateway["id"]})
    assert (summary["tools"], summary["added"], summary["removed"], summary["updated"]) == (
        3000,
        1,
        1,
        1,
    )
    after = {t["original_name"]: t for t in await client("tools", "list")}
    assert "t0" not in after and "t3000" in after
    assert all(after[f"t{n}"]["id"] == before[f"t{n}"]["id"] for n in range(1, 3000))
    assert after["t1"]["tool"]["description"] == "new"
    assert after["t2"]["updated_at"] == before["t2"]["updated_at"]
    # 3,000 tools: announced in three chunks of one change
    chunks = client.events("tools", "changed")[-3:]
    assert [(c["chunk"], c["final"], c["count"]) for c in chunks] == [
        (0, 0, 3000),
        (1, 0, 3000),
        (2, 1, 3000),
    ]
    assert {t["original_name"] for c in chunks for t in c["tools"]} == set(after)
    page = await client("tools", "page", {"gateway_id": gateway["id"]})
    assert page["next"] is None and {t["original_name"] for t in page["tools"]} == set(after)
    changed = [s for s in client.events("servers", "changed") if s["id"] == server["id"]]
    assert changed and changed[-1]["associated_tools"] == [before["t1"]["id"]]


async def test_a_registration_stored_past_its_deadline_is_undone(
    bus: NatsBus, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Over real NATS: the handler goes on after its caller gave up (no cancellation).
    upstream = FakeUpstreamProxy(tools=[Tool(name=f"t{n}") for n in range(100)])
    await rpc.serve_envelopes(bus, subjects.upstream_any("discover"), upstream.discover, queue=None)
    await Registry(bus, store, CONFIG).start()
    client = Client(bus)  # type: ignore[arg-type]
    finished = asyncio.Event()
    real = store.registered

    async def slow(*args: Any, **kwargs: Any) -> Any:
        # The real store, then a pause past the caller's deadline (a slow store under load).
        try:
            return await real(*args, **kwargs)
        finally:
            await asyncio.sleep(2.5)
            finished.set()

    monkeypatch.setattr(store, "registered", slow)
    envelope = Envelope(
        id=uuid.uuid4().hex,
        method="catalog.gateways.create",
        params=msgspec.Raw(msgspec.json.encode(GATEWAY)),
        principal=ADMIN,
        deadline=time.time() + 2,
    )
    subject = subjects.registry(subjects.CATALOG, "gateways", "create")
    with pytest.raises(ForgeError):  # the caller hears of no gateway
        await rpc.call(bus, subject, envelope)
    await asyncio.wait_for(finished.wait(), 10)
    await asyncio.sleep(0.5)  # the handler's last steps after the store returned
    assert await client("gateways", "list") == []
    assert await client("tools", "list") == []
