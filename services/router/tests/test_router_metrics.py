"""Per-entity metrics: what the router counts per call and publishes in one batch per kind."""

from __future__ import annotations

import msgspec
import pytest
from router_harness import SNAPSHOT, FakeUpstream, ask, envelope, start_router

from forge.core import rpc, subjects
from forge.core.errors import ForgeError
from forge.proto.metrics import BOUNDS_S, BUCKETS, EntityStats, bucket_of
from forge.router.app import Router
from forge.router.metrics import Metrics, failed
from forge.testing.membus import MemoryBus

_BATCH = msgspec.json.Decoder(dict[str, EntityStats])


@pytest.fixture
async def router(membus: MemoryBus) -> Router:
    return await start_router(membus, SNAPSHOT)


@pytest.fixture
async def upstream(membus: MemoryBus) -> FakeUpstream:
    fake = FakeUpstream()
    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), fake.rpc, queue=None)
    return fake


async def published(membus: MemoryBus, router: Router) -> dict[str, dict[str, EntityStats]]:
    seen: dict[str, dict[str, EntityStats]] = {}

    async def keep(subject: str, data: bytes) -> None:
        seen[subject.rsplit(".", 1)[1]] = _BATCH.decode(data)

    await membus.subscribe("forge.events.metrics.*", keep)
    await router.ctx.metrics.flush(membus)
    return seen


async def test_calls_count_for_the_entity_its_server_and_its_gateway_failures_included(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    call = b'{"name":"docs-t0","arguments":{}}'
    for _ in range(3):
        await ask(membus, envelope("tools/call", call))
    upstream.result = b'{"content":[],"isError": true}'
    await ask(membus, envelope("tools/call", call))
    upstream.result = b'{"contents":[]}'
    await ask(membus, envelope("resources/read", b'{"uri":"file:///logo.png"}', server_id="s1"))
    await ask(membus, envelope("prompts/get", b'{"name":"mirror-summary"}', server_id="s1"))
    batches = await published(membus, router)
    assert set(batches) == {"tools", "resources", "prompts", "servers", "gateways"}
    tool = batches["tools"]["x0"]
    assert (tool.calls, tool.failures, sum(tool.buckets.values())) == (4, 1, 4)
    assert tool.min_s is not None and tool.last_at is not None
    assert 0 < tool.min_s <= tool.total_s / 4 <= tool.max_s
    assert (batches["resources"]["r3"].calls, batches["prompts"]["p2"].calls) == (1, 1)
    assert batches["servers"]["s1"].calls == 2
    gateways = batches["gateways"]
    assert {k: (v.calls, v.failures) for k, v in gateways.items()} == {"g1": (4, 1), "g2": (2, 0)}
    # A flush starts new batches: nothing is published twice.
    assert await published(membus, router) == {}


async def test_an_upstream_error_is_a_failed_call_and_a_refused_one_is_not_counted(
    router: Router, membus: MemoryBus
) -> None:
    # No upstream-proxy answers: the call was dispatched and failed.
    with pytest.raises(ForgeError):
        await ask(membus, envelope("tools/call", b'{"name":"docs-t1"}'))
    # An unknown tool never reaches an upstream: nothing to count.
    with pytest.raises(ForgeError):
        await ask(membus, envelope("tools/call", b'{"name":"nope"}'))
    batches = await published(membus, router)
    assert {k: (v.calls, v.failures) for k, v in batches["tools"].items()} == {"x1": (1, 1)}


def test_a_result_fails_only_when_its_is_error_member_is_true() -> None:
    assert failed(b'{"content":[],"isError":true}')
    assert failed(b'{"content": [], "isError" : true}')
    assert not failed(b'{"content":[],"isError":false}')
    # Inside a string the quotes are escaped: text that mentions isError is no failure.
    assert not failed(b'{"content":[{"type":"text","text":"\\"isError\\":true"}]}')


def test_latencies_fall_in_the_bucket_whose_bound_holds_them() -> None:
    assert bucket_of(0.0) == 0
    assert bucket_of(BOUNDS_S[0]) == 0
    assert bucket_of(BOUNDS_S[0] * 1.01) == 1
    assert bucket_of(10_000.0) == BUCKETS - 1
    metrics = Metrics()
    metrics.count("agents", "a", 0.002, True)
    metrics.count("agents", "a", 0.001, False)
    stats = metrics.batches["agents"]["a"]
    assert (stats.calls, stats.failures, stats.min_s, stats.max_s) == (2, 1, 0.001, 0.002)
    assert stats.buckets == {bucket_of(0.002): 1, bucket_of(0.001): 1}
