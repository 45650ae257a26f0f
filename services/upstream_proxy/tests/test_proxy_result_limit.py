"""FORGE_UPSTREAM_PROXY_MAX_RESULT_BYTES: results up to it pass whole, larger ones are -32014."""

from __future__ import annotations

import msgspec
import pytest
from proxy_harness import call, envelope, gateway, text_of

from conftest import StartProxy
from forge.core.bus import NatsBus
from forge.core.config import ConfigError
from forge.core.errors import RESULT_TOO_LARGE, ResultTooLargeError
from forge.servers.process import ServerProcess
from forge.upstream_proxy.config import UpstreamProxyConfig

LIMIT = 2 * 1024 * 1024


async def test_a_result_up_to_the_limit_passes_whole(
    bus: NatsBus, start_proxy: StartProxy, fastecho_modern: ServerProcess
) -> None:
    gw = gateway(fastecho_modern.url)
    await start_proxy(gw, max_result_bytes=LIMIT)
    # Larger than NATS's 1 MiB max_payload: it crosses the bus by claim.
    result = await call(
        bus, gw, envelope("tools/call", {"name": "blob", "arguments": {"size": LIMIT - 200}})
    )
    assert text_of(result) == "x" * (LIMIT - 200)


async def test_a_result_over_the_limit_is_a_result_too_large_error(
    bus: NatsBus, start_proxy: StartProxy, fastecho_modern: ServerProcess
) -> None:
    gw = gateway(fastecho_modern.url)
    await start_proxy(gw, max_result_bytes=LIMIT)
    with pytest.raises(ResultTooLargeError) as caught:
        await call(bus, gw, envelope("tools/call", {"name": "blob", "arguments": {"size": LIMIT}}))
    assert caught.value.code == RESULT_TOO_LARGE
    assert caught.value.data["limit"] == LIMIT


async def test_a_limit_beyond_what_the_bus_carries_fails_at_start(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    with pytest.raises(ConfigError):
        await start_proxy(max_result_bytes=1024**3)


def test_the_default_limit_is_16_mib() -> None:
    assert msgspec.convert({}, UpstreamProxyConfig).max_result_bytes == 16 * 1024 * 1024
