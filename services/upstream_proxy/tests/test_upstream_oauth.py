"""OAuth upstream credentials against a real authorization server: client credentials, token
exchange (RFC 8693), and each user's own authorization (code + PKCE)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import httpx
import msgspec
import pytest
from auth_harness import SECRET_KEYS, call_as, sealed_gateway, seen, whoami
from proxy_harness import call, discover, tool_call

from conftest import StartProxy
from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.core.errors import ForgeError
from forge.proto.catalog import Gateway, UpstreamAuth
from forge.proto.envelope import Envelope, Principal
from forge.servers.process import ServerProcess
from forge.testing.oauth_server import TOKEN_EXCHANGE, OAuthServer
from forge.upstream_proxy.app import UpstreamProxy
from forge.upstream_proxy.auth.usertokens import key_of

PUBLIC_URL = "https://forge.example"
REDIRECT_URI = PUBLIC_URL + "/oauth/callback"


def code_of(exc: ForgeError) -> int:
    return exc.to_object().code


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# Client credentials


def client_credentials(oauth: OAuthServer, secret: str = "forge-secret") -> UpstreamAuth:
    return UpstreamAuth(
        type="oauth_client_credentials",
        token_url=oauth.token_url,
        client_id="forge",
        client_secret=secret,
        scopes=["mcp:read", "mcp:call"],
        audience="probe",
    )


@pytest.mark.parametrize("transport", ["streamablehttp", "sse"])
async def test_a_client_credentials_token_is_fetched_once_and_reused(
    bus: NatsBus,
    start_proxy: StartProxy,
    authprobe: ServerProcess,
    oauth_server: OAuthServer,
    transport: str,
) -> None:
    url = authprobe.url if transport == "streamablehttp" else authprobe.url[:-4] + "/sse"
    gw = sealed_gateway(url, client_credentials(oauth_server), transport)
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    first, second = await whoami(bus, gw), await whoami(bus, gw)
    grants = oauth_server.grants("client_credentials")
    assert len(grants) == 1
    assert grants[0].authorization == basic("forge", "forge-secret")
    assert grants[0].form["scope"] == "mcp:read mcp:call"
    assert grants[0].form["audience"] == "probe"
    issued = first["authorization"].removeprefix("Bearer ")
    assert oauth_server.issued[issued].grant_type == "client_credentials"
    assert second["authorization"] == first["authorization"]


async def test_an_upstream_401_fetches_a_new_token_once_and_the_call_succeeds(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = sealed_gateway(authprobe.url, client_credentials(oauth_server))
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    old = (await whoami(bus, gw))["authorization"]
    await call(bus, gw, tool_call("deny", authorization=old))  # the upstream revokes it
    new = (await whoami(bus, gw))["authorization"]
    assert new != old and new.removeprefix("Bearer ") in oauth_server.issued
    assert len(oauth_server.grants("client_credentials")) == 2


async def test_when_even_the_new_token_is_refused_the_call_fails_without_looping(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    oauth_server.token_prefix = doomed = f"doomed-{uuid.uuid4().hex[:8]}-"
    plain = Gateway(id=uuid.uuid4().hex[:12], name="plain", slug="plain", url=authprobe.url)
    gw = sealed_gateway(authprobe.url, client_credentials(oauth_server))
    await start_proxy(plain, gw, secret_keys=SECRET_KEYS)
    await call(bus, plain, tool_call("deny", prefix="Bearer " + doomed))  # every token it issues
    with pytest.raises(ForgeError) as caught:
        await whoami(bus, gw)
    assert code_of(caught.value) == -32003
    assert len(oauth_server.grants("client_credentials")) == 2  # one renewal, no more


async def test_a_token_that_expires_at_once_is_fetched_for_every_call(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    oauth_server.expires_in = 0
    gw = sealed_gateway(authprobe.url, client_credentials(oauth_server))
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    tokens = {(await whoami(bus, gw))["authorization"] for _ in range(3)}
    assert len(tokens) == 3


async def test_a_refused_client_secret_fails_the_call_without_revealing_it(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = sealed_gateway(authprobe.url, client_credentials(oauth_server, secret="wrong-s3cret"))
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    with pytest.raises(ForgeError) as caught:
        await whoami(bus, gw)
    assert code_of(caught.value) == -32001
    assert "wrong-s3cret" not in caught.value.message
    assert "invalid_client" in caught.value.message


# Token exchange


def exchange(oauth: OAuthServer) -> UpstreamAuth:
    return UpstreamAuth(
        type="token_exchange",
        token_url=oauth.token_url,
        client_id="forge",
        client_secret="forge-secret",
        audience="probe-api",
        resource="https://probe.example/mcp",
        scopes=["tools"],
    )


@pytest.mark.parametrize("transport", ["streamablehttp", "websocket"])
async def test_the_upstream_sees_the_exchanged_token_never_the_callers_own(
    bus: NatsBus,
    start_proxy: StartProxy,
    authprobe: ServerProcess,
    oauth_server: OAuthServer,
    transport: str,
) -> None:
    url = authprobe.url if transport == "streamablehttp" else f"ws://127.0.0.1:{authprobe.port}/ws"
    gw = sealed_gateway(url, exchange(oauth_server), transport)
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    own = "eyJhbGciOiJIUzI1NiJ9.caller-" + uuid.uuid4().hex + ".sig"
    found = await whoami(bus, gw, call_as("ada@example.com", token=own, token_id="jti-1"))
    issued = oauth_server.issued[found["authorization"].removeprefix("Bearer ")]
    assert issued.grant_type == TOKEN_EXCHANGE and issued.subject_token == own
    (request,) = oauth_server.grants(TOKEN_EXCHANGE)
    assert request.client_id == "forge" and request.authorization == basic("forge", "forge-secret")
    assert request.form["subject_token"] == own
    assert request.form["subject_token_type"] == "urn:ietf:params:oauth:token-type:jwt"
    assert request.form["audience"] == "probe-api"
    assert request.form["resource"] == "https://probe.example/mcp"
    assert request.form["scope"] == "tools"
    records = await seen(bus, gw, call_as("ada@example.com", "seen", token=own, token_id="jti-1"))
    assert not any(own in msgspec.json.encode(r).decode() for r in records)


async def test_an_exchanged_token_is_cached_per_caller_token(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = sealed_gateway(authprobe.url, exchange(oauth_server))
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    ada = call_as("ada@example.com", token="jwt-ada-1", token_id="a1")
    first, again = await whoami(bus, gw, ada), await whoami(bus, gw, ada)
    other = await whoami(bus, gw, call_as("ada@example.com", token="jwt-ada-2", token_id="a2"))
    assert first["authorization"] == again["authorization"] != other["authorization"]
    assert len(oauth_server.grants(TOKEN_EXCHANGE)) == 2


async def test_a_caller_without_a_jwt_gets_a_clear_error_for_token_exchange(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = sealed_gateway(authprobe.url, exchange(oauth_server))
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    with pytest.raises(ForgeError) as caught:
        await whoami(bus, gw, call_as("bot@example.com", token_id="api-token-7"))
    assert code_of(caught.value) == -32005
    assert oauth_server.token_requests == []


async def test_a_refused_exchange_is_forbidden(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    oauth_server.refuse_exchange = True
    gw = sealed_gateway(authprobe.url, exchange(oauth_server))
    await start_proxy(gw, secret_keys=SECRET_KEYS)
    with pytest.raises(ForgeError) as caught:
        await whoami(bus, gw, call_as("ada@example.com", token="jwt-x", token_id="x"))
    assert code_of(caught.value) == -32005


async def test_two_users_never_share_an_upstream_session(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = sealed_gateway(authprobe.url, exchange(oauth_server))
    proxy = await start_proxy(gw, secret_keys=SECRET_KEYS)
    ada = await whoami(bus, gw, call_as("ada@example.com", token="jwt-ada", token_id="a"))
    bob = await whoami(bus, gw, call_as("bob@example.com", token="jwt-bob", token_id="b"))
    assert ada["authorization"] != bob["authorization"]
    sessions = proxy.pool.user_sessions[gw.id]
    ada_key, bob_key = ("ada@example.com", "modern"), ("bob@example.com", "modern")
    assert set(sessions) == {ada_key, bob_key}
    assert sessions[ada_key] is not sessions[bob_key]
    assert gw.id not in proxy.pool.sessions


# Authorization code (each user's own token)


def user_oauth(oauth: OAuthServer) -> UpstreamAuth:
    return UpstreamAuth(
        type="oauth_authorization_code",
        authorize_url=oauth.authorize_url,
        token_url=oauth.token_url,
        client_id="forge",
        client_secret="forge-secret",
        scopes=["profile", "tools"],
    )


def oauth_envelope(method: str, params: object, user: str) -> Envelope:
    return Envelope(
        id=uuid.uuid4().hex,
        method=method,
        params=msgspec.Raw(msgspec.json.encode(params)),
        principal=Principal(subject=user),
        deadline=time.time() + 10,
    )


async def authorize(bus: NatsBus, gw: Gateway, user: str) -> dict[str, object]:
    """The flow as the edge drives it: authorize URL, the user's consent, the callback."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    asked = {
        "redirect_uri": REDIRECT_URI,
        "state": "opaque-state",
        "code_challenge": challenge.decode().rstrip("="),
    }
    subject = subjects.upstream_oauth(gw.id)
    found = await rpc.call(bus, subject, oauth_envelope("upstream.oauth.authorize", asked, user))
    location = msgspec.json.decode(found)["location"]
    async with httpx.AsyncClient() as http:
        consent = await http.get(location)  # the authorization server approves at once
    assert consent.status_code == 302
    back = parse_qs(urlsplit(consent.headers["location"]).query)
    assert back["state"] == ["opaque-state"]
    done = {
        "gateway_id": gw.id,
        "user": user,
        "code": back["code"][0],
        "verifier": verifier,
        "redirect_uri": REDIRECT_URI,
    }
    answer = await rpc.call(bus, subject, oauth_envelope("upstream.oauth.callback", done, user))
    result: dict[str, object] = msgspec.json.decode(answer)
    return result


