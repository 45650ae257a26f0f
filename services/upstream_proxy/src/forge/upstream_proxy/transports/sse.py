"""Legacy HTTP+SSE upstreams: GET the event stream, POST to the endpoint it names."""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urljoin, urlsplit

import aiohttp

from forge.core.aiohttp_dialer import Dialer, refusal
from forge.core.errors import UpstreamBadResponseError, UpstreamUnavailableError
from forge.core.upstream_auth import with_query
from forge.proto.catalog import Gateway
from forge.upstream_proxy.auth.credentials import Access
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.transports.channel import ChannelClosedError, ChannelSession
from forge.upstream_proxy.transports.exchange import CredentialsRejectedError, SseParser

log = logging.getLogger("forge.upstream_proxy.transports.sse")


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


class SseSession(ChannelSession):
    """A legacy MCP session on the 2024-11-05 SSE transport; answers arrive on the stream."""

    def __init__(
        self, gateway: Gateway, config: UpstreamProxyConfig, access: Access, dialer: Dialer
    ) -> None:
        super().__init__(gateway, config, access, dialer)
        self._http: aiohttp.ClientSession | None = None
        self._reader: asyncio.Task[None] | None = None
        self._endpoint: str | None = None

    async def _connect(self) -> None:
        await self._disconnect()
        headers = await self._credentials({"Accept": "text/event-stream"})
        self._http = http = self.dialer.client(ssl_context=self.access.tls)
        try:
            response = await http.get(self.url, headers=headers)
        except (aiohttp.ClientError, OSError) as exc:
            await self._disconnect()
            if (refused := refusal(exc)) is not None:
                raise refused from None
            raise UpstreamUnavailableError(f"cannot connect to gateway {self.label}") from None
        if response.status != 200:
            response.release()
            await self._disconnect()
            if response.status == 401:
                raise CredentialsRejectedError(self.label, headers.get("Authorization"))
            raise UpstreamBadResponseError(
                f"gateway {self.label} answered HTTP {response.status} for its event stream"
            )
        endpoint: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._reader = asyncio.create_task(self._read(response, endpoint))
        self._endpoint = await endpoint

    async def _read(self, response: aiohttp.ClientResponse, endpoint: asyncio.Future[str]) -> None:
        parser = SseParser()
        try:
            async for chunk in response.content.iter_any():
                for event, data in parser.feed_events(chunk):
                    if event == b"endpoint" and not endpoint.done():
                        endpoint.set_result(self._checked_endpoint(data))
                    elif event == b"message":
                        await self._received(data)
        except (aiohttp.ClientError, UpstreamBadResponseError) as exc:
            if not endpoint.done():
                endpoint.set_exception(exc)
        finally:
            response.release()
            if not endpoint.done():
                endpoint.set_exception(
                    UpstreamBadResponseError(
                        f"gateway {self.label} ended its event stream before naming an endpoint"
                    )
                )
            if self._reader is asyncio.current_task():
                self._lost("ended its event stream")

    def _checked_endpoint(self, data: bytes) -> str:
        url = urljoin(self.gateway.url, data.decode(errors="replace").strip())
        # Messages go only where the gateway lives: an upstream cannot aim Forge elsewhere.
        if _origin(url) != _origin(self.gateway.url):
            raise UpstreamBadResponseError(
                f"gateway {self.label} named a message endpoint on another origin"
            )
        if self.access.query is not None:  # a query-parameter credential goes on every request
            url = with_query(url, *self.access.query)
        return url

    async def _write(self, data: bytes) -> None:
        http, endpoint = self._http, self._endpoint
        if http is None or endpoint is None:
            raise ChannelClosedError("has no open event stream")
        headers = await self._credentials({"Content-Type": "application/json"})
        try:
            async with http.post(endpoint, data=data, headers=headers) as response:
                status = response.status
        except (aiohttp.ClientConnectorError, aiohttp.ServerDisconnectedError) as exc:
            if (refused := refusal(exc)) is not None:
                raise refused from None
            raise ChannelClosedError("refused the message") from None
        except aiohttp.ClientError:
            raise UpstreamBadResponseError(f"gateway {self.label} failed a message") from None
        if status == 404:  # it forgot the session behind the endpoint
            raise ChannelClosedError("forgot the session")
        if status == 401:
            raise CredentialsRejectedError(self.label, headers.get("Authorization"))
        if status >= 400:
            raise UpstreamBadResponseError(f"gateway {self.label} answered HTTP {status}")

    async def _disconnect(self) -> None:
        http, reader = self._http, self._reader
        self._http, self._reader, self._endpoint = None, None, None
        if reader is not None:
            reader.cancel()
            await asyncio.wait({reader})
        if http is not None:
            await http.close()
