"""Legacy MCP sessions over one message channel (SSE, WebSocket, stdio): answers matched by id."""

from __future__ import annotations

import asyncio
import itertools
import logging
from typing import Any

import msgspec

from forge.core.aiohttp_dialer import Dialer
from forge.core.errors import INTERNAL_ERROR, UpstreamUnavailableError
from forge.proto.catalog import Gateway
from forge.proto.envelope import Principal
from forge.proto.jsonrpc import (
    MESSAGE_DECODER,
    Message,
    RequestId,
    error_bytes,
    notification_bytes,
    request_bytes,
    result_bytes,
)
from forge.upstream_proxy.auth.credentials import Access
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.transports.call import Call
from forge.upstream_proxy.transports.codec import (
    INITIALIZE_PARAMS,
    cancelled_bytes,
    initialized,
    legacy_params,
)
from forge.upstream_proxy.transports.exchange import CredentialsRejectedError, result_of
from forge.upstream_proxy.transports.updates import Publish, forward

log = logging.getLogger("forge.upstream_proxy.transports.channel")
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENC = msgspec.json.Encoder()
_AMBIGUOUS = _ENC.encode(
    {"code": INTERNAL_ERROR, "message": "Forge cannot tell which call this request belongs to"}
)


class ChannelClosedError(Exception):
    """A write found the channel gone: the message never left."""


