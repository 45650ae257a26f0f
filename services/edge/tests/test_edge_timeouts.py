"""A client that sends a request's headers slowly is cut off after the header timeout."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn

from forge.edge.timeouts import header_timeout_protocol
from forge.testing.slow_client import read_until_closed, trickler

TIMEOUT_S = 0.5


async def hello(scope: Any, receive: Any, send: Any) -> None:
    headers = [(b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
async def port() -> AsyncIterator[int]:
    config = uvicorn.Config(
        hello,
        http=header_timeout_protocol(TIMEOUT_S),
        lifespan="off",
        log_config=None,
    )
    server = uvicorn.Server(config)
    # Bound and listening before the server starts: clients queue in the backlog meanwhile.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    yield sock.getsockname()[1]
    server.should_exit = True
    await serving


async def test_a_trickle_of_header_bytes_is_cut_off_with_408(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    trickle = trickler(writer, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000)
    async with asyncio.timeout(TIMEOUT_S * 10):
        received = await read_until_closed(reader, trickle, idle_s=0.1)
    assert received.startswith(b"HTTP/1.1 408")
    writer.close()


async def test_a_silent_connection_is_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    async with asyncio.timeout(TIMEOUT_S * 10):
        assert (await read_until_closed(reader, idle_s=0.1)).startswith(b"HTTP/1.1 408")
    writer.close()


async def test_requests_that_arrive_in_time_are_served_on_one_connection(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for _ in range(2):
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        async with asyncio.timeout(5):
            assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200")
    writer.close()


async def test_a_trickle_after_a_served_request_is_cut_off_with_408(port: int) -> None:
    """The clock of a kept-alive connection's next request runs from its first byte, even
    though the timer is armed only once a request's headers did not all come at once."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    async with asyncio.timeout(5):
        assert (await reader.readuntil(b"ok")).startswith(b"HTTP/1.1 200")
    trickle = trickler(writer, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000)
    async with asyncio.timeout(TIMEOUT_S * 10):
        received = await read_until_closed(reader, trickle, idle_s=0.1)
    assert received.startswith(b"HTTP/1.1 408")
    writer.close()
