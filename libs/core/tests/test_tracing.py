"""Traces: configured from OTEL_* (off by default), spans parented by the bus's TRACEPARENT, and
the context carried over a real NATS on requests, replies and events; envelope spans from
forge.core.rpc with their attributes and never the params."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from concurrent import futures

import grpc
import msgspec
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from forge.core import rpc, tracing
from forge.core.bus import TRACEPARENT, NatsBus
from forge.core.config import ConfigError
from forge.core.errors import NotFoundError
from forge.proto.envelope import ENCODER, Envelope, Principal
from forge.testing import eventually

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_SPAN = "b7ad6b7169203331"
CLIENT = f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"


class Kept(SpanExporter):
    """Keeps every exported span (the SDK's batch processor still runs in front of it)."""

    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS

    def named(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans]
        return found[0]


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> Iterator[Kept]:
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "20")
    exporter = Kept()
    assert tracing.start("test", {}, exporter=exporter)
    try:
        yield exporter
    finally:
        tracing.shutdown()


def test_off_without_an_exporter_and_a_span_is_the_shared_no_op() -> None:
    assert not tracing.start("test", {})
    assert not tracing.start("test", {"OTEL_TRACES_EXPORTER": "none"})
    assert not tracing.start(
        "test", {"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"}
    )
    assert not tracing.enabled()
    first = tracing.span("a", tracing.SERVER, {"k": "v"})
    assert first is tracing.span("b")
    with first as span:
        assert span is None
        tracing.annotate({"k": "v"})  # nothing open: nothing happens


@pytest.mark.parametrize(
    ("env", "kind"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, "http"),
        ({"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "grpc"),
    ],
)
def test_an_otlp_endpoint_or_exporter_turns_tracing_on_with_the_chosen_protocol(
    env: dict[str, str], kind: str
) -> None:
    assert tracing.start("router", env)
    try:
        processor = tracing._state.provider._active_span_processor._span_processors[0]
        exporter = processor._batch_processor._exporter
        assert kind in type(exporter).__module__
        resource = tracing._state.provider.resource.attributes
        assert resource["service.name"] == "forge-router"
    finally:
        tracing.shutdown()


def test_an_unknown_protocol_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="http/json"):
        tracing.start(
            "router", {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}
        )


async def test_a_span_continues_the_traceparent_and_is_the_traceparent_inside(kept: Kept) -> None:
    TRACEPARENT.set(CLIENT)
    with tracing.span("outer", tracing.SERVER, {"mcp.method": "tools/call"}) as outer:
        assert outer is not None
        inside = TRACEPARENT.get()
        assert inside is not None and inside != CLIENT
        assert inside.startswith(f"00-{CLIENT_TRACE}-")
        with tracing.span("inner"):
            pass
    assert TRACEPARENT.get() == CLIENT  # restored on the way out
    await eventually(lambda: len(kept.spans) == 2)
    outer_span, inner_span = kept.named("outer"), kept.named("inner")
    assert f"{outer_span.context.trace_id:032x}" == CLIENT_TRACE
    assert outer_span.parent is not None and f"{outer_span.parent.span_id:016x}" == CLIENT_SPAN
    assert inner_span.parent is not None
    assert inner_span.parent.span_id == outer_span.context.span_id


async def test_a_malformed_traceparent_starts_a_new_trace(kept: Kept) -> None:
    TRACEPARENT.set("00-nothex" + "0" * 47)
    with tracing.span("root"):
        pass
    await eventually(lambda: len(kept.spans) == 1)
    assert kept.spans[0].parent is None


def test_mcp_attributes_name_the_tool_and_never_the_arguments_unless_asked() -> None:
    params = b'{"name":"echo","arguments":{"token":"s3cret"}}'
    found = tracing.mcp_attributes("tools/call", params)
    assert found == {"mcp.method": "tools/call", "mcp.tool.name": "echo"}
    assert tracing.mcp_span_name(found) == "tools/call echo"
    assert tracing.mcp_attributes("tools/list", b"{}") == {"mcp.method": "tools/list"}
    assert tracing.mcp_attributes("tools/call", b"not json") == {"mcp.method": "tools/call"}
    asked = tracing.mcp_attributes("tools/call", params, arguments=True)
    assert asked["mcp.tool.arguments"] == '{"token":"s3cret"}'


def test_http_client_attributes_never_carry_the_path_or_query() -> None:
    found = tracing.http_client_attributes("POST", "https://up.example:8443/mcp?key=s3cret")
    assert found == {
        "http.request.method": "POST",
        "url.scheme": "https",
        "server.address": "up.example",
        "server.port": 8443,
    }


