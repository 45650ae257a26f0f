"""NatsBus event logs (JetStream) against a real nats-server: append, follow, pieces, limits."""

from __future__ import annotations

import asyncio
import uuid

from forge.core.bus import LogLimits, NatsBus

LIMITS = LogLimits(ttl_s=60, max_bytes=64 * 1024 * 1024)


async def test_a_follower_on_another_connection_reads_every_record_then_new_ones(
    bus: NatsBus, nats_url: str
) -> None:
    key = uuid.uuid4().hex
    large = bytes(range(256)) * (bus.nc.max_payload // 128)  # two messages' worth and more
    await bus.log_append("test", key, b"first", LIMITS)
    await bus.log_append("test", key, large, LIMITS)
    other = await NatsBus.connect(nats_url, "forge-test-log-reader")
    try:
        follow = other.log_follow("test", key)
        assert await asyncio.wait_for(anext(follow), 5) == b"first"
        assert await asyncio.wait_for(anext(follow), 5) == large
        upcoming = asyncio.ensure_future(anext(follow))
        await bus.log_append("test", key, b"", LIMITS)
        assert await asyncio.wait_for(upcoming, 5) == b""
        await follow.aclose()
    finally:
        await other.close()


async def test_keys_do_not_mix(bus: NatsBus) -> None:
    key, neighbour = uuid.uuid4().hex, uuid.uuid4().hex
    await bus.log_append("test", neighbour, b"theirs", LIMITS)
    for n in range(3):
        await bus.log_append("test", key, str(n).encode(), LIMITS)
    follow = bus.log_follow("test", key)
    assert [await asyncio.wait_for(anext(follow), 5) for _ in range(3)] == [b"0", b"1", b"2"]
    await follow.aclose()


async def test_a_follower_of_a_log_not_created_yet_waits_for_its_first_record(
    bus: NatsBus,
) -> None:
    log = "waiting" + uuid.uuid4().hex[:8]
    follow = bus.log_follow(log, "k")
    upcoming = asyncio.ensure_future(anext(follow))
    await asyncio.sleep(0.3)  # let the follower look for the log first (not an assertion)
    assert not upcoming.done()
    await bus.log_append(log, "k", b"late", LIMITS)
    assert await asyncio.wait_for(upcoming, 5) == b"late"
    await follow.aclose()
