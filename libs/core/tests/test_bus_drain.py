"""A replica's shutdown on a real nats-server: it stops taking requests (its queue group sends
new ones to the other replica), finishes the ones in flight, which may still ask other services,
within the drain timeout, and only then closes."""

from __future__ import annotations

import asyncio
import time
import uuid

from forge.core.bus import Headers, NatsBus
from forge.testing import eventually


async def test_a_closing_replica_finishes_its_requests_and_the_other_takes_new_ones(
    nats_url: str,
) -> None:
    subject = f"test.drain.{uuid.uuid4().hex}"
    caller = await NatsBus.connect(nats_url, "caller")
    leaving = await NatsBus.connect(nats_url, "leaving")
    staying = await NatsBus.connect(nats_url, "staying")
    started = asyncio.Event()
    release = asyncio.Event()

    async def helper(data: bytes, headers: Headers) -> bytes:
        return b"helped:" + data

    async def slow(data: bytes, headers: Headers) -> bytes:
        if data != b"1":  # sent before the server had the leaving replica's unsubscribe
            return b"leaving:" + data
        started.set()
        await release.wait()
        # A request in flight still asks another service over the same connection.
        helped = await leaving.request(subject + ".helper", data, deadline=time.time() + 5)
        return b"leaving:" + helped

    async def quick(data: bytes, headers: Headers) -> bytes:
        return b"staying:" + data

    try:
        await staying.serve(subject + ".helper", helper)
        await leaving.serve(subject, slow, queue="q")
        await leaving.flush()
        await staying.flush()
        in_flight = asyncio.create_task(caller.request(subject, b"1", deadline=time.time() + 10))
        await asyncio.wait_for(started.wait(), 5)
        await staying.serve(subject, quick, queue="q")
        await staying.flush()
        closing = asyncio.create_task(leaving.close())

        async def stopped_serving() -> bool:
            # Every new request goes to the staying replica once the leaving one unsubscribed.
            got = await caller.request(subject, b"2", deadline=time.time() + 5)
            return got == b"staying:2"

        await eventually(stopped_serving, within_s=5)
        for n in range(5):
            got = await caller.request(subject, str(n).encode(), deadline=time.time() + 5)
            assert got == f"staying:{n}".encode()
        assert not closing.done()  # still finishing the request in flight
        release.set()
        assert await in_flight == b"leaving:helped:1"
        await asyncio.wait_for(closing, 5)
        assert leaving.nc.is_closed
    finally:
        release.set()
        for bus in (caller, leaving, staying):
            await bus.close()


async def test_requests_still_running_after_the_drain_timeout_do_not_hold_the_close(
    nats_url: str,
) -> None:
    subject = f"test.drain.{uuid.uuid4().hex}"
    caller = await NatsBus.connect(nats_url, "caller")
    leaving = await NatsBus.connect(nats_url, "leaving")
    leaving.drain_timeout_s = 0.5
    started = asyncio.Event()

    async def stuck(data: bytes, headers: Headers) -> bytes:
        started.set()
        await asyncio.Event().wait()
        return b""

    try:
        await leaving.serve(subject, stuck, queue="q")
        await leaving.flush()
        asking = asyncio.create_task(caller.request(subject, b"", deadline=time.time() + 30))
        await asyncio.wait_for(started.wait(), 5)
        began = time.monotonic()
        await asyncio.wait_for(leaving.close(), 10)
        assert time.monotonic() - began < 5  # the bound, not the stuck request, ended it
        assert leaving.nc.is_closed
        asking.cancel()
    finally:
        await caller.close()
        await leaving.close()
