"""The SSRF guard at connect time for aiohttp: every address a session dials is checked first.

The check sits where the socket is made, not where the URL is read, so that a name that
re-resolves to 127.0.0.1 (DNS rebinding), an IP literal and an HTTP redirect are all caught:
aiohttp gets a socket factory that refuses forbidden addresses. Clients that dial themselves
(the upstream-proxy's lean HTTP client) connect to `addresses()`, each checked.
"""

from __future__ import annotations

import socket
import ssl

import aiohttp
from aiohappyeyeballs import AddrInfoType

from forge.core.netguard import AddressForbiddenError, NetGuard


class ForbiddenAddressError(OSError):
    """Raised inside aiohttp's connect: it wraps OSErrors, and `refusal` unwraps this one.

    One fixed message, so that when every address of a name is refused (127.0.0.1 and ::1 for
    `localhost`) happy eyeballs re-raises this error rather than a merged plain OSError.
    """

    def __init__(self, error: AddressForbiddenError) -> None:
        super().__init__("forbidden address")
        self.error = error


def refusal(exc: BaseException) -> AddressForbiddenError | None:
    """The guard's refusal behind an aiohttp connection error, if that is what it was."""
    if isinstance(exc, aiohttp.ClientConnectorError) and isinstance(
        exc.os_error, ForbiddenAddressError
    ):
        return exc.os_error.error
    return None


class Dialer:
    """Makes aiohttp sessions whose every connection goes through the guard."""

    def __init__(self, guard: NetGuard, connect_timeout_s: float) -> None:
        self.guard = guard
        self.connect_timeout_s = connect_timeout_s

    def _socket(self, addr_info: AddrInfoType) -> socket.socket:
        family, kind, proto, _, address = addr_info
        try:
            self.guard.check_address(str(address[0]))
        except AddressForbiddenError as exc:
            raise ForbiddenAddressError(exc) from None
        return socket.socket(family=family, type=kind, proto=proto)

    def client(
        self, *, ssl_context: ssl.SSLContext | None = None, limit: int = 100
    ) -> aiohttp.ClientSession:
        """An aiohttp session whose every connection goes through the guard."""
        connector = aiohttp.TCPConnector(
            limit=limit,
            ssl=ssl_context if ssl_context is not None else True,
            socket_factory=self._socket,
        )
        return aiohttp.ClientSession(
            connector=connector,
            # The call's deadline bounds everything else; only connecting has its own limit.
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=self.connect_timeout_s),
            cookie_jar=aiohttp.DummyCookieJar(),
            # An environment's HTTP(S)_PROXY would dial the proxy, not the checked address.
            trust_env=False,
        )

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to dial for `host`, each checked (the lean client connects to these)."""
        return await self.guard.addresses(host, port)
