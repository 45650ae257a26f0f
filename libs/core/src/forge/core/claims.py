"""Claim checks: a message too large for NATS waits at its sender; receivers pull it in pieces.

NATS refuses a message above the server's `max_payload` (1 MiB by default). Instead of sizing
every NATS Forge may meet, the bus sends such a message as an empty one whose headers carry a
claim: the subject its sender serves the body on, and the body's size. The receiver pulls the
body with one request per piece. Messages that fit travel exactly as before (no extra copy or
round trip); see docs/decisions/0001-large-messages.md.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from forge.core.errors import PayloadTooLargeError, ServiceUnavailableError

# Header names of a claim; a message without them carries its body inline.
BODY = "Forge-Body"
BODY_SIZE = "Forge-Body-Size"
# Room left for headers (trace context, the claim itself) below the server's max_payload.
HEADROOM = 8 * 1024
# The smallest max_payload the bus accepts at connect (the server's INFO carries it).
MIN_MAX_PAYLOAD = 64 * 1024
# The largest message the bus carries at all: a bound on what one message may make any service
# hold in memory. The edge's request limit and the upstream-proxy's result limit sit below it.
MAX_MESSAGE_BYTES = 128 * 1024 * 1024
# How long one piece may take to arrive, and how long a published body waits for slow subscribers.
PIECE_TIMEOUT_S = 10.0
PUBLISHED_TTL_S = 60.0

Headers = dict[str, str]
Fetch = Callable[[str, bytes], Awaitable[bytes]]


@dataclass
class _Body:
    data: bytes
    once: bool  # a request or a reply: one receiver, so the body goes with its last piece


class Holder:
    """The bodies this process sent by claim, served by offset on `<prefix>.<token>`."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._bodies: dict[str, _Body] = {}

    def __len__(self) -> int:
        return len(self._bodies)

    def hold(self, data: bytes, ttl_s: float, *, once: bool) -> Headers:
        """Keep `data` for `ttl_s` seconds at most; the claim headers that name it."""
        if len(data) > MAX_MESSAGE_BYTES:
            raise PayloadTooLargeError(
                f"a message of {len(data)} bytes exceeds the bus limit of {MAX_MESSAGE_BYTES}"
            )
        token = uuid.uuid4().hex
        self._bodies[token] = _Body(data, once)
        asyncio.get_running_loop().call_later(max(ttl_s, 1.0), self._bodies.pop, token, None)
        return {BODY: f"{self.prefix}.{token}", BODY_SIZE: str(len(data))}

    def piece(self, subject: str, request: bytes, size: int) -> bytes:
        """Up to `size` bytes of a held body from the offset in `request`; empty when gone."""
        token = subject.rpartition(".")[2]
        body = self._bodies.get(token)
        try:
            offset = int(request)
        except ValueError:
            return b""
        if body is None or offset < 0:
            return b""
        end = offset + size
        if body.once and end >= len(body.data):
            del self._bodies[token]
        return body.data[offset:end]


async def pull(headers: Headers, fetch: Fetch) -> bytes:
    """The body a claim names, piece by piece from its sender (`fetch(subject, offset)`)."""
    subject = headers[BODY]
    try:
        size = int(headers[BODY_SIZE])
    except (KeyError, ValueError) as exc:
        raise ServiceUnavailableError("a message's claim has no valid size") from exc
    if size > MAX_MESSAGE_BYTES:
        raise PayloadTooLargeError(
            f"a message of {size} bytes exceeds the bus limit of {MAX_MESSAGE_BYTES}"
        )
    pieces: list[bytes] = []
    offset = 0
    while offset < size:
        piece = await fetch(subject, str(offset).encode())
        if not piece:
            raise ServiceUnavailableError("the sender of a large message no longer holds it")
        pieces.append(piece)
        offset += len(piece)
    if offset != size:
        raise ServiceUnavailableError("a large message arrived with the wrong size")
    return b"".join(pieces)
