"""Traced, the POST to an upstream is a CLIENT span whose context the upstream receives in its
`traceparent` header (W3C), against a real HTTP peer; off, no header is added."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import aiohttp
import pytest
from aiohttp import web
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from forge.core import tracing
from forge.core.bus import TRACEPARENT
from forge.upstream_proxy.transports.exchange import exchange

CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT = f"00-{CLIENT_TRACE}-00f067aa0ba902b7-01"


class Kept(SpanExporter):
    def __init__(self) -> None:
        self.spans: list[ReadableSpan] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.spans.extend(spans)
        return SpanExportResult.SUCCESS


@pytest.fixture
async def upstream() -> AsyncIterator[tuple[str, list[str | None]]]:
    """A real HTTP peer answering every POST with a JSON-RPC result; the traceparents it got."""
    seen: list[str | None] = []

    async def answer(request: web.Request) -> web.Response:
        seen.append(request.headers.get("traceparent"))
        return web.json_response({"jsonrpc": "2.0", "id": 1, "result": {"ok": True}})

    app = web.Application()
    app.router.add_post("/mcp", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/mcp?key=s3cret", seen
    finally:
        await runner.cleanup()


async def post(url: str) -> bytes:
    async with aiohttp.ClientSession() as http:
        answer = await exchange(
            http,
            url,
            b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}',
            {"Content-Type": "application/json", "Accept": "application/json"},
            request_id=1,
            label="g",
        )
    return answer.result


async def test_off_the_upstream_gets_no_traceparent_of_ours(
    upstream: tuple[str, list[str | None]],
) -> None:
    url, seen = upstream
    TRACEPARENT.set(CLIENT)
    assert await post(url) == b'{"ok": true}'
    assert seen == [None]


async def test_on_the_post_is_a_client_span_and_the_upstream_gets_its_context(
    upstream: tuple[str, list[str | None]],
) -> None:
    url, seen = upstream
    kept = Kept()
    assert tracing.start("upstream-proxy", {}, exporter=kept)
    try:
        TRACEPARENT.set(CLIENT)
        assert await post(url) == b'{"ok": true}'
    finally:
        tracing.shutdown()  # exports what is buffered
    [span] = kept.spans
    context = span.context
    assert context is not None
    assert span.name == "POST" and str(span.kind) == "SpanKind.CLIENT"
    assert seen == [f"00-{CLIENT_TRACE}-{context.span_id:016x}-01"]
    assert span.parent is not None and f"{span.parent.span_id:016x}" == "00f067aa0ba902b7"
    assert dict(span.attributes or {}) == {
        "http.request.method": "POST",
        "url.scheme": "http",
        "server.address": "127.0.0.1",
        "server.port": int(url.split(":")[2].split("/")[0]),
    }
