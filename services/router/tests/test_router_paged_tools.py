"""A large gateway's tools.changed event names it without its tools (`paged`); the routers read
them from the registry page by page (`catalog.tools.page`) and end up with what the database
holds: several routers, a later event racing a read, a router that starts meanwhile."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import msgspec
from router_harness import DOCS, SNAPSHOT, TOOLS

from forge.core import rpc, subjects
from forge.proto.catalog import Snapshot, ToolRecord, ToolsChanged, ToolsPage
from forge.proto.catalog_params import ToolsPageParams
from forge.proto.envelope import Envelope
from forge.proto.mcp import Tool
from forge.router.app import Router
from forge.router.config import RouterConfig
from forge.testing.membus import MemoryBus

SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
CHANGED = subjects.event(subjects.CATALOG, "tools", "changed")


def tools(count: int, tag: str = "t") -> list[ToolRecord]:
    return [
        ToolRecord(f"{tag}{n}", f"docs-{tag}{n:05d}", f"{tag}{n:05d}", "g1", Tool(f"{tag}{n:05d}"))
        for n in range(count)
    ]


@dataclass
class FakeRegistry:
    """The catalog as the database holds it: a snapshot and pages of one gateway's tools (of
    `page_size`); a page is read at once and answered once `gate` is set."""

    tools: list[ToolRecord] = field(default_factory=lambda: list(TOOLS))
    page_size: int = 700
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    pages_read: int = 0

    def __post_init__(self) -> None:
        self.gate.set()

    async def serve(self, bus: MemoryBus) -> None:
        snapshot = subjects.registry(subjects.CATALOG, "snapshot", "get")
        page = subjects.registry(subjects.CATALOG, "tools", "page")
        await rpc.serve_envelopes(bus, snapshot, self.snapshot, queue=None)
        await rpc.serve_envelopes(bus, page, self.page, queue=None)

    async def snapshot(self, envelope: Envelope) -> bytes:
        await self.gate.wait()
        return msgspec.json.encode(msgspec.structs.replace(SNAPSHOT, tools=self.tools))

    async def page(self, envelope: Envelope) -> bytes:
        params = msgspec.json.decode(envelope.params, type=ToolsPageParams)
        now = list(self.tools)  # read as the database is now, answered once the gate opens
        await self.gate.wait()
        self.pages_read += 1
        mine = sorted((t for t in now if t.gateway_id == params.gateway_id), key=_name)
        after = [t for t in mine if params.after is None or t.name > params.after]
        chosen = after[: min(params.limit, self.page_size)]
        more = len(after) > len(chosen)
        return msgspec.json.encode(ToolsPage(chosen, chosen[-1].name if more else None))


def _name(record: ToolRecord) -> str:
    return record.name


def held(router: Router) -> dict[str, bytes]:
    """The router's tools as it lists them (the JSON it would send)."""
    return {r.name: msgspec.json.encode(r) for r in router.ctx.catalog.tools_by_id.values()}


def stored(registry: FakeRegistry) -> dict[str, bytes]:
    encoded = msgspec.json.encode(registry.tools)
    lean = msgspec.json.decode(encoded, type=list[dict[str, object]])
    return {str(r["name"]): msgspec.json.encode(r) for r in lean}


async def start(bus: MemoryBus) -> Router:
    router = Router(bus, RouterConfig())
    await router.start()
    return router


async def paged(bus: MemoryBus, registry: FakeRegistry) -> None:
    count = sum(1 for t in registry.tools if t.gateway_id == "g1")
    event = ToolsChanged("g1", [], paged=True, count=count)
    await bus.publish(CHANGED, msgspec.json.encode(event))


async def test_every_router_reads_a_paged_change_whole_and_lists_it_as_stored(
    membus: MemoryBus,
) -> None:
    registry = FakeRegistry()
    await registry.serve(membus)
    routers = [await start(membus), await start(membus)]
    with_schema = [msgspec.structs.replace(t, tool=Tool(t.tool.name, SCHEMA)) for t in tools(3000)]
    registry.tools = with_schema
    await paged(membus, registry)
    for router in routers:  # the old set stays listed until the new one is in
        assert len(router.ctx.catalog.tools_by_id) == len(TOOLS)
    await asyncio.gather(*(r.pages.settled() for r in routers))
    assert registry.pages_read == 2 * 5  # 3,000 tools in pages of 700, per router
    for router in routers:
        assert held(router) == stored(registry)
        record = router.ctx.catalog.tools["docs-t00042"]
        assert msgspec.json.decode(record.tool.inputSchema) == SCHEMA  # undecoded until read


