"""A rolling restart loses no request (issue 14): two replicas of every service (the mesh's own
and one started with the image's entrypoint, `forge run <service>`), a steady load of tools/calls
through the two edges, and every replica restarted one after the other (SIGTERM, it exits 0, a new
one starts with `forge run` and is ready before the next goes). Every request an edge accepted
must succeed.

Its own mesh (own NATS and databases): restarting every service would disturb the shared one's
sessions and stdio children. The clients balance over the edges themselves, as a load balancer
would: an edge about to stop is first taken out of the rotation (Kubernetes takes a pod out of a
Service's endpoints when it is deleted); a connection refused, when nothing was sent, is tried on
the other edge; anything else (a reset after sending, a 5xx, a JSON-RPC error) is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from forge.cli.demo import Demo, register, start_server
from forge.cli.mesh import SERVICES, Mesh, spawn, stop_process
from forge.cli.tokens import mint
from forge.core.service import DRAINING
from forge.embedded.process import free_port
from forge.testing import eventually

FORGE = str(Path(sys.executable).with_name("forge"))
MODERN = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientInfo": {"name": "rolling", "version": "1"},
    "io.modelcontextprotocol/clientCapabilities": {},
}
CLIENTS = 4
_IDS = itertools.count(1)


@dataclass
class Replica:
    service: str
    proc: subprocess.Popen[bytes]
    ops_port: int
    port: int = 0  # the edge's HTTP port


@dataclass
class Load:
    """The clients' shared state: the edges in rotation and what happened to every call."""

    edges: list[str]
    ok: int = 0
    refused: int = 0  # connection refused: nothing sent, tried again elsewhere
    failures: list[str] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)


