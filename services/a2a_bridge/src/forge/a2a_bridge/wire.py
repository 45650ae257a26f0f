"""Sending one message to an agent, in its A2A version and binding, through the SSRF guard.

A2A 1.0: JSON-RPC `SendMessage` (header `A2A-Version: 1.0`) or HTTP+JSON `POST
{url}/message:send`; A2A 0.3: JSON-RPC `message/send` with `configuration.blocking`. Streamed:
`SendStreamingMessage`, `message:stream`, `message/stream`, answered as server-sent events, each
told to a callback as it arrives. The answer is read with a size bound and turned into a
`parts.Answer`, an `AgentRpcError` (the agent's own JSON-RPC or HTTP+JSON error), or a Forge
error: unreachable (-32001), not an A2A answer (-32003), too large (-32014), no answer before
the deadline (-32011).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeGuard
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import httpx2
import msgspec

from forge.a2a_bridge.agent_error import AgentRpcError as AgentRpcError
from forge.a2a_bridge.credentials import Access
from forge.a2a_bridge.grpc_dial import GrpcDialer
from forge.a2a_bridge.parts import Answer, Collector, NotA2AError, read_result
from forge.core import aiohttp_dialer, httpx_dialer, tracing
from forge.core.bus import TRACEPARENT
from forge.core.errors import (
    ForgeError,
    ResultTooLargeError,
    UpstreamBadResponseError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from forge.core.netguard import NetGuard
from forge.proto.agents import Agent

_DECODER = msgspec.json.Decoder()
_ENC = msgspec.json.Encoder()


@dataclass(frozen=True)
class Outgoing:
    """The message a tool call sends: its text, optional data, and the ids that continue."""

    text: str
    data: Any = None
    context_id: str | None = None
    task_id: str | None = None


def message_of(agent: Agent, sent: Outgoing) -> dict[str, Any]:
    """The A2A Message in the agent's version."""
    v1 = agent.protocol_version != "0.3"
    text = {"text": sent.text}
    parts: list[dict[str, Any]] = [text if v1 else {"kind": "text", **text}]
    if sent.data is not None:
        parts.append({"data": sent.data} if v1 else {"kind": "data", "data": sent.data})
    message: dict[str, Any] = {"messageId": uuid.uuid4().hex, "parts": parts}
    message["role"] = "ROLE_USER" if v1 else "user"
    if not v1:
        message["kind"] = "message"
    if sent.context_id is not None:
        message["contextId"] = sent.context_id
    if sent.task_id is not None:
        message["taskId"] = sent.task_id
    return message


def under(url: str, path: str, query: str = "") -> str:
    """`path` below the agent's URL (an HTTP+JSON operation), with the URL's own query (an API
    key credential, `query_param`) kept after it and `query` (encoded) added."""
    parts = urlsplit(url)
    joined = "&".join(q for q in (parts.query, query) if q)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{path}", query=joined))


def request_of(
    agent: Agent, url: str, sent: Outgoing, streaming: bool = False
) -> tuple[str, dict[str, str], bytes]:
    """(URL, headers, body) of the agent's send (or streaming send) request."""
    message = message_of(agent, sent)
    if agent.protocol_version == "0.3":
        if agent.binding != "jsonrpc":
            raise UpstreamUnavailableError(
                f"agent {agent.name!r} speaks A2A 0.3 over {agent.binding}: the a2a-bridge "
                "reaches 0.3 agents over JSON-RPC only"
            )
        params = {"message": message, "configuration": {"blocking": True}}
        method = "message/stream" if streaming else "message/send"
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        return url, {}, _ENC.encode(body)
    headers = {"A2A-Version": "1.0"}
    if agent.binding == "http+json":
        path = "message:stream" if streaming else "message:send"
        return under(url, path), headers, _ENC.encode({"message": message})
    if agent.binding != "jsonrpc":
        raise UpstreamUnavailableError(
            f"agent {agent.name!r} uses the {agent.binding} binding, which the a2a-bridge does "
            "not speak yet"
        )
    method = "SendStreamingMessage" if streaming else "SendMessage"
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"message": message}}
    return url, headers, _ENC.encode(body)