async def test_a_later_change_wins_over_a_read_in_flight(membus: MemoryBus) -> None:
    registry = FakeRegistry()
    await registry.serve(membus)
    router = await start(membus)
    registry.tools = tools(2000)
    registry.gate.clear()  # the read of the paged change waits
    await paged(membus, registry)
    await asyncio.sleep(0.01)
    # Meanwhile the gateway shrinks to three tools, announced inline...
    registry.tools = tools(3, "s")
    await membus.publish(CHANGED, msgspec.json.encode(ToolsChanged("g1", registry.tools)))
    registry.gate.set()  # ...and the read in flight (of the old state, say) must not undo it
    await router.pages.settled()
    assert held(router) == stored(registry)
    # A paged change replaces a read in flight: the last one's set is what stays.
    registry.gate.clear()
    registry.tools = tools(1500, "a")
    await paged(membus, registry)
    registry.tools = tools(1200, "b")
    await paged(membus, registry)
    registry.gate.set()
    await router.pages.settled()
    assert held(router) == stored(registry)
    # The gateway deleted while a read is in flight: none of its tools come back.
    registry.gate.clear()
    await paged(membus, registry)
    registry.tools = []
    await membus.publish(
        subjects.event(subjects.CATALOG, "gateways", "deleted"), msgspec.json.encode(DOCS)
    )
    registry.gate.set()
    await router.pages.settled()
    assert held(router) == {}


async def test_a_router_that_starts_during_a_change_ends_up_as_one_that_followed_it(
    membus: MemoryBus,
) -> None:
    registry = FakeRegistry()
    await registry.serve(membus)
    running = await start(membus)
    registry.tools = tools(2500)
    registry.gate.clear()  # the newcomer's snapshot and every read wait
    starting = asyncio.create_task(start(membus))
    await asyncio.sleep(0.01)
    await paged(membus, registry)  # heard while loading: read once loaded
    registry.gate.set()
    restarted = await starting
    await asyncio.gather(running.pages.settled(), restarted.pages.settled())
    assert held(running) == held(restarted) == stored(registry)
    # A snapshot of what the database holds gives the same as following did.
    fresh = Router(membus, RouterConfig())
    fresh.ctx.catalog.load(Snapshot(SNAPSHOT.gateways, registry.tools, SNAPSHOT.servers))
    assert held(fresh) == held(running)


async def chunked(
    bus: MemoryBus, records: list[ToolRecord], change: str, skip: int = -1, start: int = 0
) -> None:
    """Announce `records` as the registry does a large set: chunks of 1,000 (`skip`: lost),
    from chunk `start` on."""
    chunks = [records[i : i + 1000] for i in range(0, len(records), 1000)]
    for n, chunk in enumerate(chunks):
        if n == skip or n < start:
            continue
        final = n == len(chunks) - 1
        event = ToolsChanged("g1", chunk, change, n, final, count=len(records))
        await bus.publish(CHANGED, msgspec.json.encode(event))


async def test_a_chunked_change_is_swapped_in_whole_at_its_final_chunk(membus: MemoryBus) -> None:
    registry = FakeRegistry()
    await registry.serve(membus)
    router = await start(membus)
    registry.tools = tools(2500)
    await chunked(membus, registry.tools, "c1", skip=2)  # all but the last chunk
    assert len(router.ctx.catalog.tools_by_id) == len(TOOLS)  # nothing shows half way
    await chunked(membus, registry.tools, "c1", start=2)
    await router.pages.settled()
    assert held(router) == stored(registry)
    assert registry.pages_read == 0  # the chunks held it all


async def test_a_chunk_missed_has_the_set_read_from_the_registry(membus: MemoryBus) -> None:
    registry = FakeRegistry()
    await registry.serve(membus)
    router = await start(membus)
    registry.tools = tools(2200, "m")
    await chunked(membus, registry.tools, "c2", skip=1)
    await router.pages.settled()
    assert held(router) == stored(registry) and registry.pages_read == 4  # of 700
    # An inline change between two chunks of another: the chunks' set is read at their end,
    # from the registry (as the database has it now).
    registry.pages_read = 0
    await chunked(membus, tools(3000, "n")[:1000], "c3")
    registry.tools = tools(3, "s")
    await membus.publish(CHANGED, msgspec.json.encode(ToolsChanged("g1", registry.tools)))
    await chunked(membus, tools(3000, "n"), "c3", skip=0)
    await router.pages.settled()
    assert held(router) == stored(registry) and registry.pages_read == 1
