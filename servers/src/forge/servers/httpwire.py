"""A minimal HTTP/1.1 server protocol: keep-alive, pipelining, Content-Length bodies only."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import cast

# Enough for any request these benchmark servers expect; larger ones are refused, not buffered.
MAX_HEAD = 16 * 1024
MAX_BODY = 4 * 1024 * 1024

_REASONS = {
    200: b"OK",
    202: b"Accepted",
    400: b"Bad Request",
    404: b"Not Found",
    405: b"Method Not Allowed",
    406: b"Not Acceptable",
    413: b"Payload Too Large",
    431: b"Request Header Fields Too Large",
    501: b"Not Implemented",
}


@dataclass(slots=True)
class Request:
    method: bytes
    path: bytes
    headers: dict[bytes, bytes]  # names lower-cased
    body: bytes


@dataclass(slots=True)
class Response:
    status: int = 200
    body: bytes = b""
    content_type: bytes = b"application/json"
    headers: tuple[tuple[bytes, bytes], ...] = ()


Handler = Callable[[Request], Response]


def encode(response: Response, *, close: bool) -> bytes:
    head = [
        b"HTTP/1.1 %d %s" % (response.status, _REASONS.get(response.status, b"Unknown")),
        b"Content-Length: %d" % len(response.body),
    ]
    if response.body:
        head.append(b"Content-Type: " + response.content_type)
    for name, value in response.headers:
        head.append(name + b": " + value)
    if close:
        head.append(b"Connection: close")
    return b"\r\n".join(head) + b"\r\n\r\n" + response.body


class HttpProtocol(asyncio.Protocol):
    """Parses requests as bytes arrive and answers each synchronously, in order."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.buffer = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only the same interface.
        self.transport = cast(asyncio.Transport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        # Several pipelined requests may sit in one read; answer all that are complete.
        while self.transport is not None and self._one():
            pass

    def _one(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buffer) > MAX_HEAD:
                self._fail(431)
            return False
        lines = bytes(self.buffer[:end]).split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3:
            self._fail(400)
            return False
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        if b"transfer-encoding" in headers:
            self._fail(501)  # nobody sends chunked requests to an MCP endpoint in practice
            return False
        try:
            length = int(headers.get(b"content-length", b"0"))
        except ValueError:
            self._fail(400)
            return False
        if length > MAX_BODY:
            self._fail(413)
            return False
        start = end + 4
        if len(self.buffer) < start + length:
            return False
        body = bytes(self.buffer[start : start + length])
        del self.buffer[: start + length]
        close = headers.get(b"connection", b"").lower() == b"close" or parts[2] == b"HTTP/1.0"
        response = self.handler(Request(parts[0], parts[1], headers, body))
        transport = self.transport
        if transport is None:
            return False
        transport.write(encode(response, close=close))
        if close:
            transport.close()
            self.transport = None
            return False
        return True

    def _fail(self, status: int) -> None:
        if self.transport is not None:
            self.transport.write(encode(Response(status=status), close=True))
            self.transport.close()
            self.transport = None
