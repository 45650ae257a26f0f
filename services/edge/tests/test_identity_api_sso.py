"""SSO at the edge against a real OpenID provider on loopback HTTP: the whole browser dance,
state and nonce checks, id_token checks, GitHub's OAuth2 flavour, presets and config errors."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from edge_harness import IdentityRegistry, client, edge_on, stop
from joserfc.jwk import RSAKey
from test_identity_api import Ops

from forge.core.bus import Bus
from forge.core.config import ConfigError
from forge.edge.app import build_app, build_edge
from forge.edge.auth.sso_providers import ProviderConfig, load_providers, resolve
from forge.edge.config import EdgeConfig
from forge.edge.state import Edge
from forge.embedded.process import free_port
from forge.proto.identity import UserAccess
from forge.testing.membus import MemoryBus
from forge.testing.oidc_provider import OidcProvider, OidcUser

PUBLIC = "http://edge"
LOOPBACK = "127.0.0.0/8,::1/128"
ADA = OidcUser("ada@example.com", "Ada Lovelace", groups=["eng", "ops", "acme/platform"])
SIGNED_IN = UserAccess(
    email=ADA.email,
    id="u-ada",
    full_name=ADA.name,
    roles=("developer",),
    teams=("personal-ada", "team-eng"),
    personal_team="personal-ada",
    permissions=("teams.read", "tools.read"),
    auth_provider="sso:test",
)


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    callbacks = [f"{PUBLIC}/auth/sso/{name}/callback" for name in ("test", "gh")]
    with OidcProvider(ADA, redirect_uris=callbacks) as provider:
        yield provider


@pytest.fixture(autouse=True)
def fresh_idp(idp: OidcProvider) -> Iterator[None]:
    key = idp.key
    yield
    idp.user, idp.key, idp.deny, idp.claim_overrides, idp.foreign_key = ADA, key, None, {}, None


def sso_file(tmp_path: Path, idp: OidcProvider, **overrides: Any) -> str:
    common = {"client_id": idp.client_id, "client_secret": idp.client_secret}
    providers = [
        {
            "id": "test",
            "preset": "oidc",
            "name": "Test IdP",
            "issuer": idp.issuer,
            "team_mapping": {"eng": "Engineering"},
            "default_role": "developer",
            **common,
            **overrides,
        },
        {
            "id": "gh",
            "preset": "github",
            "base_url": idp.issuer,
            "team_mapping": {"acme/platform": "Platform"},
            **common,
        },
    ]
    path = tmp_path / "sso.json"
    path.write_text(json.dumps({"providers": providers}))
    return str(path)


@dataclass
class World:
    edge: Edge
    registry: IdentityRegistry
    ops: Ops
    idp: OidcProvider


@pytest.fixture
async def world(bus: Bus, idp: OidcProvider, tmp_path: Path) -> AsyncIterator[World]:
    registry = await IdentityRegistry(bus, hidden=[SIGNED_IN]).start()
    ops = Ops(bus, answers={"users.sso_login": lambda params: SIGNED_IN})
    await ops.serve("users.sso_login", "users.get")
    edge = await edge_on(
        bus,
        public_url=PUBLIC,
        sso_config=sso_file(tmp_path, idp),
        upstream_allowed_networks=LOOPBACK,  # the test IdP's address, as a test mesh allows
    )
    try:
        yield World(edge, registry, ops, idp)
    finally:
        await stop(edge)


async def start(http: httpx.AsyncClient, provider: str = "test") -> tuple[str, str]:
    """Begin a login; returns the provider's redirect back (the callback URL) and the cookie."""
    login = await http.get(f"/auth/sso/{provider}/login")
    assert login.status_code == 302, login.text
    cookie = login.headers["set-cookie"].split(";")[0]
    async with httpx.AsyncClient() as browser:
        at_idp = await browser.get(login.headers["location"])
    assert at_idp.status_code == 302
    return at_idp.headers["location"], cookie


