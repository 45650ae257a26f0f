"""Red team F11: a developer's public gateway with per-user OAuth made
`GET /gateways/{id}/oauth/authorize` redirect every user's browser (302) to any address, e.g.
http://169.254.169.254/. Now the authorization endpoint is checked at registration like every
URL a gateway gives: a special-purpose address is refused (403) unless allowed, and http only
to an allowed network (422)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from forge.cli.mesh import Mesh
from tests.e2e.security_kit import login, make_user, ok, rest

FORBIDDEN = -32005
INVALID_PARAMS = -32602


@pytest.fixture(scope="module")
def developer(mesh: Mesh, admin_token: str) -> str:
    email = f"dev-{uuid.uuid4().hex[:6]}@oauth.test"
    make_user(mesh, admin_token, email, "developer")
    return login(mesh, email).token


def per_user(demo: dict[str, Any], authorize_url: str, token_url: str) -> dict[str, Any]:
    auth = {
        "type": "oauth_authorization_code",
        "authorize_url": authorize_url,
        "token_url": token_url,
        "client_id": "forge",
    }
    name = f"oauth-{uuid.uuid4().hex[:6]}"
    return {"name": name, "url": demo["url"], "auth": auth, "visibility": "public"}


@pytest.mark.parametrize(
    "authorize_url", ["http://169.254.169.254/", "https://169.254.169.254/latest/meta-data/"]
)
def test_a_developer_cannot_send_browsers_to_a_special_purpose_address(
    mesh: Mesh, demo: dict[str, Any], developer: str, authorize_url: str
) -> None:
    body = per_user(demo, authorize_url, "http://127.0.0.1:9/token")
    with rest(mesh, developer) as http:
        response = http.post("/gateways", json=body)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == FORBIDDEN
        assert not [g for g in ok(http.get("/gateways")) if g["name"] == body["name"]]


@pytest.mark.parametrize("field", ["authorize_url", "token_url"])
def test_an_oauth_endpoint_in_clear_off_the_allowed_networks_is_refused(
    mesh: Mesh, demo: dict[str, Any], developer: str, field: str
) -> None:
    urls = {"authorize_url": "https://8.8.8.8/authorize", "token_url": "https://8.8.8.8/token"}
    urls[field] = f"http://8.8.8.8/{field}"  # a public address in clear
    with rest(mesh, developer) as http:
        response = http.post("/gateways", json=per_user(demo, **urls))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == INVALID_PARAMS
    assert response.json()["data"] == {"field": f"auth.{field}"}
