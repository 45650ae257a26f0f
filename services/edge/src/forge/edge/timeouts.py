"""Slow clients under uvicorn: a request's headers must be complete in time.

uvicorn closes idle keep-alive connections, but a client that sends a request's headers a byte at
a time holds its socket (and a slot of the server's) forever. This protocol arms a timer when a
connection opens and when a request's first byte arrives, and disarms it when the headers are
complete; if it fires, the edge answers 408 and closes the connection. (hypercorn's keep-alive
timer already runs until a request's headers are complete; see `app._serve_hypercorn`.) The body
has its own timeout, in `inputs.read_json`, for both servers; a connection whose request was
answered before its body had all come is closed (as hypercorn does), so that a body trickled
after the answer holds nothing.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


def header_timeout_protocol(timeout_s: float) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol, with headers that must be complete within `timeout_s`."""

    class HeaderTimeoutProtocol(HttpToolsProtocol):
        header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self.header_timer is None:  # not reset by each byte: the clock runs from the first
                self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def on_response_complete(self) -> None:
            # Answered before the request's body had all come (an early 401, a 408 body
            # timeout, a route that reads no body): the rest is not waited for. A client still
            # sending it would hold the connection as long as it liked, each byte deferring
            # uvicorn's keep-alive timeout, and no header timer runs until a next request.
            if self.cycle is not None and self.cycle.more_body:
                self.transport.close()
            super().on_response_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self.header_timer = self.loop.call_later(timeout_s, self._headers_late)

        def _disarm(self) -> None:
            if self.header_timer is not None:
                self.header_timer.cancel()
                self.header_timer = None

        def _headers_late(self) -> None:
            self.header_timer = None
            if self.transport.is_closing():
                return
            if self.cycle is None or self.cycle.response_complete:
                self.transport.write(_TIMED_OUT)  # not in the middle of a pipelined response
            self.transport.close()

    return HeaderTimeoutProtocol
