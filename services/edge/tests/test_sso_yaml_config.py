"""The SSO config as YAML (`.yaml`/`.yml`): the same providers, checks and messages as JSON, and
a real sign-in through a provider configured that way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from edge_harness import IdentityRegistry, client, edge_on, stop
from test_identity_api import Ops
from test_identity_api_sso import ADA, PUBLIC, SIGNED_IN, callback

from forge.core.bus import Bus
from forge.core.config import ConfigError
from forge.edge.app import build_app, build_edge
from forge.edge.auth.sso_providers import load_providers
from forge.edge.config import EdgeConfig
from forge.testing.membus import MemoryBus
from forge.testing.oidc_provider import OidcProvider

KEYCLOAK = """\
# Forge SSO
providers:
  - id: corp
    preset: keycloak
    base_url: https://sso.example.com
    realm: staff
    client_id: forge
    client_secret: "s3cret"
    scopes: [openid, email]
    team_mapping:
      /engineering: Engineering
    default_role: developer
"""


@pytest.fixture(scope="module")
def yaml_idp() -> Iterator[OidcProvider]:
    with OidcProvider(ADA, redirect_uris=[f"{PUBLIC}/auth/sso/corp/callback"]) as provider:
        yield provider


def write(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content)
    return str(path)


@pytest.mark.parametrize("name", ["sso.yaml", "sso.yml", "SSO.YAML"])
def test_a_yaml_file_configures_the_same_providers_as_json(tmp_path: Path, name: str) -> None:
    providers = load_providers(write(tmp_path, name, KEYCLOAK), PUBLIC)
    corp = providers["corp"]
    assert corp.issuers == ("https://sso.example.com/realms/staff",)
    assert corp.scopes == "openid email" and corp.name == "Keycloak"
    assert corp.config.team_mapping == {"/engineering": "Engineering"}
    assert corp.config.default_role == "developer" and corp.config.client_secret == "s3cret"
    assert corp.redirect_uri == f"{PUBLIC}/auth/sso/corp/callback"


def test_a_yaml_bare_list_and_an_empty_yaml_file_are_accepted(tmp_path: Path) -> None:
    bare = "- {id: x, issuer: 'https://i', client_id: c, client_secret: s}\n"
    assert list(load_providers(write(tmp_path, "bare.yml", bare), PUBLIC)) == ["x"]
    assert load_providers(write(tmp_path, "empty.yaml", "# none yet\n"), PUBLIC) == {}


PROVIDER = "  - {id: x, client_id: c, client_secret: s, %s}\n"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("providers:\n" + PROVIDER % "preset: okta", r"SSO provider 'x' \(okta\) needs domain"),
        ("providers:\n" + PROVIDER % "issuer: null", r"SSO provider 'x' \(oidc\) needs issuer"),
        ("providers:\n" + PROVIDER % "preset: saml", "unknown preset 'saml'"),
        ("providers:\n" + PROVIDER % "team_maping: {}", r"team_maping.*providers\[0\]"),
        ("providers:\n" + PROVIDER % "issuer: 42", r"got `int`.*providers\[0\]\.issuer"),
        ("providers:\n  - id: x\n", r"missing required field `client_id`"),
        ("providers:\n" + (PROVIDER % "issuer: 'https://i'") * 2, "'x' is defined twice"),
        ("providers:\n" + PROVIDER % "issuer: file:///etc/passwd", "not an http"),
        ("providers: [\n  - id: x\n", "not valid YAML"),
        ("just text\n", "bad SSO config"),
    ],
)
def test_a_bad_yaml_sso_config_stops_the_edge_naming_the_provider_and_field(
    tmp_path: Path, content: str, says: str
) -> None:
    path = write(tmp_path, "sso.yaml", content)
    with pytest.raises(ConfigError, match=says):
        load_providers(path, PUBLIC)
    edge = build_edge(EdgeConfig(jwt_secret="s" * 40, sso_config=path), MemoryBus())
    with pytest.raises(ConfigError):
        build_app(edge)


async def test_a_sign_in_works_through_a_provider_configured_in_yaml(
    bus: Bus, yaml_idp: OidcProvider, tmp_path: Path
) -> None:
    config = (
        "providers:\n"
        "  - id: corp\n"
        "    name: Corp SSO\n"
        f"    issuer: {yaml_idp.issuer}\n"
        f"    client_id: {yaml_idp.client_id}\n"
        f"    client_secret: '{yaml_idp.client_secret}'\n"
        "    team_mapping: {eng: Engineering}\n"
        "    default_role: developer\n"
    )
    await IdentityRegistry(bus, hidden=[SIGNED_IN]).start()
    ops = Ops(bus, answers={"users.sso_login": lambda params: SIGNED_IN})
    await ops.serve("users.sso_login", "users.get")
    edge = await edge_on(
        bus,
        public_url=PUBLIC,
        sso_config=write(tmp_path, "sso.yml", config),
        upstream_allowed_networks="127.0.0.0/8",  # the test IdP's address, as a test mesh allows
    )
    try:
        async with client(edge) as http:
            listed = await http.get("/auth/sso/providers")
            login = await http.get("/auth/sso/corp/login")
            assert login.status_code == 302, login.text
            cookie = login.headers["set-cookie"].split(";")[0]
            async with httpx.AsyncClient() as browser:
                back = (await browser.get(login.headers["location"])).headers["location"]
            done = await http.get(callback(back), headers={"Cookie": cookie})
    finally:
        await stop(edge)
    assert listed.json() == [{"id": "corp", "name": "Corp SSO"}]
    assert done.status_code == 200, done.text
    assert done.json()["user"]["teams"] == ["personal-ada", "team-eng"]
    _, params = ops.last("users.sso_login")
    assert params["provider"] == "corp" and params["email"] == ADA.email
    assert params["team_mapping"] == {"eng": "Engineering"}
    assert params["default_role"] == "developer"
