"""Per-entity metrics in the catalog database: batches stored once, rolled up exactly (on several
replicas at once too), served only to who sees the entity, reset by admins."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import msgspec
import pytest
from registry_harness import ADMIN, Client, code_of, person

from forge.core import subjects
from forge.core.errors import FORBIDDEN, INVALID_PARAMS, NOT_FOUND
from forge.proto.metrics import EntityStats, bucket_of
from forge.registry.catalog import metric_rows
from forge.registry.catalog.metric_rows import MetricRows
from forge.registry.catalog.store import Store
from forge.testing.membus import MemoryBus

ALICE = person("alice@x", "team-a", role="team_admin")
BOB = person("bob@x", "team-a", role="developer")
CAROL = person("carol@x", "team-b", role="developer")
HOUR = 3600.0


def stats(latencies: list[float], failures: int = 0, at: float | None = None) -> EntityStats:
    buckets: dict[int, int] = {}
    for s in latencies:
        buckets[bucket_of(s)] = buckets.get(bucket_of(s), 0) + 1
    return EntityStats(
        calls=len(latencies),
        failures=failures,
        total_s=sum(latencies),
        max_s=max(latencies),
        min_s=min(latencies),
        last_at=at if at is not None else time.time(),
        buckets=buckets,
    )


async def a_tool(client: Client) -> str:
    params = {"name": "Alpha", "url": "http://127.0.0.1:9000/mcp", "team_id": "team-a"}
    params["visibility"] = "team"
    await client("gateways", "create", params, as_=ALICE)
    tools = await client("tools", "list", as_=ALICE)
    return str(tools[0]["id"])


async def metrics_of(client: Client, tool_id: str, as_: Any = ADMIN) -> dict[str, Any]:
    found: dict[str, Any] = await client(
        "metrics", "get", {"kind": "tools", "id": tool_id}, as_=as_
    )
    return found


async def test_a_published_batch_is_stored_and_read_back_exactly(
    client: Client, membus: MemoryBus
) -> None:
    tool = await a_tool(client)
    latencies = [0.010, 0.020, 0.030, 0.040, 0.400]
    batch = {tool: stats(latencies, failures=2)}
    # The router publishes; the MemoryBus hands a request to the queue group's handler.
    stored = await membus.request(
        subjects.metrics("tools"), msgspec.json.encode(batch), deadline=time.time() + 5
    )
    assert msgspec.json.decode(stored) == {"result": {"stored": 1}}
    got = await metrics_of(client, tool)
    assert got["total_executions"] == 5
    assert (got["successful_executions"], got["failed_executions"]) == (3, 2)
    assert got["failure_rate"] == pytest.approx(0.4)
    assert (got["min_response_time"], got["max_response_time"]) == (0.010, 0.400)
    assert got["avg_response_time"] == pytest.approx(0.1)
    assert got["last_execution_time"] is not None
    # Within 25% of the true percentile, and never outside min..max.
    assert 0.030 <= got["p50_response_time"] <= 0.030 * 1.25
    assert got["p99_response_time"] == 0.400
    # A malformed batch is dropped, not stored, and nothing else changes.
    await membus.request(subjects.metrics("tools"), b"[1,2", deadline=time.time() + 5)
    assert (await metrics_of(client, tool))["total_executions"] == 5


async def test_a_roll_up_keeps_every_number_and_a_second_one_does_nothing(
    client: Client, store: Store
) -> None:
    tool = await a_tool(client)
    rows = MetricRows(store.pool)
    now = time.time()
    await rows.insert_batch("tools", {tool: stats([0.001, 0.002], 1, at=now - 2 * HOUR)})
    await rows.insert_batch("tools", {tool: stats([0.004], 0, at=now - 2 * HOUR + 1)})
    await rows.insert_batch("tools", {tool: stats([0.008, 0.5], 1, at=now - HOUR - 10)})
    await rows.insert_batch("tools", {tool: stats([0.016], 0, at=now)})  # this period: stays
    before = await metrics_of(client, tool)
    assert (before["total_executions"], before["failed_executions"]) == (6, 2)
    rolled = await rows.roll_up(HOUR)
    assert rolled == 3
    assert await metrics_of(client, tool) == before
    assert await rows.roll_up(HOUR) == 0
    assert await metrics_of(client, tool) == before
    periods = await store.pool.fetchval("SELECT count(*) FROM metric_rollups")
    pending = await store.pool.fetchval("SELECT count(*) FROM metric_samples WHERE NOT rolled_up")
    assert (periods, pending) in ((1, 1), (2, 1))  # the two past batches: one period or two
    # Rolled-up raw rows go once older than the retention; a pending one never does.
    await store.pool.execute("UPDATE metric_samples SET received_at = now() - interval '2 days'")
    assert await rows.expire(86400) == 3
    assert await store.pool.fetchval("SELECT count(*) FROM metric_samples") == 1
    assert await metrics_of(client, tool) == before


async def test_concurrent_roll_ups_on_two_replicas_count_each_call_once(
    store: Store, catalog_dsn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metric_rows, "CLAIM", 7)  # many small claims, so the replicas interleave
    other = await Store.connect(catalog_dsn, min_size=1, max_size=2)
    try:
        mine, theirs = MetricRows(store.pool), MetricRows(other.pool)
        now = time.time()
        expected: dict[str, int] = {}
        for i in range(120):
            entity = f"tool-{i % 3}"
            calls = [0.001 * (1 + i % 5)] * (1 + i % 4)
            batch = {entity: stats(calls, failures=i % 2, at=now - HOUR * (1 + i % 4))}
            await mine.insert_batch("tools", batch)
            expected[entity] = expected.get(entity, 0) + len(calls)
        before = {e: await mine.read("tools", [e]) for e in expected}
        done = await asyncio.gather(mine.roll_up(HOUR), theirs.roll_up(HOUR), mine.roll_up(HOUR))
        assert sum(done) == 120
        for entity, count in expected.items():
            after = await theirs.read("tools", [entity])
            assert after == before[entity]
            assert after.total_executions == count
        assert await store.pool.fetchval("SELECT count(*) FROM metric_rollups") == 12
    finally:
        await other.close()


async def test_only_who_sees_an_entity_sees_its_metrics(client: Client, store: Store) -> None:
    tool = await a_tool(client)
    await MetricRows(store.pool).insert_batch("tools", {tool: stats([0.01, 0.02])})
    assert (await metrics_of(client, tool, as_=BOB))["total_executions"] == 2
    assert await code_of(metrics_of(client, tool, as_=CAROL)) == NOT_FOUND
    unknown = client("metrics", "get", {"kind": "prompts", "id": "nope"}, as_=ALICE)
    assert await code_of(unknown) == NOT_FOUND
    theirs = await client("metrics", "summary", as_=CAROL)
    assert theirs["tools"]["total_executions"] == 0
    assert set(theirs) == {"tools", "resources", "prompts", "servers", "gateways", "a2a_agents"}
    ours = await client("metrics", "summary", as_=BOB)
    assert ours["tools"]["total_executions"] == 2
    assert (await client("metrics", "summary"))["tools"]["total_executions"] == 2


async def test_a_reset_is_for_admins_and_forgets_what_it_names(
    client: Client, store: Store
) -> None:
    tool = await a_tool(client)
    rows = MetricRows(store.pool)
    await rows.insert_batch("tools", {tool: stats([0.01]), "other": stats([0.02])})
    await rows.insert_batch("prompts", {"p": stats([0.03])})
    denied = client("metrics", "reset", {"entity": "tool", "entity_id": tool}, as_=ALICE)
    assert await code_of(denied) == FORBIDDEN
    assert await code_of(client("metrics", "reset", {"entity": "widget"})) == INVALID_PARAMS
    assert await code_of(client("metrics", "reset", {"entity_id": tool})) == INVALID_PARAMS
    await client("metrics", "reset", {"entity": "tool", "entity_id": tool})
    assert (await metrics_of(client, tool))["total_executions"] == 0
    assert (await rows.read("tools", ["other"])).total_executions == 1
    await client("metrics", "reset", {"entity": "tool"})
    assert (await rows.read("tools", None)).total_executions == 0
    assert (await rows.read("prompts", None)).total_executions == 1
    answer = await client("metrics", "reset", {})
    assert answer["status"] == "success"
    assert (await rows.read("prompts", None)).total_executions == 0
