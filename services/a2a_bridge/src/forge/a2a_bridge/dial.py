"""Any A2A request to an agent, in its version and binding, through the SSRF guard (Forge's A2A
endpoint: `send`, `stream` and `task` ops); wire.py sends the MCP tool's one message.

The request is given in 1.0's form; a 0.3 agent gets 0.3's (versions.py), over JSON-RPC only. A
1.0 agent on HTTP+JSON gets the binding's paths (`POST /message:send`, `GET /tasks/{id}`, ...).
A request answered once goes by `AgentClient.exchange` (aiohttp to a plain-http agent, as the
MCP tool's send), a stream by httpx. The answer comes back in 1.0's form, or raises the agent's
own error (`AgentRpcError`) or a Forge error (unreachable -32001, not A2A -32003, too large
-32014, no answer in time -32011).
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import httpx2
import msgspec

from forge.a2a_bridge import versions
from forge.a2a_bridge.credentials import Access
from forge.a2a_bridge.wire import AgentClient, AgentRpcError, _event, _payload, under
from forge.core import aiohttp_dialer, httpx_dialer, tracing
from forge.core.bus import TRACEPARENT
from forge.core.errors import (
    A2aCode,
    ForgeError,
    ResultTooLargeError,
    UpstreamTimeoutError,
    UpstreamUnavailableError,
)
from forge.proto.agents import Agent

_DECODER = msgspec.json.Decoder()
_ENC = msgspec.json.Encoder()
STREAMING = frozenset({"SendStreamingMessage", "SubscribeToTask"})


def _unsupported(agent: Agent, method: str) -> AgentRpcError:
    return AgentRpcError(
        A2aCode.UNSUPPORTED_OPERATION, f"agent {agent.name!r} does not support {method}"
    )


def _http_json(agent: Agent, url: str, method: str, params: dict[str, Any]) -> tuple[str, str, Any]:
    """(HTTP method, URL, JSON body or None) of a request on the HTTP+JSON binding; the path
    goes below the agent's URL, before its query (an API key credential: `wire.under`)."""
    task = urllib.parse.quote(str(params.get("id") or ""), safe="")
    if method == "SendMessage":
        return "POST", under(url, "message:send"), params
    if method == "SendStreamingMessage":
        return "POST", under(url, "message:stream"), params
    if method == "GetTask":
        query = {"historyLength": params["historyLength"]} if "historyLength" in params else {}
        return "GET", under(url, f"tasks/{task}", urllib.parse.urlencode(query)), None
    if method == "ListTasks":
        query = {k: v for k, v in params.items() if isinstance(v, str | int | bool)}
        return "GET", under(url, "tasks", urllib.parse.urlencode(query)), None
    if method == "CancelTask":
        body = {"metadata": params.get("metadata") or {}}
        return "POST", under(url, f"tasks/{task}:cancel"), body
    if method == "SubscribeToTask":
        return "GET", under(url, f"tasks/{task}:subscribe"), None
    raise _unsupported(agent, method)


def request_of(
    agent: Agent, access: Access, method: str, params: dict[str, Any]
) -> tuple[str, str, dict[str, str], bytes | None]:
    """(HTTP method, URL, headers, body) of one A2A request to the agent."""
    headers = {**access.headers, "Content-Type": "application/json"}
    headers["Accept"] = "text/event-stream" if method in STREAMING else "application/json"
    if agent.protocol_version == "0.3":
        if agent.binding != "jsonrpc":
            raise UpstreamUnavailableError(
                f"agent {agent.name!r} speaks A2A 0.3 over {agent.binding}: the a2a-bridge "
                "reaches 0.3 agents over JSON-RPC only"
            )
        name = versions.TO_03.get(method)
        if name is None:
            raise _unsupported(agent, method)
        body = {"jsonrpc": "2.0", "id": 1, "method": name}
        body["params"] = versions.request_down(method, params)
        return "POST", access.url, headers, _ENC.encode(body)
    headers["A2A-Version"] = "1.0"
    if agent.binding == "http+json":
        verb, url, json_body = _http_json(agent, access.url, method, params)
        return verb, url, headers, None if json_body is None else _ENC.encode(json_body)
    if agent.binding != "jsonrpc":
        raise UpstreamUnavailableError(
            f"agent {agent.name!r} uses the {agent.binding} binding, which the a2a-bridge does "
            "not speak yet"
        )
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    return "POST", access.url, headers, _ENC.encode(body)


def _read(agent: Agent, method: str, payload: object) -> Any:
    return versions.result_up(method, payload) if agent.protocol_version == "0.3" else payload


async def _headers(access: Access, headers: dict[str, str]) -> dict[str, str]:
    if access.tokens is not None:
        headers["Authorization"] = await access.tokens.header()
    if tracing.enabled() and (trace := TRACEPARENT.get()) is not None:
        headers["traceparent"] = trace  # W3C propagation to the agent
    return headers


