"""Small ASGI helpers: bounded body reads and plain JSON / SSE responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from forge.core.errors import PayloadTooLargeError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
_DRAIN_CAP_FACTOR = 16


def header_map(scope: Scope) -> dict[str, str]:
    """Request headers by lower-case name (ASGI already lower-cases them); last one wins."""
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


async def read_body(scope: Scope, receive: Receive, limit: int) -> bytes:
    """The whole request body, refused with 413 once it is known to exceed `limit`.

    An oversized body is still read (and dropped) up to a cap, so that the client, which is
    usually still sending, gets to read the 413 instead of a reset connection.
    """
    declared = 0
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = 0
    chunks: list[bytes] = []
    size = 0
    too_large = declared > limit
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            too_large = True
            chunks.clear()
        elif not too_large:
            chunks.append(chunk)
        if not message.get("more_body", False) or size > _DRAIN_CAP_FACTOR * limit:
            break
    if too_large:
        raise PayloadTooLargeError(f"request body exceeds the limit of {limit} bytes")
    return b"".join(chunks)


async def respond(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    content_type: bytes = b"application/json",
) -> None:
    raw = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if headers:
        raw.extend(headers)
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


async def respond_sse(
    send: Send, status: int, message: bytes, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """One JSON-RPC message as a single-event SSE stream."""
    body = b"event: message\ndata: " + message + b"\n\n"
    raw = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no")]
    if headers:
        raw.extend(headers)
    await respond(send, status, body, raw, content_type=b"text/event-stream")