async def test_the_context_travels_over_nats_on_requests_replies_and_events(
    bus: NatsBus, kept: Kept
) -> None:
    seen: dict[str, str | None] = {}
    heard = asyncio.Event()

    async def handler(envelope: Envelope) -> bytes:
        if envelope.id == "fails":
            raise NotFoundError("no such thing")
        seen["handler"] = TRACEPARENT.get()
        await bus.publish("test.tracing.event", b"{}")
        return b"{}"

    async def on_event(subject: str, data: bytes) -> None:
        seen["event"] = TRACEPARENT.get()
        heard.set()

    await rpc.serve_envelopes(bus, "test.tracing.rpc", handler, queue=None)
    await bus.subscribe("test.tracing.event", on_event)
    await bus.flush()
    params = msgspec.Raw(b'{"name":"echo","arguments":{"secret":"s3cret"}}')

    def envelope(eid: str) -> Envelope:
        return Envelope(
            id=eid,
            method="tools/call",
            params=params,
            principal=Principal(subject="tester"),
            deadline=time.time() + 5,
            server_id="srv-1",
        )

    TRACEPARENT.set(CLIENT)
    with tracing.span("caller", tracing.CLIENT):
        sent = TRACEPARENT.get()
        reply = await bus.nc.request(
            "test.tracing.rpc", ENCODER.encode(envelope("ok")), headers={"traceparent": sent or ""}
        )
    # The reply carries no traceparent: nothing reads it, and a header costs every hop (0024).
    assert not reply.headers or "traceparent" not in reply.headers
    await asyncio.wait_for(heard.wait(), 5)
    with pytest.raises(NotFoundError):
        await rpc.call(bus, "test.tracing.rpc", envelope("fails"))
    await eventually(lambda: len([s for s in kept.spans if s.name == "tools/call"]) == 2)
    caller = kept.named("caller")
    served = [s for s in kept.spans if s.name == "tools/call"]
    ok = next(s for s in served if s.status.is_ok)
    failed = next(s for s in served if not s.status.is_ok)
    assert ok.parent is not None and ok.parent.span_id == caller.context.span_id
    assert ok.context.trace_id == caller.context.trace_id == int(CLIENT_TRACE, 16)
    assert str(ok.kind) == "SpanKind.SERVER"
    attributes = dict(ok.attributes or {})
    assert attributes == {
        "rpc.system": "jsonrpc",
        "rpc.method": "tools/call",
        "mcp.method": "tools/call",
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": "test.tracing.rpc",
        "forge.server.id": "srv-1",
    }
    assert "s3cret" not in repr(attributes)
    assert dict(failed.attributes or {})["rpc.jsonrpc.error_code"] == NotFoundError.code
    # The handler ran inside its span; its event carried that span's context.
    assert seen["handler"] == f"00-{ok.context.trace_id:032x}-{ok.context.span_id:016x}-01"
    assert seen["event"] == seen["handler"]


async def test_an_event_without_a_traceparent_clears_the_one_before(bus: NatsBus) -> None:
    got: list[str | None] = []

    async def on_event(subject: str, data: bytes) -> None:
        got.append(TRACEPARENT.get())

    await bus.subscribe("test.tracing.clear", on_event)
    await bus.flush()
    TRACEPARENT.set(CLIENT)
    await bus.publish("test.tracing.clear", b"1")
    TRACEPARENT.set(None)
    await bus.publish("test.tracing.clear", b"2")
    await eventually(lambda: len(got) == 2)
    assert got == [CLIENT, None]


async def test_the_first_mcp_request_claims_the_open_span_and_a_second_opens_its_own(
    kept: Kept,
) -> None:
    assert not tracing.claim({"mcp.method": "ping"})  # no span open
    with tracing.span("POST /mcp", tracing.SERVER):
        assert tracing.claim({"mcp.method": "tools/call", "mcp.tool.name": "echo"})
        assert not tracing.claim({"mcp.method": "ping"})  # a batch's next request
    await eventually(lambda: len(kept.spans) == 1)
    assert dict(kept.spans[0].attributes or {}) == {
        "mcp.method": "tools/call",
        "mcp.tool.name": "echo",
    }


class _Collector(trace_service_pb2_grpc.TraceServiceServicer):  # type: ignore[misc]
    """A real OTLP/gRPC trace receiver, keeping the names of the spans it is sent."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def Export(
        self, request: ExportTraceServiceRequest, context: object
    ) -> ExportTraceServiceResponse:
        for resource in request.resource_spans:
            for scope in resource.scope_spans:
                self.names.extend(span.name for span in scope.spans)
        return ExportTraceServiceResponse()


def test_spans_reach_an_otlp_grpc_receiver_and_are_flushed_at_shutdown() -> None:
    collector = _Collector()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(collector, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        env = {
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{port}",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
        }
        with pytest.MonkeyPatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)  # the exporter reads its endpoint itself
            assert tracing.start("router", env)
        with tracing.span("over grpc", tracing.SERVER):
            pass
        tracing.shutdown()  # exports what is buffered
        assert collector.names == ["over grpc"]
    finally:
        tracing.shutdown()
        server.stop(None)
