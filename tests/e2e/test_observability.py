"""Every service's ops port, through the whole mesh on a NATS of its own: /livez and /readyz,
/metrics parsed with prometheus-client's parser and moving by exactly the calls made, JSON log
lines carrying the client's trace id, and readiness following NATS down and back up."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from forge.cli.demo import Demo, register, start_server
from forge.cli.mesh import SERVICES, Mesh
from forge.cli.tokens import mint
from forge.embedded.nats import EmbeddedNats, start_nats
from forge.testing import eventually_sync
from forge.testing.routing import router_process, upstream_process

CALLS = 5
FAILED_CALLS = 2


class Scene:
    """The mesh, its own NATS (stopped and restarted by the last test), an admin token."""

    def __init__(self, mesh: Mesh, nats: EmbeddedNats, token: str) -> None:
        self.mesh = mesh
        self.nats = nats
        self.token = token

    def ops(self, name: str, path: str) -> httpx.Response:
        return httpx.get(self.mesh.ops_url(name) + path, timeout=10)

    def scrape(self, name: str) -> list[Any]:
        response = self.ops(name, "/metrics")
        assert response.status_code == 200, (name, response.text)
        return list(text_string_to_metric_families(response.text))

    def answers(self) -> bool:
        """Whether a tools/call goes through now (False, not an error, while it cannot)."""
        try:
            return "result" in self.post("demo-echo").json()
        except (httpx.TransportError, ValueError):
            return False

    def call(self, tool: str, traceparent: str | None = None) -> dict[str, Any]:
        response = self.post(tool, traceparent)
        assert response.status_code == 200, response.text
        reply: dict[str, Any] = response.json()
        return reply

    def post(self, tool: str, traceparent: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        if traceparent is not None:
            headers["traceparent"] = traceparent
        return httpx.post(
            self.mesh.url + "/mcp",
            headers=headers,
            json={
                "jsonrpc": "2.0",
                "id": 1,
                "method": "tools/call",
                "params": {"name": tool, "arguments": {"text": "observed"}},
            },
            timeout=30,
        )


def value(families: list[Any], name: str, **labels: str) -> float:
    """The sum of the samples named `name` whose labels include `labels` (0 when none)."""
    total = 0.0
    for family in families:
        for found in family.samples:
            if found.name == name and all(found.labels.get(k) == v for k, v in labels.items()):
                total += float(found.value)
    return total


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Scene]:
    state = Path(tmp_path_factory.mktemp("observed"))
    nats = start_nats(state / "nats")
    postgres_server.create_database("observed_catalog")
    postgres_server.create_database("observed_identity")
    mesh = Mesh(
        state_dir=state,
        env={
            "FORGE_LOG_FORMAT": "json",
            # The router writes a debug line per envelope: the line the trace test looks for
            # (in the edge's log when the router runs in the edge's process).
            f"FORGE_{router_process().upper()}_LOG_LEVEL": "debug",
            "FORGE_EDGE_REQUEST_TIMEOUT_S": "5",
        },
        nats_url=nats.url,
        catalog_url=postgres_server.dsn_for("observed_catalog"),
        identity_url=postgres_server.dsn_for("observed_identity"),
        allow_loopback_upstreams=True,
    )
    demo: Demo | None = None
    made: Scene | None = None
    try:
        mesh.start()
        token = mint(mesh.secret, "admin@forge.local", admin=True)
        proc, port = start_server(mesh, "forge.servers.demo")
        demo = Demo(proc, f"http://127.0.0.1:{port}/mcp")
        register(mesh, token, "demo", demo.url)
        made = Scene(mesh, nats, token)
        eventually_sync(made.answers, within_s=30, what="the demo tool answers through the mesh")
        yield made
    finally:
        if demo is not None:
            demo.stop()
        mesh.stop()
        nats.stop()
        if made is not None:
            made.nats.stop()  # the one the last test restarted


def test_every_service_serves_livez_readyz_and_metrics_on_its_own_port(scene: Scene) -> None:
    ports = {scene.mesh.ops_ports[name] for name in SERVICES}
    assert len(ports) == len(SERVICES)
    for name in SERVICES:
        assert scene.ops(name, "/livez").status_code == 200, name
        ready = scene.ops(name, "/readyz")
        assert ready.status_code == 200, (name, ready.text)
        assert ready.json()["status"] == "ready"
        families = scene.scrape(name)
        assert value(families, "forge_nats_connected") == 1, name
        assert scene.ops(name, "/other").status_code == 404


def test_counters_move_by_exactly_the_calls_made(scene: Scene) -> None:
    before = {name: scene.scrape(name) for name in SERVICES}
    for _ in range(CALLS):
        assert "result" in scene.call("demo-echo")
    for _ in range(FAILED_CALLS):
        assert scene.call(f"no-such-tool-{uuid.uuid4().hex[:6]}")["error"]["code"] == -32602
    for path in ("/no-such-page", f"/tools/{uuid.uuid4()}/nothing"):
        assert httpx.get(scene.mesh.url + path).status_code == 404
    assert httpx.get(scene.mesh.url + "/health").status_code == 200
    after = {name: scene.scrape(name) for name in SERVICES}

    def moved(name: str, metric: str, **labels: str) -> float:
        return value(after[name], metric, **labels) - value(before[name], metric, **labels)

    # The router's, in the edge's process with FORGE_EDGE_ROUTER=local: the same series.
    routing = router_process()
    router = {"subject": "forge.router.rpc", "method": "tools/call"}
    assert moved(routing, "forge_rpc_requests_total", **router) == CALLS + FAILED_CALLS
    assert moved(routing, "forge_rpc_errors_total", code="-32602", **router) == FAILED_CALLS
    assert moved(routing, "forge_rpc_duration_seconds_count", **router) == CALLS + FAILED_CALLS
    # The upstream-proxy's, in the edge's process too with FORGE_EDGE_UPSTREAM=local (the demo
    # server is a credential-free HTTP gateway): the same series.
    calling = upstream_process()
    upstream = {"subject": "forge.upstream.*.rpc", "method": "tools/call"}
    assert moved(calling, "forge_rpc_requests_total", **upstream) == CALLS
    assert moved(calling, "forge_rpc_errors_total", **upstream) == 0
    # The router's round trips to the upstream-proxy, one per successful call; none when the
    # edge calls the gateway itself.
    trips = CALLS if calling == "upstream_proxy" else 0
    assert moved(routing, "forge_nats_requests_total", subject="forge.upstream.*.rpc") == trips
    mcp = {"route": "/mcp", "method": "POST", "status": "200"}
    assert moved("edge", "forge_http_requests_total", **mcp) == CALLS + FAILED_CALLS
    # Paths no route serves count under one label, whatever they are.
    assert moved("edge", "forge_http_requests_total", route="unmatched", status="404") == 2
    assert moved("edge", "forge_http_requests_total", route="/health", status="200") == 1
    # Each call a round trip to the router service; none with the router in the edge's process.
    assert moved("edge", "forge_nats_requests_total", subject="forge.router.rpc") == (
        CALLS + FAILED_CALLS if routing == "router" else 0
    )


def test_pools_and_caches_are_reported(scene: Scene) -> None:
    registry = scene.scrape("registry")
    for database in ("catalog", "identity"):
        assert value(registry, "forge_db_pool_connections", database=database, state="max") > 0
        assert value(registry, "forge_db_pool_connections", database=database, state="open") > 0
    router = scene.scrape(router_process())
    assert value(router, "forge_cache_entries", cache="router_catalog", kind="tools") >= 1
    assert value(router, "forge_cache_entries", cache="router_catalog", kind="gateways") == 1
    # The snapshot and the demo gateway's registration events.
    assert value(router, "forge_cache_invalidations_total", cache="router_catalog") >= 2
    edge = scene.scrape("edge")
    assert value(edge, "forge_cache_entries", cache="edge_identity", kind="users") >= 1
    assert value(edge, "forge_cache_invalidations_total", cache="edge_identity") >= 1
    proxy = scene.scrape(upstream_process())
    assert value(proxy, "forge_upstream_sessions", transport="streamablehttp") >= 1


def test_json_log_lines_parse_and_carry_the_clients_trace_id(scene: Scene) -> None:
    trace = uuid.uuid4().hex
    assert "result" in scene.call("demo-echo", traceparent=f"00-{trace}-{uuid.uuid4().hex[:16]}-01")

    def traced() -> list[dict[str, Any]]:
        lines = scene.mesh.log_path(router_process()).read_text().splitlines()
        found = [e for e in map(json.loads, lines) if e.get("trace_id") == trace]
        return [e for e in found if e.get("logger") == "forge.rpc"]

    found = eventually_sync(traced, within_s=10, what="a router log line with the trace id")
    entry = found[0]
    assert entry["service"] == router_process()
    assert entry["logger"] == "forge.rpc"
    assert entry["request_id"] and entry["level"] == "debug"
    for name in SERVICES:
        for line in scene.mesh.log_path(name).read_text().splitlines():
            parsed = json.loads(line)  # every line of every service is one JSON object
            assert {"ts", "level", "service", "logger", "msg"} <= parsed.keys(), (name, line)
            assert scene.token not in line


def test_readyz_follows_nats_down_and_back_up(scene: Scene) -> None:
    port = int(scene.nats.url.rsplit(":", 1)[1])
    scene.nats.stop()

    def statuses() -> dict[str, int]:
        return {name: scene.ops(name, "/readyz").status_code for name in SERVICES}

    eventually_sync(
        lambda: set(statuses().values()) == {503},
        within_s=20,
        what="every service is unready without NATS",
        detail=lambda: str(statuses()),
    )
    reasons = {scene.ops(name, "/readyz").json()["reason"] for name in SERVICES}
    assert reasons == {"not connected to NATS"}
    for name in SERVICES:
        assert scene.ops(name, "/livez").status_code == 200, name
    scene.nats = start_nats(scene.nats.dir, port=port)
    started = time.monotonic()
    eventually_sync(
        lambda: set(statuses().values()) == {200},
        within_s=60,
        what="every service is ready again once NATS is back",
        detail=lambda: f"{statuses()} after {time.monotonic() - started:.1f} s",
    )
    eventually_sync(scene.answers, within_s=30, what="calls go through again")
