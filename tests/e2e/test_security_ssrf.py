"""SSRF through plugins (issue 9, item 3): a team_admin bound `webhook_notification` or an
`external` plugin to any URL and the plugin-runner dialled it. Now binding a plugin that dials
out is a platform admin's, its URL passes the SSRF guard at binding, and the runner dials
through the same guard at connect time: the listener standing for the target receives nothing.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec
import pytest

from forge.cli.mesh import Mesh
from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.proto.envelope import Envelope, Principal
from forge.testing import eventually_sync
from forge.testing.listener import Listener
from tests.e2e.security_kit import login, make_user, ok, rest

DIALLING = ("webhook_notification", "external")
FORBIDDEN = -32005
_ENC = msgspec.json.Encoder()


@pytest.fixture(scope="module")
def listener() -> Iterator[Listener]:
    """Stands for whatever the attacker aims at: it must never be reached."""
    with Listener() as server:
        yield server


@pytest.fixture(scope="module")
def team_admin(mesh: Mesh, admin_token: str) -> tuple[str, str]:
    """A team_admin's session token and the team they administer."""
    email = f"ta-{uuid.uuid4().hex[:6]}@example.com"
    make_user(mesh, admin_token, email, "team_admin")
    person = login(mesh, email)
    with rest(mesh, person.token) as http:
        team = ok(http.post("/teams", json={"name": f"ssrf-{uuid.uuid4().hex[:6]}"}))["id"]
    return login(mesh, email).token, team


def bind(mesh: Mesh, token: str, plugin: str, url: str, **more: Any) -> httpx.Response:
    with rest(mesh, token) as http:
        body = {"plugin": plugin, "config": {"url": url}, **more}
        return http.post("/plugins/bindings", json=body)


def refused(response: httpx.Response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["code"] == FORBIDDEN


def targets(listener: Listener) -> list[str]:
    return [
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
        listener.url + "/hook",
        "http://192.0.2.1/hook",
    ]


@pytest.mark.parametrize("plugin", DIALLING)
@pytest.mark.parametrize("target", range(3))
def test_a_team_admin_cannot_bind_a_plugin_that_dials_out(
    mesh: Mesh, team_admin: tuple[str, str], listener: Listener, plugin: str, target: int
) -> None:
    token, team = team_admin
    # The same team_admin may bind a guardrail on their team: the refusal is about dialling.
    guardrail = {"plugin": "deny_list", "team_id": team, "tool": f"t{uuid.uuid4().hex[:6]}_*"}
    with rest(mesh, token) as http:
        ok(http.post("/plugins/bindings", json={**guardrail, "config": {"words": ["x"]}}), 201)
    url = targets(listener)[target]
    refused(bind(mesh, token, plugin, url, team_id=team))
    with rest(mesh, token) as http:
        assert ok(http.get("/plugins/bindings", params={"plugin": plugin})) == []
    assert listener.received == 0


@pytest.mark.parametrize("plugin", DIALLING)
@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://192.0.2.1/hook",
        "http://[::ffff:10.0.0.1]/hook",
        "http://198.18.0.1/hook",
    ],
)
def test_a_platform_admin_cannot_bind_a_plugin_to_a_special_purpose_address(
    mesh: Mesh, admin_token: str, plugin: str, url: str
) -> None:
    refused(bind(mesh, admin_token, plugin, url, team_id=None))


# -- a mesh that does not allow loopback (as a bare `forge up`)


@pytest.fixture(scope="module")
def strict_mesh(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Mesh]:
    run = uuid.uuid4().hex[:6]
    postgres_server.create_database(f"ssrf_catalog_{run}")
    postgres_server.create_database(f"ssrf_identity_{run}")
    mesh = Mesh(
        state_dir=Path(tmp_path_factory.mktemp("strict-mesh")),
        env={"FORGE_LOG_LEVEL": "info"},
        catalog_url=postgres_server.dsn_for(f"ssrf_catalog_{run}"),
        identity_url=postgres_server.dsn_for(f"ssrf_identity_{run}"),
    )
    try:
        mesh.start()
        yield mesh
    finally:
        mesh.stop()


@pytest.fixture
async def strict_bus(strict_mesh: Mesh) -> AsyncIterator[NatsBus]:
    bus = await NatsBus.connect(strict_mesh.nats_url, "ssrf-test")
    try:
        yield bus
    finally:
        await bus.close()


def strict_admin(mesh: Mesh) -> str:
    response = httpx.post(
        mesh.url + "/auth/login", json={"email": mesh.admin_email, "password": mesh.admin_password}
    )
    return str(ok(response)["access_token"])