class AgentClient:
    """Guarded HTTP clients for every agent (pooled connections, no environment proxy).

    A request answered once (the MCP tool's blocking send, and every non-streamed request of
    Forge's A2A endpoint: `exchange`) to a plain-http agent goes by aiohttp: httpx costs about
    0.5 ms a request more here (measured against the echo agent), on paths whose whole budget
    is 2 ms (`make bench`, the A2A phase). Streams, TLS agents and token endpoints keep httpx
    (`http`).
    """

    def __init__(self, guard: NetGuard, *, connect_timeout_s: float, max_bytes: int) -> None:
        self.connect_timeout_s = connect_timeout_s
        self.max_bytes = max_bytes
        self.http = httpx_dialer.client(guard, follow_redirects=False)
        self._dialer = aiohttp_dialer.Dialer(guard, connect_timeout_s)
        self._fast: aiohttp.ClientSession | None = None
        # Agents whose card offers only A2A 1.0's gRPC binding.
        self.grpc = GrpcDialer(guard, connect_timeout_s=connect_timeout_s, max_bytes=max_bytes)

    def _session(self) -> aiohttp.ClientSession:
        # Made on first use: an aiohttp session belongs to the running loop.
        if self._fast is None:
            self._fast = self._dialer.client()
        return self._fast

    async def close(self) -> None:
        await self.http.aclose()
        await self.grpc.close()
        if self._fast is not None:
            await self._fast.close()

    async def send(
        self,
        agent: Agent,
        access: Access,
        sent: Outgoing,
        deadline: float,
        on_event: Callable[[str], Awaitable[None]] | None = None,
    ) -> Answer:
        """Send and wait for the answer; with `on_event`, streamed, each event told to it.

        An OAuth token the agent refuses (401) is replaced once, and the message sent again.
        """
        if agent.binding == "grpc" and agent.protocol_version != "0.3":  # else refused below
            return await self._grpc_send(agent, access, sent, deadline, on_event)
        url, headers, body = request_of(agent, access.url, sent, on_event is not None)
        headers = {**access.headers, **headers, "Content-Type": "application/json"}
        headers["Accept"] = "text/event-stream" if on_event is not None else "application/json"
        left = deadline - time.time()
        if left <= 0:
            raise UpstreamTimeoutError(f"agent {agent.name!r} was not asked: no time was left")
        timeout = httpx2.Timeout(left, connect=min(self.connect_timeout_s, left))
        try:
            async with asyncio.timeout(left):
                for retry in (False, True):
                    if access.tokens is not None:
                        headers["Authorization"] = await access.tokens.header()
                    answered = await self._post(url, headers, body, timeout, agent, on_event)
                    if isinstance(answered, Answer):
                        return answered
                    status, kind, data = answered
                    if status != 401 or access.tokens is None or retry:
                        break
                    access.tokens.refused(headers["Authorization"])
        except (TimeoutError, httpx2.TimeoutException):
            raise UpstreamTimeoutError(f"agent {agent.name!r} did not answer in time") from None
        except (httpx2.TransportError, aiohttp.ClientError) as exc:
            refused = (
                httpx_dialer.refusal(exc)
                if isinstance(exc, httpx2.TransportError)
                else aiohttp_dialer.refusal(exc)
            )
            if refused is not None:
                raise refused from None
            raise UpstreamUnavailableError(
                f"agent {agent.name!r} is unreachable ({type(exc).__name__})"
            ) from None
        return _answer(agent, status, kind, data)

    async def _grpc_send(
        self,
        agent: Agent,
        access: Access,
        sent: Outgoing,
        deadline: float,
        on_event: Callable[[str], Awaitable[None]] | None,
    ) -> Answer:
        """The send over A2A 1.0's gRPC binding (grpc_dial.py)."""
        params = {"message": message_of(agent, sent)}
        if on_event is None:
            result = await self.grpc.request(agent, access, "SendMessage", params, deadline)
            return _read(agent, result, 200, "application/grpc")
        collector = Collector()

        async def each(event: Any) -> None:
            try:
                said = collector.feed(event)
            except NotA2AError as exc:
                raise _not_a2a(agent, 200, "application/grpc", str(exc)) from None
            await on_event(said)

        await self.grpc.stream(agent, access, "SendStreamingMessage", params, deadline, each)
        try:
            return collector.answer()
        except NotA2AError as exc:
            raise _not_a2a(agent, 200, "application/grpc", str(exc)) from None

    async def _post(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        limits: httpx2.Timeout,
        agent: Agent,
        on_event: Callable[[str], Awaitable[None]] | None,
    ) -> Answer | tuple[int, str, bytes]:
        """A streamed answer gathered, or (status, content type, body) of any other.

        Traced, the POST is a CLIENT span whose context the agent gets in `traceparent`."""
        if not tracing.enabled():
            return await self._send(url, headers, body, limits, agent, on_event)
        with tracing.span("POST", tracing.CLIENT, tracing.http_client_attributes("POST", url)):
            headers = {**headers, "traceparent": TRACEPARENT.get() or ""}
            try:
                return await self._send(url, headers, body, limits, agent, on_event)
            except ForgeError as exc:
                tracing.failed(exc.code, exc.message)
                raise

    async def _send(
        self,
        url: str,
        headers: dict[str, str],
        body: bytes,
        limits: httpx2.Timeout,
        agent: Agent,
        on_event: Callable[[str], Awaitable[None]] | None,
    ) -> Answer | tuple[int, str, bytes]:
        if on_event is None:
            return await self.exchange("POST", url, headers, body, limits, agent)
        async with self.http.stream(
            "POST", url, headers=headers, content=body, timeout=limits
        ) as response:
            kind = response.headers.get("content-type", "")
            if on_event is not None and kind.startswith("text/event-stream"):
                return await self._events(response, agent, on_event)
            return response.status_code, kind, await self._bounded(response.aiter_bytes(), agent)

    async def exchange(
        self,
        verb: str,
        url: str,
        headers: dict[str, str],
        body: bytes | None,
        limits: httpx2.Timeout,
        agent: Agent,
    ) -> tuple[int, str, bytes]:
        """One request answered with one body: (status, content type, body), the body bounded
        by `max_bytes`. A plain-http agent is asked by aiohttp (see the class), any other by
        httpx. The caller's asyncio.timeout bounds the whole exchange (connecting has its own)
        and maps both clients' errors (httpx2.TransportError, aiohttp.ClientError)."""
        if url.startswith("http://"):
            async with self._session().request(
                verb, url, data=body, headers=headers, allow_redirects=False
            ) as answer:
                kind = answer.headers.get("Content-Type", "")
                return answer.status, kind, await self._bounded(answer.content.iter_any(), agent)
        async with self.http.stream(
            verb, url, headers=headers, content=body, timeout=limits
        ) as response:
            kind = response.headers.get("content-type", "")
            return response.status_code, kind, await self._bounded(response.aiter_bytes(), agent)

    async def _bounded(self, chunks: AsyncIterator[bytes], agent: Agent) -> bytes:
        """The whole body, or ResultTooLargeError (-32014) past `max_bytes`."""
        kept, size = [], 0
        async for chunk in chunks:
            size += len(chunk)
            if size > self.max_bytes:
                raise ResultTooLargeError(
                    f"agent {agent.name!r} answered more than {self.max_bytes} bytes",
                    {"limit": self.max_bytes},
                )
            kept.append(chunk)
        return b"".join(kept)

    async def _events(
        self,
        response: httpx2.Response,
        agent: Agent,
        on_event: Callable[[str], Awaitable[None]],
    ) -> Answer:
        kind = response.headers.get("content-type", "")
        collector, size, data_lines = Collector(), 0, []
        async for line in response.aiter_lines():
            size += len(line) + 1
            if size > self.max_bytes:
                raise ResultTooLargeError(
                    f"agent {agent.name!r} streamed more than {self.max_bytes} bytes",
                    {"limit": self.max_bytes},
                )
            if line.startswith("data:"):
                data_lines.append(line[5:].removeprefix(" "))
            elif not line and data_lines:
                event = _event(agent, "\n".join(data_lines), kind)
                data_lines = []
                try:
                    said = collector.feed(event)
                except NotA2AError as exc:
                    raise _not_a2a(agent, response.status_code, kind, str(exc)) from None
                await on_event(said)
        try:
            return collector.answer()
        except NotA2AError as exc:
            raise _not_a2a(agent, response.status_code, kind, str(exc)) from None


