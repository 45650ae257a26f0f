"""Issue 9, item 1: starting a process on the Forge host.

Found: `POST /gateways` with `"transport": "stdio"` and any `command` was accepted from a
developer or team_admin, and the upstream-proxy started it at once. Now: a stdio gateway needs
`gateways.stdio` (platform admins only by default), its command must be on the operator's allow
list (FORGE_STDIO_ALLOWED_COMMANDS), and every launch and refusal is in the audit log.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from forge.cli.mesh import Mesh
from forge.testing import eventually_sync
from tests.e2e.conftest import STDIO_DEMO
from tests.e2e.security_kit import login, make_user, ok, rest


def audit(mesh: Mesh, admin_token: str, action: str, target: str | None = None) -> list[Any]:
    """The audit entries of `action` (of `target`), waiting up to 15 s for one to appear."""
    with rest(mesh, admin_token) as http:
        return eventually_sync(
            lambda: [
                e
                for e in ok(http.get("/audit", params={"action": action, "limit": 500}))
                if target is None or e["target"] == target
            ],
            within_s=15,
            what=f"an audit entry {action} of {target or 'any target'}",
        )


@pytest.mark.parametrize("role", ["developer", "team_admin"])
@pytest.mark.parametrize("transport", ["stdio", "STDIO"])
def test_a_developer_or_team_admin_cannot_register_a_stdio_gateway(
    mesh: Mesh, admin_token: str, tmp_path: Path, role: str, transport: str
) -> None:
    email = f"{role}-{uuid.uuid4().hex[:8]}@launch.test"
    make_user(mesh, admin_token, email, role)
    person = login(mesh, email)
    marker = tmp_path / "pwned"
    body = {
        "name": f"pwn-{uuid.uuid4().hex[:8]}",
        "transport": transport,
        "command": ["/bin/sh", "-c", f"touch {marker}"],
    }
    with rest(mesh, person.token) as http:
        response = http.post("/gateways", json=body)
    assert response.status_code == 403
    assert response.json()["data"] == {"permission": "gateways.stdio"}
    assert not marker.exists()


def test_a_platform_admin_cannot_register_a_command_off_the_allow_list(
    mesh: Mesh, admin_token: str, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    name = f"offlist-{uuid.uuid4().hex[:8]}"
    for command in (["/bin/sh", "-c", f"touch {marker}"], ["sh", "-c", f"touch {marker}"]):
        with rest(mesh, admin_token) as http:
            response = http.post(
                "/gateways", json={"name": name, "transport": "stdio", "command": command}
            )
        assert response.status_code == 403
        assert response.json()["data"] == {"field": "command"}
    assert not marker.exists()
    refused = audit(mesh, admin_token, "stdio.refused")
    assert any(e["details"].get("gateway") == name for e in refused)


def test_an_allowed_command_runs_and_its_launch_is_in_the_audit_log(
    mesh: Mesh, admin_token: str
) -> None:
    name = f"allowed-{uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "transport": "stdio",
        "command": STDIO_DEMO,
        "env": {"DEMO_API_KEY": "launch-secret-value"},
    }
    with rest(mesh, admin_token) as http:
        gateway = ok(http.post("/gateways", json=body), 201)
        try:
            tools = {t["name"] for t in ok(http.get("/tools")) if t["gatewayId"] == gateway["id"]}
            assert f"{gateway['slug']}-echo" in tools  # discovered: the child ran and answered
            launches = audit(mesh, admin_token, "stdio.launch", gateway["id"])
            assert launches, "the launch is not in the audit log"
            assert launches[0]["details"]["command"] == STDIO_DEMO
            assert launches[0]["details"]["gateway"] == name
            assert "launch-secret-value" not in str(launches)
        finally:
            ok(http.delete(f"/gateways/{gateway['id']}"))