def callback(url: str) -> str:
    """The callback URL's path and query, to send to any edge replica."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def test_providers_are_listed_by_id_and_name_only(world: World) -> None:
    async with client(world.edge) as http:
        response = await http.get("/auth/sso/providers")
    assert response.json() == [{"id": "test", "name": "Test IdP"}, {"id": "gh", "name": "GitHub"}]


async def test_an_oidc_sign_in_finishes_on_another_replica_and_answers_a_working_session(
    bus: Bus, world: World, tmp_path: Path
) -> None:
    async with client(world.edge) as http:
        login = await http.get("/auth/sso/test/login")
    location = urlsplit(login.headers["location"])
    asked = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert (
        f"{location.scheme}://{location.netloc}{location.path}" == world.idp.issuer + "/authorize"
    )
    assert asked["code_challenge_method"] == "S256" and len(asked["code_challenge"]) == 43
    assert asked["response_type"] == "code" and asked["client_id"] == world.idp.client_id
    assert asked["redirect_uri"] == f"{PUBLIC}/auth/sso/test/callback"
    assert asked["nonce"] and asked["state"] and "openid" in asked["scope"].split()
    set_cookie = login.headers["set-cookie"]
    cookie = set_cookie.split(";")[0]
    for attribute in ("HttpOnly", "Path=/auth/sso/test/", "SameSite=lax", "Max-Age=600"):
        assert attribute.lower() in set_cookie.lower()
    assert asked["state"] not in cookie and asked["nonce"] not in cookie
    async with httpx.AsyncClient() as browser:
        back = (await browser.get(login.headers["location"])).headers["location"]

    other = await edge_on(
        bus,
        upstream_allowed_networks=LOOPBACK,
        public_url=PUBLIC,
        sso_config=sso_file(tmp_path, world.idp),
    )
    try:
        async with client(other, Cookie=cookie) as http:
            done = await http.get(callback(back))
    finally:
        await stop(other)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["token_type"] == "bearer" and body["user"]["teams"] == ["personal-ada", "team-eng"]
    assert "max-age=0" in done.headers["set-cookie"].lower()
    _, params = world.ops.last("users.sso_login")
    assert params == {
        "provider": "test",
        "email": ADA.email,
        "full_name": "Ada Lovelace",
        "groups": ["eng", "ops", "acme/platform"],
        "team_mapping": {"eng": "Engineering"},
        "default_role": "developer",
    }
    assert world.idp.token_requests[-1]["code_verifier"]
    async with client(world.edge, body["access_token"]) as http:
        me = await http.get("/auth/email/me")
    assert me.status_code == 200 and me.json()["params"] == {"email": ADA.email}


async def test_the_callback_refuses_a_missing_forged_or_mismatched_state(world: World) -> None:
    async with client(world.edge) as http:
        back, cookie = await start(http)
        _, gh_cookie = await start(http, "gh")
    path = callback(back)
    name, _, value = cookie.partition("=")
    tampered = f"{name}={value[:-3]}{'A' if value[-3] != 'A' else 'B'}{value[-2:]}"
    cases = [
        (path, None),  # no cookie: no sign-in in progress
        (path, gh_cookie),  # another provider's flow
        (path, tampered),
        (path.replace("state=", "state=x"), cookie),
        ("/auth/sso/test/callback?code=abc", cookie),
    ]
    for url, sent in cases:
        headers = {"Cookie": sent} if sent else {}
        async with client(world.edge, **headers) as http:
            response = await http.get(url)
        assert response.status_code == 400, url
        assert response.json()["code"] == -32600
    assert not [op for op, _, _ in world.ops.asked if op == "users.sso_login"]


async def test_a_provider_that_refuses_the_sign_in_gives_401(world: World) -> None:
    world.idp.deny = "access_denied"
    async with client(world.edge) as http:
        back, _ = await start(http)
        response = await http.get(callback(back))
    assert response.status_code == 401
    assert "access_denied" in response.json()["detail"]
    assert response.headers["www-authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "breakage",
    [
        {"aud": "someone-else"},
        {"iss": "http://127.0.0.1:1/evil"},
        {"nonce": "replayed"},
        {"exp": int(time.time()) - 3600},
        {"sub": None},
        "foreign key",
    ],
)
async def test_an_invalid_id_token_is_refused_with_401(world: World, breakage: Any) -> None:
    if breakage == "foreign key":
        world.idp.foreign_key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
    else:
        world.idp.claim_overrides = breakage
    async with client(world.edge) as http:
        back, _ = await start(http)
        response = await http.get(callback(back))
    assert response.status_code == 401, response.text
    assert response.json()["code"] == -32004
    assert not [op for op, _, _ in world.ops.asked if op == "users.sso_login"]


async def test_an_unverified_email_is_refused(world: World) -> None:
    world.idp.user = OidcUser("mallory@example.com", email_verified=False)
    async with client(world.edge) as http:
        back, _ = await start(http)
        response = await http.get(callback(back))
    assert response.status_code == 401


async def test_a_code_is_good_for_one_sign_in_only(world: World) -> None:
    async with client(world.edge) as http:
        back, cookie = await start(http)
    async with client(world.edge, Cookie=cookie) as http:
        first = await http.get(callback(back))
        again = await http.get(callback(back))
    assert first.status_code == 200
    assert again.status_code == 401


async def test_rotated_provider_keys_are_fetched_again(world: World) -> None:
    async with client(world.edge) as http:
        back, _ = await start(http)
        assert (await http.get(callback(back))).status_code == 200
        world.idp.key = RSAKey.generate_key(2048, parameters={"kid": "rotated"})
        back, _ = await start(http)
        assert (await http.get(callback(back))).status_code == 200


async def test_github_sign_in_reads_the_verified_email_orgs_and_teams(world: World) -> None:
    async with client(world.edge) as http:
        login = await http.get("/auth/sso/gh/login")
        assert login.headers["location"].startswith(world.idp.issuer + "/login/oauth/authorize")
        assert "nonce=" not in login.headers["location"]
        back, _ = await start(http, "gh")
        response = await http.get(callback(back))
    assert response.status_code == 200, response.text
    _, params = world.ops.last("users.sso_login")
    assert params["provider"] == "gh" and params["email"] == ADA.email
    assert params["groups"] == ["acme", "eng", "ops", "acme/platform"]  # orgs, then org/team
    assert params["team_mapping"] == {"acme/platform": "Platform"}
    assert params["default_role"] == "viewer"


async def test_unknown_providers_are_404_and_unreachable_ones_502(
    bus: Bus, idp: OidcProvider, tmp_path: Path, world: World
) -> None:
    async with client(world.edge) as http:
        assert (await http.get("/auth/sso/nope/login")).status_code == 404
        assert (await http.get("/auth/sso/nope/callback?code=a&state=b")).status_code == 404
    closed = f"http://127.0.0.1:{free_port()}"
    edge = await edge_on(
        bus,
        upstream_allowed_networks=LOOPBACK,
        public_url=PUBLIC,
        sso_config=sso_file(tmp_path, idp, issuer=closed),
    )
    try:
        async with client(edge) as http:
            response = await http.get("/auth/sso/test/login")
    finally:
        await stop(edge)
    assert response.status_code == 502
    assert response.json()["code"] == -32001


def test_presets_fill_in_issuers_and_endpoints() -> None:
    def provider(**fields: Any) -> Any:
        cfg = ProviderConfig(client_id="c", client_secret="s", **fields)
        return resolve(cfg, "https://forge.example.com")

    assert provider(id="g", preset="google").issuers[0] == "https://accounts.google.com"
    assert provider(id="o", preset="okta", domain="acme.okta.com").issuers == (
        "https://acme.okta.com/oauth2/default",
    )
    assert "groups" in provider(id="o", preset="okta", domain="acme.okta.com").scopes.split()
    keycloak = provider(id="k", preset="keycloak", base_url="https://kc.example/", realm="main")
    assert keycloak.issuers == ("https://kc.example/realms/main",)
    entra = provider(id="e", preset="entra", tenant="t-123")
    assert entra.issuers == ("https://login.microsoftonline.com/t-123/v2.0",)
    assert entra.redirect_uri == "https://forge.example.com/auth/sso/e/callback"
    github = provider(id="gh", preset="github")
    assert github.authorize_url == "https://github.com/login/oauth/authorize"
    assert github.api_url == "https://api.github.com" and not github.oidc
    enterprise = provider(id="ghe", preset="github", base_url="https://git.example")
    assert enterprise.api_url == "https://git.example/api/v3"


BASE = {"id": "x", "issuer": "https://i", "client_id": "c", "client_secret": "s"}


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (json.dumps([{**BASE, "preset": "okta", "issuer": None}]), "domain"),
        (json.dumps([{**BASE, "preset": "saml"}]), "saml"),
        (json.dumps([BASE, BASE]), "twice"),
        (json.dumps({"providers": [{**BASE, "team_maping": {}}]}), "team_maping"),
        (json.dumps([{k: v for k, v in BASE.items() if k != "client_secret"}]), "client_secret"),
        (json.dumps([{**BASE, "id": "Bad Id"}]), "Bad Id"),
        (json.dumps([{**BASE, "issuer": "file:///etc/passwd"}]), "not an http"),
        (json.dumps([{**BASE, "issuer": None}]), "needs issuer"),
        ("providers:\n  - id: x\n", "JSON"),
    ],
)
def test_a_bad_sso_config_stops_the_edge_at_start_naming_the_problem(
    tmp_path: Path, content: str, says: str
) -> None:
    path = tmp_path / "sso.json"  # YAML is read from .yaml/.yml files only
    path.write_text(content)
    with pytest.raises(ConfigError, match=says):
        load_providers(str(path), PUBLIC)
    edge = build_edge(EdgeConfig(jwt_secret="s" * 40, sso_config=str(path)), MemoryBus())
    with pytest.raises(ConfigError):
        build_app(edge)


def test_a_bare_list_of_providers_is_accepted_and_no_file_means_no_providers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "sso.json"
    path.write_text('[{"id": "x", "issuer": "https://i", "client_id": "c", "client_secret": "s"}]')
    assert list(load_providers(str(path), PUBLIC)) == ["x"]
    assert load_providers("", PUBLIC) == {}
    with pytest.raises(ConfigError, match="cannot read"):
        load_providers(str(tmp_path / "missing.json"), PUBLIC)


async def test_a_provider_on_an_address_the_ssrf_guard_refuses_is_never_dialled(
    bus: Bus, idp: OidcProvider, tmp_path: Path, world: World
) -> None:
    # No allowance: the IdP on loopback stands for one on an internal network.
    edge = await edge_on(bus, public_url=PUBLIC, sso_config=sso_file(tmp_path, idp))
    before = len(idp.authorize_requests)
    try:
        async with client(edge) as http:
            login = await http.get("/auth/sso/test/login")
        assert login.status_code == 403
        assert login.json()["code"] == -32005
    finally:
        await stop(edge)
    assert len(idp.authorize_requests) == before


def test_a_bad_allow_list_stops_the_edge_naming_the_setting(
    idp: OidcProvider, tmp_path: Path
) -> None:
    config = EdgeConfig(
        jwt_secret="s" * 40,
        sso_config=sso_file(tmp_path, idp),
        upstream_allowed_networks="nope",
    )
    with pytest.raises(ConfigError, match="FORGE_UPSTREAM_ALLOWED_NETWORKS"):
        build_app(build_edge(config, MemoryBus()))