class ChannelSession:
    """One legacy session on a channel a subclass opens (`_connect`) and writes (`_write`).

    The subclass feeds every message it reads to `_received` and calls `_lost` when the
    channel ends. A message stream cannot say which call a server's log message or request
    belongs to, so those go to the only call in flight, or nowhere; progress is routed by a
    progress token of our own, swapped in on the way up and back on the way down.
    """

    def __init__(
        self, gateway: Gateway, config: UpstreamProxyConfig, access: Access, dialer: Dialer
    ) -> None:
        self.gateway = gateway
        self.config = config
        self.access = access
        self.dialer = dialer
        self.caller: Principal | None = None  # whose session this is, for per-user credentials
        self.era: str | None = None
        self.protocol_version: str | None = None
        self.capabilities: dict[str, Any] = {}
        self.server_info: dict[str, Any] = {}
        self.handshakes = 0
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()
        self._pending: dict[RequestId, asyncio.Future[Message]] = {}
        self._calls: dict[RequestId, Call] = {}
        self._tokens: dict[str, tuple[Call, msgspec.Raw]] = {}
        self.updated: Publish | None = None  # where resource updates go (set by the pool)

    @property
    def label(self) -> str:
        return f"{self.gateway.name!r}"

    @property
    def url(self) -> str:
        return self.access.url  # a query-parameter credential is part of it

    async def _credentials(self, headers: dict[str, str]) -> dict[str, str]:
        """`headers` plus the gateway's credentials (a token source is asked every time)."""
        if self.access.tokens is not None or self.access.headers:
            headers.update(await self.access.request_headers(self.caller))
        return headers

    async def _renew(self, exc: CredentialsRejectedError) -> None:
        """A 401: renew the token (once), or tell the caller what the refusal means."""
        if not await self.access.renew(self.caller, exc.sent):
            raise self.access.refused(self.caller, exc) from None

    async def _connect(self) -> None:
        raise NotImplementedError

    async def _write(self, data: bytes) -> None:
        raise NotImplementedError

    async def _disconnect(self) -> None:
        raise NotImplementedError

    async def open(self) -> None:
        """Connect and handshake, unless done; concurrent first calls share one handshake."""
        try:
            await self._open()
        except ChannelClosedError as exc:
            raise UpstreamUnavailableError(f"gateway {self.label} {exc}") from exc

    async def _open(self) -> None:
        if self.era is None:
            async with self._lock:
                if self.era is None:
                    try:
                        await self._handshake()
                    except CredentialsRejectedError as exc:
                        await self._renew(exc)
                        try:
                            await self._handshake()
                        except CredentialsRejectedError as again:
                            raise self.access.refused(self.caller, again) from None

    async def _handshake(self) -> None:
        self._lost("lost the connection")  # answers on an old channel cannot come
        await self._connect()
        await self._initialize()

    async def request(self, method: str, params: bytes, inflight: Call | None = None) -> bytes:
        """Send one request and wait for its answer; the caller bounds the time."""
        params = legacy_params(params)
        closed = renewed = False
        while True:
            try:
                await self._open()
                return await self._send(method, params, inflight)
            except ChannelClosedError as exc:
                # Nothing was sent, so trying once more on a fresh channel is safe.
                self.era = None
                if closed:
                    raise UpstreamUnavailableError(f"gateway {self.label} {exc}") from exc
                closed = True
            except CredentialsRejectedError as exc:
                # A refused message did not run: renew the token once and send it again.
                if renewed:
                    raise self.access.refused(self.caller, exc) from None
                await self._renew(exc)
                renewed = True

    async def _send(self, method: str, params: bytes, inflight: Call | None) -> bytes:
        request_id = next(self._ids)
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        token = None
        if inflight is not None:
            inflight.upstream_id = request_id
            self._calls[request_id] = inflight
            params, token = self._swap_token(params, request_id, inflight)
        try:
            await self._write(request_bytes(request_id, method, params))
            message = await future
        finally:
            self._pending.pop(request_id, None)
            self._calls.pop(request_id, None)
            if token is not None:
                self._tokens.pop(token, None)
        return result_of(message, self.label)

    async def _initialize(self) -> None:
        self.handshakes += 1
        result = await self._send("initialize", INITIALIZE_PARAMS, None)
        init = initialized(result, self.label, "which Forge does not speak over this transport")
        self.protocol_version = init.protocolVersion
        self.capabilities, self.server_info = init.capabilities, init.serverInfo
        await self._write(notification_bytes("notifications/initialized"))
        self.era = "legacy"

    def _swap_token(
        self, params: bytes, request_id: RequestId, inflight: Call
    ) -> tuple[bytes, str | None]:
        # Clients pick tokens freely (often their own request ids), so two clients' tokens may
        # collide on one pooled session: the upstream sees ours, the client gets its own back.
        if b"progressToken" not in params:
            return params, None
        fields = _FIELDS.decode(params)
        meta = _FIELDS.decode(fields["_meta"]) if "_meta" in fields else {}
        if "progressToken" not in meta:
            return params, None
        token = f"forge-{request_id}"
        self._tokens[token] = (inflight, meta["progressToken"])
        meta["progressToken"] = msgspec.Raw(_ENC.encode(token))
        fields["_meta"] = msgspec.Raw(_ENC.encode(meta))
        return _ENC.encode(fields), token

    async def _received(self, raw: bytes) -> None:
        """One message read from the channel."""
        try:
            message = MESSAGE_DECODER.decode(raw)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("gateway %s sent a malformed JSON-RPC message", self.label)
            return
        if message.method is msgspec.UNSET:
            future = self._pending.get(message.id)  # type: ignore[arg-type]
            if future is not None and not future.done():
                future.set_result(message)
            return
        if message.id is msgspec.UNSET or message.id is None:
            await self._notification(message.method, message, raw)
            return
        if message.method == "ping":
            await self._write(result_bytes(message.id, b"{}"))
            return
        call = self._only_call()
        if call is None:
            await self._write(error_bytes(message.id, _AMBIGUOUS))
            return
        await call.received(message, raw, self._write)

    async def _notification(self, method: str, message: Message, raw: bytes) -> None:
        if method == "notifications/progress":
            try:
                params = _FIELDS.decode(message.params) if len(message.params) else {}
            except (msgspec.DecodeError, msgspec.ValidationError):
                return
            raw_token = params.get("progressToken")
            token = msgspec.json.decode(bytes(raw_token)) if raw_token is not None else None
            owner = self._tokens.get(token) if isinstance(token, str) else None
            if owner is not None:
                call, original = owner
                params["progressToken"] = original
                await call.notify(notification_bytes(method, _ENC.encode(params)))
            return
        if method == "notifications/message" and (only := self._only_call()) is not None:
            await only.notify(raw)
            return
        # A resource update goes to the subscribers; list changes reach clients from the catalog.
        await forward(raw, self.updated)

    def _only_call(self) -> Call | None:
        if len(self._calls) != 1:
            return None
        return next(iter(self._calls.values()))

    def _lost(self, reason: str) -> None:
        """The channel ended: every waiting call fails, the next one connects afresh."""
        self.era = None
        error = UpstreamUnavailableError(f"gateway {self.label} {reason}")
        for future in self._pending.values():
            if not future.done():
                future.set_exception(error)

    async def cancel(self, inflight: Call) -> None:
        """Tell the upstream a call was cancelled (legacy `notifications/cancelled`)."""
        if self.era == "legacy" and inflight.upstream_id is not None:
            await self._write(cancelled_bytes(inflight.upstream_id))

    async def close(self) -> None:
        await self._disconnect()
        self._lost("was closed")
