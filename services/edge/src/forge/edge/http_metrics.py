"""The edge's HTTP RED metrics: requests, and their duration, by route template, method and
status (`forge_http_*`, docs/observability.md)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from forge.core import tracing
from forge.core.bus import TRACEPARENT
from forge.core.metrics import BUCKETS, OTHER, Counter, Histogram
from forge.edge.http import Receive, Scope, Send

HTTP_REQUESTS = Counter(
    "forge_http_requests",
    "HTTP requests the edge answered, by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_DURATION = Histogram(
    "forge_http_request_duration_seconds",
    "Time from an HTTP request's arrival to the end of its answer (a stream's whole life), "
    "by route template and method.",
    ["route", "method"],
    buckets=BUCKETS,
)
UNMATCHED = "unmatched"  # no route: a 404, or refused before routing (bad request line)
_KEY = "forge.route"  # a one-item list shared by every copy of the scope, set once routed
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def _record(route: str, method: str, status: int, seconds: float) -> None:
    key = (route, method, status)
    found = _series.get(key)
    if found is None:
        method_label = method if method in _METHODS else OTHER
        found = _series[key] = (
            HTTP_REQUESTS.labels(route, method_label, str(status)),
            HTTP_DURATION.labels(route, method_label),
        )
    found[0].inc()
    found[1].observe(seconds)


def measured(app: Any) -> Any:
    """`app` counted and timed; the outermost layer, so refusals before routing count too."""

    async def measure(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0
        routed: list[str | None] = [None]
        scope[_KEY] = routed

        async def sending(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            if tracing.enabled():
                await _traced(app, scope, receive, sending, lambda: (routed[0], status))
            else:
                await app(scope, receive, sending)
        except BaseException:
            status = status or 500
            raise
        finally:
            _record(routed[0] or UNMATCHED, scope["method"], status, time.perf_counter() - started)

    return measure


async def _traced(
    app: Any, scope: Scope, receive: Receive, send: Send, outcome: Callable[[], tuple[Any, int]]
) -> None:
    """The HTTP request in the edge's SERVER span, continuing the client's `traceparent`."""
    incoming = None
    for name, value in scope.get("headers", ()):
        if name == b"traceparent":
            incoming = value.decode("latin-1")
            break
    TRACEPARENT.set(tracing.parse(incoming))
    method = scope["method"] if scope["method"] in _METHODS else OTHER
    attributes = {"http.request.method": method, "url.path": scope["path"]}
    with tracing.span(method, tracing.SERVER, attributes) as span:
        try:
            await app(scope, receive, send)
        finally:
            route, status = outcome()
            if span is not None and span.is_recording():
                if route:
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status or 500)
                if not status or status >= 500:
                    tracing.mark_failed(span)


def routed(app: Any, fixed: frozenset[str]) -> Any:
    """`app` telling `measured` which route served the request: Starlette's route template,
    or the path itself for the paths in `fixed` (served without Starlette's router)."""

    async def route(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await app(scope, receive, send)
        finally:
            box = scope.get(_KEY)
            if box is not None:
                found = scope.get("route")
                path = getattr(found, "path", None)
                box[0] = path if path else scope["path"] if scope["path"] in fixed else None

    return route
