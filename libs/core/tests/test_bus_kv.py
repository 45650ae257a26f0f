"""NatsBus key-value compare-and-set and filtered watches against a real nats-server (the
leases of push-notification watches build on them), and MemoryBus keeping the same contract."""

from __future__ import annotations

import uuid

import pytest

from forge.core.bus import Bus, NatsBus
from forge.testing import eventually
from forge.testing.membus import MemoryBus


@pytest.fixture(params=["nats", "memory"])
def any_bus(request: pytest.FixtureRequest, bus: NatsBus) -> Bus:
    return bus if request.param == "nats" else MemoryBus()


async def test_an_update_succeeds_only_at_the_revision_it_read(any_bus: Bus) -> None:
    bucket = f"test-kv-cas-{uuid.uuid4().hex[:8]}"
    assert await any_bus.kv_entry(bucket, "lease") is None
    assert await any_bus.kv_create(bucket, "lease", b"mine")
    entry = await any_bus.kv_entry(bucket, "lease")
    assert entry is not None and entry[0] == b"mine"
    renewed = await any_bus.kv_update(bucket, "lease", b"mine again", entry[1])
    assert renewed is not None and renewed > entry[1]
    # A second writer holding the old revision loses, and the value stays the winner's.
    assert await any_bus.kv_update(bucket, "lease", b"theirs", entry[1]) is None
    assert await any_bus.kv_get(bucket, "lease") == b"mine again"
    assert await any_bus.kv_update(bucket, "lease", b"third", renewed) is not None
    await any_bus.kv_delete(bucket, "lease")
    # A deleted key has no revision to update at: the writer learns it is gone.
    assert await any_bus.kv_update(bucket, "lease", b"late", renewed + 1) is None
    assert await any_bus.kv_entry(bucket, "lease") is None


async def test_a_filtered_watch_sees_only_its_keys(any_bus: Bus) -> None:
    bucket = f"test-kv-watch-{uuid.uuid4().hex[:8]}"
    await any_bus.kv_put(bucket, "watch.a", b"1")
    await any_bus.kv_put(bucket, "config.a", b"x")
    seen: dict[str, bytes | None] = {}
    watch = await any_bus.kv_watch(bucket, seen.__setitem__, keys="watch.>")
    await any_bus.kv_put(bucket, "watch.b", b"2")
    await any_bus.kv_put(bucket, "config.b", b"y")
    await any_bus.kv_delete(bucket, "watch.a")
    await eventually(lambda: seen.get("watch.b") == b"2" and "watch.a" in seen)
    await eventually(lambda: seen["watch.a"] is None)
    assert set(seen) == {"watch.a", "watch.b"}
    await watch.unsubscribe()
