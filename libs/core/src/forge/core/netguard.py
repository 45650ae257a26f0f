"""SSRF guard: outbound upstream connections refuse private, loopback and link-local addresses.

Checked after DNS resolution, on every address a name resolves to, and again at connect time by
whoever dials (so a name that later re-resolves to 127.0.0.1 is still refused). Operators allow
networks explicitly: `FORGE_UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8,10.1.0.0/16`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from forge.core.errors import ForbiddenError, InvalidParamsError, UpstreamUnavailableError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Never reachable from Forge unless allowed: RFC 1918, loopback, link-local (cloud metadata lives
# at 169.254.169.254), CGNAT, "this network", unique-local and multicast/reserved ranges.
BLOCKED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.0.0.0/24", "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
        "240.0.0.0/4", "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
        "64:ff9b::/96",
    )
)  # fmt: skip


class UpstreamAddressForbiddenError(ForbiddenError):
    """The upstream resolves to an address outside what the operator allows."""


def parse_networks(spec: str | Iterable[str]) -> tuple[Network, ...]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[Network] = []
    for item in items:
        item = item.strip()
        if not item:
            continue
        try:
            out.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ValueError(f"not a network: {item!r} (use CIDR, e.g. 10.0.0.0/8)") from exc
    return tuple(out)


class NetGuard:
    """Decides whether an address may be dialled; resolves names and checks every answer."""

    def __init__(self, allowed: str | Iterable[str] = ()) -> None:
        self.allowed = parse_networks(allowed)

    def permits(self, address: str) -> bool:
        try:
            ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        if any(ip in net for net in self.allowed):
            return True
        return not any(ip in net for net in BLOCKED)

    def check_address(self, address: str, host: str | None = None) -> None:
        if not self.permits(address):
            shown = f"{host} ({address})" if host and host != address else address
            raise UpstreamAddressForbiddenError(
                f"upstream address {shown} is private, loopback or link-local; an operator can"
                " allow it with FORGE_UPSTREAM_ALLOWED_NETWORKS",
                {"address": address},
            )

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to, each checked; refused if any is not permitted."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise UpstreamUnavailableError(f"cannot resolve upstream host {host!r}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            self.check_address(address, host)
        return addresses

    async def check_url(self, url: str) -> list[str]:
        """Resolve an http(s)/ws(s) URL's host and check it; returns the permitted addresses."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise InvalidParamsError(f"not an http(s) or ws(s) URL: {url!r}", {"field": "url"})
        try:
            port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
        except ValueError as exc:
            raise InvalidParamsError(f"bad port in {url!r}", {"field": "url"}) from exc
        return await self.resolve(parts.hostname, port)
