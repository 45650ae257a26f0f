"""Forge as an A2A server: `/a2a/{agent}/` speaks A2A (JSON-RPC binding, 1.0 and 0.3; HTTP+JSON,
1.0's under the same path (rest/a2a_rest.py) and 0.3's under its `v1/` (rest/a2a_rest03.py)) for
a registered agent, and `POST /a2a/{agent}/invoke` is ContextForge's invoke.

The edge authenticates (the same bearer tokens as /mcp), reads the JSON-RPC request within the
body limits, and forwards it to the a2a-bridge on `forge.a2a.<agent>.<op>`
(`forge.proto.agents.A2aRequestParams`): the bridge resolves the agent, checks visibility and
`a2a.read` / `a2a.invoke`, translates versions, tags task ids, runs the agent hooks and asks the
agent. A streamed answer's events arrive on `forge.stream.<request id>` and go out as
server-sent events as they come; a client that goes away cancels the request
(`forge.cancel.<request id>`). The edge never dials an agent.

HTTP statuses: 401 (with its challenge) when the token is missing or bad, 403 without the
permission, 404 for an agent the caller cannot see, as for one that does not exist, 413 for a
body over the limit; every other error is a JSON-RPC error in a 200. Forge's own codes that
A2A gives another meaning (-32001..-32009) are sent as -32603 with `data.forgeCode`.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Protocol

import msgspec
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from forge.core import rpc, subjects
from forge.core.errors import (
    A2A_RANGE,
    INTERNAL_ERROR,
    ForgeError,
    InvalidRequestError,
    ParseError,
    PluginViolationError,
)
from forge.edge import a2a_grpc_card, a2a_relay, inputs
from forge.edge.auth import guard
from forge.edge.rest import a2a_rest, a2a_rest03, a2a_servers
from forge.edge.state import Edge
from forge.proto.agents import A2aReply, A2aRequestParams
from forge.proto.envelope import Envelope, Principal

_ENC = msgspec.json.Encoder()


class Framing(Protocol):
    """How a binding frames the bridge's answers: an answer, one streamed event, a failure."""

    def answer(self, reply: A2aReply) -> tuple[int, Any]: ...

    def event(self, reply: A2aReply) -> bytes: ...

    def failure(self, exc: ForgeError) -> tuple[int, Any]: ...

    def failed(self, exc: ForgeError) -> bytes: ...


_ANY = msgspec.json.Decoder()
_REPLY = msgspec.json.Decoder(A2aReply)
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
_STREAMS = frozenset(
    {"SendStreamingMessage", "SubscribeToTask", "message/stream", "tasks/resubscribe"}
)
_SENDS = frozenset({"SendMessage", "message/send"})
_HTTP_STATUSES = frozenset({401, 403, 404, 408, 413})
STREAM_TIMEOUT_S = 600.0  # a streamed task (or a resubscription) may run this long


def _op(method: str) -> str:
    if method in _STREAMS:
        return "stream"
    return "send" if method in _SENDS else "task"


def _rpc_error(rid: Any, code: int, message: str, data: Any = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": rid, "error": error}


def _of_forge(rid: Any, exc: ForgeError) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON-RPC error) of a Forge error on the A2A surface."""
    status = exc.http_status if exc.http_status in _HTTP_STATUSES else 200
    if isinstance(exc, PluginViolationError):
        status = 200  # a guardrail's refusal is an answer to the request, as on /mcp
    code = int(exc.code)
    if code in A2A_RANGE:  # Forge's meaning, not A2A's: say so without the clash
        data = {"forgeCode": code}
        if exc.data is not None:
            data["detail"] = exc.data
        return status, _rpc_error(rid, INTERNAL_ERROR, exc.message, data)
    return status, _rpc_error(rid, code, exc.message, exc.data)


def _json(status: int, body: Any, exc: ForgeError | None = None) -> Response:
    headers = None
    if isinstance(exc, guard.ChallengeError):
        headers = {"WWW-Authenticate": exc.challenge}
    return Response(_ENC.encode(body), status, headers=headers, media_type="application/json")


class JsonRpc:
    """How the JSON-RPC binding frames answers: the request's id, JSON-RPC responses."""

    def __init__(self, rid: Any = None) -> None:
        self.rid = rid

    def answer(self, reply: A2aReply) -> tuple[int, Any]:
        return 200, _response(self.rid, reply)

    def event(self, reply: A2aReply) -> bytes:
        return _sse(_response(self.rid, reply))

    def failure(self, exc: ForgeError) -> tuple[int, Any]:
        return _of_forge(self.rid, exc)

    def failed(self, exc: ForgeError) -> bytes:
        return _sse(_of_forge(self.rid, exc)[1])


