"""Fixtures: sample upstreams as real processes, and an upstream-proxy on the real NATS bus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import msgspec
import pytest
from proxy_harness import ALLOWED_COMMANDS, STDIO_USER, serve_audit

from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.proto.catalog import Gateway, Snapshot
from forge.proto.envelope import Envelope
from forge.servers.process import ServerProcess, spawn
from forge.testing.oauth_server import OAuthServer
from forge.upstream_proxy.app import UpstreamProxy
from forge.upstream_proxy.config import UpstreamProxyConfig

StartProxy = Callable[..., Awaitable[UpstreamProxy]]
# The sample upstreams listen on loopback, which the SSRF guard refuses unless allowed.
LOOPBACK = "127.0.0.0/8,::1/128"


def _server(module: str, *args: str) -> Iterator[ServerProcess]:
    with spawn(module, *args) as server:
        yield server


@pytest.fixture(scope="session")
def demo() -> Iterator[ServerProcess]:
    """The SDK demo server, both eras (legacy answers come as SSE)."""
    yield from _server("forge.servers.demo")


@pytest.fixture(scope="session")
def demo_legacy() -> Iterator[ServerProcess]:
    yield from _server("forge.servers.demo", "--era", "legacy")


@pytest.fixture(scope="session")
def demo_modern() -> Iterator[ServerProcess]:
    """The SDK demo server speaking 2026-07-28 only (the handshake era refused)."""
    yield from _server("forge.servers.demo", "--era", "modern")


@pytest.fixture(scope="session")
def demo_sse() -> Iterator[ServerProcess]:
    """The SDK demo server on the legacy HTTP+SSE transport (/sse)."""
    with spawn("forge.servers.demo", "--transport", "sse", path="/sse") as server:
        yield server


@pytest.fixture(scope="session")
def wsecho() -> Iterator[ServerProcess]:
    """The minimal WebSocket MCP server."""
    with spawn("forge.servers.wsecho", path="/ws", scheme="ws") as server:
        yield server


@pytest.fixture(scope="session", params=["both", "legacy", "modern"])
def fastecho_any(request: pytest.FixtureRequest) -> Iterator[tuple[str, ServerProcess]]:
    with spawn("forge.servers.fastecho", "--era", request.param) as server:
        yield request.param, server


@pytest.fixture
def fastecho_legacy() -> Iterator[ServerProcess]:
    """A fresh legacy-only fastecho per test, so its handshake counts start at zero."""
    yield from _server("forge.servers.fastecho", "--era", "legacy")


@pytest.fixture
def fastecho_modern() -> Iterator[ServerProcess]:
    yield from _server("forge.servers.fastecho", "--era", "modern")


@pytest.fixture(scope="session")
def authprobe() -> Iterator[ServerProcess]:
    """The MCP upstream that reports how it was authenticated (legacy era; /mcp, /sse, /ws)."""
    yield from _server("forge.servers.authprobe", "--era", "legacy")


@pytest.fixture(scope="session")
def authprobe_modern() -> Iterator[ServerProcess]:
    """The authprobe speaking both eras: a Streamable HTTP session with it is modern."""
    yield from _server("forge.servers.authprobe", "--era", "both")


@pytest.fixture
def oauth_server() -> Iterator[OAuthServer]:
    """A real OAuth 2.0 authorization server; its one client is `forge` / `forge-secret`."""
    with OAuthServer() as server:
        yield server


@pytest.fixture
async def start_proxy(bus: NatsBus) -> AsyncIterator[StartProxy]:
    """Start an upstream-proxy whose registry snapshot holds the given gateways.

    Settings are UpstreamProxyConfig fields; loopback upstreams are allowed unless
    `upstream_allowed_networks` says otherwise, and the demo server over stdio unless
    `stdio_allowed_commands` does. Launches are recorded in `start.launches`.
    """
    proxies: list[UpstreamProxy] = []
    launches = await serve_audit(bus)

    async def start(*gateways: Gateway, **settings: object) -> UpstreamProxy:
        snapshot = msgspec.json.encode(Snapshot(gateways=list(gateways), tools=[], servers=[]))

        async def serve_snapshot(env: Envelope) -> bytes:
            return snapshot

        await rpc.serve_envelopes(
            bus, subjects.registry(subjects.CATALOG, "snapshot", "get"), serve_snapshot, queue=None
        )
        settings.setdefault("upstream_allowed_networks", LOOPBACK)
        settings.setdefault("stdio_allowed_commands", ALLOWED_COMMANDS)
        settings.setdefault("stdio_user", STDIO_USER)
        proxy = UpstreamProxy(bus, msgspec.convert(settings, UpstreamProxyConfig))
        await proxy.start()
        proxies.append(proxy)
        return proxy

    start.launches = launches  # type: ignore[attr-defined]
    yield start
    for proxy in proxies:
        await proxy.release()
        await proxy.close()
