"""Traces: OpenTelemetry spans, one trace per client request across every hop.

Configured once per service (`start`, called by `forge.core.ops.serve`) from the standard
`OTEL_*` variables. The trace context travels as the bus's `TRACEPARENT` (a W3C `traceparent`
string, in NATS headers; forge.core.bus): a span started here is the child of `TRACEPARENT`
and is itself `TRACEPARENT` while it is open, so whatever the code inside sends carries it.

Off (no exporter configured, the default) `span` returns one shared do-nothing context
manager: no span object, no SDK call on the hot path (docs/decisions/0024).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import msgspec
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from forge.core.bus import TRACEPARENT
from forge.core.config import ConfigError
from forge.proto import mcp

log = logging.getLogger("forge.tracing")

SERVER = SpanKind.SERVER
CLIENT = SpanKind.CLIENT
INTERNAL = SpanKind.INTERNAL
PRODUCER = SpanKind.PRODUCER
CONSUMER = SpanKind.CONSUMER

Attributes = Mapping[str, str | int | float | bool]

_NOOP: contextlib.nullcontext[None] = contextlib.nullcontext()
_FLUSH_MS = 5000
_NAMED = {"tools/call": "mcp.tool.name", "prompts/get": "mcp.prompt.name", "resources/read": ""}


class _Arguments(msgspec.Struct):
    arguments: msgspec.Raw = msgspec.Raw(b"")


_ARGUMENTS = msgspec.json.Decoder(_Arguments)
# The span this task is in (when tracing is on), for `annotate`.
_CURRENT: contextvars.ContextVar[trace.Span | None] = contextvars.ContextVar(
    "forge_span", default=None
)


class _State:
    tracer: trace.Tracer | None = None
    provider: Any = None  # the SDK's TracerProvider, for shutdown
    service = ""


_state = _State()


def enabled() -> bool:
    """Whether spans are recorded in this process."""
    return _state.tracer is not None


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def _exporter_name(env: Mapping[str, str]) -> str | None:
    """The exporter the `OTEL_*` variables ask for; None: tracing off.

    Unlike the SDK's own default (otlp), Forge traces only when told where: an exporter named
    in OTEL_TRACES_EXPORTER, or an OTLP endpoint.
    """
    if _flag(env.get("OTEL_SDK_DISABLED")):
        return None
    named = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named:
        first = named.split(",")[0].strip()
        return None if first == "none" else first
    if env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or env.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return "otlp"
    return None


def _exporter(name: str, env: Mapping[str, str]) -> Any:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    if name != "otlp":
        raise ConfigError(f"OTEL_TRACES_EXPORTER={name!r}: Forge exports otlp, console or none")
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()  # endpoint, headers, timeout, TLS from OTEL_* itself
    if protocol != "http/protobuf":
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r}: Forge exports http/protobuf or grpc"
        )
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
        OTLPSpanExporter as HttpExporter,
    )

    return HttpExporter()


def start(service: str, env: Mapping[str, str] | None = None, exporter: Any = None) -> bool:
    """Configure tracing for this process from the `OTEL_*` variables; True when it is on.

    OTEL_SERVICE_NAME defaults to `forge-<service>`; the sampler (OTEL_TRACES_SAMPLER, default
    parentbased_always_on), the batch processor's delays and the exporter's endpoint, headers
    and timeout are the SDK's own readings of the standard variables. `exporter` replaces the
    configured one (tests).
    """
    env = os.environ if env is None else env
    name = "given" if exporter is not None else _exporter_name(env)
    if name is None or _state.tracer is not None:
        return _state.tracer is not None
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": env.get("OTEL_SERVICE_NAME") or f"forge-{service}"})
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER(_ARG)
    provider.add_span_processor(BatchSpanProcessor(exporter or _exporter(name, env)))
    _state.provider = provider
    _state.service = service
    _state.tracer = provider.get_tracer("forge")
    log.info("tracing on: %s spans of forge-%s", name, service)
    return True


def flush() -> None:
    """Export what is buffered now (a service stopping). Spans that end later, while its bus
    drains, are exported when the process exits (the SDK's own exit handler)."""
    provider = _state.provider
    if provider is not None:
        provider.force_flush(_FLUSH_MS)


def shutdown() -> None:
    """Export what is buffered and stop (a service's last step)."""
    provider, _state.provider, _state.tracer = _state.provider, None, None
    if provider is not None:
        provider.shutdown()


def _parent(traceparent: str | None) -> Any:
    """An OpenTelemetry context whose span is the remote parent `traceparent` names; None for
    no parent or a malformed one (the span is then a root)."""
    if traceparent is None or len(traceparent) != 55:
        return None
    parts = traceparent.split("-")
    if len(parts) != 4:
        return None
    version, trace_hex, span_hex, flags = parts
    try:
        context = trace.SpanContext(
            trace_id=int(trace_hex, 16),
            span_id=int(span_hex, 16),
            is_remote=True,
            trace_flags=trace.TraceFlags(int(flags, 16) & 1),
        )
    except ValueError:
        return None
    if version == "ff" or not context.is_valid:
        return None
    return trace.set_span_in_context(trace.NonRecordingSpan(context))


def traceparent_of(span: trace.Span) -> str:
    """The W3C `traceparent` naming `span` as the parent."""
    context = span.get_span_context()
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def parse(traceparent: str | None) -> str | None:
    """`traceparent` when it is well formed (W3C), else None."""
    return traceparent if _parent(traceparent) is not None else None


class _Span:
    """One open span: the child of `TRACEPARENT`, and `TRACEPARENT` itself until it ends (a
    class, not a generator: it runs on every hop of every traced call)."""

    __slots__ = ("_current", "_outer", "span")

    def __init__(
        self, tracer: trace.Tracer, name: str, kind: SpanKind, attributes: Attributes | None
    ) -> None:
        self.span = tracer.start_span(name, _parent(TRACEPARENT.get()), kind, attributes)

    def __enter__(self) -> trace.Span:
        self._outer = TRACEPARENT.set(traceparent_of(self.span))
        self._current = _CURRENT.set(self.span)
        return self.span

    def __exit__(self, kind: type[BaseException] | None, exc: object, tb: object) -> None:
        span = self.span
        if kind is not None and span.is_recording():
            span.set_status(Status(StatusCode.ERROR, kind.__name__))
        _CURRENT.reset(self._current)
        TRACEPARENT.reset(self._outer)
        span.end()


def span(
    name: str, kind: SpanKind = INTERNAL, attributes: Attributes | None = None
) -> contextlib.AbstractContextManager[trace.Span | None]:
    """A span, child of the bus's `TRACEPARENT` (a root without one), current while open.

    Off, the one shared do-nothing context manager: build `attributes` only when `enabled()`
    if they cost anything to compute.
    """
    tracer = _state.tracer
    if tracer is None:
        return _NOOP
    return _Span(tracer, name, kind, attributes)


def inside() -> bool:
    """Whether a span of this process is open in this task."""
    return _CURRENT.get() is not None


def mcp_attributes(
    method: str, params: bytes, *, arguments: bool = False
) -> dict[str, str | int | float | bool]:
    """An MCP request's span attributes: its method and the tool, prompt or resource it names;
    the tool's arguments (as JSON) only when `arguments` (FORGE_TRACE_ARGUMENTS). Never a
    result."""
    found: dict[str, str | int | float | bool] = {"mcp.method": method}
    if method not in _NAMED:
        return found
    try:
        named = mcp.NAMED_PARAMS_DECODER.decode(params)
    except msgspec.DecodeError:
        return found
    if named.name is not None and _NAMED[method]:
        found[_NAMED[method]] = named.name
    if named.uri is not None:
        found["mcp.resource.uri"] = named.uri
    if arguments and method == "tools/call":
        try:
            raw = bytes(_ARGUMENTS.decode(params).arguments)
        except msgspec.DecodeError:
            return found
        if raw:
            found["mcp.tool.arguments"] = raw.decode()
    return found


def http_client_attributes(method: str, url: str) -> dict[str, str | int | float | bool]:
    """An outgoing HTTP request's span attributes: method, scheme, host and port; never its path
    or query (an upstream's key may ride in either)."""
    parts = urlsplit(url)
    found: dict[str, str | int | float | bool] = {
        "http.request.method": method,
        "url.scheme": parts.scheme,
        "server.address": parts.hostname or "",
    }
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is not None:
        found["server.port"] = port
    return found


def mcp_span_name(attributes: Attributes) -> str:
    """`<method> <target>` (e.g. `tools/call echo`), or the method alone."""
    method = str(attributes.get("mcp.method", ""))
    target = attributes.get("mcp.tool.name") or attributes.get("mcp.prompt.name")
    return f"{method} {target}" if target else method


def claim(attributes: Attributes) -> bool:
    """Put an MCP request's attributes on the current span if no request claimed it yet (one
    HTTP request, one MCP request: no span of its own needed); False when it cannot (no span,
    or a batch's second request), so the caller opens one."""
    current = _CURRENT.get()
    if current is None or not current.is_recording():
        return False
    held = getattr(current, "attributes", None)
    if held is None or "mcp.method" in held:
        return False
    current.set_attributes(attributes)
    return True


def annotate(attributes: Attributes) -> None:
    """Add attributes to the current span (nothing when tracing is off or no span is open)."""
    current = _CURRENT.get()
    if current is not None and current.is_recording():
        current.set_attributes(attributes)


def mark_failed(span: trace.Span) -> None:
    """Mark `span` failed (no message: an HTTP status says it)."""
    span.set_status(Status(StatusCode.ERROR))


def failed(code: int, message: str) -> None:
    """Mark the current span failed with a JSON-RPC error code (never the error's data)."""
    current = _CURRENT.get()
    if current is not None and current.is_recording():
        current.set_attribute("rpc.jsonrpc.error_code", code)
        current.set_status(Status(StatusCode.ERROR, message[:200]))
