"""The in-memory bus keeps the NatsBus contract: replies, queue groups, deadlines, wildcards."""

from __future__ import annotations

import asyncio
import time

import pytest

from forge.core.bus import Headers
from forge.core.errors import DeadlineExceededError, ServiceUnavailableError
from forge.testing.membus import MemoryBus, matches


async def echo(data: bytes, headers: Headers) -> bytes:
    return b"echo:" + data


async def test_a_request_gets_the_reply_of_the_serving_handler(membus: MemoryBus) -> None:
    await membus.serve("svc.echo", echo)
    reply = await membus.request("svc.echo", b"hi", deadline=time.time() + 5)
    assert reply == b"echo:hi"


async def test_a_queue_group_delivers_each_request_to_exactly_one_member(
    membus: MemoryBus,
) -> None:
    calls: list[str] = []

    def member(name: str):  # type: ignore[no-untyped-def]
        async def handle(data: bytes, headers: Headers) -> bytes:
            calls.append(name)
            return name.encode()

        return handle

    await membus.serve("svc.q", member("a"), queue="q")
    await membus.serve("svc.q", member("b"), queue="q")
    replies = [await membus.request("svc.q", b"", deadline=time.time() + 5) for _ in range(4)]
    assert len(calls) == 4
    assert set(replies) == {b"a", b"b"}


async def test_a_request_without_a_server_raises_service_unavailable(membus: MemoryBus) -> None:
    with pytest.raises(ServiceUnavailableError):
        await membus.request("svc.nobody", b"", deadline=time.time() + 5)


async def test_a_handler_slower_than_the_deadline_raises_deadline_exceeded(
    membus: MemoryBus,
) -> None:
    never = asyncio.Event()

    async def stuck(data: bytes, headers: Headers) -> bytes:
        await never.wait()
        return b""

    await membus.serve("svc.slow", stuck)
    with pytest.raises(DeadlineExceededError):
        await membus.request("svc.slow", b"", deadline=time.time() + 0.05)


async def test_a_deadline_in_the_past_is_refused_before_sending(membus: MemoryBus) -> None:
    await membus.serve("svc.echo", echo)
    with pytest.raises(DeadlineExceededError):
        await membus.request("svc.echo", b"", deadline=time.time() - 1)
    assert membus.requests == []


async def test_published_events_reach_wildcard_subscribers_and_are_recorded(
    membus: MemoryBus,
) -> None:
    seen: list[tuple[str, bytes]] = []

    async def on_event(subject: str, data: bytes) -> None:
        seen.append((subject, data))

    await membus.subscribe("forge.events.catalog.>", on_event)
    await membus.publish("forge.events.catalog.tools.changed", b"{}")
    await membus.publish("forge.events.identity.users.changed", b"{}")
    assert seen == [("forge.events.catalog.tools.changed", b"{}")]
    assert len(membus.published) == 2


@pytest.mark.parametrize(
    ("pattern", "subject", "expected"),
    [
        ("a.*.c", "a.b.c", True),
        ("a.*.c", "a.b.d", False),
        ("a.>", "a.b.c", True),
        ("a.>", "a", False),
        ("a.b", "a.b.c", False),
    ],
)
def test_subject_matching_follows_nats_wildcards(
    pattern: str, subject: str, expected: bool
) -> None:
    assert matches(pattern, subject) is expected


async def test_a_reply_subscriber_sees_publishes_and_answers_requests_later(
    membus: MemoryBus,
) -> None:
    seen: asyncio.Queue[tuple[bytes, str]] = asyncio.Queue()

    async def on_message(subject: str, data: bytes, reply: str) -> None:
        assert subject == "test.inflight"
        await seen.put((data, reply))

    await membus.subscribe_with_reply("test.inflight", on_message)
    await membus.publish("test.inflight", b"note")
    asking = asyncio.create_task(membus.request("test.inflight", b"ask", deadline=time.time() + 5))
    async with asyncio.timeout(5):
        assert await seen.get() == (b"note", "")
        data, reply = await seen.get()
    assert data == b"ask" and reply.startswith("_INBOX.")
    await membus.respond(reply, b"answer")
    assert await asking == b"answer"


async def test_kv_get_reads_what_was_put_and_none_once_deleted(membus: MemoryBus) -> None:
    assert await membus.kv_get("bucket", "k") is None  # no such bucket
    await membus.kv_put("bucket", "k", b"one")
    await membus.kv_put("bucket", "k", b"uno")
    assert await membus.kv_get("bucket", "k") == b"uno"
    assert await membus.kv_get("bucket", "other") is None
    await membus.kv_delete("bucket", "k")
    assert await membus.kv_get("bucket", "k") is None
    assert "missing" not in membus.kv  # a read creates no bucket
    assert await membus.kv_get("missing", "k") is None
    assert "missing" not in membus.kv
