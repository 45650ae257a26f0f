"""Forge as an A2A server over A2A 1.0's gRPC binding (`lf.a2a.v1.A2AService`), beside
`/a2a/{agent}/` (rest/a2a_server.py), when `FORGE_EDGE_A2A_GRPC_PORT` is set.

Each call names its agent (id, slug or name) in the request's `tenant` field, as A2A 1.0
addresses an agent behind a shared gRPC endpoint (Forge's card lists this interface with the
agent as its tenant), or else in the `x-forge-agent` metadata. The `authorization` metadata is
checked as a bearer token is on HTTP (after the `http_pre_request` and `http_auth_resolve_user`
plugin hooks, as an HTTP request's); the request, read into 1.0's JSON form, goes to the
a2a-bridge on `forge.a2a.<agent>.<op>` exactly as the JSON-RPC binding's does, and the answer
comes back as the method's message; a streamed answer's events are relayed as they arrive. A
missing or bad token is UNAUTHENTICATED, a missing permission PERMISSION_DENIED, an agent the
caller cannot see NOT_FOUND (as one that does not exist); an agent's A2A error is the status
a2a-sdk gives it, with its `ErrorInfo` reason. Messages over `FORGE_EDGE_MAX_BODY_BYTES` are
refused by gRPC itself (RESOURCE_EXHAUSTED).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, NoReturn, TypeVar

import grpc
import grpc.aio
import msgspec
from a2a.types import a2a_pb2, a2a_pb2_grpc
from a2a.utils.errors import A2A_ERROR_REASONS, JSON_RPC_ERROR_CODE_MAP
from google.protobuf import any_pb2, empty_pb2, json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from forge.core import rpc, subjects
from forge.core.config import ConfigError
from forge.core.errors import ForgeError
from forge.edge import a2a_relay
from forge.edge.auth import guard
from forge.edge.state import Edge
from forge.proto.agents import A2aReply, A2aRequestParams
from forge.proto.envelope import Envelope, Principal

log = logging.getLogger("forge.edge.a2a_grpc")
_M = TypeVar("_M", bound=Message)
SERVICE = "lf.a2a.v1.A2AService"
AGENT_METADATA = "x-forge-agent"
STREAM_TIMEOUT_S = 600.0  # as /a2a/{agent}/: a streamed task may run this long
_REPLY = msgspec.json.Decoder(A2aReply)
_ENC = msgspec.json.Encoder()
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
# The gRPC status of an A2A error code, and its ErrorInfo reason (a2a-sdk's own mapping).
_A2A_STATUS: dict[int, tuple[grpc.StatusCode, str]] = {}
for _cls, _code in JSON_RPC_ERROR_CODE_MAP.items():
    _name = _cls.__name__
    _status = grpc.StatusCode.INTERNAL
    if _name in ("TaskNotFoundError", "MethodNotFoundError"):
        _status = grpc.StatusCode.NOT_FOUND
    elif _name in ("InvalidParamsError", "InvalidRequestError", "ContentTypeNotSupportedError"):
        _status = grpc.StatusCode.INVALID_ARGUMENT
    elif _name.endswith(("NotCancelableError", "NotSupportedError", "NotConfiguredError")):
        _status = grpc.StatusCode.FAILED_PRECONDITION
    elif _name in ("UnsupportedOperationError", "ExtensionSupportRequiredError"):
        _status = grpc.StatusCode.FAILED_PRECONDITION
    _A2A_STATUS[_code] = (_status, A2A_ERROR_REASONS.get(_cls, "UNKNOWN_ERROR"))
# Forge's errors by HTTP status, as the gRPC status a client reads.
_HTTP_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    408: grpc.StatusCode.DEADLINE_EXCEEDED,
    413: grpc.StatusCode.RESOURCE_EXHAUSTED,
    422: grpc.StatusCode.INVALID_ARGUMENT,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    502: grpc.StatusCode.UNAVAILABLE,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
# The unary methods: request type, answer type.
_UNARY: dict[str, type[Message]] = {
    "SendMessage": a2a_pb2.SendMessageResponse,
    "GetTask": a2a_pb2.Task,
    "ListTasks": a2a_pb2.ListTasksResponse,
    "CancelTask": a2a_pb2.Task,
    "CreateTaskPushNotificationConfig": a2a_pb2.TaskPushNotificationConfig,
    "GetTaskPushNotificationConfig": a2a_pb2.TaskPushNotificationConfig,
    "ListTaskPushNotificationConfigs": a2a_pb2.ListTaskPushNotificationConfigsResponse,
    "DeleteTaskPushNotificationConfig": empty_pb2.Empty,
    "GetExtendedAgentCard": a2a_pb2.AgentCard,
}


def _op(method: str) -> str:
    if method in ("SendStreamingMessage", "SubscribeToTask"):
        return "stream"
    return "send" if method == "SendMessage" else "task"


async def _abort(context: grpc.aio.ServicerContext[Any, Any], exc: ForgeError) -> NoReturn:
    code = _HTTP_STATUS.get(exc.http_status, grpc.StatusCode.INTERNAL)
    await context.abort(code, exc.message)
    raise AssertionError("abort raises")  # pragma: no cover


async def _a2a_abort(
    context: grpc.aio.ServicerContext[Any, Any], error: dict[str, Any]
) -> NoReturn:
    """An A2A error `{code, message}` as a2a-sdk's servers send it: the status, and a
    `google.rpc.Status` with the `ErrorInfo` reason in `grpc-status-details-bin`."""
    code = error.get("code")
    message = str(error.get("message") or "error")
    status, reason = _A2A_STATUS.get(
        code if isinstance(code, int) else 0, (grpc.StatusCode.INTERNAL, "INTERNAL_ERROR")
    )
    rich = status_pb2.Status(code=status.value[0], message=message)
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="a2a-protocol.org"))
    rich.details.append(detail)
    context.set_trailing_metadata((("grpc-status-details-bin", rich.SerializeToString()),))
    await context.abort(status, message)
    raise AssertionError("abort raises")  # pragma: no cover


async def _message(context: grpc.aio.ServicerContext[Any, Any], result: Any, message: _M) -> _M:
    """The bridge's answer (1.0's JSON form) as the method's message; one that does not fit it
    is INTERNAL with an error id in the log (the text never reaches the client)."""
    try:
        json_format.ParseDict(result or {}, message, ignore_unknown_fields=True)
    except json_format.ParseError:
        error_id = uuid.uuid4().hex[:12]
        log.warning(
            "an A2A answer does not fit the gRPC binding",
            extra={"error_id": error_id, "type": type(message).__name__},
        )
        await context.abort(
            grpc.StatusCode.INTERNAL, f"the answer does not fit the gRPC binding (id {error_id})"
        )
    return message


class A2aGrpc(a2a_pb2_grpc.A2AServiceServicer):
    """The A2A service's methods, each forwarded to the a2a-bridge."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    async def _principal(
        self, method: str, context: grpc.aio.ServicerContext[Any, Any]
    ) -> tuple[Principal, dict[str, str]]:
        """Who calls, and the call's (text) metadata as the `http_pre_request` plugins left it.

        The edge's HTTP plugin hooks apply as to an HTTP request to `/a2a/{agent}/`: the call
        is the HTTP/2 POST gRPC makes it, to `/lf.a2a.v1.A2AService/<method>`, its metadata
        the headers (decision 0029)."""
        metadata = {
            k.lower(): v for k, v in context.invocation_metadata() or () if isinstance(v, str)
        }
        peer = context.peer() or ""
        client_ip = peer.split(":", 1)[1].rsplit(":", 1)[0].strip("[]") if ":" in peer else None
        scope = {"method": "POST", "path": f"/{SERVICE}/{method}", "client": (client_ip, 0)}
        hooks = self.edge.hooks
        try:
            if "http_pre_request" in hooks.served:  # may block, or change the metadata
                request = {**scope, "headers": metadata, "client": client_ip}
                changed = await hooks.call("http_pre_request", request, method="POST")
                headers = changed.get("headers") if isinstance(changed, dict) else None
                if changed is not request and isinstance(headers, dict):
                    metadata = {str(k).lower(): v for k, v in headers.items() if isinstance(v, str)}
            principal = None
            if hooks.resolves_users:  # a plugin vouches for the caller (a trusted proxy's word)
                principal = await guard.plugin_user(self.edge, scope, metadata)
            if principal is None:
                principal = await self.edge.auth.authenticate(
                    metadata.get("authorization"),
                    client_ip=client_ip,
                    resource=self.edge.urls.resource(None),
                    server_id=None,
                )
        except ForgeError as exc:  # 401 UNAUTHENTICATED, a plugin's block 403 PERMISSION_DENIED
            await _abort(context, exc)
        return principal, metadata

    @staticmethod
    def _agent(request: Message, metadata: dict[str, str]) -> str:
        agent = getattr(request, "tenant", "")
        if not agent:
            agent = metadata.get(AGENT_METADATA, "")
        return str(agent)

    async def _params(
        self, method: str, request: Message, context: grpc.aio.ServicerContext[Any, Any]
    ) -> tuple[Principal, str, A2aRequestParams]:
        principal, metadata = await self._principal(method, context)
        agent = self._agent(request, metadata)
        if not agent:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"name the agent in the request's tenant or the {AGENT_METADATA} metadata",
            )
        params = json_format.MessageToDict(request)
        params.pop("tenant", None)
        base = f"{self.edge.urls.base}/a2a/{agent}/"
        return principal, agent, A2aRequestParams(agent, method, params, base_url=base)

    def _envelope(self, principal: Principal, p: A2aRequestParams, ttl: float) -> Envelope:
        return Envelope(
            id=uuid.uuid4().hex,
            method=f"a2a/{p.method}",
            params=msgspec.Raw(_ENC.encode(p)),
            principal=principal,
            deadline=time.time() + ttl,
        )

    @staticmethod
    def _subject(agent: str, op: str) -> str:
        return subjects.a2a(agent if _TOKEN.match(agent) else "_", op)

    async def _unary(
        self, method: str, request: Message, context: grpc.aio.ServicerContext[Any, Any]
    ) -> Message:
        principal, agent, p = await self._params(method, request, context)
        ttl = self.edge.config.request_timeout_s
        remaining = context.time_remaining()
        if remaining is not None:
            ttl = min(ttl, remaining)
        envelope = self._envelope(principal, p, ttl)
        try:
            raw = await rpc.call(self.edge.bus, self._subject(agent, _op(method)), envelope)
            reply = _REPLY.decode(raw)
        except ForgeError as exc:
            await _abort(context, exc)
        if reply.error is not None:
            await _a2a_abort(context, reply.error)
        return await _message(context, reply.result, _UNARY[method]())

    async def _stream(
        self, method: str, request: Message, context: grpc.aio.ServicerContext[Any, Any]
    ) -> AsyncIterator[a2a_pb2.StreamResponse]:
        principal, agent, p = await self._params(method, request, context)
        remaining = context.time_remaining()
        ttl = STREAM_TIMEOUT_S if remaining is None else min(STREAM_TIMEOUT_S, remaining)
        envelope = self._envelope(principal, p, ttl)
        events: asyncio.Queue[bytes] = asyncio.Queue()
        await self.edge.await_stream(envelope.id, lambda data, reply: events.put_nowait(data))
        subject = self._subject(agent, "stream")
        call = asyncio.create_task(rpc.call(self.edge.bus, subject, envelope))
        first = asyncio.create_task(events.get())
        replies = a2a_relay.relay(self.edge, envelope, events, first, call)
        async with contextlib.aclosing(replies):
            try:
                async for reply in replies:
                    yield await self._event(context, reply)
            except ForgeError as exc:
                await _abort(context, exc)

    @staticmethod
    async def _event(
        context: grpc.aio.ServicerContext[Any, Any], reply: A2aReply
    ) -> a2a_pb2.StreamResponse:
        if reply.error is not None:
            await _a2a_abort(context, reply.error)
        return await _message(context, reply.result, a2a_pb2.StreamResponse())

    # -- the service's methods (names as the generated servicer has them)

    async def SendMessage(self, request: Message, context: Any) -> Message:
        return await self._unary("SendMessage", request, context)

    async def GetTask(self, request: Message, context: Any) -> Message:
        return await self._unary("GetTask", request, context)

    async def ListTasks(self, request: Message, context: Any) -> Message:
        return await self._unary("ListTasks", request, context)

    async def CancelTask(self, request: Message, context: Any) -> Message:
        return await self._unary("CancelTask", request, context)

    async def CreateTaskPushNotificationConfig(self, request: Message, context: Any) -> Message:
        return await self._unary("CreateTaskPushNotificationConfig", request, context)

    async def GetTaskPushNotificationConfig(self, request: Message, context: Any) -> Message:
        return await self._unary("GetTaskPushNotificationConfig", request, context)

    async def ListTaskPushNotificationConfigs(self, request: Message, context: Any) -> Message:
        return await self._unary("ListTaskPushNotificationConfigs", request, context)

    async def DeleteTaskPushNotificationConfig(self, request: Message, context: Any) -> Message:
        return await self._unary("DeleteTaskPushNotificationConfig", request, context)

    async def GetExtendedAgentCard(self, request: Message, context: Any) -> Message:
        return await self._unary("GetExtendedAgentCard", request, context)

    async def SendStreamingMessage(
        self, request: Message, context: Any
    ) -> AsyncIterator[a2a_pb2.StreamResponse]:
        # An async generator function itself: grpc.aio serves those as streams.
        async for event in self._stream("SendStreamingMessage", request, context):
            yield event

    async def SubscribeToTask(
        self, request: Message, context: Any
    ) -> AsyncIterator[a2a_pb2.StreamResponse]:
        # An async generator function itself: grpc.aio serves those as streams.
        async for event in self._stream("SubscribeToTask", request, context):
            yield event


