"""One trace per call through the whole mesh, exported over OTLP/HTTP to a real receiver.

The mesh runs with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a small HTTP server here that
decodes each `ExportTraceServiceRequest` (opentelemetry-proto) and keeps its spans. A tools/call
of the demo tool (a plugin bound to it) yields one trace with spans from the edge, the router,
the plugin-runner and the upstream-proxy, each hop's parent in the trace; an agent's tool adds
the a2a-bridge; a client's `traceparent` is continued; an admin change's trace reaches the
registry's database spans. No span carries the call's arguments."""

from __future__ import annotations

import gzip
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from forge.cli.demo import Demo, register, start_server
from forge.cli.mesh import Mesh
from forge.cli.tokens import mint
from forge.servers.process import ServerProcess, spawn
from forge.testing import eventually_sync
from forge.testing.routing import router_process, router_service, upstream_service

# A rate limiter keeps state on the bus, so it runs in the plugin-runner (a pure plugin would
# run inline in the router, docs/plugins.md).
PLUGINS = """\
plugins:
  - name: traced-limit
    kind: rate_limiter
    hooks: [tool_pre_invoke]
    conditions: {tools: [demo-echo]}
    config: {by_user: "100000/m"}
"""


OPERATIONS = {"SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "BEGIN", "COMMIT", "ROLLBACK"}


@dataclass(frozen=True)
class Span:
    service: str
    trace_id: str
    span_id: str
    parent_id: str
    name: str
    kind: int
    attributes: dict[str, Any]


def _value(value: AnyValue) -> Any:
    return getattr(value, value.WhichOneof("value") or "string_value")


class Receiver:
    """An OTLP/HTTP trace receiver on a port of its own, keeping every span it is sent."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver.keep(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def keep(self, request: ExportTraceServiceRequest) -> None:
        found = []
        for resource in request.resource_spans:
            attributes = {a.key: _value(a.value) for a in resource.resource.attributes}
            for scope in resource.scope_spans:
                for span in scope.spans:
                    found.append(
                        Span(
                            service=str(attributes.get("service.name", "")),
                            trace_id=span.trace_id.hex(),
                            span_id=span.span_id.hex(),
                            parent_id=span.parent_span_id.hex(),
                            name=span.name,
                            kind=span.kind,
                            attributes={a.key: _value(a.value) for a in span.attributes},
                        )
                    )
        with self.lock:
            self.spans.extend(found)

    def trace(self, trace_id: str) -> list[Span]:
        with self.lock:
            return [s for s in self.spans if s.trace_id == trace_id]

    def traces_of(self, tool: str) -> set[str]:
        """The traces whose edge span is a tools/call of `tool`."""
        with self.lock:
            return {
                s.trace_id
                for s in self.spans
                if s.service == "forge-edge" and s.attributes.get("mcp.tool.name") == tool
            }

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Scene:
    def __init__(self, mesh: Mesh, receiver: Receiver, token: str) -> None:
        self.mesh, self.receiver, self.token = mesh, receiver, token

    def call(self, tool: str, arguments: dict[str, Any], traceparent: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"}
        if traceparent is not None:
            headers["traceparent"] = traceparent
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {"name": tool, "arguments": arguments},
        }
        response = httpx.post(self.mesh.url + "/mcp", headers=headers, json=body, timeout=30)
        assert response.status_code == 200, response.text
        reply = response.json()
        assert "result" in reply, reply
        return reply["result"]


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory, postgres_server: Any) -> Iterator[Scene]:
    state = Path(tmp_path_factory.mktemp("traced"))
    plugins = state / "plugins.yaml"
    plugins.write_text(PLUGINS)
    postgres_server.create_database("traced_catalog")
    postgres_server.create_database("traced_identity")
    receiver = Receiver()
    mesh = Mesh(
        state_dir=state,
        env={
            "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
            "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "1.0",
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # ms: spans reach the receiver quickly
            "FORGE_PLUGIN_RUNNER_PLUGINS_CONFIG": str(plugins),
            "FORGE_EDGE_REQUEST_TIMEOUT_S": "10",
        },
        catalog_url=postgres_server.dsn_for("traced_catalog"),
        identity_url=postgres_server.dsn_for("traced_identity"),
        allow_loopback_upstreams=True,
    )
    demo: Demo | None = None
    try:
        mesh.start()
        token = mint(mesh.secret, "admin@forge.local", admin=True)
        proc, port = start_server(mesh, "forge.servers.demo")
        demo = Demo(proc, f"http://127.0.0.1:{port}/mcp")
        register(mesh, token, "demo", demo.url)
        yield Scene(mesh, receiver, token)
    finally:
        if demo is not None:
            demo.stop()
        mesh.stop()
        receiver.stop()


@pytest.fixture(scope="module")
def echo_agent() -> Iterator[ServerProcess]:
    with spawn("forge.agents.echo", path="/") as agent:
        yield agent


def services(spans: list[Span]) -> set[str]:
    return {s.service for s in spans}


def assert_linked(
    spans: list[Span], root_parent: str, route: str = "/mcp", status: int = 200
) -> Span:
    """Every span's parent is in the trace but the root's, the edge's, whose parent is
    `root_parent` (the client's span, or none); returns the root."""
    found = roots(spans)
    assert len(found) == 1, [(s.service, s.name, s.parent_id) for s in found]
    root = found[0]
    assert root.service == "forge-edge"
    assert root.parent_id == root_parent
    assert root.kind == 2  # SPAN_KIND_SERVER
    assert root.attributes["http.request.method"] == "POST"
    assert root.attributes["http.route"] == route
    assert root.attributes["http.response.status_code"] == status
    return root


def settled(scene: Scene, trace_id: str, want: set[str]) -> list[Span]:
    """The trace once spans of every service in `want` have arrived and every span's parent
    but one's (each service exports in its own batches, the edge's root last)."""

    def whole() -> list[Span] | None:
        spans = scene.receiver.trace(trace_id)
        return spans if want <= services(spans) and len(roots(spans)) == 1 else None

    def shown() -> str:
        spans = scene.receiver.trace(trace_id)
        return repr([(s.service, s.name, s.span_id, s.parent_id) for s in spans])

    return eventually_sync(whole, within_s=20, what=f"spans of {sorted(want)}", detail=shown)


def roots(spans: list[Span]) -> list[Span]:
    ids = {s.span_id for s in spans}
    return [s for s in spans if s.parent_id not in ids]


def new_trace(scene: Scene, name: str, before: set[str]) -> str:
    found: list[str] = []

    def arrived() -> bool:
        found[:] = scene.receiver.traces_of(name) - before
        return len(found) == 1

    eventually_sync(arrived, within_s=20, what=f"a new trace with {name}")
    return found[0]


def test_a_tools_call_is_one_trace_from_the_edge_through_router_plugins_and_upstream(
    scene: Scene,
) -> None:
    secret = f"argument-{uuid.uuid4().hex}"
    name = "demo-echo"
    want = {"forge-edge", router_service(), "forge-plugin-runner", upstream_service()}
    trace: list[Span] = []

    def whole() -> bool:
        # Until the runner's manifest reached the router, a call runs no plugin: call again.
        before = scene.receiver.traces_of(name)
        scene.call("demo-echo", {"text": secret})
        trace_id = new_trace(scene, name, before)
        trace[:] = settled(scene, trace_id, want - {"forge-plugin-runner"})
        return want <= services(trace)

    eventually_sync(
        whole,
        within_s=60,
        what="a trace with a plugin's span",
        detail=lambda: repr([(s.service, s.name, s.parent_id) for s in trace]),
    )
    root = assert_linked(trace, "")
    if router_process() == "router":  # served from the bus
        router = next(s for s in trace if s.service == "forge-router" and s.kind == 2)
        assert router.attributes["messaging.system"] == "nats"
    else:  # the router in the edge's process: an INTERNAL span, no message crossed the bus
        # (the edge's request span's child; an upstream call made here is the router's child)
        router = next(
            s
            for s in trace
            if s.service == "forge-edge" and s.name == "tools/call" and s.parent_id == root.span_id
        )
        assert router.kind == 1 and "messaging.system" not in router.attributes
    assert router.attributes["mcp.tool.name"] == "demo-echo"
    assert router.attributes["rpc.method"] == "tools/call"
    assert router.attributes["forge.gateway.id"]
    plugin = next(s for s in trace if s.name == "plugin traced-limit")
    assert plugin.service == "forge-plugin-runner"
    assert plugin.attributes["forge.plugin.hook"] == "tool_pre_invoke"
    post = next(s for s in trace if s.service == upstream_service() and s.kind == 3)
    assert post.attributes["server.address"] == "127.0.0.1"
    assert post.attributes["http.request.method"] == "POST"
    # One HTTP request, one MCP request: the edge's SERVER span carries the MCP attributes too.
    edge = assert_linked(trace, "")
    assert edge.attributes["mcp.method"] == "tools/call"
    assert edge.attributes["mcp.tool.name"] == "demo-echo"
    # The router's INTERNAL span in the edge's process, and the upstream call's too, when the
    # edge routes and calls the gateway itself (its HTTP CLIENT spans, perhaps a session's
    # opening among them, are `post`'s).
    routed = [] if router_process() == "router" else ["tools/call"]
    if upstream_service() == "forge-edge":
        routed += ["tools/call"]
    served = [s.name for s in trace if s.service == "forge-edge" and s.kind != 3]
    assert sorted(served) == ["POST /mcp", *routed]
    # Never the arguments (FORGE_TRACE_ARGUMENTS is off), never a token.
    assert not [s for s in trace if secret in repr(s.attributes)]
    assert not [s for s in trace if scene.token in repr(s.attributes)]


def test_a_clients_traceparent_is_continued(scene: Scene) -> None:
    trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    scene.call("demo-echo", {"text": "continued"}, f"00-{trace_id}-{parent}-01")

    want = {"forge-edge", router_service(), upstream_service()}
    trace = settled(scene, trace_id, want)
    assert_linked(trace, parent)


def test_an_agents_tool_call_adds_the_a2a_bridge_and_its_http_span(
    scene: Scene, echo_agent: ServerProcess
) -> None:
    headers = {"Authorization": f"Bearer {scene.token}"}
    created = httpx.post(
        scene.mesh.url + "/a2a",
        headers=headers,
        json={"name": "traced echo", "url": echo_agent.url, "visibility": "public"},
        timeout=30,
    )
    assert created.status_code == 201, created.text
    tool = f"a2a-{created.json()['slug']}"
    trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]

    def answered() -> bool:
        # The router learns of the agent by a catalog event: until then the tool is unknown.
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call"}
        body["params"] = {"name": tool, "arguments": {"message": "traced"}}
        h = {**headers, "traceparent": f"00-{trace_id}-{parent}-01"}
        reply = httpx.post(scene.mesh.url + "/mcp", headers=h, json=body, timeout=30).json()
        return "result" in reply

    eventually_sync(answered, within_s=30, what="the agent's tool answers")
    trace = settled(scene, trace_id, {"forge-edge", router_service(), "forge-a2a-bridge"})
    assert_linked(trace, parent)
    bridge = [s for s in trace if s.service == "forge-a2a-bridge"]
    served = next(s for s in bridge if s.kind == 2)
    agent_http = next(s for s in bridge if s.kind == 3)
    assert agent_http.parent_id == served.span_id
    assert agent_http.attributes["http.request.method"] == "POST"
    assert "url.full" not in agent_http.attributes


def test_an_admin_changes_trace_reaches_the_registrys_database_spans(scene: Scene) -> None:
    trace_id, parent = uuid.uuid4().hex, uuid.uuid4().hex[:16]
    response = httpx.post(
        scene.mesh.url + "/servers",
        headers={
            "Authorization": f"Bearer {scene.token}",
            "traceparent": f"00-{trace_id}-{parent}-01",
        },
        json={"name": f"traced-{uuid.uuid4().hex[:6]}", "associated_tools": []},
        timeout=30,
    )
    assert response.status_code == 201, response.text

    def database() -> list[Span]:
        return [s for s in scene.receiver.trace(trace_id) if "db.system" in s.attributes]

    eventually_sync(lambda: bool(database()), within_s=20, what="the registry's query spans")
    trace = settled(scene, trace_id, {"forge-edge", "forge-registry"})
    assert_linked(trace, parent, "/servers", 201)
    for span in database():
        assert span.service == "forge-registry"
        assert span.attributes["db.system"] == "postgresql"
        assert span.attributes["db.operation"] in OPERATIONS
        assert "traced-" not in repr(span.attributes)  # never the statement's values
