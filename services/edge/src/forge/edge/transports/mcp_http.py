"""Streamable HTTP for both MCP eras: POST (JSON or a streamed answer), GET stream, DELETE."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import msgspec

from forge.core import errors, metrics, rpc
from forge.core.bus import RETRY_AFTER_S
from forge.core.errors import (
    ForgeError,
    InvalidRequestError,
    OverloadedError,
    SessionNotFoundError,
)
from forge.edge import inputs
from forge.edge.auth import guard
from forge.edge.http import Receive, Scope, Send, header_map, respond
from forge.edge.state import Edge
from forge.edge.transports import resumable, sessions, streams
from forge.edge.transports.exchange import LOCAL_METHODS, Caller, Exchange
from forge.edge.transports.messages import (
    ClientResponse,
    Request,
    check_modern,
    param_headers,
    parse,
)
from forge.edge.transports.resumable import CallStream
from forge.edge.transports.sessions import SessionState
from forge.proto import jsonrpc, mcp
from forge.proto.envelope import ENCODER, Principal, Protocol

__all__ = ["Edge", "McpEndpoint", "answer_status", "check_modern", "parse", "status_of"]

log = logging.getLogger("forge.edge.mcp")

# How a JSON-RPC error code maps to an HTTP status on MCP endpoints, per era (docs/errors.md;
# a test holds the two together). Anything unlisted is 200: the error travels in the body, as
# legacy clients expect. The REST API answers each error class's own `http_status` instead.
_MODERN_STATUS = {
    errors.PARSE_ERROR: 400,
    errors.INVALID_REQUEST: 400,
    errors.INVALID_PARAMS: 400,
    errors.HEADER_MISMATCH: 400,
    errors.MISSING_CLIENT_CAPABILITY: 400,
    errors.UNSUPPORTED_PROTOCOL_VERSION: 400,
    errors.METHOD_NOT_FOUND: 404,
}
_LEGACY_STATUS = {
    errors.PARSE_ERROR: 400,
    errors.INVALID_REQUEST: 400,
    errors.UNSUPPORTED_PROTOCOL_VERSION: 400,
    errors.HEADER_MISMATCH: 400,
}
_COMMON_STATUS = {
    errors.SERVICE_UNAVAILABLE: 503,
    errors.OVERLOADED: 503,
    errors.UNAUTHORIZED: 401,
    errors.FORBIDDEN: 403,
    errors.NOT_FOUND: 404,
    errors.PAYLOAD_TOO_LARGE: 413,
    errors.SESSION_NOT_FOUND: 404,
    errors.TOO_MANY_REQUESTS: 429,
}
_NOT_ALLOWED = jsonrpc.error_bytes(
    None,
    ENCODER.encode(InvalidRequestError("method not allowed: this endpoint takes POST").to_object()),
)
_SESSION_HEADER = b"mcp-session-id"
_INIT_RESULT = msgspec.json.Decoder(mcp.InitializeResult)
LEGACY_DEFAULT = "2025-03-26"  # what a client that sends no version header speaks
# Router-answered requests a legacy client that takes SSE gets as a (one-event) SSE stream; the
# initialize answer stays JSON (it opens the session).
_STREAMED_LOCAL = LOCAL_METHODS - {"initialize"}
RESUMABLE_SINCE = "2025-11-25"  # the first version with priming events and SSE polling


def retry_after(exc: ForgeError) -> list[tuple[bytes, bytes]]:
    """`Retry-After` for an error that says when to come back (`data.retry_after_s`: an
    overloaded or absent service, throttling); none otherwise."""
    if isinstance(exc.data, dict) and isinstance(exc.data.get("retry_after_s"), int):
        return [(b"retry-after", str(exc.data["retry_after_s"]).encode())]
    return []


class Admission:
    """An MCP POST's place in the edge's bound on requests in flight, given back once."""

    __slots__ = ("edge", "held")

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.held = True
        edge.mcp_inflight += 1

    def release(self) -> None:
        if self.held:
            self.held = False
            self.edge.mcp_inflight -= 1


_ADMISSION = "forge.admission"  # the scope key of a POST's Admission


def _is_mcp(path: str) -> bool:
    if path in ("/mcp", "/mcp/"):
        return True
    return path.startswith("/servers/") and path.endswith("/mcp") and path.count("/") == 3


def bounded(edge: Edge, app: Any) -> Any:
    """The edge's outermost layer: at most `max_inflight` MCP POSTs at once; one more is
    answered 503 + Retry-After with a JSON-RPC error (-32015, id null: the body is not read)
    before any other layer, token or body costs anything, so that refusing stays cheap when the
    edge is already behind (docs/decisions/0027-bounded-requests-in-flight.md). JSON whatever
    the Accept header: MCP SDK clients read a JSON-RPC error from a non-2xx answer only when it
    is application/json."""
    limit = edge.config.max_inflight
    refusal = OverloadedError(
        f"the edge has {limit} MCP requests in flight, its limit; retry",
        {"retry_after_s": RETRY_AFTER_S},
    )
    body = jsonrpc.error_bytes(None, ENCODER.encode(refusal.to_object()))
    start = {
        "type": "http.response.start",
        "status": 503,
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *retry_after(refusal),
        ],
    }
    refused = metrics.OVERLOAD_REFUSALS.labels("/mcp")

    async def bound(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not _is_mcp(scope["path"]):
            await app(scope, receive, send)
            return
        if edge.mcp_inflight >= limit:
            refused.inc()
            await send(start)
            await send({"type": "http.response.body", "body": body})
            return
        admission = Admission(edge)
        scope[_ADMISSION] = admission
        try:
            await app(scope, receive, send)
        finally:
            admission.release()

    return bound


def status_of(error_code: int, modern: bool) -> int:
    return _COMMON_STATUS.get(error_code) or (_MODERN_STATUS if modern else _LEGACY_STATUS).get(
        error_code, 200
    )


def answer_status(exc: ForgeError, modern: bool) -> int:
    """The HTTP status an MCP endpoint answers `exc` with: by its code and the era, but a body
    that never arrived is 408 on every route, REST and MCP alike (a JSON-RPC body on MCP)."""
    if isinstance(exc, inputs.BodyTimeoutError):
        return exc.http_status
    return status_of(exc.code, modern)


def negotiated(request: Request, result: bytes, sid: str | None = None) -> Protocol:
    """The legacy protocol an `initialize` request and its result agree on."""
    params = mcp.INITIALIZE_PARAMS_DECODER.decode(request.params)
    return Protocol(
        version=_INIT_RESULT.decode(result).protocolVersion,
        era="legacy",
        capabilities=params.capabilities,
        client_info=params.clientInfo,
        session_id=sid,
    )


class McpEndpoint:
    """The ASGI app behind `/mcp` and `/servers/{server_id}/mcp`."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.exchange = Exchange(edge)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope)
        server_id: str | None = scope.get("path_params", {}).get("server_id")
        version_header = headers.get("mcp-protocol-version")
        modern = version_header is not None and version_header not in mcp.LEGACY_VERSIONS
        try:
            # A token seen before costs no await; a new one is verified once, then cached.
            principal = guard.mcp_cached(self.edge, scope, headers, server_id)
            if principal is None:
                principal = await guard.mcp_principal(self.edge, scope, headers, server_id)
        except ForgeError as exc:
            await self._error(send, None, exc, modern, guard.challenge_headers(exc))
            return
        method = scope["method"]
        has_session = _SESSION_HEADER.decode() in headers
        if method == "POST":
            await self._post(scope, receive, send, headers, principal, server_id, version_header)
        elif method == "GET" and not modern and "last-event-id" in headers:
            await self._resume(receive, send, headers, principal, server_id)
        elif method == "GET" and not modern and has_session:
            await self._get(receive, send, headers, principal, server_id)
        elif method == "DELETE" and not modern and has_session:
            await self._delete(send, headers, principal, server_id)
        else:
            allow = b"POST" if modern else b"GET, POST, DELETE"
            await respond(send, 405, _NOT_ALLOWED, [(b"allow", allow)])

    async def _post(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        principal: Principal,
        server_id: str | None,
        version_header: str | None,
    ) -> None:
        modern = version_header is not None and version_header not in mcp.LEGACY_VERSIONS
        request: Request | None = None
        try:
            body = await inputs.read_json(self.edge.config, scope, receive)
            incoming = parse(body)
            if isinstance(incoming, ClientResponse):
                await self.exchange.answer(incoming)
                await respond(send, 202, b"")
                return
            request = incoming
            session: SessionState | None = None
            params: dict[str, str] | None = None
            if modern:
                assert version_header is not None
                protocol = check_modern(request, headers, version_header)
                params = param_headers(request, scope["headers"])
            else:
                protocol, session = self._legacy_protocol(
                    request, headers, principal, server_id, version_header
                )
            caller = Caller(
                principal,
                protocol,
                server_id,
                session.sid if session else None,
                headers.get("traceparent"),
                params,
            )
            if request.is_notification:
                await self.exchange.notify(request, caller)
                await respond(send, 202, b"")
                return
            if modern and request.method == "subscriptions/listen":
                assert request.id is not None
                admission: Admission | None = scope.get(_ADMISSION)
                if admission is not None:  # a stream as long as the client wants: not work
                    admission.release()
                numbered = resumable.numbered(send, resumable.LISTEN_STREAM_PREFIX)
                await streams.listen(self.edge, self.exchange, receive, numbered, request, caller)
                return
            extra: list[tuple[bytes, bytes]] = []
            if session is not None:
                extra.append((_SESSION_HEADER, headers["mcp-session-id"].encode()))
            await self._call(receive, send, headers, request, caller, extra, modern)
        except ForgeError as exc:
            await self._error(send, request.id if request else None, exc, modern, None, headers)
        except Exception as exc:  # the adapter boundary: log it, hand back only an error id
            error = rpc.internal_error(exc, "edge /mcp")
            out = jsonrpc.error_bytes(request.id if request else None, ENCODER.encode(error))
            await respond(send, 500, out)

    async def _call(
        self,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        request: Request,
        caller: Caller,
        extra: list[tuple[bytes, bytes]],
        modern: bool,
    ) -> None:
        """Call the router; answer JSON, or SSE once an in-flight message comes first.

        A legacy client's SSE answer is resumable (docs/streams.md): its leaving does not cancel
        the call, and the stream is closed for polling when the upstream closes its own, or when
        the call outlives `sse_poll_after_s`.
        """
        streams_ok = "text/event-stream" in headers.get("accept", "")
        # Resumable from 2025-11-25 on: older clients cannot read the priming event.
        resumes = streams_ok and not modern and caller.protocol.version >= RESUMABLE_SINCE
        owner = _owner(caller) if resumes else None
        stream = CallStream(self.edge, send, receive, extra, owner)
        eid = self.exchange.envelope_id(caller, request)
        calling = self.exchange.call(
            request,
            caller,
            stream.deliver if streams_ok else None,
            eid,
            stream.poll if owner is not None else None,
        )
        poll_after = self.edge.config.sse_poll_after_s
        if owner is not None and poll_after > 0:
            work = await _polled(stream, calling, poll_after)
        else:
            work = await _inline(stream, calling)
        if work.cancelled():
            # The client closed the stream before the answer: for a modern client, a cancel.
            if stream.gone and modern:
                await self.exchange.cancel(eid)
            return
        if stream.started and work.exception() is not None:
            exc = work.exception()
            error = (
                exc.to_object()
                if isinstance(exc, ForgeError)
                else rpc.internal_error(exc or RuntimeError(), "edge /mcp stream")
            )
            await stream.finish(jsonrpc.error_bytes(request.id, ENCODER.encode(error)))
            return
        result = work.result()
        if request.method == "initialize" and not modern:
            token = self._open_session(caller.principal, caller.server_id, request, result)
            extra.append((_SESSION_HEADER, token))
        message = jsonrpc.result_bytes(request.id, result)
        if stream.started:
            await stream.finish(message)
        elif owner is not None and request.method in _STREAMED_LOCAL:
            # As the SDK's own server answers a legacy client that takes SSE (a router-answered
            # list has no upstream answer mode to mirror); upstream calls keep the JSON fast path.
            await resumable.answer(self.edge, send, receive, extra, owner, message)
        else:
            await self._answer(send, headers, 200, message, extra)

    async def _resume(
        self,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        principal: Principal,
        server_id: str | None,
    ) -> None:
        """GET + Last-Event-ID: the rest of a resumable answer, from whichever replica holds it."""
        last = headers["last-event-id"]
        try:
            state: SessionState | None = None
            if _SESSION_HEADER.decode() in headers:
                state = self.edge.sessions.open(
                    headers["mcp-session-id"], principal.subject, _endpoint(server_id)
                )
            if resumable.is_get_stream_id(last) and state is not None:
                # A GET stream is not stored: the client gets a new one.
                await self._get(receive, send, headers, principal, server_id)
                return
            owner = resumable.Owner(
                principal.subject, _endpoint(server_id), state.sid if state else None
            )
            extra = [(_SESSION_HEADER, headers["mcp-session-id"].encode())] if state else []
            await resumable.resume(self.edge, receive, send, last, owner, extra)
        except ForgeError as exc:
            await self._error(send, None, exc, False)

    def _legacy_protocol(
        self,
        request: Request,
        headers: dict[str, str],
        principal: Principal,
        server_id: str | None,
        version_header: str | None,
    ) -> tuple[Protocol, SessionState | None]:
        if request.method == "initialize":
            return Protocol(version=version_header or LEGACY_DEFAULT, era="legacy"), None
        token = headers.get("mcp-session-id")
        if token is None:
            # Sessionless legacy use (plain JSON-RPC over POST, as curl sends it) is allowed.
            return Protocol(version=version_header or LEGACY_DEFAULT, era="legacy"), None
        state = self.edge.sessions.open(token, principal.subject, _endpoint(server_id))
        return session_protocol(state), state

    def _open_session(
        self, principal: Principal, server_id: str | None, request: Request, result: bytes
    ) -> bytes:
        agreed = negotiated(request, result)
        token, _ = self.edge.sessions.new(
            principal.subject,
            agreed.version,
            agreed.capabilities,
            agreed.client_info,
            _endpoint(server_id),
        )
        return token.encode()

    async def _get(
        self,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        principal: Principal,
        server_id: str | None,
    ) -> None:
        """A legacy session's GET stream: its messages, and list changes of the catalog."""
        try:
            state = self.edge.sessions.open(
                headers["mcp-session-id"], principal.subject, _endpoint(server_id)
            )
        except SessionNotFoundError as exc:
            await self._error(send, None, exc, False)
            return
        extra = [(_SESSION_HEADER, headers["mcp-session-id"].encode())]
        await streams.serve(
            self.edge,
            receive,
            resumable.numbered(send, resumable.GET_STREAM_PREFIX),
            headers=extra,
            session_sid=state.sid,
            render=streams.legacy_notices,
        )

    async def _delete(
        self, send: Send, headers: dict[str, str], principal: Principal, server_id: str | None
    ) -> None:
        try:
            state = self.edge.sessions.open(
                headers["mcp-session-id"], principal.subject, _endpoint(server_id)
            )
        except SessionNotFoundError as exc:
            await self._error(send, None, exc, False)
            return
        try:
            await self.edge.sessions.revoke(self.edge.bus, state)
        except ForgeError as exc:  # JetStream could not store it: 503 + Retry-After, retry
            await self._error(send, None, exc, False)
            return
        await respond(send, 200, b"")

    async def _answer(
        self,
        send: Send,
        headers: dict[str, str],
        status: int,
        message: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        accept = headers.get("accept", "")
        if "text/event-stream" in accept and "application/json" not in accept:
            raw = [(b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"), *(extra or [])]
            body = resumable.one_event(message)
            await respond(send, status, body, raw, content_type=b"text/event-stream")
        else:
            await respond(send, status, message, extra)

    async def _error(
        self,
        send: Send,
        request_id: Any,
        exc: ForgeError,
        modern: bool,
        extra: list[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        error = ENCODER.encode(exc.to_object())
        status = answer_status(exc, modern)
        extra = [*(extra or []), *retry_after(exc)]
        await self._answer(
            send, headers or {}, status, jsonrpc.error_bytes(request_id, error), extra
        )


async def _polled(
    stream: CallStream, calling: Coroutine[Any, Any, bytes], poll_after: float
) -> asyncio.Future[bytes]:
    """The call in a task of its own, its stream closed for polling once it outlives
    `poll_after`; the task, done (cancelled when the client's leaving cancelled the call)."""
    work = asyncio.ensure_future(calling)
    stream.work = work
    try:
        done, _ = await asyncio.wait({work}, timeout=poll_after)
        if not done:
            await stream.poll()
        try:  # `await`, not asyncio.wait: 5 us less per call (issue 16); read by the caller
            await work
        except asyncio.CancelledError:
            if _cancelling():  # this request was cancelled, not only the work
                raise
        except Exception:  # work.exception() is answered by the caller
            pass
    finally:
        work.cancel()
        await stream.stop()
    return work


async def _inline(stream: CallStream, calling: Coroutine[Any, Any, bytes]) -> asyncio.Future[bytes]:
    """The call run in this request's own task (a task of its own cost ~9 us a call on uvloop,
    issue 16); its outcome as a done future, as `_polled` gives it.

    The client's leaving cancels the call: here the stream's watch cancels this task while the
    call runs, and this takes that cancel back, so that only a cancel of the request itself
    goes on up (as with a task of its own).
    """
    task = asyncio.current_task()
    assert task is not None
    outcome: asyncio.Future[bytes] = task.get_loop().create_future()
    stream.work = task
    try:
        try:
            outcome.set_result(await calling)
        except asyncio.CancelledError:
            if not stream.cancelled_work or task.uncancel() > 0:
                raise  # the request was cancelled, not only the call
            outcome.cancel()
            return outcome
        except Exception as exc:  # answered by the caller, as a task's exception would be
            outcome.set_exception(exc)
        finally:
            stream.work = None  # done: the client's leaving cancels nothing any more
        if stream.cancelled_work:  # the call swallowed the cancel: take it back all the same
            task.uncancel()
    finally:
        await stream.stop()
    return outcome


def _cancelling() -> bool:
    """Whether the running task was asked to stop (not merely something it awaited)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _endpoint(server_id: str | None) -> str:
    return sessions.endpoint("mcp", server_id)


def _owner(caller: Caller) -> resumable.Owner:
    return resumable.Owner(caller.principal.subject, _endpoint(caller.server_id), caller.session)


def session_protocol(state: SessionState) -> Protocol:
    """The protocol a sealed legacy session carries."""
    return Protocol(
        version=state.version,
        era="legacy",
        capabilities=state.capabilities,
        client_info=state.client_info,
        session_id=state.sid,
    )