async def start(edge: Edge) -> grpc.aio.Server:
    """The gRPC listener on FORGE_EDGE_HOST:FORGE_EDGE_A2A_GRPC_PORT, started."""
    config = edge.config
    server = grpc.aio.server(
        # Past FORGE_MAX_INFLIGHT calls, one more is refused at once (RESOURCE_EXHAUSTED),
        # never queued (decision 0027); the MCP POSTs' bound is the edge's own, apart.
        maximum_concurrent_rpcs=config.max_inflight,
        options=[
            ("grpc.max_receive_message_length", config.max_body_bytes),
            ("grpc.so_reuseport", 0),  # a port another process holds is an error, not shared
        ],
    )
    a2a_pb2_grpc.add_A2AServiceServicer_to_server(A2aGrpc(edge), server)  # type: ignore[no-untyped-call]
    host = f"[{config.host}]" if ":" in config.host else config.host
    try:
        server.add_insecure_port(f"{host}:{config.a2a_grpc_port}")
    except RuntimeError:  # grpc's way of saying the port could not be bound
        raise ConfigError(
            f"FORGE_EDGE_A2A_GRPC_PORT: cannot listen on {host}:{config.a2a_grpc_port}"
        ) from None
    await server.start()
    log.info("edge serving A2A over gRPC", extra={"address": f"{host}:{config.a2a_grpc_port}"})
    return server