def _event(agent: Agent, text: str, kind: str) -> object:
    """One server-sent event's A2A payload."""
    try:
        body = _DECODER.decode(text)
    except msgspec.DecodeError:
        raise _not_a2a(agent, 200, kind, "an event that is not JSON") from None
    return _payload(agent, body, 200, kind)


def _answer(agent: Agent, status: int, kind: str, data: bytes) -> Answer:
    try:
        body = _DECODER.decode(data)
    except msgspec.DecodeError:
        body = None
    if status in (401, 403) and not _is_rpc(body):
        raise UpstreamUnavailableError(
            f"agent {agent.name!r} refused Forge's credentials (HTTP {status})", {"status": status}
        )
    return _read(agent, _payload(agent, body, status, kind), status, kind)


def _payload(agent: Agent, body: object, status: int, kind: str) -> object:
    """The A2A payload of an answer or event: a JSON-RPC response's result, or on HTTP+JSON a
    successful answer itself; the agent's error becomes AgentRpcError."""
    if agent.binding == "http+json" and agent.protocol_version != "0.3":
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            code = error.get("status") or error.get("code") or status
            raise AgentRpcError(code, error["message"])
        if 200 <= status < 300 and isinstance(body, dict):
            return body
        raise _not_a2a(agent, status, kind)
    if not _is_rpc(body):
        raise _not_a2a(agent, status, kind, "not a JSON-RPC response" if status < 300 else "")
    error = body.get("error")
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("message"), str):
            raise _not_a2a(agent, status, kind, "an error without a message")
        raise AgentRpcError(error.get("code"), error["message"])
    return body.get("result")


def _is_rpc(body: object) -> TypeGuard[dict[str, Any]]:
    if not isinstance(body, dict) or body.get("jsonrpc") != "2.0":
        return False
    return "result" in body or "error" in body


def _not_a2a(agent: Agent, status: int, kind: str, why: str = "") -> UpstreamBadResponseError:
    what = kind.split(";")[0].strip() or "no content type"
    said = f"agent {agent.name!r} did not answer as an A2A agent (HTTP {status}, {what})"
    return UpstreamBadResponseError(f"{said}: {why}" if why else said, {"status": status})


def _read(agent: Agent, result: object, status: int, kind: str) -> Answer:
    try:
        return read_result(result)
    except NotA2AError as exc:
        raise _not_a2a(agent, status, kind, str(exc)) from None
