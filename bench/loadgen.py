"""The load generator: keep-alive HTTP/1.1 connections on uvloop replaying one prepared request."""

from __future__ import annotations

import asyncio
import time
from typing import cast

# A response counts as a success only with status 200, the echoed text, and no error member.
_ERROR_MARKERS = (b'"error"', b'"isError":true', b'"isError": true')


class Stats:
    """What every connection of one phase adds to: latencies, successes, and failures by kind."""

    def __init__(self) -> None:
        self.latencies_ns: list[int] = []
        self.ok = 0
        self.errors: dict[str, int] = {}
        self.reconnects = 0  # the server ended keep-alive politely (e.g. after N requests)
        self.sample: bytes = b""

    def fail(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Conn(asyncio.Protocol):
    """One connection that sends the request, waits for the whole response, and sends it again.

    Callbacks rather than coroutines: the next request leaves from `data_received`, so a call costs
    the client one write and one read, and no task switch.
    """

    def __init__(self, host: str, port: int, request: bytes, expect: bytes, stats: Stats) -> None:
        self.host, self.port = host, port
        self.request = request
        self.expect = expect
        self.stats = stats
        self.stop_at_ns = 0
        self.remaining = 0
        self.buffer = bytearray()
        self.sent_ns = 0
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.closed_by_us = 0  # connection_lost calls still to come for transports we closed
        self.reopening: asyncio.Task[None] | None = None

    async def open(self) -> Conn:
        await asyncio.get_running_loop().create_connection(lambda: self, self.host, self.port)
        return self

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only the same interface.
        self.transport = cast(asyncio.Transport, transport)

    def start(self, *, calls: int = -1, stop_at_ns: int = 2**63) -> None:
        """Loop until `calls` are done (negative: no limit) or the clock passes `stop_at_ns`."""
        self.remaining = calls
        self.stop_at_ns = stop_at_ns
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.closed_by_us:
            self.closed_by_us -= 1
            return
        if not self.done.done():
            self.stats.fail("connection lost")
            self.done.set_result(None)

    def _send(self) -> None:
        assert self.transport is not None
        if self.remaining == 0 or time.perf_counter_ns() >= self.stop_at_ns:
            self.done.set_result(None)
            return
        self.remaining -= 1
        self.sent_ns = time.perf_counter_ns()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        if at < 0:
            self._abort("no content-length")
            return
        eol = head.find(b"\r\n", at)
        length = int(head[at + 15 : eol if eol > 0 else len(head)])
        if len(self.buffer) < end + 4 + length:
            return
        now = time.perf_counter_ns()
        body = bytes(self.buffer[end + 4 : end + 4 + length])
        del self.buffer[: end + 4 + length]
        self.stats.latencies_ns.append(now - self.sent_ns)
        status = head[9:12]
        if status != b"200":
            self.stats.fail(f"HTTP {status.decode(errors='replace')}")
            if not self.stats.sample:
                self.stats.sample = body[:500]
        elif self.expect not in body or any(m in body for m in _ERROR_MARKERS):
            self.stats.fail("error in body")
            if not self.stats.sample:
                self.stats.sample = body[:500]
        else:
            self.stats.ok += 1
        if b"connection: close" in head:
            self._reconnect()
            return
        self._send()

    def _reconnect(self) -> None:
        """Open a fresh connection, as any keep-alive client does when the server says close."""
        self.stats.reconnects += 1
        self.close()
        self.reopening = asyncio.get_running_loop().create_task(self._reopen())

    async def _reopen(self) -> None:
        try:
            await self.open()
        except OSError:
            self._abort("reconnect failed")
            return
        self._send()

    def close(self) -> None:
        if self.transport is not None:
            self.closed_by_us += 1
            self.transport.close()
            self.transport = None

    def _abort(self, kind: str) -> None:
        self.stats.fail(kind)
        if not self.done.done():
            self.done.set_result(None)
        self.close()


async def sequential(host: str, port: int, request: bytes, expect: bytes, calls: int) -> Stats:
    """`calls` requests one after another on one connection; every latency is kept."""
    stats = Stats()
    conn = await Conn(host, port, request, expect, stats).open()
    conn.start(calls=calls)
    await conn.done
    conn.close()
    return stats


async def concurrent(
    host: str, port: int, request: bytes, expect: bytes, clients: int, duration_s: float
) -> tuple[Stats, float]:
    """`clients` connections looping for `duration_s`; returns the stats and the elapsed seconds."""
    stats = Stats()
    # Everyone connects first, so connection setup is not part of the measured window.
    conns = await asyncio.gather(
        *(Conn(host, port, request, expect, stats).open() for _ in range(clients))
    )
    started = time.perf_counter_ns()
    stop_at = started + int(duration_s * 1e9)
    for conn in conns:
        conn.start(stop_at_ns=stop_at)
    await asyncio.gather(*(c.done for c in conns))
    elapsed = (time.perf_counter_ns() - started) / 1e9
    for conn in conns:
        conn.close()
    return stats, elapsed
