"""The local upstream (FORGE_EDGE_UPSTREAM=local, docs/decisions/0035-edge-local-upstream-calls.md):
which gateways it calls itself, and that it never opens a credential or starts a child."""

from __future__ import annotations

import pytest
from auth_harness import SECRET_KEYS, sealed_gateway

from forge.core.errors import UpstreamUnavailableError
from forge.core.upstream_auth import UpstreamAuth
from forge.proto.catalog import Gateway
from forge.testing.membus import MemoryBus
from forge.upstream_proxy.config import UpstreamProxyConfig
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
