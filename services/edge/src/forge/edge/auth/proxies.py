"""Which client address the edge believes: the socket's peer, unless that peer is a proxy the
operator listed, whose `X-Forwarded-For` then names the client.

The address decides API token CIDR scopes, so it is never taken from a header by default:
uvicorn's own proxy-header handling (which trusts 127.0.0.1 out of the box) is turned off, and
`Forwarded` and `X-Real-IP` are never read. Behind a trusted proxy, the X-Forwarded-For list is
walked from the right, over the proxies we trust, to the first address we do not: the client.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from forge.core.config import ConfigError
from forge.edge.http import Receive, Scope, Send

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(spec: str) -> tuple[Network, ...]:
    """`FORGE_EDGE_TRUSTED_PROXIES`: addresses or CIDRs, comma-separated."""
    networks = []
    for item in (part.strip() for part in spec.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError as exc:
            raise ConfigError(
                f"FORGE_EDGE_TRUSTED_PROXIES: {item!r} is not an address or CIDR"
            ) from exc
    return tuple(networks)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class TrustedProxies:
    def __init__(self, networks: tuple[Network, ...]) -> None:
        self.networks = networks

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address in n for n in self.networks)

    def client(self, peer: str, forwarded_for: list[bytes]) -> str:
        """The client's address, given the socket peer and its X-Forwarded-For values."""
        if not self.trusts(_address(peer)):
            return peer
        hops = [h for v in forwarded_for for h in v.decode("latin-1").split(",")]
        client = peer
        for hop in reversed(hops):
            address = _address(hop)
            if address is None:
                break  # garbage: keep the nearest hop we could read
            client = str(address)
            if not self.trusts(address):
                break
        return client

    def wrap(self, app: Any) -> Any:
        """`app` with `scope["client"]` rewritten from trusted proxies' headers; `app` itself
        when no proxy is trusted (no per-request cost)."""
        if not self.networks:
            return app

        async def forwarded(scope: Scope, receive: Receive, send: Send) -> None:
            peer = scope.get("client")
            if scope["type"] in ("http", "websocket") and peer:
                hops = [v for k, v in scope["headers"] if k == b"x-forwarded-for"]
                client = self.client(str(peer[0]), hops)
                if client != peer[0]:
                    scope = {**scope, "client": (client, 0)}
            await app(scope, receive, send)

        return forwarded
