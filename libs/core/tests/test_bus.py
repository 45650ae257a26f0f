"""NatsBus against a real nats-server: replies, queue groups, deadlines, events, envelopes."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter

import msgspec
import nats.js.errors
import pytest

from forge.core import rpc
from forge.core.bus import Headers, NatsBus
from forge.core.errors import (
    DeadlineExceededError,
    NotFoundError,
    ServiceUnavailableError,
)
from forge.proto.envelope import Envelope, Principal


async def echo(data: bytes, headers: Headers) -> bytes:
    return b"echo:" + data


def envelope(deadline_in: float = 5.0) -> Envelope:
    return Envelope(
        id="req-1",
        method="test.op",
        params=msgspec.Raw(b"{}"),
        principal=Principal(subject="tester"),
        deadline=time.time() + deadline_in,
    )


async def test_a_request_gets_the_reply_of_the_serving_handler(bus: NatsBus) -> None:
    await bus.serve("test.echo", echo)
    await bus.flush()
    assert await bus.request("test.echo", b"hi", deadline=time.time() + 5) == b"echo:hi"


async def test_a_queue_group_delivers_each_request_to_exactly_one_member(bus: NatsBus) -> None:
    calls: Counter[str] = Counter()

    def member(name: str):  # type: ignore[no-untyped-def]
        async def handle(data: bytes, headers: Headers) -> bytes:
            calls[name] += 1
            return name.encode()

        return handle

    await bus.serve("test.queue", member("a"), queue="q")
    await bus.serve("test.queue", member("b"), queue="q")
    await bus.flush()
    for _ in range(10):
        await bus.request("test.queue", b"", deadline=time.time() + 5)
    await bus.flush()
    assert sum(calls.values()) == 10


async def test_a_request_without_a_server_raises_service_unavailable(bus: NatsBus) -> None:
    with pytest.raises(ServiceUnavailableError):
        await bus.request("test.nobody", b"", deadline=time.time() + 5)


async def test_a_handler_slower_than_the_deadline_raises_deadline_exceeded(bus: NatsBus) -> None:
    release = asyncio.Event()

    async def stuck(data: bytes, headers: Headers) -> bytes:
        await release.wait()
        return b""

    await bus.serve("test.slow", stuck)
    await bus.flush()
    try:
        with pytest.raises(DeadlineExceededError):
            await bus.request("test.slow", b"", deadline=time.time() + 0.1)
    finally:
        release.set()


async def test_concurrent_requests_each_get_their_own_answer_on_the_shared_inbox(
    bus: NatsBus,
) -> None:
    """Answers come back out of order on one inbox of the connection; an answer after its
    request gave up is dropped, and nothing stays waiting."""
    late = asyncio.Event()

    async def reverse(data: bytes, headers: Headers) -> bytes:
        if data == b"late":
            await late.wait()
        else:  # the later-sent ones answer first
            await asyncio.sleep(0.002 * (20 - int(data)))
        return data[::-1]

    await bus.serve("test.reverse", reverse)
    await bus.flush()
    with pytest.raises(DeadlineExceededError):
        await bus.request("test.reverse", b"late", deadline=time.time() + 0.1)
    late.set()  # answered now: nobody waits for it
    sent = [str(n).encode() for n in range(20)]
    answers = await asyncio.gather(
        *(bus.request("test.reverse", data, deadline=time.time() + 5) for data in sent)
    )
    assert answers == [data[::-1] for data in sent]
    await bus.flush()
    assert bus._answers == {}


async def test_published_events_reach_wildcard_subscribers(bus: NatsBus) -> None:
    got: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()

    async def on_event(subject: str, data: bytes) -> None:
        await got.put((subject, data))

    await bus.subscribe("test.events.>", on_event)
    await bus.flush()
    await bus.publish("test.events.tools.changed", b'{"x":1}')
    async with asyncio.timeout(5):
        assert await got.get() == ("test.events.tools.changed", b'{"x":1}')


async def test_served_envelopes_turn_domain_errors_into_error_replies(bus: NatsBus) -> None:
    async def handler(env: Envelope) -> bytes:
        raise NotFoundError("no such thing")

    await rpc.serve_envelopes(bus, "test.rpc.missing", handler, queue="test")
    await bus.flush()
    with pytest.raises(NotFoundError):
        await rpc.call(bus, "test.rpc.missing", envelope())


async def test_unexpected_handler_failures_reply_internal_error_without_details(
    bus: NatsBus,
) -> None:
    async def handler(env: Envelope) -> bytes:
        raise KeyError("secret detail")

    await rpc.serve_envelopes(bus, "test.rpc.broken", handler, queue="test")
    await bus.flush()
    reply = await bus.request(
        "test.rpc.broken", msgspec.json.encode(envelope()), deadline=time.time() + 5
    )
    error = msgspec.json.decode(reply)["error"]
    assert error["code"] == -32603
    assert "secret" not in error["message"]


async def test_a_reply_subscriber_sees_publishes_and_answers_requests_later(bus: NatsBus) -> None:
    seen: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()

    async def on_message(subject: str, data: bytes, reply: str) -> None:
        assert subject == "test.inflight"
        await seen.put((data, reply))

    sub = await bus.subscribe_with_reply("test.inflight", on_message)
    await bus.flush()
    await bus.publish("test.inflight", b"note")
    asking = asyncio.create_task(bus.request("test.inflight", b"ask", deadline=time.time() + 5))
    async with asyncio.timeout(5):
        assert await seen.get() == (b"note", "")
        data, reply = await seen.get()
    assert data == b"ask" and reply.startswith("_INBOX.")
    await bus.respond(reply, b"answer")
    assert await asking == b"answer"
    await sub.unsubscribe()


async def test_kv_get_reads_the_current_value_and_none_once_deleted(bus: NatsBus) -> None:
    bucket = f"test-kv-get-{uuid.uuid4().hex[:8]}"
    await bus.kv_put(bucket, "k1", b"one")
    await bus.kv_put(bucket, "k1", b"uno")
    assert await bus.kv_get(bucket, "k1") == b"uno"
    assert await bus.kv_get(bucket, "absent") is None
    await bus.kv_delete(bucket, "k1")
    assert await bus.kv_get(bucket, "k1") is None


async def test_kv_get_sees_a_write_made_on_another_connection(bus: NatsBus, nats_url: str) -> None:
    bucket = f"test-kv-get-{uuid.uuid4().hex[:8]}"
    other = await NatsBus.connect(nats_url, "forge-test-other")
    try:
        await other.kv_put(bucket, "k", b"from-the-other")
        assert await bus.kv_get(bucket, "k") == b"from-the-other"
    finally:
        await other.close()


async def test_kv_get_of_a_missing_bucket_is_none_and_does_not_create_it(bus: NatsBus) -> None:
    bucket = f"test-kv-none-{uuid.uuid4().hex[:8]}"
    assert await bus.kv_get(bucket, "k") is None
    with pytest.raises(nats.js.errors.BucketNotFoundError):
        await bus.nc.jetstream().key_value(bucket)


async def test_after_flush_another_connection_reaches_a_new_subscription(
    bus: NatsBus, nats_url: str
) -> None:
    """flush() returns only once the server holds what was just subscribed: nats-py writes its
    PING ahead of commands still queued for its flusher, so a single PONG did not prove it and
    a publish from another connection was lost now and then (1 in 40 to 150 here)."""
    other = await NatsBus.connect(nats_url, "flush-other")
    try:
        lost = 0
        for n in range(300):
            got: asyncio.Queue[bytes] = asyncio.Queue()

            async def on_event(subject: str, data: bytes, q: asyncio.Queue[bytes] = got) -> None:
                await q.put(data)

            sub = await bus.subscribe(f"flush.order.{n}", on_event)
            await bus.flush()
            await other.publish(f"flush.order.{n}", b"x")
            try:
                await asyncio.wait_for(got.get(), 2)
            except TimeoutError:
                lost += 1
            await sub.unsubscribe()
        assert lost == 0
    finally:
        await other.close()
