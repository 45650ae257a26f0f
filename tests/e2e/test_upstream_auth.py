"""Upstream credentials through the whole mesh: a user authorizes an upstream in the browser
(OAuth authorization code + PKCE) and their calls carry their own token; RFC 8693 token exchange
trades the caller's JWT for one meant for the upstream, which never sees the caller's own."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from forge.cli.mesh import Mesh
from forge.testing.oauth_server import TOKEN_EXCHANGE, OAuthServer

MODERN = "2026-07-28"
PASSWORD = "Correct-Horse-Battery-9"


@pytest.fixture
def oauth() -> Iterator[OAuthServer]:
    with OAuthServer() as server:
        yield server


def rest(mesh: Mesh, token: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=mesh.url, headers=headers, timeout=30)


async def mcp_call(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await http.post(
        "/mcp",
        headers={"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": name},
        json={
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {
                "name": name,
                "arguments": {},
                "_meta": {"io.modelcontextprotocol/protocolVersion": MODERN},
            },
        },
    )
    body: dict[str, Any] = response.json()
    return body


def seen_by_probe(body: dict[str, Any]) -> Any:
    assert "result" in body, body
    return json.loads(body["result"]["content"][0]["text"])


async def new_user(mesh: Mesh, admin_token: str) -> str:
    """A developer (may call tools) with nothing authorized yet; their session token."""
    email = f"dev-{uuid.uuid4().hex[:8]}@example.com"
    async with rest(mesh, admin_token) as http:
        made = await http.post(
            "/auth/email/admin/users",
            json={"email": email, "password": PASSWORD, "full_name": email, "roles": ["developer"]},
        )
        assert made.status_code in (200, 201), made.text
    async with httpx.AsyncClient(base_url=mesh.url, timeout=30) as http:
        login = await http.post("/auth/login", json={"email": email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        token: str = login.json()["access_token"]
        return token


async def test_a_user_authorizes_an_upstream_and_their_calls_carry_their_own_token(
    mesh: Mesh, admin_token: str, authprobe: str, oauth: OAuthServer
) -> None:
    auth = {
        "type": "oauth_authorization_code",
        "authorize_url": oauth.authorize_url,
        "token_url": oauth.token_url,
        "client_id": "forge",
        "client_secret": "forge-secret",
        "scopes": ["profile", "tools"],
    }
    name = f"per-user-{uuid.uuid4().hex[:6]}"
    async with rest(mesh, admin_token) as http:
        created = await http.post(
            "/gateways", json={"name": name, "url": authprobe, "auth": auth, "visibility": "public"}
        )
        assert created.status_code == 201, created.text
        gateway = created.json()
        assert gateway["auth_type"] == "oauth_authorization_code"
        assert "forge-secret" not in created.text
        try:
            await _authorize_and_call(mesh, admin_token, http, gateway, oauth)
        finally:
            await http.delete(f"/gateways/{gateway['id']}")


async def _authorize_and_call(
    mesh: Mesh,
    admin_token: str,
    http: httpx.AsyncClient,
    gateway: dict[str, Any],
    oauth: OAuthServer,
) -> None:
    authorize_url = f"{mesh.url}/gateways/{gateway['id']}/oauth/authorize"
    # Registered before anyone could authorize: listing its tools needs someone's authorization.
    early = await http.post(f"/gateways/{gateway['id']}/tools/refresh")
    assert early.status_code == 403, early.text
    assert early.json()["code"] == -32005
    assert early.json()["data"]["authorize_url"] == authorize_url

    # The browser: Forge's authorize route, the authorization server, Forge's callback.
    start = await http.get(authorize_url)
    assert start.status_code == 302, start.text
    location = start.headers["location"]
    assert location.startswith(oauth.authorize_url)
    asked = parse_qs(urlsplit(location).query)
    assert asked["client_id"] == ["forge"]
    assert asked["redirect_uri"] == [f"{mesh.url}/oauth/callback"]
    assert asked["code_challenge_method"] == ["S256"] and asked["scope"] == ["profile tools"]
    async with httpx.AsyncClient(timeout=30) as browser:
        consent = await browser.get(location)
        assert consent.status_code == 302
        back = consent.headers["location"]
        assert back.startswith(f"{mesh.url}/oauth/callback?")
        done = await browser.get(back, headers={"Accept": "application/json"})
        assert done.status_code == 200, done.text
        assert done.json()["authorized"] is True
        again = await browser.get(back, headers={"Accept": "application/json"})
        assert again.status_code == 403  # a code is good once
        forged = await browser.get(f"{mesh.url}/oauth/callback?code=x&state=forged")
        assert forged.status_code == 400 and "text/html" in forged.headers["content-type"]
    grant, replayed = oauth.grants("authorization_code")
    assert grant.client_id == "forge" and replayed.form["code"] == grant.form["code"]
    assert grant.form["redirect_uri"] == f"{mesh.url}/oauth/callback"

    refreshed = await http.post(f"/gateways/{gateway['id']}/tools/refresh")
    assert refreshed.status_code == 200, refreshed.text
    seen = seen_by_probe(await mcp_call(http, f"{gateway['slug']}-whoami"))
    token = seen["authorization"].removeprefix("Bearer ")
    assert oauth.issued[token].grant_type == "authorization_code"
    assert admin_token not in json.dumps(seen)

    # Someone else has not authorized: told where to go, not served with the admin's token.
    other = await new_user(mesh, admin_token)
    async with rest(mesh, other) as theirs:
        refused = await mcp_call(theirs, f"{gateway['slug']}-whoami")
    assert refused["error"]["code"] == -32005, refused
    assert refused["error"]["data"] == {"authorize_url": authorize_url}


async def test_token_exchange_sends_the_upstream_a_token_of_its_own(
    mesh: Mesh, admin_token: str, authprobe: str, oauth: OAuthServer
) -> None:
    auth = {
        "type": "token_exchange",
        "token_url": oauth.token_url,
        "client_id": "forge",
        "client_secret": "forge-secret",
        "audience": "authprobe",
    }
    name = f"exchange-{uuid.uuid4().hex[:6]}"
    async with rest(mesh, admin_token) as http:
        created = await http.post(
            "/gateways", json={"name": name, "url": authprobe, "auth": auth, "visibility": "public"}
        )
        assert created.status_code == 201, created.text
        gateway = created.json()
        try:
            body = await mcp_call(http, f"{gateway['slug']}-whoami")
            seen = seen_by_probe(body)
            token = seen["authorization"].removeprefix("Bearer ")
            assert oauth.issued[token].grant_type == TOKEN_EXCHANGE
            # The authorization server saw the caller's own JWT; the upstream never did.
            assert oauth.issued[token].subject_token == admin_token
            everything = seen_by_probe(await mcp_call(http, f"{gateway['slug']}-seen"))
            assert admin_token not in json.dumps(everything)
            exchanges = oauth.grants(TOKEN_EXCHANGE)
            assert exchanges and all(r.form["audience"] == "authprobe" for r in exchanges)
        finally:
            await http.delete(f"/gateways/{gateway['id']}")
