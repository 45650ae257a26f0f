"""SSRF guard: outbound connections refuse every IANA special-purpose address unless allowed.

One guard for every service that dials out (upstreams, token endpoints, webhooks, external
plugins, SSO providers). It is checked after DNS resolution, on every address a name resolves
to, and again at connect time by the guarded clients (forge.core.aiohttp_dialer,
forge.core.httpx_dialer), so a name that later re-resolves to 127.0.0.1 (DNS rebinding) and a
redirect are refused too. Operators allow networks explicitly with the one shared setting
`FORGE_UPSTREAM_ALLOWED_NETWORKS=127.0.0.0/8,10.1.0.0/16`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from forge.core.errors import ForbiddenError, InvalidParamsError, UpstreamUnavailableError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address
SETTING = "FORGE_UPSTREAM_ALLOWED_NETWORKS"


def _low32(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)


def _sixtofour(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    return ipaddress.IPv4Address((int(ip) >> 80) & 0xFFFFFFFF)  # 2002:AABB:CCDD::/48


@dataclass(frozen=True)
class Special:
    """One special-purpose range. `embeds`: the IPv4 address a translating range carries,
    which is judged instead (64:ff9b::127.0.0.1 reaches 127.0.0.1 through a NAT64)."""

    network: Network
    name: str
    embeds: Callable[[ipaddress.IPv6Address], ipaddress.IPv4Address] | None = None


def _s(
    cidr: str,
    name: str,
    embeds: Callable[[ipaddress.IPv6Address], ipaddress.IPv4Address] | None = None,
) -> Special:
    return Special(ipaddress.ip_network(cidr), name, embeds)


# The IANA IPv4 and IPv6 Special-Purpose Address Registries (and multicast), whole ranges:
# an entry's sub-blocks that IANA marks globally reachable (PCP/TURN anycast) are rarely an
# upstream, and an operator can allow them.
SPECIAL: tuple[Special, ...] = (
    _s("0.0.0.0/8", "this network (RFC 791)"),
    _s("10.0.0.0/8", "private use (RFC 1918)"),
    _s("100.64.0.0/10", "shared address space, CGNAT (RFC 6598)"),
    _s("127.0.0.0/8", "loopback (RFC 1122)"),
    _s("169.254.0.0/16", "link local, cloud metadata (RFC 3927)"),
    _s("172.16.0.0/12", "private use (RFC 1918)"),
    _s("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    _s("192.0.2.0/24", "documentation TEST-NET-1 (RFC 5737)"),
    _s("192.31.196.0/24", "AS112-v4 (RFC 7535)"),
    _s("192.52.193.0/24", "AMT (RFC 7450)"),
    _s("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
    _s("192.168.0.0/16", "private use (RFC 1918)"),
    _s("192.175.48.0/24", "direct delegation AS112 service (RFC 7534)"),
    _s("198.18.0.0/15", "benchmarking (RFC 2544)"),
    _s("198.51.100.0/24", "documentation TEST-NET-2 (RFC 5737)"),
    _s("203.0.113.0/24", "documentation TEST-NET-3 (RFC 5737)"),
    _s("224.0.0.0/4", "multicast (RFC 5771)"),
    _s("255.255.255.255/32", "limited broadcast (RFC 919)"),  # before 240/4, which holds it
    _s("240.0.0.0/4", "reserved (RFC 1112)"),
    _s("::/128", "unspecified (RFC 4291)"),
    _s("::1/128", "loopback (RFC 4291)"),
    _s("::ffff:0:0/96", "IPv4-mapped (RFC 4291)", _low32),
    _s("64:ff9b::/96", "IPv4-IPv6 translation (RFC 6052)", _low32),
    # Local-use NAT64: the prefix length (where the IPv4 address sits) is the site's choice.
    _s("64:ff9b:1::/48", "local-use IPv4-IPv6 translation (RFC 8215)"),
    # The rest of ::/8 (which holds the entries above: they come first). Its forms that embed
    # an IPv4 address are named for the error and refused whole, never judged by that address:
    # what dials them (a host's automatic tunnel, an SIIT translator) is outside what we know.
    _s("::/96", "IPv4-compatible, deprecated (RFC 4291)"),
    _s("::ffff:0:0:0/96", "IPv4-translated, SIIT (RFC 2765)"),
    _s("::/8", "reserved by the IETF (RFC 4291)"),
    _s("100::/64", "discard-only (RFC 6666)"),
    # Teredo embeds its server's IPv4 address and its client's, obfuscated; a relay reaches
    # the client's NAT, whatever that is: refused whole (before 2001::/23, which holds it).
    _s("2001::/32", "Teredo (RFC 4380)"),
    _s("2001::/23", "IETF protocol assignments, ORCHID (RFC 2928)"),
    _s("2001:db8::/32", "documentation (RFC 3849)"),
    _s("2002::/16", "6to4 (RFC 3056)", _sixtofour),
    _s("2620:4f:8000::/48", "direct delegation AS112 service (RFC 7534)"),
    _s("3fff::/20", "documentation (RFC 9637)"),
    _s("5f00::/16", "segment routing SIDs (RFC 9602)"),
    _s("fc00::/7", "unique local (RFC 4193)"),
    _s("fe80::/10", "link local (RFC 4291)"),
    _s("fec0::/10", "deprecated site local (RFC 3879)"),
    _s("ff00::/8", "multicast (RFC 4291)"),
)


def special(ip: Address) -> Special | None:
    """The special-purpose range `ip` is in, if any."""
    for entry in SPECIAL:
        if ip.version == entry.network.version and ip in entry.network:
            return entry
    return None


# A host whose last label is a number (decimal, or 0x hex) is an IPv4 address to the URL
# standard and to inet_aton, which also read 2130706433, 0177.0.0.1, 0x7f.1 and 127.1 as
# 127.0.0.1; aiohttp refuses those forms outright. Only the dotted quad is accepted, so that
# what the guard judges is what every client dials.
_NUMBER = re.compile(r"(?:[0-9]+|0[xX][0-9a-fA-F]*)")


def noncanonical_ipv4(host: str) -> bool:
    """Whether `host` reads as an IPv4 address that is not a plain dotted quad."""
    last = host.removesuffix(".").rsplit(".", 1)[-1]
    if ":" in host or not _NUMBER.fullmatch(last):
        return False
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return True
    return False


class AddressForbiddenError(ForbiddenError):
    """An outbound connection's address is outside what the operator allows."""


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
        return self._permits(ip)

    def on_allowed_network(self, address: str) -> bool:
        """Whether the operator allowed this address's network outright (not merely a public
        address the guard lets through)."""
        try:
            ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return False
        return self._on_allowed_network(ip)

    def _on_allowed_network(self, ip: Address) -> bool:
        return any(ip.version == net.version and ip in net for net in self.allowed)

    def _permits(self, ip: Address) -> bool:
        if self._on_allowed_network(ip):
            return True
        entry = special(ip)
        if entry is None:
            return True
        if entry.embeds is not None and isinstance(ip, ipaddress.IPv6Address):
            return self._permits(entry.embeds(ip))
        return False

    def check_address(self, address: str, host: str | None = None) -> None:
        if not self.permits(address):
            shown = f"{host} ({address})" if host and host != address else address
            raise AddressForbiddenError(
                f"address {shown} is in a special-purpose range (private, loopback, link-local,"
                f" reserved...); an operator can allow it with {SETTING}",
                {"address": address},
            )

    async def resolve(self, host: str, port: int) -> list[str]:
        """Every address `host` resolves to, each checked; refused if any is not permitted."""
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (socket.gaierror, UnicodeError) as exc:
            raise UpstreamUnavailableError(f"cannot resolve host {host!r}") from exc
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        for address in addresses:
            self.check_address(address, host)
        return addresses

    async def check_url(self, url: str, field: str = "url") -> list[str]:
        """Resolve an http(s)/ws(s) URL's host and check it; returns the permitted addresses."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https", "ws", "wss") or not parts.hostname:
            raise InvalidParamsError(f"not an http(s) or ws(s) URL: {url!r}", {"field": field})
        try:
            port = parts.port or (443 if parts.scheme in ("https", "wss") else 80)
        except ValueError as exc:
            raise InvalidParamsError(f"bad port in {url!r}", {"field": field}) from exc
        if noncanonical_ipv4(parts.hostname):
            raise InvalidParamsError(
                f"{field} names an IPv4 address in a non-canonical form: write it a.b.c.d",
                {"field": field},
            )
        return await self.resolve(parts.hostname, port)

    async def addresses(self, host: str, port: int) -> list[str]:
        """The addresses to dial for `host` (an IP literal or a name), each checked."""
        if noncanonical_ipv4(host):  # registered before check_url refused it, or a redirect
            raise UpstreamUnavailableError(f"host {host!r} is not a canonical IPv4 address")
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return await self.resolve(host, port)
        self.check_address(host)
        return [host]