async def force(bus: NatsBus, plugin: str, url: str) -> str:
    """A binding the registry would refuse, announced as if it had been stored."""
    binding_id = uuid.uuid4().hex
    config: dict[str, Any] = {"url": url}
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    record = {"id": binding_id, "plugin": plugin, "config": config}
    record |= {"created_at": now, "updated_at": now}
    subject = subjects.event(subjects.CATALOG, "plugin_bindings", "changed")
    await bus.publish(subject, _ENC.encode(record))
    await bus.flush()  # the waits that follow block the loop
    return binding_id


def rejected(mesh: Mesh, token: str, binding_id: str) -> str:
    """Why the runner leaves the binding out, once it says so (bounded)."""
    with rest(mesh, token) as http:
        return eventually_sync(
            lambda: {r["id"]: r["reason"] for r in ok(http.get("/plugins"))["rejected"]}.get(
                binding_id
            ),
            within_s=20,
            every_s=0.1,
            what=f"the runner rejects binding {binding_id}",
            detail=lambda: mesh.tail("plugin_runner"),
        )


def logged(mesh: Mesh, name: str, text: str) -> None:
    eventually_sync(
        lambda: text in mesh.log_path(name).read_text(errors="replace"),
        within_s=20,
        every_s=0.1,
        what=f"{name}'s log says {text!r}",
        detail=lambda: mesh.tail(name),
    )


@pytest.mark.parametrize("plugin", DIALLING)
def test_a_loopback_plugin_url_is_refused_at_binding_where_loopback_is_not_allowed(
    strict_mesh: Mesh, listener: Listener, plugin: str
) -> None:
    refused(bind(strict_mesh, strict_admin(strict_mesh), plugin, listener.url, team_id=None))
    assert listener.received == 0


async def test_a_forced_external_plugin_on_loopback_is_never_dialled(
    strict_mesh: Mesh, strict_bus: NatsBus, listener: Listener
) -> None:
    binding_id = await force(strict_bus, "external", listener.url + "/mcp")
    # Listing its hooks needs a connection: the guard refuses it, so the binding is left out
    # (a dialled listener would have seen the connection).
    rejected(strict_mesh, strict_admin(strict_mesh), binding_id)
    assert listener.received == 0


async def test_a_forced_webhook_on_loopback_is_never_dialled(
    strict_mesh: Mesh, strict_bus: NatsBus, listener: Listener
) -> None:
    await force(strict_bus, "webhook_notification", listener.url + "/hook")
    wait_loaded(strict_mesh, strict_admin(strict_mesh), "webhook_notification")
    # A failed tool call, as the router would send it to the runner after the upstream answered.
    failed = {"payload": {"content": [], "isError": True}, "request": {"name": "t"}}
    envelope = Envelope(
        id=uuid.uuid4().hex,
        method="tools/call",
        params=msgspec.Raw(_ENC.encode(failed)),
        principal=Principal(subject="ann@example.com", email="ann@example.com"),
        deadline=time.time() + 10,
    )
    await rpc.call(strict_bus, subjects.plugins_call("tool_post_invoke"), envelope)
    logged(strict_mesh, "plugin_runner", "the SSRF guard refused")
    assert listener.received == 0


def wait_loaded(mesh: Mesh, token: str, kind: str) -> None:
    with rest(mesh, token) as http:
        eventually_sync(
            lambda: any(p["kind"] == kind for p in ok(http.get("/plugins"))["plugins"]),
            within_s=20,
            every_s=0.1,
            what=f"a {kind} plugin is loaded",
        )


# -- red team F6: IPv4-compatible IPv6 (::/96) passed the guard on a bare mesh


def ipv4_compatible(listener: Listener) -> list[str]:
    """The red team's URLs: loopback and the metadata service written as ::a.b.c.d."""
    port = urlsplit(listener.url).port
    return [f"http://[::127.0.0.1]:{port}/mcp", "http://[::a9fe:a9fe]/latest/meta-data/"]


@pytest.mark.parametrize("plugin", DIALLING)
@pytest.mark.parametrize("target", range(2))
def test_an_ipv4_compatible_plugin_url_is_refused_at_binding(
    strict_mesh: Mesh, listener: Listener, plugin: str, target: int
) -> None:
    url = ipv4_compatible(listener)[target]
    refused(bind(strict_mesh, strict_admin(strict_mesh), plugin, url, team_id=None))
    assert listener.received == 0


@pytest.mark.parametrize("target", range(2))
def test_an_ipv4_compatible_upstream_is_refused_at_registration(
    strict_mesh: Mesh, listener: Listener, target: int
) -> None:
    body = {"name": f"compat-{uuid.uuid4().hex[:6]}", "url": ipv4_compatible(listener)[target]}
    with rest(strict_mesh, strict_admin(strict_mesh)) as http:
        refused(http.post("/gateways", json=body))
    assert listener.received == 0
