"""The ops port every service serves beside its work: `/metrics` (Prometheus text format),
`/livez` (the process answers) and `/readyz` (its own readiness check passes).

A tiny HTTP/1.1 server on asyncio streams: a probe or a scrape sends one GET and reads one
answer, so nothing more is needed, and libs/core stays free of a web framework. Each answer
closes its connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

import msgspec
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from forge.core import tracing

log = logging.getLogger("forge.ops")

# None when ready, else a short reason (e.g. "not connected to NATS").
Readiness = Callable[[], Awaitable[str | None]]
_ENC = msgspec.json.Encoder()
_JSON = "application/json"
_READ_TIMEOUT_S = 5.0
_CHECK_TIMEOUT_S = 2.0
_MAX_HEAD = 8192
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}
_REASONS[503] = "Service Unavailable"


async def always_ready() -> str | None:
    return None


def all_of(*checks: Callable[[], str | None]) -> Readiness:
    """A readiness from plain checks (each None when fine), reporting the first that fails."""

    async def ready() -> str | None:
        for check in checks:
            reason = check()
            if reason is not None:
                return reason
        return None

    return ready


class OpsServer:
    """Serves the ops endpoints on `host:port` until closed; `port` is the bound one."""

    def __init__(self, service: str, ready: Readiness) -> None:
        self.service = service
        self.ready = ready
        self.port = 0
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.Task[None]] = set()

    async def start(self, host: str, port: int) -> None:
        self._server = await asyncio.start_server(self._on_client, host, port)
        sockets: Sequence[object] = self._server.sockets
        self.port = sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        log.info("ops port listening", extra={"url": f"http://{host}:{self.port}"})

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._clients):
                task.cancel()
            await self._server.wait_closed()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._clients.add(task)
        head = b""
        try:
            async with asyncio.timeout(_READ_TIMEOUT_S):
                head = await reader.readuntil(b"\r\n\r\n")
            status, body, kind = await self._answer(head)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            status, body, kind = 400, b'{"detail":"bad request"}', _JSON
        except ConnectionError:
            writer.close()
            return
        finally:
            if task is not None:
                self._clients.discard(task)
        head_out = (
            f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {kind}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
        )
        if head.startswith(b"HEAD "):
            body = b""  # the length of what GET would send, and nothing
        with contextlib.suppress(ConnectionError):
            writer.write(head_out.encode() + body)
            await writer.drain()
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()

    async def _answer(self, head: bytes) -> tuple[int, bytes, str]:
        if len(head) > _MAX_HEAD:
            return 400, b'{"detail":"bad request"}', _JSON
        method, _, rest = head.partition(b" ")
        target = rest.partition(b" ")[0].partition(b"?")[0]
        if target not in (b"/metrics", b"/livez", b"/readyz"):
            return 404, b'{"detail":"not found"}', _JSON
        if method not in (b"GET", b"HEAD"):
            return 405, b'{"detail":"method not allowed"}', _JSON
        if target == b"/metrics":
            return 200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST
        if target == b"/livez":
            return (
                200,
                _ENC.encode({"status": "alive", "service": self.service}),
                _JSON,
            )
        reason = await self._check()
        if reason is None:
            return (
                200,
                _ENC.encode({"status": "ready", "service": self.service}),
                _JSON,
            )
        body = _ENC.encode({"status": "not ready", "service": self.service, "reason": reason})
        return 503, body, _JSON

    async def _check(self) -> str | None:
        try:
            async with asyncio.timeout(_CHECK_TIMEOUT_S):
                return await self.ready()
        except TimeoutError:
            return "the readiness check did not finish in time"


async def serve(
    stack: contextlib.AsyncExitStack, service: str, host: str, port: int, ready: Readiness
) -> OpsServer | None:
    """Start the ops port (none when `port` is 0), closed when `stack` unwinds; and traces,
    when the `OTEL_*` variables ask for them (forge.core.tracing), flushed when it unwinds and
    at exit."""
    if tracing.start(service):
        stack.callback(tracing.flush)
    if port == 0:
        return None
    server = OpsServer(service, ready)
    await server.start(host, port)
    stack.push_async_callback(server.close)
    return server


class _Connected(Protocol):
    def connected(self) -> bool: ...


def nats(bus: _Connected) -> Callable[[], str | None]:
    """A check that the service's NATS connection is up."""
    return lambda: None if bus.connected() else "not connected to NATS"


def flag(reason: str, done: Callable[[], bool]) -> Callable[[], str | None]:
    """A check failing with `reason` until `done()` is true."""
    return lambda: None if done() else reason
