"""Sign-in through the whole mesh: OIDC single sign-on against a real OpenID provider (group →
team mapping by the identity registry), and email/password login, logout and bad input."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from forge.cli.mesh import Mesh, spawn, stop_process
from forge.embedded.process import free_port
from forge.testing.oidc_provider import OidcProvider, OidcUser, new_user_email
from tests.e2e.conftest import answering

TEAM = f"E2E Engineering {uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="module")
def idp() -> Iterator[OidcProvider]:
    with OidcProvider(OidcUser(new_user_email())) as provider:
        yield provider


@pytest.fixture(scope="module")
def sso_edge(
    mesh: Mesh, idp: OidcProvider, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An edge replica whose FORGE_EDGE_SSO_CONFIG names the test provider."""
    config = tmp_path_factory.mktemp("sso") / "sso.json"
    provider = {
        "id": "corp",
        "preset": "oidc",
        "name": "Corp",
        "issuer": idp.issuer,
        "client_id": idp.client_id,
        "client_secret": idp.client_secret,
        "team_mapping": {"eng": TEAM},
        "default_role": "developer",
    }
    config.write_text(json.dumps({"providers": [provider]}))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = mesh.service_env()
    env.update(
        FORGE_EDGE_PORT=str(port), FORGE_EDGE_PUBLIC_URL=url, FORGE_EDGE_SSO_CONFIG=str(config)
    )
    with open(mesh.log_path("edge-sso"), "ab") as log:
        proc = spawn([sys.executable, "-m", "forge.edge"], env, log)
    try:
        answering(mesh, proc, "edge-sso", url + "/ready")
        yield url
    finally:
        stop_process(proc)


async def sso_login(edge: str) -> httpx.Response:
    """The browser's part: login → provider (auto-approves) → callback, cookies kept."""
    async with httpx.AsyncClient(base_url=edge, timeout=30) as browser:
        login = await browser.get("/auth/sso/corp/login")
        assert login.status_code == 302, login.text
        at_idp = await browser.get(login.headers["location"])
        assert at_idp.status_code == 302
        return await browser.get(at_idp.headers["location"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_an_oidc_user_lands_in_the_mapped_team_and_can_use_forge(
    mesh: Mesh, idp: OidcProvider, sso_edge: str
) -> None:
    idp.user = OidcUser(new_user_email(), "Grace Hopper", groups=["eng", "other"])
    async with httpx.AsyncClient(timeout=30) as http:
        providers = await http.get(sso_edge + "/auth/sso/providers")
        assert providers.json() == [{"id": "corp", "name": "Corp"}]
        signed_in = await sso_login(sso_edge)
        assert signed_in.status_code == 200, signed_in.text
        token = signed_in.json()["access_token"]
        assert signed_in.json()["user"]["email"] == idp.user.email
        # The session is good on every edge replica, including the mesh's own.
        me = await http.get(mesh.url + "/auth/email/me", headers=bearer(token))
        assert me.status_code == 200, me.text
        teams = await http.get(sso_edge + "/teams", headers=bearer(token))
        assert teams.status_code == 200, teams.text
    mine = me.json()
    assert mine["email"] == idp.user.email and mine["auth_provider"] == "sso:corp"
    assert "developer" in mine["roles"]
    named = {t["name"]: t["id"] for t in teams.json()}
    assert TEAM in named and named[TEAM] in mine["teams"]
    assert "other" not in named  # unmapped groups make no team


async def test_a_group_removed_at_the_provider_removes_the_mapped_membership(
    mesh: Mesh, idp: OidcProvider, sso_edge: str
) -> None:
    idp.user = OidcUser(new_user_email(), "Alan Turing", groups=["eng"])
    first = await sso_login(sso_edge)
    assert first.status_code == 200, first.text
    idp.user = OidcUser(idp.user.email, "Alan Turing", groups=[])
    second = await sso_login(sso_edge)
    assert second.status_code == 200, second.text
    async with httpx.AsyncClient(timeout=30) as http:
        me = await http.get(
            sso_edge + "/auth/email/me", headers=bearer(second.json()["access_token"])
        )
        teams = await http.get(sso_edge + "/teams", headers=bearer(second.json()["access_token"]))
    assert TEAM not in {t["name"] for t in teams.json()}
    assert len(me.json()["teams"]) == 1  # the personal team only


async def test_sso_failures_answer_clear_errors_through_the_mesh(
    idp: OidcProvider, sso_edge: str
) -> None:
    async with httpx.AsyncClient(base_url=sso_edge, timeout=30) as http:
        assert (await http.get("/auth/sso/nope/login")).status_code == 404
        assert (await http.get("/auth/sso/corp/callback?code=x&state=y")).status_code == 400
    idp.claim_overrides = {"aud": "another-client"}
    try:
        refused = await sso_login(sso_edge)
    finally:
        idp.claim_overrides = {}
    assert refused.status_code == 401
    assert refused.json()["code"] == -32004
    idp.deny = "access_denied"
    try:
        denied = await sso_login(sso_edge)
    finally:
        idp.deny = None
    assert denied.status_code == 401


async def test_password_login_logout_and_bad_input_through_the_mesh(
    mesh: Mesh, client: httpx.AsyncClient
) -> None:
    email, password = new_user_email(), "correct horse battery staple"
    created = await client.post(
        "/auth/email/admin/users",
        json={"email": email, "password": password, "full_name": "Pat Password"},
    )
    assert created.status_code == 201, created.text
    async with httpx.AsyncClient(base_url=mesh.url, timeout=30) as http:
        wrong = await http.post("/auth/login", json={"email": email, "password": "not it at all"})
        assert wrong.status_code == 401 and "www-authenticate" in wrong.headers
        typed = await http.post("/auth/email/login", json={"email": 5, "password": password})
        assert typed.status_code == 422 and "email" in typed.json()["detail"]
        broken = await http.post("/auth/email/login", content=b'{"email":')
        assert broken.status_code == 400
        good = await http.post("/auth/email/login", json={"email": email, "password": password})
        assert good.status_code == 200, good.text
        body: dict[str, Any] = good.json()
        assert body["user"]["full_name"] == "Pat Password" and not body["user"]["is_admin"]
        headers = bearer(body["access_token"])
        assert (await http.get("/auth/email/me", headers=headers)).status_code == 200
        assert (await http.post("/auth/logout", headers=headers)).status_code == 200
        # The registry announces the revocation before it answers, so the edge already knows.
        after = await http.get("/auth/email/me", headers=headers)
        assert after.status_code == 401
