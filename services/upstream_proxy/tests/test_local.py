"""The local upstream (FORGE_EDGE_UPSTREAM=local, docs/decisions/0035-edge-local-upstream-calls.md):
which gateways it calls itself, and that it never opens a credential or starts a child."""

from __future__ import annotations

import msgspec
import pytest
from auth_harness import SECRET_KEYS, sealed_gateway

from forge.core.errors import UpstreamUnavailableError
from forge.proto.catalog import Gateway, UpstreamAuth
from forge.proto.envelope import Envelope, Principal
from forge.testing.membus import MemoryBus
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.eras.inflight import InFlight
from forge.upstream_proxy.local import LocalUpstream, takes


def gateway(**fields: object) -> Gateway:
    base: dict[str, object] = {"id": "g1", "name": "g", "slug": "g", "url": "http://up/mcp"}
    return Gateway(**{**base, **fields})  # type: ignore[arg-type]


@pytest.mark.parametrize("transport", ["streamablehttp", "sse", "websocket"])
def test_a_network_gateway_without_a_credential_is_called_locally(transport: str) -> None:
    assert takes(gateway(transport=transport))


@pytest.mark.parametrize(
    "fields",
    [
        {"transport": "stdio", "url": "", "command": ["python", "-m", "x"]},
        {"auth_type": "bearer", "auth": "sealed"},
        {"auth_type": "oauth_authorization_code", "auth": "sealed"},
        {"auth_type": "none", "auth": "sealed"},
        {"transport": "grpc-of-some-kind"},
    ],
)
def test_stdio_credentials_and_unknown_transports_stay_with_the_upstream_proxy(
    fields: dict[str, object],
) -> None:
    assert not takes(gateway(**fields))


def test_it_opens_no_sealed_credential_and_starts_no_child_whatever_its_settings_say() -> None:
    config = UpstreamProxyConfig(
        secret_keys=SECRET_KEYS, jwt_secret="s" * 40, stdio_allowed_commands="python -m x"
    )
    local = LocalUpstream(MemoryBus(), config)
    sealed = sealed_gateway("http://up/mcp", UpstreamAuth(type="bearer", token="t"))
    with pytest.raises(UpstreamUnavailableError, match="FORGE_SECRET_KEYS"):
        local.credentials.open(sealed)
    assert local.pool.launcher.allowed == ""


async def test_a_notification_for_a_request_held_here_is_handed_over_not_published() -> None:
    # Before the call's result, which the edge gets in process: on the bus it could come after.
    bus = MemoryBus()
    here: list[tuple[str, bytes]] = []

    def local(request_id: str, data: bytes) -> bool:
        if request_id != "held-here":
            return False
        here.append((request_id, data))
        return True

    principal = Principal(subject="alice")
    for request_id in ("held-here", "held-elsewhere"):
        envelope = Envelope(
            id=request_id,
            method="tools/call",
            params=msgspec.Raw(b"{}"),
            principal=principal,
            deadline=1e12,
        )
        await InFlight(bus, envelope, local).notify(b'{"method":"notifications/progress"}')
    assert here == [("held-here", b'{"method":"notifications/progress"}')]
    assert bus.published == [
        ("forge.stream.held-elsewhere", b'{"method":"notifications/progress"}')
    ]
