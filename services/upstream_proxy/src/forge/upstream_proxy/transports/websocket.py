"""WebSocket upstreams: one connection per gateway (subprotocol `mcp`), one message per frame."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from forge.core.aiohttp_dialer import Dialer, refusal
from forge.core.errors import UpstreamUnavailableError
from forge.proto.catalog import Gateway
from forge.upstream_proxy.auth.credentials import Access
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.transports.channel import ChannelClosedError, ChannelSession
from forge.upstream_proxy.transports.exchange import CredentialsRejectedError

log = logging.getLogger("forge.upstream_proxy.transports.websocket")


class WebSocketSession(ChannelSession):
    """A legacy MCP session on a WebSocket, reconnected on the first call after it drops."""

    def __init__(
        self, gateway: Gateway, config: UpstreamProxyConfig, access: Access, dialer: Dialer
    ) -> None:
        super().__init__(gateway, config, access, dialer)
        self._http: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None

    async def _connect(self) -> None:
        await self._disconnect()
        headers = await self._credentials({})
        self._http = self.dialer.client(ssl_context=self.access.tls)
        try:
            self._ws = await self._http.ws_connect(
                self.url,
                protocols=("mcp",),
                headers=headers,
                timeout=aiohttp.ClientWSTimeout(ws_close=1.0),
                max_msg_size=0,  # the call's deadline bounds it, not a frame size
                autoping=True,
                heartbeat=30.0,
            )
        except (aiohttp.ClientError, OSError) as exc:
            await self._disconnect()
            if isinstance(exc, aiohttp.WSServerHandshakeError) and exc.status == 401:
                raise CredentialsRejectedError(self.label, headers.get("Authorization")) from None
            if (refused := refusal(exc)) is not None:
                raise refused from None
            raise UpstreamUnavailableError(f"cannot connect to gateway {self.label}") from None
        self._reader = asyncio.create_task(self._read(self._ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        try:
            async for frame in ws:
                if frame.type == aiohttp.WSMsgType.TEXT:
                    await self._received(frame.data.encode())
                elif frame.type == aiohttp.WSMsgType.BINARY:
                    await self._received(frame.data)
        finally:
            if self._ws is ws:
                self._lost("closed the WebSocket")

    async def _write(self, data: bytes) -> None:
        ws = self._ws
        if ws is None or ws.closed:
            raise ChannelClosedError("has no open WebSocket")
        try:
            await ws.send_str(data.decode())
        except (aiohttp.ClientError, ConnectionResetError) as exc:
            raise ChannelClosedError("closed the WebSocket") from exc

    async def _disconnect(self) -> None:
        ws, http, reader = self._ws, self._http, self._reader
        self._ws, self._http, self._reader = None, None, None
        if ws is not None:
            await ws.close()
        if reader is not None:
            reader.cancel()
            await asyncio.wait({reader})
        if http is not None:
            await http.close()
