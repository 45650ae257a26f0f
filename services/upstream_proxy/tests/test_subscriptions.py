"""A modern upstream's resource subscriptions: one listen stream for the union of the URIs,
opened again for a larger set (the old one closed once the new one is acknowledged) and after a
drop; its updates go on plain, without the upstream's subscription id."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from forge.upstream_proxy.transports import subscriptions as subscriptions_module
from forge.upstream_proxy.transports.subscriptions import Subscriptions

SUB = "io.modelcontextprotocol/subscriptionId"


class ListenServer:
    """A real HTTP server answering each `subscriptions/listen` POST with a stream: the
    acknowledgement, then whatever the test sends to that stream."""

    def __init__(self) -> None:
        self.opened: asyncio.Queue[tuple[list[str], asyncio.Queue[bytes | None]]] = asyncio.Queue()
        self.closed: asyncio.Queue[list[str]] = asyncio.Queue()
        self.hold: asyncio.Event | None = None  # when set here, acknowledgements wait for it

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        uris = body["params"]["notifications"]["resourceSubscriptions"]
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        outbox: asyncio.Queue[bytes | None] = asyncio.Queue()
        await self.opened.put((uris, outbox))
        if self.hold is not None:
            await self.hold.wait()
        ack = {
            "jsonrpc": "2.0",
            "method": "notifications/subscriptions/acknowledged",
            "params": {"notifications": {"resourceSubscriptions": uris}, "_meta": {SUB: 1}},
        }
        await response.write(b"event: message\ndata: " + json.dumps(ack).encode() + b"\n\n")
        try:
            while (data := await outbox.get()) is not None:
                await response.write(b"event: message\ndata: " + data + b"\n\n")
        finally:
            await self.closed.put(uris)
        return response


@contextlib.asynccontextmanager
async def listening() -> AsyncIterator[tuple[ListenServer, Subscriptions, asyncio.Queue[Any]]]:
    server = ListenServer()
    app = web.Application()
    app.router.add_post("/mcp", server.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    published: asyncio.Queue[Any] = asyncio.Queue()

    async def publish(raw: bytes) -> None:
        published.put_nowait(json.loads(raw))

    async with aiohttp.ClientSession() as http:

        def connect(params: bytes) -> Any:
            body = {"jsonrpc": "2.0", "id": "l", "method": "subscriptions/listen"}
            body["params"] = json.loads(params)
            return http.post(f"http://127.0.0.1:{port}/mcp", json=body)

        subscriptions = Subscriptions("'test'", publish, connect)
        try:
            yield server, subscriptions, published
        finally:
            await subscriptions.close()
            await runner.cleanup()


def updated(uri: str) -> bytes:
    params = {"uri": uri, "_meta": {SUB: 1}}
    message = {"jsonrpc": "2.0", "method": "notifications/resources/updated", "params": params}
    return json.dumps(message).encode()


async def test_one_stream_carries_the_union_and_a_new_uri_replaces_it_once_acknowledged() -> None:
    async with listening() as (server, subscriptions, published), asyncio.timeout(10):
        await subscriptions.add("file:///a")
        uris, first = server.opened.get_nowait()  # open (and acknowledged) before add returned
        assert uris == ["file:///a"]
        await first.put(updated("file:///a"))
        await subscriptions.add("file:///a")  # already there: no new stream
        await subscriptions.add("file:///b")
        uris, second = server.opened.get_nowait()
        assert uris == ["file:///a", "file:///b"]
        assert await server.closed.get() == ["file:///a"]  # the old one, after the new one
        await second.put(updated("file:///b"))
        for uri in ("file:///a", "file:///b"):
            assert await published.get() == {
                "jsonrpc": "2.0",
                "method": "notifications/resources/updated",
                "params": {"uri": uri},
            }


async def test_a_dropped_stream_is_opened_again_for_the_same_uris() -> None:
    async with listening() as (server, subscriptions, _), asyncio.timeout(10):
        await subscriptions.add("file:///a")
        _, stream = server.opened.get_nowait()
        await stream.put(None)  # the upstream ends the stream
        assert await server.closed.get() == ["file:///a"]
        uris, _ = await server.opened.get()
        assert uris == ["file:///a"]


async def test_the_old_stream_stays_until_the_new_one_is_acknowledged(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(subscriptions_module, "ACK_WAIT_S", 0.2)  # a subscribe waits this long
    async with listening() as (server, subscriptions, published), asyncio.timeout(10):
        await subscriptions.add("file:///a")
        _, first = server.opened.get_nowait()
        server.hold = asyncio.Event()
        await subscriptions.add("file:///b")  # returns, the new stream not yet acknowledged
        uris, _ = server.opened.get_nowait()
        assert uris == ["file:///a", "file:///b"]
        await first.put(updated("file:///a"))  # the old stream still brings a's updates
        assert (await published.get())["params"] == {"uri": "file:///a"}
        assert server.closed.empty()
        server.hold.set()
        assert await server.closed.get() == ["file:///a"]


async def test_subscribes_that_arrive_together_share_one_new_stream() -> None:
    async with listening() as (server, subscriptions, _), asyncio.timeout(10):
        await subscriptions.add("file:///a")
        server.opened.get_nowait()
        uris = [f"file:///n/{n}" for n in range(5)]
        await asyncio.gather(*(subscriptions.add(uri) for uri in uris))
        opened = [server.opened.get_nowait()[0] for _ in range(server.opened.qsize())]
        # The first opens a stream for what was asked so far (its own); the ones that waited
        # meanwhile share the next: two streams for five subscribes, not five.
        assert opened == [["file:///a", uris[0]], ["file:///a", *uris]]
