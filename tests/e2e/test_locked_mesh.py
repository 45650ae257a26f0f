"""The shared mesh's NATS is locked down (forge.core.permissions): each service connects as its
own user, anonymous connections are refused, and a service's credentials are refused what is
not theirs against the real services. Every other e2e test runs on this mesh, and the session
fails if nats-server refused anything a service did (tests/e2e/conftest.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from forge.cli.mesh import Mesh
from forge.core import permissions, subjects
from forge.core.bus import NatsBus
from forge.core.errors import ServiceUnavailableError
from forge.testing import eventually
from tests.e2e.conftest import service_violations

Connect = Callable[[str], Awaitable[NatsBus]]


@pytest.fixture
async def as_user(mesh: Mesh) -> AsyncIterator[Connect]:
    """Connect with a service's credentials (as that service would), closed after the test."""
    made: list[NatsBus] = []

    async def connect(service: str) -> NatsBus:
        url = mesh.nats_url if service == permissions.OPERATOR else mesh.service_nats_urls[service]
        bus = await NatsBus.connect(url, f"locked-test-{service}")
        made.append(bus)
        return bus

    try:
        yield connect
    finally:
        for bus in made:
            await bus.close()


def test_every_service_is_given_its_own_user_and_nothing_else_one(mesh: Mesh) -> None:
    env = mesh.service_env()
    assert mesh.nats is not None
    assert env["FORGE_NATS_URL"] == mesh.nats.url  # no user: nothing else connects by default
    for service in permissions.SERVICES:
        url = env[f"FORGE_{service.upper()}_NATS_URL"]
        assert url.startswith(f"nats://{service}:") and url.endswith("@" + mesh.nats.url[7:])
    passwords = {url.split(":")[2].split("@")[0] for url in mesh.service_nats_urls.values()}
    assert len(passwords) == len(permissions.SERVICES)


async def test_nats_refuses_a_connection_without_a_user(mesh: Mesh) -> None:
    assert mesh.nats is not None
    with pytest.raises(ServiceUnavailableError) as caught:
        await NatsBus.connect(mesh.nats.url, "locked-test-anonymous", 5)
    assert "refused the user and password" in caught.value.message


async def test_the_upstream_proxys_user_cannot_ask_the_identity_registry(
    mesh: Mesh, as_user: Connect
) -> None:
    upstream = await as_user("upstream_proxy")
    operator = await as_user(permissions.OPERATOR)
    ping = subjects.registry_health(subjects.IDENTITY)
    # The identity registry answers whoever may ask ...
    assert await operator.request(ping, b"", deadline=time.time() + 5)
    # ... and the upstream-proxy's user may not: nats-server refuses the request, and it fails
    # at once (not at its deadline) saying so.
    refused = "does not let this service send"
    with pytest.raises(ServiceUnavailableError, match=refused):
        await upstream.request(ping, b"", deadline=time.time() + 30)
    with pytest.raises(ServiceUnavailableError, match=refused):
        await upstream.request(
            subjects.registry(subjects.IDENTITY, "users", "list"), b"{}", deadline=time.time() + 30
        )
    # What it needs is answered by the real catalog registry (an error reply to a bad envelope).
    asked = subjects.registry(subjects.CATALOG, "gateways", "get")
    assert b"error" in await upstream.request(asked, b"{}", deadline=time.time() + 5)


async def test_the_edges_user_cannot_announce_catalog_changes(
    as_user: Connect,
) -> None:
    edge = await as_user("edge")
    operator = await as_user(permissions.OPERATOR)
    heard: list[str] = []

    async def on(subject: str, data: bytes) -> None:
        heard.append(subject)

    marker = subjects.session("locked-test-marker")
    await operator.subscribe(subjects.CATALOG_EVENTS, on)
    await operator.subscribe(marker, on)
    await operator.flush()

    async def announced_then_marker() -> bool:
        await edge.publish(subjects.event(subjects.CATALOG, "gateways", "changed"), b"{}")
        await edge.publish(marker, b"{}")  # the edge may: once heard, the first would be too
        await edge.flush()
        return marker in heard

    await eventually(announced_then_marker, detail=lambda: str(heard))
    assert set(heard) == {marker}


def test_no_service_has_been_refused_anything_so_far(mesh: Mesh, tmp_path: Path) -> None:
    assert mesh.nats is not None
    assert service_violations(mesh.nats.log_path) == []
    # What a refusal looks like in nats-server's log, as the session's last check reads it.
    planted = tmp_path / "nats.log"
    planted.write_text(
        '[1] 2026/12/06 08:00:20.832302 [ERR] 127.0.0.1:55874 - cid:5 - "v2.16.0:python3:'
        'forge-edge" - "$G/user:edge" - Publish Violation - Subject "forge.events.catalog.x"\n'
        '[1] 2026/12/06 08:00:21.000000 [ERR] 127.0.0.1:55875 - cid:6 - "v2.16.0:python3:'
        'locked-test-edge" - "$G/user:edge" - Publish Violation - Subject "forge.events.x"\n'
    )
    assert len(service_violations(planted)) == 1
