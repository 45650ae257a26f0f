"""A gateway's OAuth endpoints are checked at registration like its URL (red team F11): http(s)
only, https unless the host is on a network the operator allows, special-purpose addresses
refused unless allowed. The authorize URL is where the edge sends users' browsers."""

from __future__ import annotations

from typing import Any

import pytest
from registry_harness import Client, FakeUpstreamProxy, code_of, error_of

from forge.core.errors import FORBIDDEN, INVALID_PARAMS

UPSTREAM = "http://127.0.0.1:9000/mcp"  # loopback: the harness allows 127.0.0.0/8
TOKEN_URL = "http://127.0.0.1:9/token"


def per_user(authorize_url: str, token_url: str = TOKEN_URL) -> dict[str, Any]:
    """A gateway with per-user OAuth (authorization code), in Forge's own form."""
    auth = {
        "type": "oauth_authorization_code",
        "token_url": token_url,
        "authorize_url": authorize_url,
        "client_id": "forge",
    }
    return {"name": "Per user", "url": UPSTREAM, "auth": auth}


def flat(authorize_url: str) -> dict[str, Any]:
    """The same in ContextForge's flat form."""
    oauth = {
        "grant_type": "authorization_code",
        "token_url": TOKEN_URL,
        "authorization_url": authorize_url,
        "client_id": "forge",
    }
    return {"name": "Per user", "url": UPSTREAM, "auth_type": "oauth", "oauth_config": oauth}


@pytest.mark.parametrize("form", [per_user, flat])
@pytest.mark.parametrize(
    "authorize_url",
    [
        "http://169.254.169.254/",
        "https://169.254.169.254/latest/meta-data/",
        "https://10.0.0.1/authorize",
        "https://[::a9fe:a9fe]/authorize",
        "https://[fd00::1]/authorize",
    ],
)
async def test_an_authorize_url_on_a_special_purpose_address_is_refused(
    client: Client, upstream: FakeUpstreamProxy, form: Any, authorize_url: str
) -> None:
    assert await code_of(client("gateways", "create", form(authorize_url))) == FORBIDDEN
    assert upstream.seen == [] and await client("gateways", "list") == []


@pytest.mark.parametrize("field", ["authorize_url", "token_url"])
async def test_an_oauth_endpoint_in_clear_off_the_allowed_networks_is_refused(
    client: Client, upstream: FakeUpstreamProxy, field: str
) -> None:
    # 8.8.8.8: a public address, no name to resolve.
    urls = {"authorize_url": "https://8.8.8.8/authorize", "token_url": TOKEN_URL}
    urls[field] = f"http://8.8.8.8/{field}"
    error = await error_of(client("gateways", "create", per_user(**urls)))
    assert error.code == INVALID_PARAMS and error.data == {"field": f"auth.{field}"}
    assert upstream.seen == []


@pytest.mark.parametrize(
    "authorize_url", ["javascript:alert(1)", "data:text/html,x", "//8.8.8.8/a", "ftp://8.8.8.8/"]
)
async def test_an_authorize_url_that_is_not_http_is_invalid(
    client: Client, authorize_url: str
) -> None:
    assert await code_of(client("gateways", "create", per_user(authorize_url))) == INVALID_PARAMS


@pytest.mark.parametrize(
    "authorize_url", ["https://8.8.8.8/authorize", "http://127.0.0.1:9/authorize"]
)
async def test_https_anywhere_public_and_http_on_an_allowed_network_pass(
    client: Client, upstream: FakeUpstreamProxy, authorize_url: str
) -> None:
    created = await client("gateways", "create", per_user(authorize_url))
    assert created["auth_type"] == "oauth_authorization_code" and len(upstream.seen) == 1


async def test_an_update_to_a_special_purpose_authorize_url_is_refused(
    client: Client, upstream: FakeUpstreamProxy
) -> None:
    created = await client("gateways", "create", per_user("https://8.8.8.8/authorize"))
    moved = {"id": created["id"], **per_user("http://169.254.169.254/")}
    del moved["name"], moved["url"]
    assert await code_of(client("gateways", "update", moved)) == FORBIDDEN
    assert len(upstream.seen) == 1
