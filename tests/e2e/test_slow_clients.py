"""Slow clients are cut off, on either HTTP server: a crowd of connections sending headers a byte
at a time (slowloris) while others are served, bodies trickled a byte at a time (with a length,
chunked, on MCP, legacy SSE, REST and A2A routes), and the body of a request the edge answered
early (a 401 before the body is read) trickled after the answer. Each is closed within a bound
of FORGE_EDGE_HEADER_TIMEOUT_S / FORGE_EDGE_BODY_TIMEOUT_S; none holds the connection after.
(tests/e2e/test_security_input.py covers a silent connection and a body that never comes.)"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import time
from collections.abc import Iterator

import httpx
import pytest

from forge.cli.mesh import Mesh
from forge.testing.slow_client import read_until_closed, trickler
from tests.e2e.test_security_input import edge_with

SLOW_S = 1.0  # the tuned edge's header and body timeouts
BOUND_S = SLOW_S * 6  # cut off within this (a loaded machine's slack included)
CROWD = 30


@pytest.fixture(scope="module", params=["uvicorn", "hypercorn"])
def slow_edge(mesh: Mesh, request: pytest.FixtureRequest) -> Iterator[str]:
    with edge_with(
        mesh,
        f"edge-slow-{request.param}",
        FORGE_EDGE_HTTP_SERVER=request.param,
        FORGE_EDGE_HEADER_TIMEOUT_S=str(SLOW_S),
        FORGE_EDGE_BODY_TIMEOUT_S=str(SLOW_S),
        FORGE_EDGE_DRAIN_TIMEOUT_S="1",  # it stops at once when the module is done
        FORGE_EDGE_WS_PING_INTERVAL_S=str(SLOW_S),
    ) as url:
        yield url


async def opened(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    return await asyncio.open_connection(host, int(port))


async def cut_off(url: str, head: bytes, trickled: bytes) -> tuple[bytes, float]:
    """Send `head` at once, then `trickled` a byte each 0.1 s; what the edge sent until it
    closed the connection, and how long that took."""
    reader, writer = await opened(url)
    started = time.monotonic()
    writer.write(head)
    await writer.drain()
    try:
        async with asyncio.timeout(BOUND_S):
            received = await read_until_closed(reader, trickler(writer, trickled), idle_s=0.1)
    finally:
        writer.close()
    return received, time.monotonic() - started


def status_of(received: bytes) -> int | None:
    """The status of the first response, None when the edge closed without one."""
    if not received:
        return None
    return int(received.split(b" ", 2)[1])


async def test_a_slowloris_crowd_is_cut_off_while_others_are_served(slow_edge: str) -> None:
    head = b"GET /health HTTP/1.1\r\nHost: x\r\n"
    crowd = [
        asyncio.create_task(cut_off(slow_edge, head, b"X-Slow: " + b"a" * 10_000))
        for _ in range(CROWD)
    ]
    async with httpx.AsyncClient(timeout=BOUND_S) as http:
        while not all(task.done() for task in crowd):
            assert (await http.get(slow_edge + "/health")).status_code == 200
            await asyncio.sleep(0.1)
    for received, _ in await asyncio.gather(*crowd):
        assert status_of(received) in (None, 408), received[:200]  # hypercorn just closes


def trickled_body(path: bytes, token: str | None) -> tuple[bytes, bytes]:
    """A request's head (a 100 kB body announced) and that body, to trickle."""
    method = b"PUT" if path == b"/servers/x" else b"GET" if path == b"/health" else b"POST"
    auth = b"" if token is None else b"Authorization: Bearer " + token.encode() + b"\r\n"
    head = (
        method
        + b" "
        + path
        + b" HTTP/1.1\r\nHost: x\r\n"
        + auth
        + b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    return head, b'{"a":"' + b"b" * 99_990 + b'"}'


def chunked(token: str) -> tuple[bytes, bytes]:
    head = (
        b"POST /mcp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
        + token.encode()
        + b"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    return head, b"".join(b"1\r\n" + bytes([c]) + b"\r\n" for c in b'{"a":"' + b"b" * 5000)


async def test_bodies_sent_a_byte_at_a_time_are_cut_off(slow_edge: str, admin_token: str) -> None:
    """All at once: each body-reading kind of route (MCP, legacy SSE's /message, REST, A2A)
    answers 408 at the body timeout; a chunked body too; a request answered before its body
    was read (no token: 401; GET /health: 200) is closed though its body still trickles."""
    cases: dict[str, tuple[tuple[bytes, bytes], set[int | None]]] = {
        "mcp": (trickled_body(b"/mcp", admin_token), {408}),
        # An unknown session is refused before the body is read: 404, and the trickle ends.
        "sse message": (trickled_body(b"/message?session_id=x", admin_token), {404}),
        "rest put": (trickled_body(b"/servers/x", admin_token), {408}),
        "rest post": (trickled_body(b"/teams", admin_token), {408}),
        "a2a": (trickled_body(b"/a2a/x/", admin_token), {408}),
        "chunked": (chunked(admin_token), {408}),
        "401 mcp": (trickled_body(b"/mcp", None), {401}),
        "401 rest": (trickled_body(b"/teams", None), {401}),
        "200 unread": (trickled_body(b"/health", None), {200}),
    }
    runs = [cut_off(slow_edge, head, body) for (head, body), _ in cases.values()]
    results = await asyncio.gather(*runs)
    for (name, (_, expected)), (received, _) in zip(cases.items(), results, strict=True):
        assert status_of(received) in expected, (name, received[:300])


@pytest.mark.parametrize("slow_edge", ["uvicorn"], indirect=True)  # hypercorn pings no client
async def test_a_websocket_frame_sent_a_byte_at_a_time_is_cut_off(
    slow_edge: str, admin_token: str
) -> None:
    """A WebSocket client stuck in the middle of a frame cannot answer the edge's ping: it is
    closed once its pong is FORGE_EDGE_WS_PING_INTERVAL_S late (1011), not held."""
    key = base64.b64encode(os.urandom(16))
    reader, writer = await opened(slow_edge)
    writer.write(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n"
        b"Sec-WebSocket-Protocol: mcp\r\nAuthorization: Bearer "
        + admin_token.encode()
        + b"\r\n\r\n"
    )
    try:
        async with asyncio.timeout(BOUND_S):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101")
            # A masked text frame of 1000 bytes (mask 0: the payload as is), sent a byte a time.
            writer.write(bytes([0x81, 0x80 | 126]) + (1000).to_bytes(2, "big") + b"\0\0\0\0")
            trickle = trickler(writer, b'{"jsonrpc":"2.0"' + b" " * 984)
            received = await read_until_closed(reader, trickle, idle_s=0.1)
    finally:
        writer.close()
    # A ping (0x89) it could not answer, then a close frame (0x88) with code 1011.
    assert re.search(rb"\x88[\x02-\x7d]\x03\xf3", received), received
