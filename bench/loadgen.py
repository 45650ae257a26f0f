"""The load generator: keep-alive HTTP/1.1 connections on uvloop replaying one pre-encoded request."""

from __future__ import annotations

import asyncio
import time

# A response counts as a success only with status 200, the echoed text, and no error member.
_ERROR_MARKERS = (b'"error"', b'"isError":true', b'"isError": true')


class Stats:
    """What every connection of one phase adds to: latencies, successes, and failures by kind."""

    def __init__(self) -> None:
        self.latencies_ns: list[int] = []
        self.ok = 0
        self.errors: dict[str, int] = {}
        self.sample: bytes = b""

    def fail(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Conn(asyncio.Protocol):
    """One connection that sends the request, waits for the whole response, and sends it again.

    Callbacks rather than coroutines: the next request leaves from `data_received`, so a call costs
    the client one write and one read, and no task switch.
    """

    def __init__(self, request: bytes, expect: bytes, stats: Stats, stop_at_ns: int, calls: int):
        self.request = request
        self.expect = expect
        self.stats = stats
        self.stop_at_ns = stop_at_ns
        self.remaining = calls  # negative: no limit, the deadline alone ends the loop
        self.recording = True
        self.buffer = bytearray()
        self.sent_ns = 0
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self._send()

    def connection_lost(self, exc: Exception | None) -> None:
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
        length = int(head[at + 15 : head.find(b"\r\n", at) if head.find(b"\r\n", at) > 0 else None])
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
            self._abort("server closed the connection")
            return
        self._send()

    def _abort(self, kind: str) -> None:
        self.stats.fail(kind)
        if not self.done.done():
            self.done.set_result(None)
        if self.transport is not None:
            self.transport.close()


async def _connect(host: str, port: int, conn: Conn) -> Conn:
    loop = asyncio.get_running_loop()
    await loop.create_connection(lambda: conn, host, port)
    return conn


async def sequential(host: str, port: int, request: bytes, expect: bytes, calls: int) -> Stats:
    """`calls` requests one after another on one connection; every latency is kept."""
    stats = Stats()
    conn = Conn(request, expect, stats, stop_at_ns=2**63, calls=calls)
    await _connect(host, port, conn)
    await conn.done
    if conn.transport is not None:
        conn.transport.close()
    return stats


async def concurrent(
    host: str, port: int, request: bytes, expect: bytes, clients: int, duration_s: float
) -> tuple[Stats, float]:
    """`clients` connections looping for `duration_s`; returns the stats and the elapsed seconds."""
    stats = Stats()
    # Connect everyone first with a far deadline parked, so connection setup is not measured.
    conns = [Conn(request, expect, stats, stop_at_ns=0, calls=-1) for _ in range(clients)]
    for conn in conns:
        conn.done.cancel()  # connecting sends nothing because the deadline has passed
        conn.done = asyncio.get_running_loop().create_future()
    await asyncio.gather(*(_connect(host, port, c) for c in conns))
    for conn in conns:
        conn.done = asyncio.get_running_loop().create_future()
    started = time.perf_counter_ns()
    stop_at = started + int(duration_s * 1e9)
    for conn in conns:
        conn.stop_at_ns = stop_at
        conn._send()
    await asyncio.gather(*(c.done for c in conns))
    elapsed = (time.perf_counter_ns() - started) / 1e9
    for conn in conns:
        if conn.transport is not None:
            conn.transport.close()
    return stats, elapsed
