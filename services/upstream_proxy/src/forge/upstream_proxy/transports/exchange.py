"""One JSON-RPC exchange over Streamable HTTP: POST, then read a JSON or SSE answer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import msgspec

from forge.core import tracing
from forge.core.aiohttp_dialer import refusal
from forge.core.bus import TRACEPARENT
from forge.core.errors import (
    ForgeError,
    UpstreamBadResponseError,
    UpstreamRpcError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from forge.core.netguard import AddressForbiddenError
from forge.proto.jsonrpc import (
    MESSAGE_DECODER,
    RESPONSE_DECODER,
    Message,
    RequestId,
    ResponseError,
)

ACCEPT = "application/json, text/event-stream"
# Notifications and server-to-client requests that arrive on the same SSE stream as the answer:
# the call forwards them to its client (forge.stream.<envelope id>); given the raw bytes too.
OnMessage = Callable[[Message, bytes], Awaitable[None]]
_ERROR_DECODER = msgspec.json.Decoder(ResponseError)
# Resuming an SSE answer the upstream closed before its end (SSE polling): a GET carrying
# `Last-Event-ID`, and what to do first (tell the client's edge, which mirrors the close).
Resume = Callable[[str], AbstractAsyncContextManager[aiohttp.ClientResponse]]
OnPause = Callable[[], Awaitable[None]]
# An upstream that closes its stream again and again, without a new event, is not polled forever.
MAX_RESUMES = 50
MAX_RETRY_WAIT_S = 5.0


class Poster(Protocol):
    """What `exchange` needs of an HTTP client: aiohttp's session, or the lean FastHttp."""

    def post(
        self, url: str, *, data: bytes, headers: Mapping[str, str]
    ) -> AbstractAsyncContextManager[Any]: ...


class SessionGoneError(Exception):
    """A legacy upstream answered 404 for our session id: it forgot the session."""


class CredentialsRejectedError(UpstreamBadResponseError):
    """The upstream answered HTTP 401: a session with renewable credentials retries once.

    `sent` is the Authorization value it refused (None if there was none), so that a renewal
    racing another one does not throw away a token that is already fresh.
    """

    def __init__(self, label: str, sent: str | None) -> None:
        super().__init__(f"gateway {label} refused Forge's credentials (HTTP 401)")
        self.sent = sent


@dataclass(frozen=True, slots=True)
class Answer:
    """What came back: the result bytes (undecoded) and the response headers we may need."""

    result: bytes
    session_id: str | None


async def exchange(
    http: Poster,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    request_id: RequestId | None,
    label: str,
    session_404: bool = False,
    on_message: OnMessage | None = None,
    resume: Resume | None = None,
    on_pause: OnPause | None = None,
) -> Answer:
    """POST one message; for a request (`request_id` set) return its result or raise its error.

    Traced, the POST is a CLIENT span whose context the upstream gets in `traceparent`.
    """
    if not tracing.enabled():
        return await _exchange(
            http, url, body, headers, request_id, label, session_404, on_message, resume, on_pause
        )
    with tracing.span("POST", tracing.CLIENT, tracing.http_client_attributes("POST", url)):
        sent = {**headers, "traceparent": TRACEPARENT.get() or ""}
        try:
            return await _exchange(
                http, url, body, sent, request_id, label, session_404, on_message, resume, on_pause
            )
        except ForgeError as exc:
            tracing.failed(exc.code, exc.message)
            raise


