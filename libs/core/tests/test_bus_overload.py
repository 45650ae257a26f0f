"""The bound on requests in flight, on a real nats-server: a replica with N envelopes being
answered refuses the next one at once with -32015 (retryable, `retry_after_s`), while the N are
still held, so it was not queued; once they finish it serves again. Plain `serve` subjects
(health checks) are not bounded. A request nobody serves fails at once too."""

from __future__ import annotations

import asyncio
import time
import uuid

import msgspec
import pytest

from forge.core import rpc
from forge.core.bus import RETRY_AFTER_S, Headers, NatsBus
from forge.core.errors import (
    OVERLOADED,
    SERVICE_UNAVAILABLE,
    OverloadedError,
    ServiceUnavailableError,
)
from forge.proto.envelope import Envelope, Principal

BOUND = 3
# Far beyond the test's own timeout: a request queued behind the held ones would still be
# waiting when the test gives up, so an answer inside the timeout proves it was not queued.
FAR_S = 120.0


def _envelope(n: int) -> Envelope:
    return Envelope(
        id=str(n),
        method="test/hold",
        params=msgspec.Raw(b"{}"),
        principal=Principal(subject="test"),
        deadline=time.time() + FAR_S,
    )


async def test_a_replica_at_its_bound_refuses_the_next_request_at_once_and_serves_after(
    nats_url: str,
) -> None:
    subject = f"test.overload.{uuid.uuid4().hex}"
    server = await NatsBus.connect(nats_url, "bounded", max_inflight=BOUND)
    caller = await NatsBus.connect(nats_url, "caller")
    release = asyncio.Event()
    holding = 0
    all_held = asyncio.Event()

    async def hold(envelope: Envelope) -> bytes:
        nonlocal holding
        if envelope.id.startswith("held"):
            holding += 1
            if holding == BOUND:
                all_held.set()
            await release.wait()
        return b'"done"'

    async def health(data: bytes, headers: Headers) -> bytes:
        return b"ok"

    try:
        await rpc.serve_envelopes(server, subject, hold, queue="q")
        await server.serve(subject + ".health", health, queue="q")
        await server.flush()
        held = [
            asyncio.create_task(
                rpc.call(caller, subject, msgspec.structs.replace(_envelope(n), id=f"held-{n}"))
            )
            for n in range(BOUND)
        ]
        async with asyncio.timeout(30):
            await all_held.wait()
            assert server.admitted == BOUND
            with pytest.raises(OverloadedError) as refused:
                await rpc.call(caller, subject, _envelope(BOUND))
            assert refused.value.code == OVERLOADED
            assert refused.value.data == {"retry_after_s": RETRY_AFTER_S}
            assert server.refused == 1
            # An overloaded replica still answers its health check: it is alive, only busy.
            reply = await caller.request(subject + ".health", b"", deadline=time.time() + FAR_S)
            assert reply == b"ok"
            assert not any(task.done() for task in held)
            release.set()
            assert await asyncio.gather(*held) == [b'"done"'] * BOUND
            assert server.admitted == 0
            # Served again: the bound counts what is in flight now, not what came before.
            answers = await asyncio.gather(
                *(rpc.call(caller, subject, _envelope(n)) for n in range(BOUND))
            )
            assert answers == [b'"done"'] * BOUND
            assert server.refused == 1
    finally:
        release.set()
        await caller.close()
        await server.close()


async def test_a_request_nobody_serves_fails_at_once_as_retryable(bus: NatsBus) -> None:
    async with asyncio.timeout(30):
        with pytest.raises(ServiceUnavailableError) as failed:
            await bus.request(f"test.nobody.{uuid.uuid4().hex}", b"", deadline=time.time() + FAR_S)
    assert failed.value.code == SERVICE_UNAVAILABLE
    assert failed.value.data == {"retry_after_s": RETRY_AFTER_S}