async def start_user_proxy(start_proxy: StartProxy, gw: Gateway | None = None) -> UpstreamProxy:
    gateways = (gw,) if gw is not None else ()
    return await start_proxy(*gateways, secret_keys=SECRET_KEYS, public_url=PUBLIC_URL)


async def test_a_user_who_has_not_authorized_is_told_where_to(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = sealed_gateway(authprobe.url, user_oauth(oauth_server))
    await start_user_proxy(start_proxy, gw)
    with pytest.raises(ForgeError) as caught:
        await whoami(bus, gw, call_as("ada@example.com"))
    assert code_of(caught.value) == -32005
    where = f"{PUBLIC_URL}/gateways/{gw.id}/oauth/authorize"
    assert caught.value.data == {"authorize_url": where}
    assert where in caught.value.message


async def test_after_authorizing_a_users_calls_carry_their_own_token(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = sealed_gateway(authprobe.url, user_oauth(oauth_server))
    proxy = await start_user_proxy(start_proxy, gw)
    done = await authorize(bus, gw, "ada@example.com")
    assert done["authorized"] is True and "access_token" not in done
    (consent,) = oauth_server.authorize_requests
    assert consent["client_id"] == "forge" and consent["redirect_uri"] == REDIRECT_URI
    assert consent["scope"] == "profile tools" and consent["code_challenge_method"] == "S256"
    (grant,) = oauth_server.grants("authorization_code")
    assert grant.authorization == basic("forge", "forge-secret")
    found = await whoami(bus, gw, call_as("ada@example.com"))
    token = found["authorization"].removeprefix("Bearer ")
    assert oauth_server.issued[token].grant_type == "authorization_code"
    # Stored sealed: the bucket entry does not hold the token in the clear.
    sealed = proxy.credentials.users.sealed[key_of(gw.id, "ada@example.com")]
    assert token not in sealed and "ada@example.com" not in key_of(gw.id, "ada@example.com")
    with pytest.raises(ForgeError) as caught:  # someone else has not authorized
        await whoami(bus, gw, call_as("bob@example.com"))
    assert code_of(caught.value) == -32005


async def test_an_expired_user_token_is_refreshed_with_the_refresh_token(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    oauth_server.expires_in = 0
    gw = sealed_gateway(authprobe.url, user_oauth(oauth_server))
    await start_user_proxy(start_proxy, gw)
    await authorize(bus, gw, "ada@example.com")
    first = (await whoami(bus, gw, call_as("ada@example.com")))["authorization"]
    second = (await whoami(bus, gw, call_as("ada@example.com")))["authorization"]
    assert first != second
    # It expires at once: every request (the handshake's too) refreshes it first.
    refreshes = oauth_server.grants("refresh_token")
    assert len(refreshes) >= 2 and all(r.client_id == "forge" for r in refreshes)
    for seen_token in (first, second):
        assert oauth_server.issued[seen_token.removeprefix("Bearer ")].grant_type == "refresh_token"


async def test_a_revoked_user_token_is_refreshed_and_a_dead_grant_asks_to_authorize_again(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = sealed_gateway(authprobe.url, user_oauth(oauth_server))
    await start_user_proxy(start_proxy, gw)
    await authorize(bus, gw, "ada@example.com")
    ada = call_as("ada@example.com")
    old = (await whoami(bus, gw, ada))["authorization"]
    await call(bus, gw, _deny(old))
    new = (await whoami(bus, gw, ada))["authorization"]  # 401, refreshed, retried
    assert new != old and len(oauth_server.grants("refresh_token")) == 1
    oauth_server._refresh.clear()  # the authorization server forgets the grant
    await call(bus, gw, _deny(new))
    with pytest.raises(ForgeError) as caught:
        await whoami(bus, gw, ada)
    assert code_of(caught.value) == -32005 and "authorize_url" in caught.value.data


def _deny(authorization: str) -> Envelope:
    env = tool_call("deny", authorization=authorization)
    return msgspec.structs.replace(env, principal=Principal(subject="ada@example.com"))


async def test_a_per_user_gateway_registered_before_anyone_authorized_lists_nothing_yet(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = sealed_gateway(authprobe.url, user_oauth(oauth_server))
    await start_user_proxy(start_proxy)  # registration: not in the catalog yet
    found = await discover(bus, gw)
    assert found["tools"] == [] and found["protocol_version"] == ""


async def test_a_refresh_by_a_user_who_has_not_authorized_fails_rather_than_emptying(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = sealed_gateway(authprobe.url, user_oauth(oauth_server))
    await start_user_proxy(start_proxy, gw)
    with pytest.raises(ForgeError) as caught:
        await discover(bus, gw)
    assert code_of(caught.value) == -32005
    await authorize(bus, gw, "tester")  # proxy_harness envelopes call as "tester"
    assert "whoami" in {t["name"] for t in (await discover(bus, gw))["tools"]}  # type: ignore[attr-defined]


async def test_authorizing_a_gateway_the_user_cannot_see_is_not_found(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = msgspec.structs.replace(
        sealed_gateway(authprobe.url, user_oauth(oauth_server)),
        owner="owner@example.com",
        visibility="private",
    )
    await start_user_proxy(start_proxy, gw)
    asked = {"redirect_uri": REDIRECT_URI, "state": "s", "code_challenge": "c"}
    with pytest.raises(ForgeError) as caught:
        await rpc.call(
            bus,
            subjects.upstream_oauth(gw.id),
            oauth_envelope("upstream.oauth.authorize", asked, "mallory@example.com"),
        )
    assert code_of(caught.value) == -32006


async def test_a_callback_with_a_bad_code_is_refused(
    bus: NatsBus, start_proxy: StartProxy, authprobe: ServerProcess, oauth_server: OAuthServer
) -> None:
    gw = sealed_gateway(authprobe.url, user_oauth(oauth_server))
    await start_user_proxy(start_proxy, gw)
    done = {
        "gateway_id": gw.id,
        "user": "ada@example.com",
        "code": "forged",
        "verifier": "v" * 43,
        "redirect_uri": REDIRECT_URI,
    }
    with pytest.raises(ForgeError) as caught:
        await rpc.call(
            bus,
            subjects.upstream_oauth(gw.id),
            oauth_envelope("upstream.oauth.callback", done, "ada@example.com"),
        )
    assert code_of(caught.value) == -32005
    with pytest.raises(ForgeError):  # nothing was stored
        await whoami(bus, gw, call_as("ada@example.com"))