class A2aServer:
    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    def _envelope(
        self, principal: Principal, method: str, p: A2aRequestParams, ttl: float
    ) -> Envelope:
        return Envelope(
            id=uuid.uuid4().hex,
            method=f"a2a/{method}",
            params=msgspec.Raw(_ENC.encode(p)),
            principal=principal,
            deadline=time.time() + ttl,
        )

    def _subject(self, agent: str, op: str) -> str:
        return subjects.a2a(agent if _TOKEN.match(agent) else "_", op)

    def base_url(self, agent: str) -> str:
        return f"{self.edge.urls.base}/a2a/{agent}/"

    async def ask(self, principal: Principal, agent: str, op: str, p: A2aRequestParams) -> A2aReply:
        envelope = self._envelope(principal, p.method, p, self.edge.config.request_timeout_s)
        return _REPLY.decode(await rpc.call(self.edge.bus, self._subject(agent, op), envelope))

    # -- GET /a2a/{agent}/.well-known/agent-card.json

    async def card(self, request: Request) -> Response:
        agent = request.path_params["agent"]
        try:
            principal = await guard.rest_principal(self.edge, request, None)
            version = request.headers.get("a2a-version", "").strip()
            p = A2aRequestParams(
                agent=agent,
                method="agent-card",
                params={"version": "1.0" if version.startswith("1") else "0.3"},
                base_url=self.base_url(agent),
            )
            reply = await self.ask(principal, agent, "card", p)
        except ForgeError as exc:
            status = exc.http_status if exc.http_status in _HTTP_STATUSES else 502
            return _json(status, {"detail": exc.message}, exc)
        where = a2a_grpc_card.address(self.edge.config, self.edge.urls.base)  # the gRPC listener
        return _json(200, a2a_grpc_card.with_interface(reply.result, agent, where))

    # -- POST /a2a/{agent}/invoke (ContextForge)

    async def invoke(self, request: Request) -> Response:
        agent = request.path_params["agent"]
        try:
            principal = await guard.rest_principal(self.edge, request, None)
            body = await inputs.read_object(self.edge.config, request.scope, request.receive)
            p = A2aRequestParams(agent=agent, method="invoke", params=body)
            reply = await self.ask(principal, agent, "invoke", p)
        except ForgeError as exc:  # the caller's mistake (a body that is not an object): 4xx
            status = exc.http_status if exc.http_status < 500 else 502
            return _json(status, {"detail": exc.message}, exc)
        if reply.error is not None:
            return _json(502, {"detail": reply.error.get("message"), "error": reply.error})
        return _json(200, reply.result)

    # -- POST /a2a/{agent}/ (JSON-RPC)

    async def rpc(self, request: Request) -> Response:
        agent = request.path_params["agent"]
        rid: Any = None
        try:
            principal = await guard.rest_principal(self.edge, request, None)
            body = _decoded(
                await inputs.read_json(self.edge.config, request.scope, request.receive)
            )
            rid = body.get("id")
            refused = a2a_rest.unsupported_version(request)
            if refused is not None:
                return _json(200, _rpc_error(rid, a2a_rest.VERSION_NOT_SUPPORTED, refused))
            method, params = _request_of(body)
            base = self.base_url(agent)
            p = A2aRequestParams(agent=agent, method=method, params=params, base_url=base)
            op = _op(method)
            if op == "stream":
                return await self.stream(principal, agent, p, JsonRpc(rid))
            reply = await self.ask(principal, agent, op, p)
        except ForgeError as exc:
            status, error = _of_forge(rid, exc)
            return _json(status, error, exc)
        return _json(200, _response(rid, reply))

    async def stream(
        self, principal: Principal, agent: str, p: A2aRequestParams, frame: Framing
    ) -> Response:
        """A streamed request: its events as server-sent events, framed by `frame`."""
        envelope = self._envelope(principal, p.method, p, STREAM_TIMEOUT_S)
        events: asyncio.Queue[bytes] = asyncio.Queue()
        await self.edge.await_stream(envelope.id, lambda data, reply: events.put_nowait(data))
        call = asyncio.create_task(
            rpc.call(self.edge.bus, self._subject(agent, "stream"), envelope)
        )
        # The first event (or the bridge's answer, an error before any event) decides the
        # status: a 404 or 403 is an HTTP answer, not a stream.
        first = asyncio.create_task(events.get())
        await asyncio.wait({call, first}, return_when=asyncio.FIRST_COMPLETED)
        if not first.done() and call.done() and call.exception() is not None:
            first.cancel()
            self.edge.forget_stream(envelope.id)
            exc = call.exception()
            if isinstance(exc, ForgeError):
                status, error = frame.failure(exc)
                return _json(status, error, exc)
            raise exc  # type: ignore[misc]
        return StreamingResponse(
            self._events(envelope, frame, events, first, call),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache"},
        )

    async def _events(
        self,
        envelope: Envelope,
        frame: Framing,
        events: asyncio.Queue[bytes],
        first: asyncio.Task[bytes],
        call: asyncio.Task[bytes],
    ) -> AsyncIterator[bytes]:
        async with contextlib.aclosing(
            a2a_relay.relay(self.edge, envelope, events, first, call)
        ) as replies:
            try:
                async for reply in replies:
                    yield frame.event(reply)
            except ForgeError as exc:
                yield frame.failed(exc)

    def routes(self) -> list[BaseRoute]:
        out: list[BaseRoute] = []
        for prefix in ("", "/v1"):
            base = prefix + "/a2a/{agent}"
            out += [
                Route(base + "/.well-known/agent-card.json", self.card, methods=["GET"]),
                Route(base + "/.well-known/agent.json", self.card, methods=["GET"]),
                Route(base + "/invoke", self.invoke, methods=["POST"]),
                *a2a_rest.routes(self, base),
                *a2a_rest03.routes(self, base),
                Route(base + "/", self.rpc, methods=["POST"]),
                Route(base, self.rpc, methods=["POST"]),
            ]
        return out


def _decoded(raw: bytes) -> dict[str, Any]:
    try:
        body = _ANY.decode(raw)
    except msgspec.DecodeError:
        raise ParseError("the request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequestError("a JSON-RPC request must be an object (batches are not served)")
    return body


def _request_of(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A JSON-RPC 2.0 request's method and params (an object); -32600 otherwise."""
    method = body.get("method")
    if body.get("jsonrpc") != "2.0" or not isinstance(method, str) or not method:
        raise InvalidRequestError("not a JSON-RPC 2.0 request with a method")
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise InvalidRequestError("params must be an object")
    return method, params


def _response(rid: Any, reply: A2aReply) -> dict[str, Any]:
    if reply.error is not None:
        return {"jsonrpc": "2.0", "id": rid, "error": reply.error}
    return {"jsonrpc": "2.0", "id": rid, "result": reply.result}


def _sse(message: dict[str, Any]) -> bytes:
    return b"data: " + _ENC.encode(message) + b"\n\n"


def routes(edge: Edge) -> list[BaseRoute]:
    """`/a2a/{agent}/...` (both bindings), and virtual servers as agents (`/servers/{id}/a2a`)."""
    return [*A2aServer(edge).routes(), *a2a_servers.ServerAgent(edge).routes()]
