"""The SSRF guard at connect time for httpx2 (and what is built on it: the MCP SDK's client,
authlib's OAuth2 client): a transport whose every TCP connection goes through the guard.

httpcore dials through a network backend; ours resolves the name itself, checks every address
(forge.core.netguard) and connects to a checked one, so DNS rebinding, IP literals and
redirects are caught where the socket is made. TLS still verifies the URL's host name.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

import httpcore2
import httpx2
from httpcore2 import AsyncNetworkBackend, AsyncNetworkStream

from forge.core.netguard import AddressForbiddenError, NetGuard

SocketOption = Any  # httpcore's SOCKET_OPTION (a private alias)


class ForbiddenConnectError(httpcore2.ConnectError):
    """A refused connection as httpx sees it (an httpx2.ConnectError); `refusal` finds it."""

    def __init__(self, error: AddressForbiddenError) -> None:
        super().__init__("forbidden address")
        self.error = error


def refusal(exc: BaseException) -> AddressForbiddenError | None:
    """The guard's refusal behind an httpx error (or an exception group holding one)."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ForbiddenConnectError):
            return current.error
        if isinstance(current, AddressForbiddenError):
            return current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
    return None


class GuardedBackend(AsyncNetworkBackend):
    """Connects only to addresses the guard permits."""

    def __init__(self, guard: NetGuard) -> None:
        self.guard = guard
        self.inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> AsyncNetworkStream:
        try:
            addresses = await self.guard.addresses(host, port)
        except AddressForbiddenError as exc:
            raise ForbiddenConnectError(exc) from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                failure = exc
        raise failure or httpcore2.ConnectError(f"no address for {host}")

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[SocketOption] | None = None,
    ) -> AsyncNetworkStream:
        raise httpcore2.ConnectError("unix sockets are not dialled through the SSRF guard")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx's transport with the guarded backend (and never an environment's proxy, which
    would be dialled instead of the checked address)."""

    def __init__(self, guard: NetGuard, verify: ssl.SSLContext | bool = True) -> None:
        super().__init__(verify=verify, trust_env=False)
        limits = httpx2.Limits(max_connections=100, max_keepalive_connections=20)
        # httpx has no setting for the network backend: the pool it built is replaced by the
        # same one dialling through the guard.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(guard),
        )


def client(guard: NetGuard, **settings: Any) -> httpx2.AsyncClient:
    """An httpx2 client whose every connection goes through `guard`."""
    return httpx2.AsyncClient(transport=GuardedTransport(guard), trust_env=False, **settings)
