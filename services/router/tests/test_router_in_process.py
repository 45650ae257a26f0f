"""The router in another process (`embedded`, `Router.call`; FORGE_EDGE_ROUTER=local): the same
answers and errors as over `forge.router.rpc`, its metrics published, FORGE_MAX_INFLIGHT."""

from __future__ import annotations

import asyncio
import contextlib

import msgspec
import pytest
from router_harness import envelope

from forge.core import rpc, subjects
from forge.core.errors import OverloadedError, ToolNotFoundError
from forge.proto.catalog import Gateway, Snapshot, ToolRecord
from forge.proto.envelope import Envelope
from forge.proto.mcp import Tool
from forge.router.app import Router, embedded
from forge.router.config import RouterConfig
from forge.testing.membus import MemoryBus

GATEWAY = Gateway(id="g1", name="one", slug="one", url="http://127.0.0.1:1/mcp")
ECHO = ToolRecord(
    id="t1", name="one-echo", original_name="echo", gateway_id="g1", tool=Tool(name="echo")
)
CALL = b'{"name":"one-echo","arguments":{"text":"hi"}}'


async def _serve_catalog(bus: MemoryBus) -> None:
    async def serve_snapshot(env: Envelope) -> bytes:
        return msgspec.json.encode(Snapshot(gateways=[GATEWAY], tools=[ECHO], servers=[]))

    subject = subjects.registry(subjects.CATALOG, "snapshot", "get")
    await rpc.serve_envelopes(bus, subject, serve_snapshot, queue=None)


async def test_a_call_in_process_answers_as_the_served_router_and_publishes_metrics(
    membus: MemoryBus,
) -> None:
    await _serve_catalog(membus)

    async def upstream(env: Envelope) -> bytes:
        return b'{"content":[],"isError":false}'

    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), upstream, queue=None)
    published: list[bytes] = []

    async def on_metrics(subject: str, data: bytes) -> None:
        published.append(data)

    await membus.subscribe(subjects.metrics("tools"), on_metrics)
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        router = Router(membus, RouterConfig(metrics_flush_s=0.05))
        await embedded(stack, router, stop)
        assert router.ctx.catalog.loaded
        assert await router.call(envelope("tools/call", CALL)) == b'{"content":[],"isError":false}'
        with pytest.raises(ToolNotFoundError, match="Unknown tool: nope"):
            await router.call(envelope("tools/call", b'{"name":"nope"}'))
        # Nothing on forge.router.rpc: the call never crossed the bus.
        assert subjects.ROUTER_RPC not in {subject for subject, *_ in membus.requests}
    assert published and b'"t1"' in published[-1]  # flushed by the time the stack closed


async def test_past_max_inflight_a_call_is_refused_at_once_and_the_slot_comes_back(
    membus: MemoryBus,
) -> None:
    await _serve_catalog(membus)
    release = asyncio.Event()

    async def upstream(env: Envelope) -> bytes:
        await release.wait()
        return b"{}"

    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), upstream, queue=None)
    async with contextlib.AsyncExitStack() as stack:
        router = Router(membus, RouterConfig(max_inflight=1))
        await embedded(stack, router, asyncio.Event())
        first = asyncio.ensure_future(router.call(envelope("tools/call", CALL)))
        await asyncio.sleep(0.01)
        with pytest.raises(OverloadedError) as refused:
            await router.call(envelope("tools/call", CALL))
        assert refused.value.code == -32015 and router.refused == 1
        release.set()
        assert await first == b"{}"
        assert router.admitted == 0
