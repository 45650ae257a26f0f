"""The store: one transaction per change, conflicts as domain errors, a consistent snapshot."""

from __future__ import annotations

import time
from pathlib import Path

import msgspec
import pytest

from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.core.errors import ConflictError, NotFoundError
from forge.embedded.nats import start_nats
from forge.proto.catalog import Gateway, Snapshot
from forge.proto.envelope import Envelope, Principal
from forge.proto.mcp import Tool
from forge.registry.app import Registry
from forge.registry.catalog.store import NewTool, Store
from forge.registry.config import RegistryConfig


def gateway(gateway_id: str, name: str) -> Gateway:
    return Gateway(id=gateway_id, name=name, slug=name, url="http://127.0.0.1/mcp")


async def test_a_new_catalog_is_empty(store: Store) -> None:
    assert await store.snapshot() == Snapshot(gateways=[], tools=[], servers=[])


async def test_a_tool_name_clash_rolls_back_the_whole_gateway(store: Store) -> None:
    await store.insert_gateway(gateway("g1", "a"), [NewTool("t1", "a-b-c", Tool(name="b-c"))])
    with pytest.raises(ConflictError):
        await store.insert_gateway(gateway("g2", "a-b"), [NewTool("t2", "a-b-c", Tool(name="c"))])
    assert [g.id for g in await store.list_gateways()] == ["g1"]
    assert [t.id for t in await store.list_tools()] == ["t1"]


async def test_a_unique_violation_never_carries_the_drivers_text(store: Store) -> None:
    # The driver's DETAIL reads "Key (gateway_id, original_name)=(g1, x) already exists.".
    twice = [NewTool("t1", "a-x", Tool(name="x")), NewTool("t2", "a-y", Tool(name="x"))]
    with pytest.raises(ConflictError) as same_tool:
        await store.insert_gateway(gateway("g1", "a"), twice)
    assert same_tool.value.message == "the upstream lists the same tool name twice"
    assert same_tool.value.data is None
    await store.insert_gateway(gateway("g1", "a"), [NewTool("t1", "a-b-c", Tool(name="b-c"))])
    with pytest.raises(ConflictError) as same_name:
        await store.insert_gateway(gateway("g2", "a-b"), [NewTool("t2", "a-b-c", Tool(name="c"))])
    assert same_name.value.data == {"field": "name"}
    for raised in (same_tool.value, same_name.value):
        assert "Key (" not in raised.message and "_key" not in raised.message


async def test_a_stored_tool_keeps_its_full_definition(store: Store) -> None:
    tool = Tool(
        name="search",
        description="Find things",
        inputSchema={"type": "object", "properties": {"q": {"type": "string"}}},
        annotations={"readOnlyHint": True},
    )
    [record] = await store.insert_gateway(gateway("g1", "s"), [NewTool("t1", "s-search", tool)])
    assert record.tool == tool
    assert (await store.get_tool("t1")).tool == tool


async def test_deleting_a_missing_entity_raises_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        await store.delete_gateway("missing")
    with pytest.raises(NotFoundError):
        await store.delete_server("missing")


async def test_the_registry_answers_health_and_snapshot_over_real_nats(
    store: Store, tmp_path: Path
) -> None:
    # A server of its own: a mesh started by other tests on the session server also serves these.
    with start_nats(tmp_path) as server:
        bus = await NatsBus.connect(server.url, "forge-test")
        try:
            await answer_health_and_snapshot(bus, store)
        finally:
            await bus.close()


async def answer_health_and_snapshot(bus: NatsBus, store: Store) -> None:
    await Registry(bus, store, RegistryConfig()).start()
    await bus.flush()
    health = await bus.request(
        subjects.registry_health(subjects.CATALOG), b"{}", deadline=time.time() + 5
    )
    assert msgspec.json.decode(health) == {"result": {"status": "ok"}}
    envelope = Envelope(
        id="snap",
        method="catalog.snapshot.get",
        params=msgspec.Raw(b"{}"),
        principal=Principal(subject="test", is_admin=True),
        deadline=time.time() + 5,
    )
    data = await rpc.call(bus, subjects.registry(subjects.CATALOG, "snapshot", "get"), envelope)
    assert msgspec.json.decode(data, type=Snapshot) == Snapshot(gateways=[], tools=[], servers=[])
