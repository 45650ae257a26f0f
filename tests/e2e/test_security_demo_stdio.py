"""Red team F7, `forge up --demo` and stdio.

(a) Run as root, an admin registers the demo server over stdio with the workspace's interpreter,
which lives under /root: the child, switched to the unprivileged stdio account, cannot run it,
and the registration waited out its deadline (504).
Now it fails at once (422, -32602: the command cannot run here) naming the account and the
executable; a call to such a gateway registered earlier gets -32001.

(b) The demo's allow-list entry ended in `...`: an admin could append
`--transport streamable-http --host 0.0.0.0 --port N` (a server listening on every interface) or
`--env-tool`. Now the entry is exactly the demo over stdio: anything more is refused (403)."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from forge.cli.demo import demo_commands
from forge.cli.mesh import Mesh
from tests.e2e.security_kit import ok, rest

INVALID_PARAMS = -32602
FORBIDDEN = -32005
ARGS = ["-m", "forge.servers.demo", "--transport", "stdio"]


@pytest.fixture(scope="module")
def interpreter(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The interpreter behind a directory only root may enter, as a venv under /root is."""
    home = tmp_path_factory.mktemp("root-home")
    home.chmod(0o700)
    link = home / "python"
    link.symlink_to(sys.executable)
    return str(link)


@pytest.fixture(scope="module")
def demo_mesh(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: Any, interpreter: str
) -> Iterator[Mesh]:
    """A mesh whose stdio children run as `nobody` (`forge up`'s default under root), with
    `forge up --demo`'s allow list and the demo server behind that interpreter."""
    run = uuid.uuid4().hex[:6]
    postgres_server.create_database(f"stdio_catalog_{run}")
    postgres_server.create_database(f"stdio_identity_{run}")
    mesh = Mesh(
        state_dir=Path(tmp_path_factory.mktemp("stdio-mesh")),
        env={"FORGE_LOG_LEVEL": "info", "FORGE_STDIO_USER": "nobody"},
        catalog_url=postgres_server.dsn_for(f"stdio_catalog_{run}"),
        identity_url=postgres_server.dsn_for(f"stdio_identity_{run}"),
        stdio_allowed_commands=f"{demo_commands()}; {' '.join([interpreter, *ARGS])}",
    )
    try:
        mesh.start()
        yield mesh
    finally:
        mesh.stop()


def admin_of(mesh: Mesh) -> str:
    login = {"email": mesh.admin_email, "password": mesh.admin_password}
    return str(ok(httpx.post(mesh.url + "/auth/login", json=login))["access_token"])


@pytest.mark.skipif(
    os.geteuid() != 0, reason="stdio children switch account only when the proxy runs as root"
)
def test_a_stdio_command_the_account_cannot_run_fails_registration_at_once_naming_both(
    demo_mesh: Mesh, interpreter: str
) -> None:
    body = {"name": "stdiodemo", "transport": "stdio", "command": [interpreter, *ARGS]}
    with rest(demo_mesh, admin_of(demo_mesh)) as http:
        response = http.post("/gateways", json=body)
        assert response.status_code == 422, response.text
        assert response.json()["code"] == INVALID_PARAMS
        assert response.json()["data"] == {
            "field": "command",
            "account": "nobody",
            "executable": interpreter,
        }
        assert ok(http.get("/gateways")) == []


@pytest.mark.parametrize(
    "more",
    [
        ["--transport", "streamable-http", "--host", "0.0.0.0", "--port", "47999"],
        ["--env-tool"],
    ],
)
def test_the_demo_allow_list_admits_no_argument_of_the_demos_own(
    demo_mesh: Mesh, more: list[str]
) -> None:
    command = [sys.executable, *ARGS, *more]
    body = {"name": f"more-{uuid.uuid4().hex[:6]}", "transport": "stdio", "command": command}
    with rest(demo_mesh, admin_of(demo_mesh)) as http:
        response = http.post("/gateways", json=body)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == FORBIDDEN
        assert response.json()["data"] == {"field": "command"}
