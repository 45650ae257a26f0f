"""The mesh as real processes over a real nats-server and PostgreSQL, with a real upstream."""

from __future__ import annotations

import shlex
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from forge.cli.demo import Demo, register, start_server
from forge.cli.mesh import Mesh, spawn, stop_process
from forge.cli.tokens import mint
from forge.embedded.process import free_port
from forge.testing import eventually_sync

# The stdio gateways the tests register: the demo server over stdio, nothing else.
STDIO_DEMO = [sys.executable, "-m", "forge.servers.demo", "--transport", "stdio"]
STDIO_ALLOWED = shlex.join(STDIO_DEMO) + " ..."
# CI runs as root and the workspace's interpreter may live under /root, which the unprivileged
# stdio account cannot reach: the mesh keeps root for its children here (see the upstream-proxy
# README, "stdio children"); libs/core/tests/test_launch.py covers the switch of account.
STDIO_USER = ""
# Short enough that the slow-upstream test finishes quickly, long enough for a loaded CI machine.
REQUEST_TIMEOUT_S = 3.0


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Mesh]:
    # Its own embedded NATS: the mesh's queue groups must never answer other tests' requests.
    state = tmp_path_factory.mktemp("mesh")
    postgres_server.create_database("e2e_catalog")
    postgres_server.create_database("e2e_identity")
    mesh = Mesh(
        state_dir=Path(state),
        env={
            "FORGE_EDGE_REQUEST_TIMEOUT_S": str(REQUEST_TIMEOUT_S),
            "FORGE_LOG_LEVEL": "info",
            "FORGE_STDIO_ALLOWED_COMMANDS": STDIO_ALLOWED,
            "FORGE_STDIO_USER": STDIO_USER,
            # Per-entity metrics roll up within seconds, so the e2e test sees a roll-up happen.
            "FORGE_REGISTRY_METRICS_ROLLUP_PERIOD_S": "2",
            "FORGE_REGISTRY_METRICS_ROLLUP_EVERY_S": "1",
        },
        catalog_url=postgres_server.dsn_for("e2e_catalog"),
        identity_url=postgres_server.dsn_for("e2e_identity"),
        allow_loopback_upstreams=True,
    )
    try:
        mesh.start()
        assert mesh.nats is not None and mesh.service_nats_urls  # locked: a user per service
        nats_log = mesh.nats.log_path
        yield mesh
    finally:
        mesh.stop()
    # Every e2e test ran with each service's own NATS user (forge.core.permissions): nothing a
    # service did may have been refused.
    refused = service_violations(nats_log)
    assert not refused, "NATS refused what a service did:\n" + "\n".join(refused[:20])


def service_violations(nats_log: Path) -> list[str]:
    """The permission violations nats-server logged for the services' own connections."""
    lines = nats_log.read_text(errors="replace").splitlines()
    return [line for line in lines if "Violation" in line and ":forge-" in line]


@pytest.fixture(scope="session")
def admin_token(mesh: Mesh) -> str:
    return mint(mesh.secret, "admin@forge.local", admin=True)


@pytest.fixture(scope="session")
def demo(mesh: Mesh, admin_token: str) -> Iterator[dict[str, Any]]:
    """The SDK demo server registered as gateway 'demo'."""
    proc, port = start_server(mesh, "forge.servers.demo")
    server = Demo(proc, f"http://127.0.0.1:{port}/mcp")
    try:
        gateway = register(mesh, admin_token, "demo", server.url)
        yield gateway
    finally:
        server.stop()


# A legacy initialize, as every session test opens one.
INIT = {
    "jsonrpc": "2.0",
    "id": 0,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-11-25",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"},
    },
}


def answering(mesh: Mesh, proc: subprocess.Popen[bytes], name: str, url: str) -> None:
    """Wait (30 s) until the service `name` answers 200 at `url`; fail at once if it exits."""

    def up() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(mesh.tail(name))
        return httpx.get(url).status_code == 200

    eventually_sync(
        up, within_s=30, retry_on=(httpx.TransportError,), detail=lambda: mesh.tail(name)
    )


@pytest.fixture(scope="session")
def second_edge(mesh: Mesh) -> Iterator[str]:
    """Another edge replica on its own port, sharing the mesh's bus and secrets."""
    port = free_port()
    env = mesh.service_env()
    env["FORGE_EDGE_PORT"] = str(port)
    with open(mesh.log_path("edge-2"), "ab") as log:
        proc = spawn([sys.executable, "-m", "forge.edge"], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        answering(mesh, proc, "edge-2", url + "/health")
        yield url
    finally:
        stop_process(proc)


def sdk_client(url: str, token: str, mode: str) -> tuple[httpx2.AsyncClient, Client]:
    """The official SDK client over Streamable HTTP in `mode`, with its HTTP client to close."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30)
    return http, Client(streamable_http_client(url, http_client=http), mode=mode)


@pytest.fixture
async def client(mesh: Mesh, admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(base_url=mesh.url, headers=headers, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def authprobe(mesh: Mesh) -> Iterator[str]:
    """The authprobe upstream's URL: its `whoami` tool says what authenticated the request."""
    proc, port = start_server(mesh, "forge.servers.authprobe")
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        stop_process(proc)