async def _exchange(
    http: Poster,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    request_id: RequestId | None,
    label: str,
    session_404: bool,
    on_message: OnMessage | None,
    resume: Resume | None,
    on_pause: OnPause | None,
) -> Answer:
    """POST one message; for a request (`request_id` set) return its result or raise its error.

    Every failure becomes the Forge error for it, naming `label` (the gateway), never a trace.
    The caller bounds the time with `asyncio.timeout`; expiry surfaces here as TimeoutError.
    """
    try:
        async with http.post(url, data=body, headers=headers) as response:
            session_id = response.headers.get("Mcp-Session-Id")
            if response.status == 404 and session_404:
                raise SessionGoneError
            if response.status == 401:
                raise CredentialsRejectedError(label, headers.get("Authorization"))
            if response.status >= 400:
                raise _http_error(response.status, await response.read(), label)
            if request_id is None:
                return Answer(b"null", session_id)
            kind = response.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if kind == "application/json":
                result = _json_result(await response.read(), label)
            elif kind == "text/event-stream":
                result = await _sse_result(
                    response, request_id, label, on_message, resume, on_pause
                )
            else:
                raise UpstreamBadResponseError(
                    f"gateway {label} answered with content type {kind or 'none'!r}"
                )
            return Answer(result, session_id)
    except aiohttp.ConnectionTimeoutError as exc:
        raise UpstreamUnavailableError(f"cannot connect to gateway {label}: timed out") from exc
    except aiohttp.ClientConnectorError as exc:
        if (refused := refusal(exc)) is not None:
            raise refused from None
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        raise UpstreamUnavailableError(f"cannot connect to gateway {label}: {reason}") from exc
    except (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError) as exc:
        raise UpstreamBadResponseError(f"gateway {label} closed the connection mid-answer") from exc
    except aiohttp.ClientResponseError as exc:
        raise UpstreamBadResponseError(f"gateway {label} sent a malformed HTTP answer") from exc
    except aiohttp.ServerTimeoutError as exc:
        raise UpstreamTimeoutError(f"gateway {label} did not answer in time") from exc
    except aiohttp.ClientConnectionError as exc:
        raise UpstreamUnavailableError(f"lost the connection to gateway {label}") from exc
    except (aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError) as exc:
        # The gateway's URL, or a redirect's Location, names a host or scheme aiohttp will not
        # dial (http://0:80/, 2130706433, ftp://...): refused as the guard refuses an address.
        raise AddressForbiddenError(
            f"gateway {label} points at an address form Forge does not dial (non-canonical"
            " IPv4, or not http/https)"
        ) from exc
    except aiohttp.ClientError as exc:  # any other client failure: the gateway's, not ours
        raise UpstreamBadResponseError(f"gateway {label} failed: {type(exc).__name__}") from exc
    except TimeoutError as exc:
        raise UpstreamTimeoutError(f"gateway {label} did not answer in time") from exc


def _http_error(status: int, body: bytes, label: str) -> ForgeError:
    # A JSON-RPC error in an HTTP error body is the upstream speaking: pass it through.
    try:
        response = RESPONSE_DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        response = None
    if response is not None and response.error is not None:
        return _rpc_error(response.error)
    return UpstreamBadResponseError(f"gateway {label} answered HTTP {status}")


def _rpc_error(error: ResponseError) -> UpstreamRpcError:
    data = msgspec.json.decode(error.data) if len(error.data) else None
    return UpstreamRpcError(error.code, error.message, data)


def _json_result(body: bytes, label: str) -> bytes:
    try:
        response = RESPONSE_DECODER.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamBadResponseError(f"gateway {label} sent malformed JSON-RPC") from exc
    if response.error is not None:
        raise _rpc_error(response.error)
    if not len(response.result):
        raise UpstreamBadResponseError(f"gateway {label} sent a response without a result")
    return bytes(response.result)