def _timeout(client: AgentClient, agent: Agent, deadline: float) -> httpx2.Timeout:
    left = deadline - time.time()
    if left <= 0:
        raise UpstreamTimeoutError(f"agent {agent.name!r} was not asked: no time was left")
    return httpx2.Timeout(left, connect=min(client.connect_timeout_s, left))


def _unreachable(agent: Agent, exc: httpx2.TransportError | aiohttp.ClientError) -> Exception:
    refused = (
        httpx_dialer.refusal(exc)
        if isinstance(exc, httpx2.TransportError)
        else aiohttp_dialer.refusal(exc)
    )
    if refused is not None:
        return refused
    return UpstreamUnavailableError(f"agent {agent.name!r} is unreachable ({type(exc).__name__})")


async def request(
    client: AgentClient,
    agent: Agent,
    access: Access,
    method: str,
    params: dict[str, Any],
    deadline: float,
) -> Any:
    """One request answered once: its result in 1.0's form."""
    if agent.binding == "grpc" and agent.protocol_version != "0.3":
        return await client.grpc.request(agent, access, method, params, deadline)
    verb, url, headers, body = request_of(agent, access, method, params)
    if not tracing.enabled():
        return await _request(client, agent, access, method, deadline, verb, url, headers, body)
    attributes = tracing.http_client_attributes(verb, url)
    attributes["rpc.method"] = method
    with tracing.span(verb, tracing.CLIENT, attributes):
        try:
            return await _request(client, agent, access, method, deadline, verb, url, headers, body)
        except ForgeError as exc:
            tracing.failed(exc.code, exc.message)
            raise


async def _request(
    client: AgentClient,
    agent: Agent,
    access: Access,
    method: str,
    deadline: float,
    verb: str,
    url: str,
    headers: dict[str, str],
    body: bytes | None,
) -> Any:
    timeout = _timeout(client, agent, deadline)
    try:
        async with asyncio.timeout(deadline - time.time()):
            headers = await _headers(access, headers)
            status, kind, data = await client.exchange(verb, url, headers, body, timeout, agent)
    except TimeoutError:
        raise UpstreamTimeoutError(f"agent {agent.name!r} did not answer in time") from None
    except (httpx2.TransportError, aiohttp.ClientError) as exc:
        raise _unreachable(agent, exc) from None
    try:
        decoded = _DECODER.decode(data)
    except msgspec.DecodeError:
        decoded = None
    if status in (401, 403) and not isinstance(decoded, dict):
        raise UpstreamUnavailableError(
            f"agent {agent.name!r} refused Forge's credentials (HTTP {status})", {"status": status}
        )
    return _read(agent, method, _payload(agent, decoded, status, kind))


async def stream(
    client: AgentClient,
    agent: Agent,
    access: Access,
    method: str,
    params: dict[str, Any],
    deadline: float,
    on_event: Callable[[Any], Awaitable[None]],
) -> None:
    """A streamed request: each event's payload in 1.0's form told to `on_event` as it
    arrives. An agent that answers with one JSON body instead (it does not stream) tells that
    one answer."""
    if agent.binding == "grpc" and agent.protocol_version != "0.3":
        await client.grpc.stream(agent, access, method, params, deadline, on_event)
        return
    verb, url, headers, body = request_of(agent, access, method, params)
    timeout = _timeout(client, agent, deadline)
    try:
        async with asyncio.timeout(deadline - time.time()):
            headers = await _headers(access, headers)
            async with client.http.stream(
                verb, url, headers=headers, content=body, timeout=timeout
            ) as response:
                kind = response.headers.get("content-type", "")
                if not kind.startswith("text/event-stream"):
                    data = await response.aread()
                    if len(data) > client.max_bytes:
                        raise ResultTooLargeError(
                            f"agent {agent.name!r} answered more than {client.max_bytes} bytes",
                            {"limit": client.max_bytes},
                        )
                    try:
                        decoded = _DECODER.decode(data)
                    except msgspec.DecodeError:
                        decoded = None
                    payload = _payload(agent, decoded, response.status_code, kind)
                    await on_event(_read(agent, method, payload))
                    return
                size, lines = 0, []
                async for line in response.aiter_lines():
                    size += len(line) + 1
                    if size > client.max_bytes:
                        raise ResultTooLargeError(
                            f"agent {agent.name!r} streamed more than {client.max_bytes} bytes",
                            {"limit": client.max_bytes},
                        )
                    if line.startswith("data:"):
                        lines.append(line[5:].removeprefix(" "))
                    elif not line and lines:
                        event = _event(agent, "\n".join(lines), kind)
                        lines = []
                        await on_event(_read(agent, method, event))
    except TimeoutError:
        raise UpstreamTimeoutError(f"agent {agent.name!r} did not answer in time") from None
    except httpx2.TransportError as exc:
        raise _unreachable(agent, exc) from None