def call(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    body = {
        "jsonrpc": "2.0",
        "id": next(_IDS),
        "method": "tools/call",
        "params": {"name": name, "arguments": arguments, "_meta": META},
    }
    headers = {"MCP-Protocol-Version": MODERN, "Mcp-Method": "tools/call", "Mcp-Name": name}
    return {"json": body, "headers": headers}


def check(response: httpx.Response, expected: str) -> str | None:
    if response.status_code != 200:
        return f"HTTP {response.status_code}: {response.text[:200]}"
    answer = response.json()
    try:
        text = answer["result"]["content"][0]["text"]
    except (KeyError, IndexError, TypeError):
        return f"not a result: {str(answer)[:200]}"
    return None if text == expected else f"wrong answer {text!r}"


async def client(load: Load, token: str, number: int) -> None:
    # A new connection per call: a refused connect is then always a call never sent.
    limits = httpx.Limits(max_keepalive_connections=0)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    async with httpx.AsyncClient(headers=headers, timeout=30, limits=limits) as http:
        for n in itertools.count():
            if load.stop.is_set():
                return
            text = f"client {number} call {n}"
            for attempt in itertools.count():
                edge = load.edges[(number + n + attempt) % len(load.edges)]
                try:
                    response = await http.post(edge + "/mcp", **call("demo-echo", {"text": text}))
                except httpx.ConnectError:
                    load.refused += 1
                    continue
                except httpx.HTTPError as exc:
                    load.failures.append(f"{edge}: {type(exc).__name__} {exc}")
                    break
                problem = check(response, text)
                if problem is None:
                    load.ok += 1
                else:
                    load.failures.append(f"{edge}: {problem}")
                break


async def ready(replica: Replica) -> None:
    async def answers() -> bool:
        if replica.proc.poll() is not None:
            raise AssertionError(f"{replica.service} exited with {replica.proc.returncode}")
        async with httpx.AsyncClient(timeout=2) as http:
            got = await http.get(f"http://127.0.0.1:{replica.ops_port}/readyz")
        return got.status_code == 200

    await eventually(answers, within_s=30, retry_on=(httpx.TransportError,))


def start(mesh: Mesh, service: str, tag: str, port: int = 0) -> Replica:
    env = mesh.service_env()
    ops_port = free_port()
    env[f"FORGE_{service.upper()}_OPS_PORT"] = str(ops_port)
    env["FORGE_DRAIN_TIMEOUT_S"] = "10"
    if service == "edge":
        env["FORGE_EDGE_PORT"] = str(port)
    with open(mesh.log_path(f"{service}-{tag}"), "ab") as log:
        proc = spawn([FORGE, "run", service.replace("_", "-")], env, log)
    return Replica(service, proc, ops_port, port)


@pytest.fixture(scope="module")
def rolling_mesh(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Mesh]:
    state = tmp_path_factory.mktemp("rolling")
    postgres_server.create_database("rolling_catalog")
    postgres_server.create_database("rolling_identity")
    mesh = Mesh(
        state_dir=Path(state),
        env={"FORGE_LOG_LEVEL": "info"},
        catalog_url=postgres_server.dsn_for("rolling_catalog"),
        identity_url=postgres_server.dsn_for("rolling_identity"),
        allow_loopback_upstreams=True,
    )
    try:
        mesh.start()
        yield mesh
    finally:
        mesh.stop()


@pytest.fixture(scope="module")
def echo_server(rolling_mesh: Mesh) -> Iterator[None]:
    token = mint(rolling_mesh.secret, "admin@forge.local", admin=True)
    proc, port = start_server(rolling_mesh, "forge.servers.demo")
    server = Demo(proc, f"http://127.0.0.1:{port}/mcp")
    try:
        register(rolling_mesh, token, "demo", server.url)
        yield
    finally:
        server.stop()


@contextlib.asynccontextmanager
async def replicas(mesh: Mesh) -> AsyncIterator[dict[str, list[Replica]]]:
    """Two replicas of every service: the mesh's own and one started with `forge run`."""
    running: dict[str, list[Replica]] = {}
    try:
        for service in SERVICES:
            port = mesh.port if service == "edge" else 0
            own = Replica(service, mesh.procs.pop(service), mesh.ops_ports[service], port)
            running[service] = [own, start(mesh, service, "b", free_port())]
        for group in running.values():
            for replica in group:
                await ready(replica)
        yield running
    finally:
        for group in running.values():
            for replica in group:
                stop_process(replica.proc)


def more(load: Load, than: int) -> bool:
    return load.ok > than


async def draining(replica: Replica) -> bool:
    async with httpx.AsyncClient(timeout=2) as http:
        got = await http.get(f"http://127.0.0.1:{replica.ops_port}/readyz")
    return got.status_code == 503 and got.json()["reason"] == DRAINING


async def test_a_rolling_restart_of_every_service_loses_no_request(
    rolling_mesh: Mesh, echo_server: None
) -> None:
    mesh = rolling_mesh
    token = mint(mesh.secret, "admin@forge.local", admin=True)
    async with replicas(mesh) as running:
        edges = {r.port: f"http://127.0.0.1:{r.port}" for r in running["edge"]}
        load = Load(edges=list(edges.values()))
        clients = [asyncio.create_task(client(load, token, n)) for n in range(CLIENTS)]
        auth = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        async with httpx.AsyncClient(headers=auth, timeout=30) as http:
            await eventually(lambda: load.ok >= 2 * CLIENTS, within_s=30)
            for service in SERVICES:
                for index, old in enumerate(list(running[service])):
                    before = load.ok
                    slow = None
                    if service == "edge":
                        url = edges[old.port]
                        load.edges.remove(url)  # out of the rotation first
                        # A call the stopping edge has accepted must still be answered.
                        slow = asyncio.create_task(
                            http.post(url + "/mcp", **call("demo-slow", {"seconds": 2.0}))
                        )
                        await asyncio.sleep(0.5)  # it reached the edge (a refused one fails)
                    old.proc.send_signal(signal.SIGTERM)
                    if slow is not None:  # while it finishes that call, it says it is leaving
                        await eventually(functools.partial(draining, old), within_s=10)
                    code = await asyncio.to_thread(old.proc.wait, 30)
                    assert code == 0, f"{service} exited {code}:\n{mesh.tail(service)}"
                    new = start(mesh, service, f"r{index}", old.port)
                    running[service][index] = new
                    await ready(new)
                    if slow is not None:
                        assert check(await slow, "slept 2.0s") is None
                        load.edges.append(url)
                    # Calls keep succeeding once the new replica serves.
                    await eventually(functools.partial(more, load, before + CLIENTS), within_s=30)
                    assert not load.failures, load.failures[:5]
        load.stop.set()
        await asyncio.gather(*clients)
    assert not load.failures, load.failures[:5]
    assert load.ok > 12 * CLIENTS
