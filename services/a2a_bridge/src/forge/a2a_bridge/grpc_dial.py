"""A2A 1.0 over gRPC (`lf.a2a.v1.A2AService`): any request to an agent whose card offers only
the gRPC binding, through the SSRF guard.

Requests and answers keep 1.0's JSON form on Forge's side (the same dicts dial.py and wire.py
use): a request is parsed into the binding's protobuf message, an answer printed back
(ProtoJSON, the form 1.0's JSON-RPC binding carries). The address is resolved and every answer
checked here (forge.core.netguard); the channel dials the checked IP itself, with the agent's
host as authority and TLS name, so gRPC never resolves (decision 0010: checked at connect
time). Credentials go as metadata (`authorization`, the custom headers, lower-cased); the
deadline is the call's. A gRPC status becomes the agent's A2A error (`AgentRpcError`, by the
`ErrorInfo` reason a2a-sdk sends, else by the status) or a Forge error: unreachable -32001,
too large -32014, no answer in time -32011.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

import grpc
import grpc.aio
from a2a.types import a2a_pb2
from a2a.utils.errors import A2A_REASON_TO_ERROR, JSON_RPC_ERROR_CODE_MAP
from google.protobuf import empty_pb2, json_format
from google.protobuf.message import DecodeError, Message
from google.rpc import error_details_pb2, status_pb2

from forge.a2a_bridge.agent_error import AgentRpcError
from forge.a2a_bridge.credentials import Access
from forge.core import tracing
from forge.core.bus import TRACEPARENT
from forge.core.errors import (
    INVALID_PARAMS,
    A2aCode,
    ForgeError,
    ResultTooLargeError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from forge.core.netguard import NetGuard
from forge.proto.agents import Agent

SERVICE = "lf.a2a.v1.A2AService"
MAX_CHANNELS = 256
# method -> (request type, response type, streamed)
METHODS: dict[str, tuple[type[Message], type[Message], bool]] = {
    "SendMessage": (a2a_pb2.SendMessageRequest, a2a_pb2.SendMessageResponse, False),
    "SendStreamingMessage": (a2a_pb2.SendMessageRequest, a2a_pb2.StreamResponse, True),
    "GetTask": (a2a_pb2.GetTaskRequest, a2a_pb2.Task, False),
    "ListTasks": (a2a_pb2.ListTasksRequest, a2a_pb2.ListTasksResponse, False),
    "CancelTask": (a2a_pb2.CancelTaskRequest, a2a_pb2.Task, False),
    "SubscribeToTask": (a2a_pb2.SubscribeToTaskRequest, a2a_pb2.StreamResponse, True),
    "CreateTaskPushNotificationConfig": (
        a2a_pb2.TaskPushNotificationConfig,
        a2a_pb2.TaskPushNotificationConfig,
        False,
    ),
    "GetTaskPushNotificationConfig": (
        a2a_pb2.GetTaskPushNotificationConfigRequest,
        a2a_pb2.TaskPushNotificationConfig,
        False,
    ),
    "ListTaskPushNotificationConfigs": (
        a2a_pb2.ListTaskPushNotificationConfigsRequest,
        a2a_pb2.ListTaskPushNotificationConfigsResponse,
        False,
    ),
    "DeleteTaskPushNotificationConfig": (
        a2a_pb2.DeleteTaskPushNotificationConfigRequest,
        empty_pb2.Empty,
        False,
    ),
    "GetExtendedAgentCard": (a2a_pb2.GetExtendedAgentCardRequest, a2a_pb2.AgentCard, False),
}
_DETAILS_KEY = "grpc-status-details-bin"
_REASON_CODES: dict[str, int] = {
    reason: JSON_RPC_ERROR_CODE_MAP[cls]
    for reason, cls in A2A_REASON_TO_ERROR.items()
    if cls in JSON_RPC_ERROR_CODE_MAP
}


def target_of(url: str) -> tuple[str, int, bool]:
    """(host, port, TLS) of a gRPC interface's URL: `host:port` (plaintext, as a2a-sdk's
    channel factory dials it), `grpc://` / `http://` (plaintext), `grpcs://` / `https://`."""
    parts = urlsplit(url if "://" in url else f"grpc://{url}")
    tls = parts.scheme in ("grpcs", "https")
    if parts.scheme not in ("grpc", "grpcs", "http", "https") or not parts.hostname:
        raise UpstreamUnavailableError(f"not a gRPC address: {url!r}")
    try:
        port = parts.port or (443 if tls else 80)
    except ValueError:
        raise UpstreamUnavailableError(f"bad port in {url!r}") from None
    return parts.hostname, port, tls


def tenant_of(agent: Agent) -> str:
    """The tenant the agent's card names for its gRPC interface (A2A 1.0 addresses an agent
    behind a shared gRPC endpoint by each request's `tenant`); empty when it names none."""
    for entry in agent.card.get("supportedInterfaces") or ():
        if (
            isinstance(entry, dict)
            and str(entry.get("protocolBinding", "")).upper() == "GRPC"
            and entry.get("url") == agent.url
            and isinstance(entry.get("tenant"), str)
        ):
            return str(entry["tenant"])
    return ""


