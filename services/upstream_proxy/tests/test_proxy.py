"""The upstream-proxy against real upstream processes, over a real nats-server."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator

import aiohttp
import msgspec
import pytest
from aiohttp import web
from proxy_harness import call, discover, envelope, gateway, publish_and_wait, stats, text_of

from conftest import StartProxy
from forge.core import subjects
from forge.core.bus import NatsBus
from forge.core.errors import ForgeError, ServiceUnavailableError, UpstreamRpcError
from forge.proto.catalog import Deleted
from forge.servers.process import ServerProcess


def code_of(exc: ForgeError) -> int:
    return exc.to_object().code


async def test_discover_finds_the_era_and_tools_of_each_fastecho(
    bus: NatsBus, start_proxy: StartProxy, fastecho_any: tuple[str, ServerProcess]
) -> None:
    era, server = fastecho_any
    gw = gateway(server.url)
    await start_proxy()
    result = await discover(bus, gw)
    expected = "2025-11-25" if era == "legacy" else "2026-07-28"
    assert result["protocol_version"] == expected
    assert result["server_info"] == {"name": "fastecho", "version": "0.1.0"}
    assert "echo" in [t["name"] for t in result["tools"]]  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("fixture", "version"), [("demo", "2026-07-28"), ("demo_legacy", "2025-11-25")]
)
async def test_discover_finds_the_era_of_the_sdk_demo_server(
    bus: NatsBus,
    start_proxy: StartProxy,
    request: pytest.FixtureRequest,
    fixture: str,
    version: str,
) -> None:
    server: ServerProcess = request.getfixturevalue(fixture)
    await start_proxy()
    result = await discover(bus, gateway(server.url))
    assert result["protocol_version"] == version
    assert {"echo", "add", "slow", "fail"} <= {t["name"] for t in result["tools"]}  # type: ignore[attr-defined]


@pytest.mark.parametrize("fixture", ["demo", "demo_legacy"])
async def test_tools_call_round_trips_through_the_sdk_demo_server(
    bus: NatsBus, start_proxy: StartProxy, request: pytest.FixtureRequest, fixture: str
) -> None:
    server: ServerProcess = request.getfixturevalue(fixture)
    gw = gateway(server.url)
    await start_proxy(gw)
    # What a modern client sends: its own identity, which the proxy swaps or strips.
    meta = {
        "progressToken": "p1",
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientInfo": {"name": "someone", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    params = {"name": "add", "arguments": {"a": 2, "b": 3}, "_meta": meta}
    decoded = msgspec.json.decode(await call(bus, gw, envelope("tools/call", params)))
    assert decoded["structuredContent"] == {"result": 5.0}
    assert decoded["resultType"] == "complete"  # a modern client gets it from either era


async def test_the_result_bytes_are_exactly_what_the_upstream_sent(
    bus: NatsBus, start_proxy: StartProxy, fastecho_modern: ServerProcess
) -> None:
    gw = gateway(fastecho_modern.url)
    await start_proxy(gw)
    params = {"name": "echo", "arguments": {"text": 'héllo "quoted" ☃'}}
    via_proxy = await call(bus, gw, envelope("tools/call", params))
    body = msgspec.json.encode(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "tools/call",
            "params": {
                **params,
                "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"},
            },
        }
    )
    async with aiohttp.ClientSession() as http:
        headers = {"MCP-Protocol-Version": "2026-07-28", "Content-Type": "application/json"}
        async with http.post(fastecho_modern.url, data=body, headers=headers) as response:
            raw = await response.read()
    direct = bytes(msgspec.json.decode(raw, type=dict[str, msgspec.Raw])["result"])
    assert via_proxy == direct


@pytest.mark.parametrize("era", ["legacy", "modern"])
async def test_concurrent_first_calls_share_one_pooled_session(
    bus: NatsBus, start_proxy: StartProxy, request: pytest.FixtureRequest, era: str
) -> None:
    server: ServerProcess = request.getfixturevalue(f"fastecho_{era}")
    gw = gateway(server.url)
    await start_proxy(gw)
    calls = [
        call(bus, gw, envelope("tools/call", {"name": "echo", "arguments": {"text": str(i)}}))
        for i in range(50)
    ]
    results = await asyncio.gather(*calls)
    assert [text_of(r) for r in results] == [str(i) for i in range(50)]
    counts = await stats(bus, gw)
    assert counts["calls"] == 51
    assert counts["initialize" if era == "legacy" else "discover"] == 1


async def test_a_forgotten_legacy_session_is_renewed_once_and_the_call_succeeds(
    bus: NatsBus, start_proxy: StartProxy, fastecho_legacy: ServerProcess
) -> None:
    gw = gateway(fastecho_legacy.url)
    await start_proxy(gw)
    await call(bus, gw, envelope("tools/call", {"name": "forget_sessions"}))
    result = await call(
        bus, gw, envelope("tools/call", {"name": "echo", "arguments": {"text": "x"}})
    )
    assert text_of(result) == "x"
    assert (await stats(bus, gw))["initialize"] == 2


async def test_a_modern_client_gets_modern_fields_from_a_legacy_upstream(
    bus: NatsBus, start_proxy: StartProxy, fastecho_legacy: ServerProcess
) -> None:
    gw = gateway(fastecho_legacy.url)
    await start_proxy(gw)
    called = msgspec.json.decode(
        await call(bus, gw, envelope("tools/call", {"name": "echo", "arguments": {"text": "x"}}))
    )
    listed = msgspec.json.decode(await call(bus, gw, envelope("tools/list")))
    legacy = msgspec.json.decode(await call(bus, gw, envelope("tools/list", era="legacy")))
    assert called["resultType"] == "complete" and "ttlMs" not in called
    assert (listed["resultType"], listed["ttlMs"], listed["cacheScope"]) == (
        "complete",
        0,
        "private",
    )
    assert "resultType" not in legacy


async def test_a_refused_connection_is_upstream_unavailable(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gw = gateway(f"http://127.0.0.1:{port}/mcp")
    await start_proxy(gw)
    with pytest.raises(ForgeError) as caught:
        await call(bus, gw, envelope("tools/list"))
    assert code_of(caught.value) == -32001


async def test_a_slow_upstream_times_out_before_the_deadline(
    bus: NatsBus, start_proxy: StartProxy, demo: ServerProcess
) -> None:
    gw = gateway(demo.url)
    await start_proxy(gw)
    await call(bus, gw, envelope("tools/list"))  # handshake outside the measured call
    slow = envelope("tools/call", {"name": "slow", "arguments": {"seconds": 5}}, timeout=0.5)
    with pytest.raises(ForgeError) as caught:
        await call(bus, gw, slow)
    # -32011 rather than the caller's own -32010 shows the proxy answered before the deadline.
    assert code_of(caught.value) == -32011


async def test_an_upstream_json_rpc_error_keeps_its_code(
    bus: NatsBus, start_proxy: StartProxy, demo: ServerProcess
) -> None:
    gw = gateway(demo.url)
    await start_proxy(gw)
    params = {"name": "fail", "arguments": {"message": "nope", "code": -31042}}
    with pytest.raises(UpstreamRpcError) as caught:
        await call(bus, gw, envelope("tools/call", params))
    assert code_of(caught.value) == -31042


async def test_a_tool_failure_is_a_result_not_an_error(
    bus: NatsBus, start_proxy: StartProxy, demo: ServerProcess
) -> None:
    gw = gateway(demo.url)
    await start_proxy(gw)
    params = {"name": "fail", "arguments": {"message": "nope"}}
    result = msgspec.json.decode(await call(bus, gw, envelope("tools/call", params)))
    assert result["isError"] is True


async def test_a_deleted_gateway_stops_being_served_and_its_session_ends(
    bus: NatsBus, start_proxy: StartProxy, fastecho_legacy: ServerProcess
) -> None:
    gw = gateway(fastecho_legacy.url)
    proxy = await start_proxy(gw)
    await call(bus, gw, envelope("tools/list"))
    deleted = subjects.event(subjects.CATALOG, "gateways", "deleted")
    await publish_and_wait(bus, proxy, deleted, msgspec.json.encode(Deleted(gw.id)))
    with pytest.raises(ServiceUnavailableError):
        await call(bus, gw, envelope("tools/list"))
    other = gateway(fastecho_legacy.url)
    changed = subjects.event(subjects.CATALOG, "gateways", "changed")
    await publish_and_wait(bus, proxy, changed, msgspec.json.encode(other))
    counts = await stats(bus, other)
    assert (counts["initialize"], counts["sessions"]) == (2, 1)  # the first one was DELETEd


async def test_a_gateway_moved_to_a_new_url_gets_a_new_session(
    bus: NatsBus,
    start_proxy: StartProxy,
    fastecho_legacy: ServerProcess,
    fastecho_modern: ServerProcess,
) -> None:
    gw = gateway(fastecho_legacy.url)
    proxy = await start_proxy(gw)
    await call(bus, gw, envelope("tools/list"))
    moved = msgspec.structs.replace(gw, url=fastecho_modern.url)
    changed = subjects.event(subjects.CATALOG, "gateways", "changed")
    await publish_and_wait(bus, proxy, changed, msgspec.json.encode(moved))
    assert (await stats(bus, gw))["discover"] == 1
    assert proxy.pool.sessions[gw.id]["modern"].era == "modern"


async def test_discovering_an_unknown_gateway_leaves_no_session_open(
    bus: NatsBus, start_proxy: StartProxy, fastecho_legacy: ServerProcess
) -> None:
    proxy = await start_proxy()
    probed = gateway(fastecho_legacy.url)
    assert (await discover(bus, probed))["protocol_version"] == "2025-11-25"
    await proxy.pool.settled()
    assert proxy.pool.sessions == {}
    registered = gateway(fastecho_legacy.url)
    changed = subjects.event(subjects.CATALOG, "gateways", "changed")
    await publish_and_wait(bus, proxy, changed, msgspec.json.encode(registered))
    assert (await stats(bus, registered))["sessions"] == 1


async def test_the_health_subject_answers(bus: NatsBus, start_proxy: StartProxy) -> None:
    await start_proxy()
    reply = await bus.request(subjects.UPSTREAM_HEALTH, b"", deadline=time.time() + 2)
    assert msgspec.json.decode(reply) == {"result": {"status": "ok"}}


async def bad_upstream(body: bytes, status: int, content_type: str) -> AsyncIterator[str]:
    """A real HTTP peer that answers every POST with the same bad bytes."""

    async def answer(request: web.Request) -> web.Response:
        return web.Response(body=body, status=status, content_type=content_type)

    app = web.Application()
    app.router.add_post("/mcp", answer)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/mcp"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize(
    ("body", "status", "content_type"),
    [
        (b"{not json", 200, "application/json"),
        (b"<html>oops</html>", 200, "text/html"),
        (b"Internal Server Error", 500, "text/plain"),
        (b'{"jsonrpc":"2.0","id":1}', 200, "application/json"),
        (b'event: message\ndata: {"jsonrpc":"2.0","method":"x"}\n\n', 200, "text/event-stream"),
    ],
    ids=["malformed-json", "html", "http-500", "no-result", "sse-without-answer"],
)
async def test_a_garbled_answer_is_a_bad_response(
    bus: NatsBus, start_proxy: StartProxy, body: bytes, status: int, content_type: str
) -> None:
    async for url in bad_upstream(body, status, content_type):
        gw = gateway(url)
        await start_proxy(gw)
        with pytest.raises(ForgeError) as caught:
            await call(bus, gw, envelope("tools/list"))
        assert code_of(caught.value) == -32003


async def test_the_lean_client_never_reuses_a_connection_the_upstream_closed() -> None:
    """A keep-alive connection the upstream closed while idle is replaced, not written to."""
    from forge.core.aiohttp_dialer import Dialer
    from forge.core.netguard import NetGuard
    from forge.servers.process import spawn as spawn_server
    from forge.upstream_proxy.transports.fasthttp import FastHttp

    server = spawn_server("forge.servers.fastecho")
    try:
        client = FastHttp(server.url, "fastecho", Dialer(NetGuard("127.0.0.0/8"), 5))
        body = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        async with client.post(server.url, data=body, headers=headers) as response:
            assert response.status in (200, 400)
            await response.read()
        assert len(client.idle) == 1
        stale = client.idle[0]
        assert stale.transport is not None
        stale.transport.close()  # as an upstream's keep-alive timeout would
        async with asyncio.timeout(5):
            async with client.post(server.url, data=body, headers=headers) as response:
                await response.read()
        assert client.idle and client.idle[0] is not stale
        client.close()
    finally:
        server.stop()
