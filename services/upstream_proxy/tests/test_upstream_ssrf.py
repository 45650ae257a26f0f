"""The SSRF guard at connect time: upstreams and token endpoints on forbidden addresses are
refused before any connection is made, whatever transport dials them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from auth_harness import SECRET_KEYS, sealed_gateway
from proxy_harness import call, discover, tool_call

from conftest import StartProxy
from forge.core.aiohttp_dialer import Dialer
from forge.core.bus import NatsBus
from forge.core.config import ConfigError
from forge.core.errors import FORBIDDEN, ForgeError
from forge.core.netguard import AddressForbiddenError, NetGuard
from forge.proto.catalog import Gateway, UpstreamAuth
from forge.servers.process import ServerProcess, spawn
from forge.testing.listener import Listener
from forge.testing.oauth_server import OAuthServer
from forge.upstream_proxy.app import UpstreamProxy
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.transports.fasthttp import FastHttp


def plain(url: str, transport: str = "streamablehttp") -> Gateway:
    return Gateway(id=uuid.uuid4().hex[:12], name="near", slug="near", url=url, transport=transport)


def refused(exc: ForgeError) -> str:
    """The refused address, after checking that it is the guard's -32005."""
    assert exc.to_object().code == -32005
    assert isinstance(exc.data, dict)
    return str(exc.data["address"])


@pytest.mark.parametrize(
    ("host", "transport", "path", "scheme"),
    [
        ("127.0.0.1", "streamablehttp", "/mcp", "http"),
        ("localhost", "streamablehttp", "/mcp", "http"),
        ("localhost", "streamablehttp", "/mcp", "https"),
        ("127.0.0.1", "sse", "/sse", "http"),
        ("localhost", "websocket", "/ws", "ws"),
    ],
)
async def test_an_upstream_on_loopback_is_refused_without_an_allowance(
    bus: NatsBus,
    start_proxy: StartProxy,
    authprobe: ServerProcess,
    host: str,
    transport: str,
    path: str,
    scheme: str,
) -> None:
    gw = plain(f"{scheme}://{host}:{authprobe.port}{path}", transport)
    await start_proxy(gw, upstream_allowed_networks="")
    with pytest.raises(ForgeError) as caught:
        await call(bus, gw, tool_call("whoami"))
    # -32005 naming the address, not -32001: refused before the connection was made.
    address = refused(caught.value)
    assert address in ("127.0.0.1", "::1") and address in caught.value.message


async def test_registration_of_a_loopback_upstream_is_refused(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess
) -> None:
    await start_proxy(upstream_allowed_networks="")
    with pytest.raises(ForgeError) as caught:
        await discover(bus, plain(f"http://localhost:{authprobe.port}/mcp"))
    assert refused(caught.value) in ("127.0.0.1", "::1")


async def test_the_lean_client_checks_the_address_it_connects_to() -> None:
    client = FastHttp("http://localhost:9/mcp", "'near'", Dialer(NetGuard(""), 5))
    with pytest.raises(AddressForbiddenError) as caught:
        async with client.post("http://localhost:9/mcp", data=b"{}", headers={}):
            pass
    assert refused(caught.value) in ("127.0.0.1", "::1")
    allowed = FastHttp("http://169.254.169.254/", "'metadata'", Dialer(NetGuard(""), 5))
    with pytest.raises(AddressForbiddenError):
        await allowed.connect()


@pytest.fixture(scope="module")
def far_probe() -> Iterator[ServerProcess]:
    """An authprobe on 127.0.0.2: allowed alone, it stands for a permitted upstream."""
    with spawn("forge.servers.authprobe", "--host", "127.0.0.2") as server:
        yield server


async def test_a_token_endpoint_is_dialled_through_the_guard_too(
    bus: NatsBus,
    start_proxy: StartProxy,
    far_probe: ServerProcess,
    oauth_server: OAuthServer,
) -> None:
    auth = UpstreamAuth(
        type="oauth_client_credentials",
        token_url=oauth_server.token_url,  # 127.0.0.1: not allowed
        client_id="forge",
        client_secret="forge-secret",
    )
    gw = sealed_gateway(f"http://127.0.0.2:{far_probe.port}/mcp", auth)
    await start_proxy(gw, secret_keys=SECRET_KEYS, upstream_allowed_networks="127.0.0.2/32")
    with pytest.raises(ForgeError) as caught:
        await call(bus, gw, tool_call("whoami"))
    assert refused(caught.value) == "127.0.0.1"
    assert oauth_server.token_requests == []


async def test_an_allowed_network_is_dialled(
    bus: NatsBus, start_proxy: StartProxy, far_probe: ServerProcess
) -> None:
    gw = plain(f"http://127.0.0.2:{far_probe.port}/mcp")
    await start_proxy(gw, upstream_allowed_networks="127.0.0.2/32")
    assert await call(bus, gw, tool_call("echo", text="near enough"))


async def test_a_malformed_allowance_fails_at_start(bus: NatsBus) -> None:
    with pytest.raises(ConfigError):
        UpstreamProxy(bus, UpstreamProxyConfig(upstream_allowed_networks="10.0.0.0/33"))


@pytest.mark.parametrize("location", ["http://0:9/x", "http://2130706433:9/x", "ftp://h/x"])
async def test_a_redirect_to_an_address_aiohttp_refuses_is_refused_like_a_forbidden_address(
    bus: NatsBus, start_proxy: StartProxy, location: str
) -> None:
    """Red-team F2: aiohttp's InvalidUrlClientError came out as a 500."""
    with Listener(redirect_to=location, redirect_status=302) as redirector:
        gw = plain(f"{redirector.url}/mcp")
        await start_proxy(gw, upstream_allowed_networks="127.0.0.0/8")
        with pytest.raises(ForgeError) as caught:
            await discover(bus, gw)
    assert caught.value.to_object().code == FORBIDDEN
