"""Messages larger than NATS's max_payload, over a real nats-server whose limit is 64 KiB."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest

from forge.core import claims
from forge.core.bus import Headers, NatsBus
from forge.core.errors import PAYLOAD_TOO_LARGE, PayloadTooLargeError, ServiceUnavailableError
from forge.embedded.nats import EmbeddedNats, start_nats

SMALL = 64 * 1024


@pytest.fixture(scope="module")
def small_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedNats]:
    server = start_nats(tmp_path_factory.mktemp("small-nats"), max_payload=SMALL)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def pair(small_nats: EmbeddedNats) -> AsyncIterator[tuple[NatsBus, NatsBus]]:
    """Two connections, as two services are: one serves, the other asks."""
    a = await NatsBus.connect(small_nats.url, "claims-a")
    b = await NatsBus.connect(small_nats.url, "claims-b")
    try:
        yield a, b
    finally:
        await a.close()
        await b.close()


async def test_the_server_announces_its_small_limit(pair: tuple[NatsBus, NatsBus]) -> None:
    assert pair[0].nc.max_payload == SMALL


async def test_a_large_request_and_its_large_reply_arrive_intact(
    pair: tuple[NatsBus, NatsBus],
) -> None:
    server, client = pair
    seen: list[Headers] = []

    async def reverse(data: bytes, headers: Headers) -> bytes:
        seen.append(headers)
        return data[::-1] + data

    await server.serve("claims.reverse", reverse)
    await server.flush()
    body = os.urandom(SMALL * 20 + 123)
    reply = await client.request(
        "claims.reverse", body, deadline=time.time() + 10, headers={"x-test": "1"}
    )
    assert reply == body[::-1] + body
    assert seen[0]["x-test"] == "1"  # the caller's own headers travel with the claim
    # A request or reply is pulled once and then let go: nothing stays held.
    assert len(client._held) == 0 and len(server._held) == 0


async def test_a_message_that_fits_travels_inline(pair: tuple[NatsBus, NatsBus]) -> None:
    server, client = pair
    headers_seen: list[Headers] = []

    async def echo(data: bytes, headers: Headers) -> bytes:
        headers_seen.append(headers)
        return data

    await server.serve("claims.small", echo)
    await server.flush()
    body = b"x" * (SMALL - claims.HEADROOM)
    assert await client.request("claims.small", body, deadline=time.time() + 5) == body
    assert claims.BODY not in headers_seen[0]
    assert client._holding is None  # no claim was ever made


async def test_a_large_event_reaches_every_subscriber(pair: tuple[NatsBus, NatsBus]) -> None:
    publisher, subscriber = pair
    got: list[asyncio.Queue[bytes]] = [asyncio.Queue(), asyncio.Queue()]
    for queue in got:

        async def on_event(subject: str, data: bytes, q: asyncio.Queue[bytes] = queue) -> None:
            await q.put(data)

        await subscriber.subscribe("claims.events", on_event)
    await subscriber.flush()
    first, second = os.urandom(SMALL * 3), b"small"
    await publisher.publish("claims.events", first)
    await publisher.publish("claims.events", second)
    # Longer than a piece may take (claims.PIECE_TIMEOUT_S): a piece that never comes back is
    # then logged as a lost event and shows here as `second` arriving first, not as a timeout.
    async with asyncio.timeout(3 * claims.PIECE_TIMEOUT_S):
        for n, queue in enumerate(got):
            # In order: a catalog cache must see changes in the order they were made.
            assert await queue.get() == first, f"subscriber {n} lost the large event"
            assert await queue.get() == second, f"subscriber {n} lost the small event"


async def test_a_large_answer_to_a_stream_request_arrives_intact(
    pair: tuple[NatsBus, NatsBus],
) -> None:
    server, client = pair
    body = os.urandom(SMALL * 2)

    async def on_message(subject: str, data: bytes, reply: str) -> None:
        await server.respond(reply, body + data)

    await server.subscribe_with_reply("claims.stream", on_message)
    await server.flush()
    large = os.urandom(SMALL * 2)
    assert await client.request("claims.stream", large, deadline=time.time() + 10) == body + large


async def test_a_reply_over_the_bus_limit_becomes_an_error_reply(
    pair: tuple[NatsBus, NatsBus], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, client = pair
    monkeypatch.setattr(claims, "MAX_MESSAGE_BYTES", SMALL * 4)

    async def huge(data: bytes, headers: Headers) -> bytes:
        return b"x" * (SMALL * 5)

    await server.serve("claims.huge", huge)
    await server.flush()
    reply = msgspec.json.decode(await client.request("claims.huge", b"", deadline=time.time() + 5))
    assert reply["error"]["code"] == PAYLOAD_TOO_LARGE


async def test_a_request_over_the_bus_limit_is_refused_before_sending(
    pair: tuple[NatsBus, NatsBus], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claims, "MAX_MESSAGE_BYTES", SMALL * 4)
    with pytest.raises(PayloadTooLargeError):
        await pair[1].request("claims.none", b"x" * (SMALL * 5), deadline=time.time() + 5)


async def test_a_claim_whose_sender_is_gone_fails_clearly(pair: tuple[NatsBus, NatsBus]) -> None:
    claim = {claims.BODY: "forge.body.gone.token", claims.BODY_SIZE: "10"}

    async def fetch(subject: str, offset: bytes) -> bytes:
        return await pair[0]._fetch_piece(subject, offset)

    with pytest.raises(ServiceUnavailableError):
        await claims.pull(claim, fetch)


async def test_a_nats_whose_limit_is_too_small_is_refused_at_connect(
    tmp_path: Path,
) -> None:
    with start_nats(tmp_path, max_payload=claims.MIN_MAX_PAYLOAD - 1) as tiny:
        with pytest.raises(ServiceUnavailableError):
            await NatsBus.connect(tiny.url, "claims-tiny")


async def test_a_held_body_is_served_by_offset_and_let_go_after_its_last_piece() -> None:
    holder = claims.Holder("forge.body.me")
    claim = holder.hold(b"0123456789", 5, once=True)
    subject = claim[claims.BODY]
    assert claim[claims.BODY_SIZE] == "10"
    assert holder.piece(subject, b"0", 4) == b"0123"
    assert holder.piece(subject, b"bad", 4) == b""
    assert holder.piece(subject, b"4", 4) == b"4567"
    assert holder.piece(subject, b"8", 4) == b"89"
    assert len(holder) == 0
    assert holder.piece(subject, b"0", 4) == b""


async def test_a_claim_larger_than_the_bus_limit_is_not_pulled() -> None:
    claim = {claims.BODY: "x", claims.BODY_SIZE: str(claims.MAX_MESSAGE_BYTES + 1)}

    async def fetch(subject: str, offset: bytes) -> bytes:
        raise AssertionError("must not be called")

    with pytest.raises(PayloadTooLargeError):
        await claims.pull(claim, fetch)