async def _sse_result(
    response: aiohttp.ClientResponse,
    request_id: RequestId,
    label: str,
    on_message: OnMessage | None,
    resume: Resume | None = None,
    on_pause: OnPause | None = None,
) -> bytes:
    parser = SseParser()
    result = await _read_sse(response, parser, request_id, label, on_message)
    resumes = 0
    # The upstream closed the stream before its answer, having given it an event id: it is
    # polling (MCP 2025-11-25, "SSE polling"), the answer comes on a GET with Last-Event-ID.
    while result is None and resume is not None and parser.last_id and resumes < MAX_RESUMES:
        resumes += 1
        if on_pause is not None and resumes == 1:
            await on_pause()
        await asyncio.sleep(min(parser.retry_ms / 1000, MAX_RETRY_WAIT_S))
        async with resume(parser.last_id) as again:
            kind = again.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
            if again.status != 200 or kind != "text/event-stream":
                raise UpstreamBadResponseError(
                    f"gateway {label} refused to resume its event stream (HTTP {again.status})"
                )
            parser.restart()
            result = await _read_sse(again, parser, request_id, label, on_message)
    if result is None:
        raise UpstreamBadResponseError(f"gateway {label} ended its event stream without an answer")
    return result


async def _read_sse(
    response: aiohttp.ClientResponse,
    parser: SseParser,
    request_id: RequestId,
    label: str,
    on_message: OnMessage | None,
) -> bytes | None:
    """The answer's result, read from one SSE response; None if the stream ended first."""
    async for chunk in response.content.iter_any():
        for data in parser.feed(chunk):
            try:
                message = MESSAGE_DECODER.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise UpstreamBadResponseError(
                    f"gateway {label} sent malformed JSON-RPC in its event stream"
                ) from exc
            if message.method is not msgspec.UNSET:
                if on_message is not None:
                    await on_message(message, data)
                continue
            if message.id != request_id:
                continue
            return result_of(message, label)
    return None


def result_of(message: Message, label: str) -> bytes:
    """The result bytes of a JSON-RPC response, or the upstream's error raised."""
    if len(message.error):
        try:
            error = _ERROR_DECODER.decode(message.error)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamBadResponseError(
                f"gateway {label} sent a malformed JSON-RPC error"
            ) from exc
        raise _rpc_error(error)
    if not len(message.result):
        raise UpstreamBadResponseError(f"gateway {label} sent a response without a result")
    return bytes(message.result)


class SseParser:
    """Sans-I/O server-sent events: feed bytes, get the `data` of each complete event.

    Our own buffer rather than line reads, because a single `data:` line holding a large tool
    result can exceed aiohttp's line-length limit.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._scanned = 0  # no newline before this offset: a long line is scanned only once
        self._data: list[bytes] = []
        self._event = b"message"
        self.last_id = ""  # the last event id seen (a resume asks for what follows it)
        self.retry_ms = 1000  # the reconnection delay the upstream asked for, if it did

    def restart(self) -> None:
        """A new response on the same logical stream: drop any half-read event."""
        self._buffer.clear()
        self._scanned = 0
        self._data = []
        self._event = b"message"

    def feed(self, chunk: bytes) -> list[bytes]:
        """The data of each event completed by `chunk`."""
        return [data for _, data in self.feed_events(chunk)]

    def feed_events(self, chunk: bytes) -> list[tuple[bytes, bytes]]:
        """`(event type, data)` of each event completed by `chunk`."""
        self._buffer += chunk
        events: list[tuple[bytes, bytes]] = []
        start = 0
        while True:
            end = self._buffer.find(b"\n", max(start, self._scanned))
            if end < 0:
                del self._buffer[:start]
                self._scanned = len(self._buffer)
                return events
            line = bytes(self._buffer[start:end]).rstrip(b"\r")
            start = end + 1
            if not line:
                data = b"\n".join(self._data)
                self._data = []
                if data:  # as the SSE spec says: an event with empty data is not dispatched
                    events.append((self._event, data))
                self._event = b"message"
                continue
            if line.startswith(b":"):
                continue  # a comment: keep-alive
            field, _, value = line.partition(b":")
            value = value[1:] if value.startswith(b" ") else value
            if field == b"data":
                self._data.append(value)
            elif field == b"event":
                self._event = value
            elif field == b"id" and b"\0" not in value:
                self.last_id = value.decode("utf-8", "replace")
            elif field == b"retry" and value.isdigit():
                self.retry_ms = int(value)