def metadata_of(headers: dict[str, str]) -> list[tuple[str, str]]:
    """HTTP headers (credentials, traceparent) as gRPC metadata: lower-cased keys; the ones
    gRPC owns (content-type, te, ...) left out."""
    skip = {"content-type", "accept", "te", "host", "user-agent", "connection"}
    out = [(k.lower(), v) for k, v in headers.items() if k.lower() not in skip]
    out.append(("a2a-version", "1.0"))
    return out


def _code_of(exc: grpc.aio.AioRpcError) -> object:
    """The A2A code of the agent's status: its ErrorInfo reason when a2a-sdk sent one, else the
    status name (serving.code_of reads it per method)."""
    for key, value in exc.trailing_metadata() or ():
        if key == _DETAILS_KEY and isinstance(value, bytes):
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except DecodeError:
                break
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info) and info.reason in _REASON_CODES:
                    return _REASON_CODES[info.reason]
    return exc.code().name


class GrpcDialer:
    """gRPC channels to agents, one per checked address, host and TLS (reused across calls)."""

    def __init__(self, guard: NetGuard, *, connect_timeout_s: float, max_bytes: int) -> None:
        self.guard = guard
        self.connect_timeout_s = connect_timeout_s
        self.max_bytes = max_bytes
        self._channels: dict[tuple[str, int, str, bool], grpc.aio.Channel] = {}

    async def close(self) -> None:
        channels, self._channels = list(self._channels.values()), {}
        for channel in channels:
            await channel.close()

    async def _channel(self, agent: Agent, url: str, deadline: float) -> grpc.aio.Channel:
        host, port, tls = target_of(url)
        left = min(self.connect_timeout_s, deadline - time.time())
        try:
            async with asyncio.timeout(left):
                addresses = await self.guard.addresses(host, port)
        except TimeoutError:
            raise UpstreamTimeoutError(f"agent {agent.name!r}: {host!r} did not resolve") from None
        address = addresses[0]
        key = (address, port, host, tls)
        channel = self._channels.get(key)
        if channel is not None:
            return channel
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        # An IP target: gRPC's resolver is never asked, so it cannot dial another address.
        target = f"ipv4:{ip}:{port}" if ip.version == 4 else f"ipv6:[{ip}]:{port}"
        options: list[tuple[str, Any]] = [
            ("grpc.default_authority", host if port in (80, 443) else f"{host}:{port}"),
            ("grpc.enable_http_proxy", 0),  # no environment proxy: the checked IP is dialled
            ("grpc.max_receive_message_length", self.max_bytes),
            ("grpc.max_send_message_length", self.max_bytes),
        ]
        if tls:
            options.append(("grpc.ssl_target_name_override", host))
            channel = grpc.aio.secure_channel(target, grpc.ssl_channel_credentials(), options)
        else:
            channel = grpc.aio.insecure_channel(target, options)
        if len(self._channels) >= MAX_CHANNELS:
            oldest = next(iter(self._channels))
            await self._channels.pop(oldest).close()
        self._channels[key] = channel
        return channel

    def _request(self, agent: Agent, method: str, params: dict[str, Any]) -> Message:
        kinds = METHODS.get(method)
        if kinds is None:
            raise AgentRpcError(
                A2aCode.UNSUPPORTED_OPERATION, f"agent {agent.name!r} does not support {method}"
            )
        request = kinds[0]()
        try:
            json_format.ParseDict(params, request, ignore_unknown_fields=True)
        except json_format.ParseError as exc:
            raise AgentRpcError(INVALID_PARAMS, f"{method}: {exc}") from None
        tenant = tenant_of(agent)
        if tenant and "tenant" in request.DESCRIPTOR.fields_by_name:
            setattr(request, "tenant", tenant)  # noqa: B010 - not every request has one
        return request

    async def _metadata(self, access: Access) -> list[tuple[str, str]]:
        headers = dict(access.headers)
        if access.tokens is not None:
            headers["Authorization"] = await access.tokens.header()
        if tracing.enabled() and (trace := TRACEPARENT.get()) is not None:
            headers["traceparent"] = trace
        return metadata_of(headers)

    def _check(self, agent: Agent, access: Access) -> None:
        if "?" in access.url:  # a query-parameter credential: gRPC has no query
            raise UpstreamUnavailableError(
                f"agent {agent.name!r} is reached over gRPC, which cannot carry a credential "
                "in a URL query parameter"
            )

    async def request(
        self, agent: Agent, access: Access, method: str, params: dict[str, Any], deadline: float
    ) -> Any:
        """One unary request: its answer in 1.0's JSON form."""
        self._check(agent, access)
        request = self._request(agent, method, params)
        kinds = METHODS[method]
        if kinds[2]:
            raise AgentRpcError(A2aCode.UNSUPPORTED_OPERATION, f"{method} is streamed")
        with _traced(method):
            for retry in (False, True):
                metadata = await self._metadata(access)
                left = deadline - time.time()
                if left <= 0:
                    raise UpstreamTimeoutError(
                        f"agent {agent.name!r} was not asked: no time was left"
                    )
                channel = await self._channel(agent, access.url, deadline)
                call = channel.unary_unary(
                    f"/{SERVICE}/{method}",
                    request_serializer=type(request).SerializeToString,
                    response_deserializer=kinds[1].FromString,
                )
                try:
                    answer = await call(request, timeout=left, metadata=metadata)
                except grpc.aio.AioRpcError as exc:
                    if self._refreshed(exc, access, metadata, retry):
                        continue
                    raise _error(agent, exc, self.max_bytes) from None
                return json_format.MessageToDict(answer)
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def stream(
        self,
        agent: Agent,
        access: Access,
        method: str,
        params: dict[str, Any],
        deadline: float,
        on_event: Callable[[Any], Awaitable[None]],
    ) -> None:
        """A server-streamed request: each event in 1.0's JSON form told to `on_event` as it
        arrives. A unary method asked for a stream answers its one event."""
        self._check(agent, access)
        request = self._request(agent, method, params)
        kinds = METHODS[method]
        if not kinds[2]:
            await on_event(await self.request(agent, access, method, params, deadline))
            return
        with _traced(method):
            metadata = await self._metadata(access)
            left = deadline - time.time()
            if left <= 0:
                raise UpstreamTimeoutError(f"agent {agent.name!r} was not asked: no time was left")
            channel = await self._channel(agent, access.url, deadline)
            call = channel.unary_stream(
                f"/{SERVICE}/{method}",
                request_serializer=type(request).SerializeToString,
                response_deserializer=kinds[1].FromString,
            )
            size = 0
            try:
                async with asyncio.timeout(left):
                    events: AsyncIterator[Message] = call(
                        request, timeout=left, metadata=metadata
                    ).__aiter__()
                    async for event in events:
                        size += event.ByteSize()
                        if size > self.max_bytes:
                            raise ResultTooLargeError(
                                f"agent {agent.name!r} streamed more than {self.max_bytes} bytes",
                                {"limit": self.max_bytes},
                            )
                        await on_event(json_format.MessageToDict(event))
            except TimeoutError:
                raise UpstreamTimeoutError(f"agent {agent.name!r} did not answer in time") from None
            except grpc.aio.AioRpcError as exc:
                raise _error(agent, exc, self.max_bytes) from None

    def _refreshed(
        self,
        exc: grpc.aio.AioRpcError,
        access: Access,
        metadata: list[tuple[str, str]],
        retry: bool,
    ) -> bool:
        """An OAuth token the agent refused (UNAUTHENTICATED): dropped, and asked once more."""
        if retry or access.tokens is None or exc.code() != grpc.StatusCode.UNAUTHENTICATED:
            return False
        sent = dict(metadata).get("authorization")
        if sent is not None:
            access.tokens.refused(sent)
        return True


