"""The guarded clients (aiohttp and httpx2) refuse a forbidden address where the socket is
made: an IP literal, a name resolving to it, a redirect to it. The listener receives nothing."""

from __future__ import annotations

from collections.abc import Iterator

import aiohttp
import httpx2
import pytest

from forge.core import httpx_dialer
from forge.core.aiohttp_dialer import Dialer, refusal
from forge.core.netguard import AddressForbiddenError, NetGuard
from forge.testing.listener import Listener


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener() as server:
        yield server


@pytest.fixture
def elsewhere(listener: Listener) -> Iterator[Listener]:
    """On 127.0.0.2 (the only address allowed), redirecting to the forbidden listener."""
    with Listener("127.0.0.2", redirect_to=listener.url + "/stolen") as server:
        yield server


ONLY_ELSEWHERE = "127.0.0.2/32"


def localhost(listener: Listener) -> str:
    return listener.url.replace("127.0.0.1", "localhost")


async def aiohttp_post(guard: NetGuard, url: str) -> int:
    async with Dialer(guard, 5).client() as http, http.post(url, data=b"{}") as response:
        return response.status


async def httpx_post(guard: NetGuard, url: str) -> int:
    async with httpx_dialer.client(guard, follow_redirects=True, timeout=5) as http:
        return (await http.post(url, content=b"{}")).status_code


async def test_aiohttp_refuses_a_forbidden_literal_and_name(listener: Listener) -> None:
    for url in (listener.url, localhost(listener)):
        with pytest.raises(aiohttp.ClientConnectorError) as caught:
            await aiohttp_post(NetGuard(), url)
        assert isinstance(refusal(caught.value), AddressForbiddenError)
    assert listener.received == 0


async def test_aiohttp_refuses_a_redirect_to_a_forbidden_address(
    listener: Listener, elsewhere: Listener
) -> None:
    with pytest.raises(aiohttp.ClientConnectorError) as caught:
        await aiohttp_post(NetGuard(ONLY_ELSEWHERE), elsewhere.url)
    assert refusal(caught.value) is not None
    assert elsewhere.received == 1 and listener.received == 0


async def test_aiohttp_dials_an_allowed_address(listener: Listener) -> None:
    assert await aiohttp_post(NetGuard("127.0.0.0/8"), listener.url) == 200
    assert listener.requests == [("POST", "/", b"{}")]


async def test_httpx_refuses_a_forbidden_literal_and_name(listener: Listener) -> None:
    for url in (listener.url, localhost(listener)):
        with pytest.raises(httpx2.ConnectError) as caught:
            await httpx_post(NetGuard(), url)
        refused = httpx_dialer.refusal(caught.value)
        assert refused is not None and refused.to_object().code == -32005
    assert listener.received == 0


async def test_httpx_refuses_a_redirect_to_a_forbidden_address(
    listener: Listener, elsewhere: Listener
) -> None:
    with pytest.raises(httpx2.ConnectError) as caught:
        await httpx_post(NetGuard(ONLY_ELSEWHERE), elsewhere.url)
    assert httpx_dialer.refusal(caught.value) is not None
    assert elsewhere.received == 1 and listener.received == 0


async def test_httpx_dials_an_allowed_address_by_name(listener: Listener) -> None:
    assert await httpx_post(NetGuard("127.0.0.0/8,::1/128"), localhost(listener)) == 200
    assert listener.requests == [("POST", "/", b"{}")]


async def test_httpx_ignores_an_environment_proxy(
    listener: Listener, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A proxy would be dialled instead of the checked address: the guarded client never uses one.
    monkeypatch.setenv("HTTP_PROXY", "http://203.0.113.1:3128")
    monkeypatch.setenv("ALL_PROXY", "http://203.0.113.1:3128")
    assert await httpx_post(NetGuard("127.0.0.0/8"), listener.url) == 200
