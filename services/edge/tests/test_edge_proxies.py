"""The client address comes from X-Forwarded-For only when the socket peer is a listed proxy."""

from __future__ import annotations

from typing import Any

import pytest

from forge.core.config import ConfigError
from forge.edge.auth.proxies import TrustedProxies, parse_networks


def test_nothing_is_trusted_by_default_not_even_loopback() -> None:
    proxies = TrustedProxies(parse_networks(""))
    assert proxies.client("127.0.0.1", [b"10.20.0.5"]) == "127.0.0.1"


def test_a_listed_proxy_names_the_client() -> None:
    proxies = TrustedProxies(parse_networks("127.0.0.1, 10.0.0.0/8"))
    assert proxies.client("127.0.0.1", [b"203.0.113.9"]) == "203.0.113.9"
    # Walked from the right over trusted hops: the client cannot put itself further left.
    assert proxies.client("127.0.0.1", [b"10.20.0.5, 198.51.100.7, 10.1.1.1"]) == "198.51.100.7"
    assert proxies.client("127.0.0.1", [b"198.51.100.7", b"10.1.1.1"]) == "198.51.100.7"


def test_an_unlisted_peer_is_the_client_whatever_it_sends() -> None:
    proxies = TrustedProxies(parse_networks("10.0.0.0/8"))
    assert proxies.client("127.0.0.1", [b"10.20.0.5"]) == "127.0.0.1"


def test_garbage_in_the_header_stops_at_the_nearest_hop() -> None:
    proxies = TrustedProxies(parse_networks("127.0.0.1"))
    assert proxies.client("127.0.0.1", [b"not-an-ip"]) == "127.0.0.1"
    assert proxies.client("127.0.0.1", [b"nonsense, 198.51.100.7"]) == "198.51.100.7"


def test_a_misspelt_proxy_fails_at_start() -> None:
    with pytest.raises(ConfigError):
        parse_networks("127.0.0.1, localhost")


async def test_the_wrapper_rewrites_the_client_of_the_scope() -> None:
    seen: list[Any] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["client"])

    wrapped = TrustedProxies(parse_networks("127.0.0.1")).wrap(app)
    for peer, xff in (("127.0.0.1", b"192.0.2.1"), ("192.0.2.50", b"10.1.1.1")):
        scope = {"type": "http", "client": (peer, 5000), "headers": [(b"x-forwarded-for", xff)]}
        await wrapped(scope, None, None)
    assert seen == [("192.0.2.1", 0), ("192.0.2.50", 5000)]
    assert TrustedProxies(()).wrap(app) is app