@contextlib.contextmanager
def _traced(method: str) -> Iterator[None]:
    """A CLIENT span `lf.a2a.v1.A2AService/<method>` (its context goes to the agent in
    `traceparent` metadata), failed with Forge's code when the call fails."""
    if not tracing.enabled():
        yield
        return
    attributes = {"rpc.system": "grpc", "rpc.service": SERVICE, "rpc.method": method}
    with tracing.span(f"{SERVICE}/{method}", tracing.CLIENT, attributes):
        try:
            yield
        except ForgeError as exc:
            tracing.failed(exc.code, exc.message)
            raise


def _error(agent: Agent, exc: grpc.aio.AioRpcError, limit: int) -> Exception:
    """A failed call as the agent's A2A error or Forge's own."""
    code = exc.code()
    name = repr(agent.name)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return UpstreamTimeoutError(f"agent {name} did not answer in time")
    if code == grpc.StatusCode.UNAVAILABLE:
        return UpstreamUnavailableError(f"agent {name} is unreachable (gRPC UNAVAILABLE)")
    if code == grpc.StatusCode.RESOURCE_EXHAUSTED and "message larger" in (exc.details() or ""):
        return ResultTooLargeError(
            f"agent {name} answered more than {limit} bytes", {"limit": limit}
        )
    a2a = _code_of(exc)
    if isinstance(a2a, str) and code in (
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
    ):
        return UpstreamUnavailableError(
            f"agent {name} refused Forge's credentials (gRPC {code.name})", {"status": code.name}
        )
    return AgentRpcError(a2a, exc.details() or code.name)
