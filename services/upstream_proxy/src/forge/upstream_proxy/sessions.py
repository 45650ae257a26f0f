"""Pooled upstream sessions: one HTTP connection pool and one handshake per gateway."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import logging
from typing import Any

import aiohttp
import msgspec

from forge.core.errors import UpstreamBadResponseError, UpstreamRpcError
from forge.proto.catalog import Gateway
from forge.proto.jsonrpc import notification_bytes, request_bytes
from forge.proto.mcp import LEGACY, LEGACY_VERSIONS, MODERN
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.eras import CLIENT_INFO, legacy_params, modern_params
from forge.upstream_proxy.transport import ACCEPT, OnMessage, SessionGoneError, exchange

log = logging.getLogger("forge.upstream_proxy.sessions")

# A DELETE at shutdown or removal is a courtesy to the upstream; never wait long on it.
CLOSE_TIMEOUT_S = 1.0
# In-flight calls may finish on a session being replaced, for at most this long.
DRAIN_TIMEOUT_S = 5.0
_INITIALIZE_PARAMS = msgspec.json.encode(
    {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": CLIENT_INFO}
)


class _Discovered(msgspec.Struct):
    supportedVersions: list[str] = msgspec.field(default_factory=list)
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    meta: dict[str, Any] = msgspec.field(default_factory=dict, name="_meta")


class _Initialized(msgspec.Struct):
    protocolVersion: str
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    serverInfo: dict[str, Any] = msgspec.field(default_factory=dict)


_DISCOVERED = msgspec.json.Decoder(_Discovered)
_INITIALIZED = msgspec.json.Decoder(_Initialized)


class UpstreamSession:
    """One gateway's connection pool and MCP session, shared by every call to that gateway."""

    def __init__(self, gateway: Gateway, config: UpstreamProxyConfig) -> None:
        self.gateway = gateway
        self.config = config
        self.era: str | None = None  # "modern" or "legacy", set last by a finished handshake
        self.protocol_version: str | None = None
        self.session_id: str | None = None
        self.capabilities: dict[str, Any] = {}
        self.server_info: dict[str, Any] = {}
        self.handshakes = 0
        self._http: aiohttp.ClientSession | None = None
        self._lock = asyncio.Lock()
        self._ids = itertools.count(1)
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def url(self) -> str:
        return self.gateway.url

    @property
    def label(self) -> str:
        return f"{self.gateway.name!r}"

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None:
            connector = aiohttp.TCPConnector(limit=self.config.max_connections_per_gateway)
            self._http = aiohttp.ClientSession(
                connector=connector,
                # The call's deadline bounds everything else; only connecting has its own limit.
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=self.config.connect_timeout_s
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._http

    async def request(
        self, method: str, params: bytes, on_message: OnMessage | None = None
    ) -> bytes:
        """Send one request upstream and return its result bytes; the caller bounds the time."""
        self._inflight += 1
        self._idle.clear()
        try:
            if self.era is None:
                async with self._lock:
                    if self.era is None:  # concurrent first calls share one handshake
                        await self._handshake()
            stale = self.session_id
            try:
                return await self._send(method, params, on_message, retry=stale is not None)
            except SessionGoneError:
                async with self._lock:
                    if self.session_id == stale:
                        log.info("gateway %s forgot our session; handshaking again", self.label)
                        await self._handshake()
                return await self._send(method, params, on_message, retry=False)
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def _send(
        self, method: str, params: bytes, on_message: OnMessage | None, *, retry: bool
    ) -> bytes:
        headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        if self.era == "modern":
            params, name = modern_params(method, params)
            headers["MCP-Protocol-Version"] = MODERN
            headers["Mcp-Method"] = method
            if name is not None:
                headers["Mcp-Name"] = _header_value(name)
        else:
            params = legacy_params(params)
            self._legacy_headers(headers)
        request_id = next(self._ids)
        answer = await exchange(
            self._client(),
            self.url,
            request_bytes(request_id, method, params),
            headers,
            request_id=request_id,
            label=self.label,
            session_404=retry and self.era == "legacy",
            on_message=on_message,
        )
        return answer.result

    def _legacy_headers(self, headers: dict[str, str]) -> None:
        if self.protocol_version is not None:
            headers["MCP-Protocol-Version"] = self.protocol_version
        if self.session_id is not None:
            headers["Mcp-Session-Id"] = self.session_id

    async def _handshake(self) -> None:
        """Find the upstream's era: modern if server/discover offers 2026-07-28, else initialize."""
        self.era, self.session_id, self.protocol_version = None, None, None
        self.handshakes += 1
        http = self._client()
        try:
            params, _ = modern_params("server/discover", b"{}")
            headers = {
                "Accept": ACCEPT,
                "Content-Type": "application/json",
                "MCP-Protocol-Version": MODERN,
                "Mcp-Method": "server/discover",
            }
            request_id = next(self._ids)
            body = request_bytes(request_id, "server/discover", params)
            answer = await exchange(
                http, self.url, body, headers, request_id=request_id, label=self.label
            )
            discovered = _DISCOVERED.decode(answer.result)
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
            return
        await self._initialize(http)

    async def _initialize(self, http: aiohttp.ClientSession) -> None:
        headers = {"Accept": ACCEPT, "Content-Type": "application/json"}
        request_id = next(self._ids)
        body = request_bytes(request_id, "initialize", _INITIALIZE_PARAMS)
        answer = await exchange(
            http, self.url, body, headers, request_id=request_id, label=self.label
        )
        try:
            result = _INITIALIZED.decode(answer.result)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise UpstreamBadResponseError(
                f"gateway {self.label} sent a malformed initialize result"
            ) from exc
        if result.protocolVersion not in LEGACY_VERSIONS:
            raise UpstreamBadResponseError(
                f"gateway {self.label} offers protocol version {result.protocolVersion!r}, "
                "which Forge does not speak"
            )
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
        if self._http is None:
            return
        if self.era == "legacy" and self.session_id is not None:
            headers = {"Accept": ACCEPT}
            self._legacy_headers(headers)
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    async with self._http.delete(self.url, headers=headers):
                        pass
            except (aiohttp.ClientError, TimeoutError):
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


class Pool:
    """The sessions of every gateway this replica has talked to, created on first use."""

    def __init__(self, config: UpstreamProxyConfig) -> None:
        self.config = config
        self.sessions: dict[str, UpstreamSession] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def get(self, gateway: Gateway) -> UpstreamSession:
        session = self.sessions.get(gateway.id)
        if session is not None and session.url != gateway.url:
            self.discard(gateway.id)
            session = None
        if session is None:
            session = self.sessions[gateway.id] = UpstreamSession(gateway, self.config)
        else:
            session.gateway = gateway  # a rename changes only the label
        return session

    def discard(self, gateway_id: str) -> None:
        """Forget a gateway's session now; close it in the background."""
        session = self.sessions.pop(gateway_id, None)
        if session is not None:
            self.retire(session)

    def retire(self, session: UpstreamSession) -> None:
        """Close a session that is no longer pooled, in the background."""
        task = asyncio.create_task(session.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def settled(self) -> None:
        """Wait until every retired session has finished closing."""
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def close(self) -> None:
        for gateway_id in list(self.sessions):
            self.discard(gateway_id)
        await self.settled()
