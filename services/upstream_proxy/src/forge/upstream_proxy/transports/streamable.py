"""Streamable HTTP upstream sessions: one HTTP connection pool and one handshake per gateway."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import itertools
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec

from forge.core.aiohttp_dialer import Dialer
from forge.core.errors import (
    ForgeError,
    InvalidParamsError,
    UpstreamBadResponseError,
    UpstreamRpcError,
)
from forge.proto.catalog import Gateway
from forge.proto.envelope import Principal
from forge.proto.jsonrpc import Message, notification_bytes, request_bytes
from forge.proto.mcp import MODERN, NAMED_PARAMS_DECODER
from forge.proto.upstream import STREAM_PAUSED
from forge.upstream_proxy.auth.credentials import Access
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.transports.call import Call
from forge.upstream_proxy.transports.codec import (
    INITIALIZE_PARAMS,
    cancelled_bytes,
    initialized,
    legacy_params,
    modern_params,
)
from forge.upstream_proxy.transports.exchange import (
    ACCEPT,
    CredentialsRejectedError,
    OnMessage,
    OnPause,
    SessionGoneError,
    exchange,
)
from forge.upstream_proxy.transports.fasthttp import FastHttp
from forge.upstream_proxy.transports.subscriptions import Subscriptions
from forge.upstream_proxy.transports.updates import Listener, Publish, forward, subscribable

log = logging.getLogger("forge.upstream_proxy.transports.streamable")

# A DELETE at shutdown or removal is a courtesy to the upstream; never wait long on it.
CLOSE_TIMEOUT_S = 1.0
# In-flight calls may finish on a session being replaced, for at most this long.
DRAIN_TIMEOUT_S = 5.0


class _Discovered(msgspec.Struct):
    supportedVersions: list[str] = msgspec.field(default_factory=list)
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    meta: dict[str, Any] = msgspec.field(default_factory=dict, name="_meta")


_DISCOVERED = msgspec.json.Decoder(_Discovered)


class UpstreamSession:
    """One gateway's connection pool and MCP session, shared by every call to that gateway."""

    def __init__(
        self,
        gateway: Gateway,
        config: UpstreamProxyConfig,
        access: Access,
        dialer: Dialer,
        prefer: str = "modern",
    ) -> None:
        self.gateway = gateway
        # The era to speak when the upstream speaks both: its callers' (the pool keeps one per era).
        self.prefer = prefer
        self.config = config
        self.access = access
        self.dialer = dialer
        self.caller: Principal | None = None  # whose session this is, for per-user credentials
        self.era: str | None = None  # "modern" or "legacy", set last by a finished handshake
        self.protocol_version: str | None = None
        self.session_id: str | None = None
        self.capabilities: dict[str, Any] = {}
        self.server_info: dict[str, Any] = {}
        self.handshakes = 0
        self._http: aiohttp.ClientSession | None = None
        self._fast: FastHttp | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.updated: Publish | None = None  # where resource updates go (set by the pool)
        self._listener: Listener | None = None
        self._subscriptions: Subscriptions | None = None  # a modern upstream's listen stream

    @property
    def url(self) -> str:
        return self.access.url  # a query-parameter credential is part of it

    @property
    def label(self) -> str:
        return f"{self.gateway.name!r}"

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            self._http = self.dialer.client(
                ssl_context=self.access.tls, limit=self.config.max_connections_per_gateway
            )
        return self._http

    def _poster(self) -> FastHttp | aiohttp.ClientSession:
        """The lean client for plain-http upstreams (every call's POST), else aiohttp."""
        if not self.url.startswith("http://"):
            return self._client()
        if self._fast is None:
            self._fast = FastHttp(self.url, self.label, self.dialer)
        return self._fast

    async def open(self) -> None:
        """Handshake unless done; concurrent first calls share one handshake."""
        try:
            await self._open()
        except CredentialsRejectedError as exc:
            await self._renew(exc)
            await self._open_renewed()

    async def _open(self) -> None:
        if self.era is None:
            async with self._lock:
                if self.era is None:
                    await self._handshake()

    async def _open_renewed(self) -> None:
        try:
            await self._open()
        except CredentialsRejectedError as exc:
            raise self.access.refused(self.caller, exc) from None

    async def _renew(self, exc: CredentialsRejectedError) -> None:
        """A 401: renew the token (once), or tell the caller what the refusal means."""
        if not await self.access.renew(self.caller, exc.sent):
            raise self.access.refused(self.caller, exc) from None

    async def request(self, method: str, params: bytes, inflight: Call | None = None) -> bytes:
        """Send one request upstream and return its result bytes; the caller bounds the time.

        With `inflight`, what the upstream sends on the answer's stream reaches the client.
        An upstream 401 renews an OAuth token and tries once more (a refused request did not run).
        """
        self._inflight += 1
        self._idle.clear()
        try:
            try:
                return await self._request(method, params, inflight)
            except CredentialsRejectedError as exc:
                await self._renew(exc)
            try:
                return await self._request(method, params, inflight)
            except CredentialsRejectedError as exc:
                raise self.access.refused(self.caller, exc) from None
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def _request(self, method: str, params: bytes, inflight: Call | None) -> bytes:
        await self._open()
        if method == "resources/subscribe":
            if self.era == "modern":
                # 2026-07-28 has no resources/subscribe: its listen stream carries the URI.
                await self._subscribe(params)
                return b"{}"
            await self._listen()
        stale = self.session_id
        try:
            return await self._send(method, params, inflight, retry=stale is not None)
        except SessionGoneError:
            async with self._lock:
                if self.session_id == stale:
                    log.info("gateway %s forgot our session; handshaking again", self.label)
                    await self._handshake()
            return await self._send(method, params, inflight, retry=False)

    async def _credentials(self, headers: dict[str, str]) -> dict[str, str]:
        """`headers` plus the gateway's credentials (a token source is asked every time)."""
        access = self.access
        if access.tokens is not None:
            headers.update(await access.request_headers(self.caller))
        elif access.headers:
            headers.update(access.headers)
        return headers

    async def _send(
        self, method: str, params: bytes, inflight: Call | None, *, retry: bool
    ) -> bytes:
        headers = self._headers()
        access = self.access  # inline, not `_credentials`: this is every call's path
        if access.tokens is not None:
            headers.update(await access.request_headers(self.caller))
        elif access.headers:
            headers.update(access.headers)
        if self.era == "modern":
            params, name = modern_params(
                method,
                params,
                capabilities=inflight.client_capabilities if inflight else b"{}",
                legacy_client=inflight.legacy_client if inflight else False,
            )
            headers["Mcp-Method"] = method
            if name is not None:
                headers["Mcp-Name"] = _header_value(name)
            if inflight is not None and inflight.param_headers:
                # An SDK server refuses (-32020) a call whose declared headers are missing.
                headers.update(inflight.param_headers)
        else:
            params = legacy_params(params)
        request_id = next(self._ids)
        on_message: OnMessage | None = None
        on_pause: OnPause | None = None
        if inflight is not None:
            inflight.upstream_id = request_id
            on_message = functools.partial(self._in_call, inflight)
            on_pause = functools.partial(inflight.notify, STREAM_PAUSED)
        answer = await exchange(
            self._poster(),
            self.url,
            request_bytes(request_id, method, params),
            headers,
            request_id=request_id,
            label=self.label,
            session_404=retry and self.era == "legacy",
            on_message=on_message,
            resume=self._resume if self.era == "legacy" else None,
            on_pause=on_pause,
        )
        return answer.result

    async def _in_call(self, inflight: Call, message: Message, raw: bytes) -> None:
        # A resource update concerns the session's subscribers, not the call it came with.
        if not await forward(raw, self.updated):
            await inflight.received(message, raw, self._post)

    async def _listen(self) -> None:
        """Hold the legacy session's GET stream open: resource updates arrive on it."""
        if self.era != "legacy" or self.updated is None or not subscribable(self.capabilities):
            return
        if self._listener is None:
            self._listener = Listener(self.label, self.updated)
        await self._listener.start(self._get)

    async def _subscribe(self, params: bytes) -> None:
        try:
            uri = NAMED_PARAMS_DECODER.decode(params).uri
        except msgspec.DecodeError:
            uri = None
        if uri is None:
            raise InvalidParamsError("resources/subscribe needs a uri")
        if self.updated is None:
            return
        if self._subscriptions is None:
            self._subscriptions = Subscriptions(self.label, self.updated, self._listen_stream)
        await self._subscriptions.add(uri)

    @contextlib.asynccontextmanager
    async def _listen_stream(self, params: bytes) -> AsyncIterator[aiohttp.ClientResponse]:
        method = "subscriptions/listen"
        body, _ = modern_params(method, params)
        headers = self._headers()
        headers["Mcp-Method"] = method
        headers = await self._credentials(headers)
        request = request_bytes(f"forge-listen-{next(self._ids)}", method, body)
        async with self._client().post(self.url, data=request, headers=headers) as response:
            yield response

    @contextlib.asynccontextmanager
    async def _get(self) -> AsyncIterator[aiohttp.ClientResponse]:
        headers = await self._credentials({"Accept": "text/event-stream"})
        self._legacy_headers(headers)
        async with self._client().get(self.url, headers=headers) as response:
            yield response

    @contextlib.asynccontextmanager
    async def _resume(self, last_event_id: str) -> AsyncIterator[aiohttp.ClientResponse]:
        """Resume an answer stream the upstream closed before its end (SSE polling)."""
        headers = await self._credentials(
            {"Accept": "text/event-stream", "Last-Event-ID": last_event_id}
        )
        self._legacy_headers(headers)
        async with self._client().get(self.url, headers=headers) as response:
            yield response

    def _headers(self) -> dict[str, str]:
        headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        if self.era == "modern":
            headers["MCP-Protocol-Version"] = MODERN
        else:
            self._legacy_headers(headers)
        return headers

    async def _post(self, message: bytes) -> None:
        """Send a notification or a response (to a server request) on this session."""
        headers = await self._credentials(self._headers())
        await exchange(
            self._client(), self.url, message, headers, request_id=None, label=self.label
        )

    async def cancel(self, inflight: Call) -> None:
        """Tell the upstream a call was cancelled: the closed response says it to a modern one."""
        if self.era == "legacy" and inflight.upstream_id is not None:
            await self._post(cancelled_bytes(inflight.upstream_id))

    def _legacy_headers(self, headers: dict[str, str]) -> None:
        if self.protocol_version is not None:
            headers["MCP-Protocol-Version"] = self.protocol_version
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id

    async def _handshake(self) -> None:
        """Speak the preferred era if the upstream does, else the other one.

        Modern: server/discover offering 2026-07-28. Legacy: initialize. A dual-era upstream's
        discover lists only the modern versions, so a legacy session tries initialize first.
        """
        self.era, self.session_id, self.protocol_version = None, None, None
        self.handshakes += 1
        http = self._client()
        if self.prefer == "legacy":
            try:
                await self._initialize(http)
                return
            except CredentialsRejectedError:
                raise  # not an answer about the era: renewed and tried again by the caller
            except (UpstreamRpcError, UpstreamBadResponseError) as exc:
                refused: Exception = exc  # perhaps a modern-only upstream: ask it
            self.session_id, self.protocol_version = None, None
            if not await self._discover(http):
                raise refused
            return
        if not await self._discover(http):
            await self._initialize(http)

    async def _discover(self, http: aiohttp.ClientSession) -> bool:
        """Whether server/discover offers 2026-07-28 (the session is then modern)."""
        try:
            params, _ = modern_params("server/discover", b"{}")
            headers = await self._credentials(
                {
                    "Accept": ACCEPT,
                    "Content-Type": "application/json",
                    "MCP-Protocol-Version": MODERN,
                    "Mcp-Method": "server/discover",
                }
            )
            request_id = next(self._ids)
            body = request_bytes(request_id, "server/discover", params)
            answer = await exchange(
                http, self.url, body, headers, request_id=request_id, label=self.label
            )
            discovered = _DISCOVERED.decode(answer.result)
        except CredentialsRejectedError:
            raise  # not an answer about the era: renewed and tried again by the caller
        except (
            UpstreamRpcError,
            UpstreamBadResponseError,
            msgspec.DecodeError,
            msgspec.ValidationError,
        ):
            discovered = None  # not a modern server: any refusal means "try the handshake era"
        if discovered is not None and MODERN in discovered.supportedVersions:
            self.capabilities = discovered.capabilities
            info = discovered.meta.get("io.modelcontextprotocol/serverInfo")
            self.server_info = info if isinstance(info, dict) else {}
            self.protocol_version, self.era = MODERN, "modern"
            return True
        return False

    async def _initialize(self, http: aiohttp.ClientSession) -> None:
        headers = await self._credentials({"Accept": ACCEPT, "Content-Type": "application/json"})
        request_id = next(self._ids)
        body = request_bytes(request_id, "initialize", INITIALIZE_PARAMS)
        answer = await exchange(
            http, self.url, body, headers, request_id=request_id, label=self.label
        )
        result = initialized(answer.result, self.label)
        self.session_id = answer.session_id
        self.protocol_version = result.protocolVersion
        self.capabilities, self.server_info = result.capabilities, result.serverInfo
        self._legacy_headers(headers)
        await exchange(
            http,
            self.url,
            notification_bytes("notifications/initialized"),
            headers,
            request_id=None,
            label=self.label,
        )
        self.era = "legacy"

    async def close(self) -> None:
        """Let calls in flight finish (briefly), end a legacy session politely, close the pool."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), DRAIN_TIMEOUT_S)
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        if self._subscriptions is not None:
            await self._subscriptions.close()
            self._subscriptions = None
        if self._fast is not None:
            self._fast.close()
            self._fast = None
        if self._http is None:
            return
        if self.era == "legacy" and self.session_id is not None:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    headers = await self._credentials({"Accept": ACCEPT})
                    self._legacy_headers(headers)
                    async with self._http.delete(self.url, headers=headers):
                        pass
            except (aiohttp.ClientError, TimeoutError, ForgeError):
                log.debug("DELETE of the session at gateway %s failed", self.label)
        self.era = None
        await self._http.close()
        self._http = None


def _header_value(value: str) -> str:
    # Same rule as the MCP SDK: values that would not survive an HTTP field are base64-wrapped.
    if value.isascii() and value.isprintable() and value == value.strip():
        if not (value.startswith("=?base64?") and value.endswith("?=")):
            return value
    return "=?base64?" + base64.b64encode(value.encode()).decode("ascii") + "?="
