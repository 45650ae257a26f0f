"""Resource subscriptions through Forge, in both eras, on every transport: an upstream's
`notifications/resources/updated` reaches the legacy sessions that subscribed to the URI (until
they unsubscribe) and the 2026-07-28 `subscriptions/listen` streams that name it, whatever era
the upstream speaks (a modern one is subscribed on its own listen stream)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from httpx2.websockets import AsyncWebSocketSession as WebSocket
from httpx2.websockets import WebSocketDisconnect
from mcp import Client
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.subscriptions import ResourceUpdated

from forge.cli.demo import start_server
from forge.cli.mesh import Mesh, stop_process
from tests.e2e import security_kit as kit
from tests.e2e.conftest import INIT
from tests.e2e.mcp_ws import websocket_client
from tests.e2e.test_list_changed import another_gateway
from tests.e2e.test_modern_strictness import META, opened
from tests.e2e.test_transports import events

README = "forge://demo/readme"
MARKER = "forge://demo/numbers/2"
WATCHED = "test://watched-resource"
UPDATED = "notifications/resources/updated"
LISTEN = "subscriptions/listen"
SUBSCRIPTION_ID = "io.modelcontextprotocol/subscriptionId"


def tag_of(message: dict[str, Any]) -> Any:
    return (message.get("params") or {}).get("_meta", {}).get(SUBSCRIPTION_ID)


@pytest.fixture(scope="module")
def upstreams(mesh: Mesh, admin_token: str) -> Iterator[dict[str, str]]:
    """The demo server in each era an upstream may speak: legacy over Streamable HTTP (`http`)
    and over SSE (`sse`), 2026-07-28 only (`modern`), both (`both`): kind → a virtual server id
    offering that gateway's `touch` tool, readme resource and numbers template only."""
    procs = {
        "http": start_server(mesh, "forge.servers.demo", "--era", "legacy"),
        "sse": start_server(mesh, "forge.servers.demo", "--transport", "sse"),
        "modern": start_server(mesh, "forge.servers.demo", "--era", "modern"),
        "both": start_server(mesh, "forge.servers.demo"),
    }
    bodies = {
        kind: {"transport": "streamablehttp", "url": f"http://127.0.0.1:{port}/mcp"}
        for kind, (_, port) in procs.items()
    }
    bodies["sse"] = {"transport": "sse", "url": f"http://127.0.0.1:{procs['sse'][1]}/sse"}
    headers = {"Authorization": f"Bearer {admin_token}"}
    rest = httpx.Client(base_url=mesh.url, headers=headers, timeout=30)
    gateways: list[str] = []
    servers: dict[str, str] = {}
    try:
        for kind, body in bodies.items():
            name = f"updates-{kind}-{time.monotonic_ns()}"
            created = rest.post("/gateways", json={"name": name, **body})
            assert created.status_code == 201, created.text
            gateway = created.json()["id"]
            gateways.append(gateway)
            tool = next(t for t in rest.get("/tools").json() if t["name"] == f"{name}-touch")
            resource = next(
                r
                for r in rest.get("/resources").json()
                if r["uri"] == README and r["gatewayId"] == gateway
            )
            template = next(
                t for t in rest.get("/resources/templates/list").json() if t["gatewayId"] == gateway
            )
            server = rest.post(
                "/servers",
                json={
                    "name": f"{name}-server",
                    "associated_tools": [tool["id"]],
                    "associated_resources": [resource["id"], template["id"]],
                },
            )
            assert server.status_code == 201, server.text
            servers[kind] = server.json()["id"]
        yield servers
    finally:
        for server_id in servers.values():
            rest.delete(f"/servers/{server_id}")
        for gateway_id in gateways:
            rest.delete(f"/gateways/{gateway_id}")
        rest.close()
        for proc, _ in procs.values():
            stop_process(proc)


class Session:
    """A legacy session through Forge: its requests, and the messages of its stream."""

    def __init__(self, http: httpx.AsyncClient | None, url: str, headers: dict[str, str]) -> None:
        self.http = http
        self.url = url
        self.headers = headers
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.answers_on_stream = False
        self.ws: WebSocket | None = None
        self.early: list[dict[str, Any]] = []
        self.seen: list[dict[str, Any]] = []
        self.ids = 0

    async def read(self, received: AsyncIterator[tuple[str, str]]) -> None:
        async for kind, data in received:
            if kind == "message":
                self.messages.put_nowait(json.loads(data))

    async def request(self, method: str, params: Any) -> Any:
        self.ids += 1
        body = {"jsonrpc": "2.0", "id": self.ids, "method": method, "params": params}
        if self.ws is not None:
            await self.ws.send_text(json.dumps(body))
        else:
            assert self.http is not None
            posted = await self.http.post(self.url, json=body, headers=self.headers)
        if self.answers_on_stream:
            assert self.ws is not None or posted.status_code == 202, posted.text
            while (answer := await self.messages.get()).get("id") != self.ids:
                self.early.append(answer)  # an update may come before the answer to a touch
        else:
            assert posted.status_code == 200, posted.text
            answer = posted.json()
        assert "result" in answer, answer
        return answer["result"]

    async def read_ws(self, ws: WebSocket) -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                self.messages.put_nowait(json.loads(await ws.receive_text()))

    async def post(self, body: dict[str, Any]) -> None:
        """Send a message whose answer, if any, is not awaited here."""
        if self.ws is not None:
            await self.ws.send_text(json.dumps(body))
            return
        assert self.http is not None
        posted = await self.http.post(self.url, json=body, headers=self.headers)
        assert posted.status_code == 202, posted.text

    async def next_tagged(self, listen_id: str) -> dict[str, Any]:
        """The next message on the stream tagged with the listen `listen_id`."""
        while True:
            message = self.early.pop(0) if self.early else await self.messages.get()
            self.seen.append(message)
            if tag_of(message) == listen_id:
                return message

    async def next_update(self) -> str:
        """The uri of the next resource update on the stream."""
        while True:
            message = self.early.pop(0) if self.early else await self.messages.get()
            if message.get("method") == UPDATED:
                return str(message["params"]["uri"])

    async def touch(self, uri: str) -> int:
        tools = await self.request("tools/list", {})
        touch = next(t["name"] for t in tools["tools"] if t["name"].endswith("-touch"))
        result = await self.request("tools/call", {"name": touch, "arguments": {"uri": uri}})
        return int(result["content"][0]["text"])


@contextlib.asynccontextmanager
async def legacy_session(
    mesh: Mesh, token: str, server: str | None, kind: str
) -> AsyncIterator[Session]:
    """A session whose stream is open: a Streamable HTTP GET stream, or the SSE transport's."""
    auth = {"Authorization": f"Bearer {token}"}
    if kind == "ws":
        async with legacy_ws(mesh, auth, server) as session:
            yield session
        return
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        base = mesh.url + (f"/servers/{server}" if server else "")
        if kind == "get-stream":
            opened = await http.post(base + "/mcp", json=INIT)
            headers = {"Mcp-Session-Id": opened.headers["mcp-session-id"]}
            session = Session(http, base + "/mcp", headers)
            get = http.stream("GET", base + "/mcp", headers=headers)
        else:
            session = Session(http, "", {})
            session.answers_on_stream = True
            get = http.stream("GET", base + "/sse")
        async with get as stream:
            assert stream.status_code == 200
            received = events(stream)
            if kind == "sse":
                kind_, endpoint = await anext(received)
                assert kind_ == "endpoint"
                session.url = mesh.url + endpoint
            reader = asyncio.create_task(session.read(received))
            try:
                if kind == "sse":
                    await session.request("initialize", INIT["params"])
                yield session
            finally:
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader


@contextlib.asynccontextmanager
async def legacy_ws(mesh: Mesh, auth: dict[str, str], server: str | None) -> AsyncIterator[Session]:
    path = f"/servers/{server}/ws" if server else "/ws"
    url = mesh.url.replace("http://", "ws://") + path
    async with (
        httpx2.AsyncClient(headers=auth, timeout=30) as http,
        http.websocket(url, subprotocols=["mcp"]) as ws,
    ):
        session = Session(None, "", {})
        session.ws, session.answers_on_stream = ws, True
        reader = asyncio.create_task(session.read_ws(ws))
        try:
            await session.request("initialize", INIT["params"])
            yield session
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader


@pytest.mark.parametrize(
    ("kind", "upstream"),
    [
        ("get-stream", "http"),
        ("sse", "sse"),
        ("ws", "http"),
        ("get-stream", "both"),
        ("get-stream", "modern"),
        ("sse", "modern"),
        ("ws", "modern"),
    ],
)
async def test_a_subscribed_legacy_session_hears_of_updates_until_it_unsubscribes(
    mesh: Mesh, admin_token: str, upstreams: dict[str, str], kind: str, upstream: str
) -> None:
    # `touch` counts the legacy sessions it told: Forge's, unless the upstream speaks 2026-07-28
    # (then Forge subscribed on its listen stream, which hears it, and the count is 0: one way
    # of subscribing per upstream, or each update would come twice).
    told = 0 if upstream in ("modern", "both") else 1
    async with (
        legacy_session(mesh, admin_token, upstreams[upstream], kind) as session,
        asyncio.timeout(30),
    ):
        await session.request("resources/subscribe", {"uri": README})
        assert await session.touch(README) == told  # Forge's upstream session subscribed
        assert await session.next_update() == README
        await session.request("resources/unsubscribe", {"uri": README})
        await session.request("resources/subscribe", {"uri": MARKER})
        # The upstream still sends readme's updates (other sessions may watch it); Forge keeps
        # them from this session, so the marker's update is the next one it hears.
        assert await session.touch(README) == told
        assert await session.touch(MARKER) == told
        assert await session.next_update() == MARKER


@contextlib.asynccontextmanager
async def modern_client(
    mesh: Mesh, token: str, server: str, transport: str
) -> AsyncIterator[Client]:
    """The official SDK client in 2026-07-28 mode on a virtual server's endpoint."""
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{mesh.url}/servers/{server}"
    async with contextlib.AsyncExitStack() as stack:
        if transport == "sse":
            streams: Any = sse_client(base + "/sse", headers=headers)
        elif transport == "ws":
            streams = websocket_client(base.replace("http://", "ws://") + "/ws", headers)
        else:
            http = await stack.enter_async_context(httpx2.AsyncClient(headers=headers, timeout=30))
            streams = streamable_http_client(base + "/mcp", http_client=http)
        yield await stack.enter_async_context(Client(streams, mode="2026-07-28"))


async def touch_with(client: Client, uri: str) -> None:
    tools = await client.list_tools()
    touch = next(t.name for t in tools.tools if t.name.endswith("touch"))
    await client.call_tool(touch, {"uri": uri})


@pytest.mark.parametrize(
    ("transport", "upstream"),
    [
        ("streamable-http", "http"),
        ("streamable-http", "sse"),
        ("streamable-http", "modern"),
        ("streamable-http", "both"),
        ("sse", "modern"),
        ("sse", "http"),
        ("ws", "modern"),
        ("ws", "both"),
    ],
)
async def test_a_modern_listen_hears_of_the_resources_it_names_whatever_the_upstreams_era(
    mesh: Mesh, admin_token: str, upstreams: dict[str, str], transport: str, upstream: str
) -> None:
    async with (
        modern_client(mesh, admin_token, upstreams[upstream], transport) as client,
        asyncio.timeout(30),
        client.listen(resource_subscriptions=[README], tools_list_changed=True) as subscription,
    ):
        assert subscription.honored.resource_subscriptions == [README]
        assert subscription.honored.tools_list_changed is True
        # The SDK delivers only frames tagged with this subscription's id, and any resource
        # update once URIs are honoured: the marker's (not named) must not come first.
        await touch_with(client, MARKER)
        await touch_with(client, README)
        assert await anext(subscription) == ResourceUpdated(uri=README)


@pytest.mark.parametrize("kind", ["sse", "ws"])
async def test_a_cancelled_listen_hears_nothing_more_while_another_on_the_stream_does(
    mesh: Mesh, admin_token: str, upstreams: dict[str, str], kind: str
) -> None:
    """Raw frames on one SSE or WebSocket stream: listen A (the marker), cancelled; listen B
    (readme). Touching both, B hears readme and nothing tagged A comes before it."""
    async with (
        legacy_session(mesh, admin_token, upstreams["modern"], kind) as session,
        asyncio.timeout(30),
    ):
        for listen_id, uri in (("A", MARKER), ("B", README)):
            params = {"notifications": {"resourceSubscriptions": [uri]}, "_meta": META}
            await session.post(
                {"jsonrpc": "2.0", "id": listen_id, "method": LISTEN, "params": params}
            )
            ack = await session.next_tagged(listen_id)
            assert ack["method"] == "notifications/subscriptions/acknowledged"
            assert ack["params"]["notifications"] == {"resourceSubscriptions": [uri]}
            if listen_id == "A":
                cancel = {"requestId": "A", "_meta": META}
                await session.post(
                    {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": cancel}
                )
        await session.touch(MARKER)
        await session.touch(README)
        heard = await session.next_tagged("B")
        assert heard == {
            "jsonrpc": "2.0",
            "method": UPDATED,
            "params": {"uri": README, "_meta": {SUBSCRIPTION_ID: "B"}},
        }
        assert not [m for m in session.seen if tag_of(m) == "A" and m.get("method") == UPDATED]


async def test_an_sse_listen_posted_to_another_edge_replica_is_served_on_the_stream(
    mesh: Mesh, second_edge: str, admin_token: str, upstreams: dict[str, str]
) -> None:
    """The SSE transport's stream is held by one replica; the listen, POSTed to another, is
    admitted there and handed to the holder, which acknowledges it and writes its updates."""
    async with (
        legacy_session(mesh, admin_token, upstreams["modern"], "sse") as session,
        asyncio.timeout(30),
    ):
        session.url = session.url.replace(mesh.url, second_edge)
        params = {"notifications": {"resourceSubscriptions": [README]}, "_meta": META}
        await session.post({"jsonrpc": "2.0", "id": "R", "method": LISTEN, "params": params})
        ack = await session.next_tagged("R")
        assert ack["method"] == "notifications/subscriptions/acknowledged"
        await session.touch(README)
        heard = await session.next_tagged("R")
        assert (heard["method"], heard["params"]["uri"]) == (UPDATED, README)


@pytest.mark.parametrize("kind", ["sse", "ws"])
async def test_a_listening_client_hears_list_changes_only_tagged_on_sse_and_ws(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], kind: str
) -> None:
    """A stream a 2026-07-28 client listens on carries no legacy (untagged) list changes: only
    the ones its listen asked for, tagged."""
    async with (
        legacy_session(mesh, admin_token, None, kind) as session,
        asyncio.timeout(30),
    ):
        params = {"notifications": {"toolsListChanged": True}, "_meta": META}
        await session.post({"jsonrpc": "2.0", "id": "T", "method": LISTEN, "params": params})
        await session.next_tagged("T")  # the acknowledgement
        session.seen.clear()  # before it, the session was a legacy one: list changes were due
        async with another_gateway(mesh, admin_token, demo):
            changed = await session.next_tagged("T")
        assert changed["method"] == "notifications/tools/list_changed"
        untagged = [m for m in session.seen if m.get("method", "").endswith("/list_changed")]
        assert untagged == [changed]


@pytest.mark.parametrize("kind", ["sse", "ws"])
async def test_a_modern_client_that_does_not_listen_hears_no_list_changes(
    mesh: Mesh, admin_token: str, demo: dict[str, Any], kind: str
) -> None:
    """2026-07-28 sends list changes only on listen streams. A legacy session's GET stream
    observes when the change is announced; the modern client's stream, asked something after
    that, must carry nothing before the answer."""
    async with (
        legacy_session(mesh, admin_token, None, kind) as client,
        legacy_session(mesh, admin_token, None, "get-stream") as observer,
        asyncio.timeout(30),
    ):
        await client.request("server/discover", {"_meta": META})
        client.early.clear()  # while the session was a legacy one, list changes were its due
        async with another_gateway(mesh, admin_token, demo):
            while not (await observer.messages.get()).get("method", "").endswith("list_changed"):
                pass
        await client.request("tools/list", {"_meta": META})
        assert not [m for m in client.early if m.get("method", "").endswith("list_changed")]


LISTEN_TRANSPORTS = ("mcp", "sse", "ws")
BAD_FILTERS: list[Any] = [
    {"resourceSubscriptions": ["forge://nowhere/at-all"]},  # no such resource
    {"resourceSubscriptions": "forge://demo/readme"},  # not a list
    {"resourceSubscriptions": [3]},
    {"toolsListChanged": "yes"},
    ["toolsListChanged"],
]


@pytest.mark.parametrize("transport", LISTEN_TRANSPORTS)
async def test_a_listen_naming_an_unknown_resource_or_malformed_is_invalid_params(
    mesh: Mesh, admin_token: str, upstreams: dict[str, str], transport: str
) -> None:
    async with opened(mesh, admin_token, transport) as link:
        for notifications in BAD_FILTERS:
            params = {"notifications": notifications, "_meta": META}
            status, answer = await link.ask("subscriptions/listen", params)
            assert answer["error"]["code"] == -32602, (notifications, answer)
            assert status in (None, 400)
        status, answer = await link.ask("subscriptions/listen", {"_meta": META})
        assert answer["error"]["code"] == -32602  # no filter at all
        # A legacy request keeps resources/subscribe, and is refused an unknown URI alike; it has
        # no subscriptions/listen.
        _, answer = await link.ask("resources/subscribe", {"uri": "forge://nowhere/at-all"})
        assert answer["error"]["code"] == -32602
        listen = {"notifications": {"resourceSubscriptions": [README]}}
        _, answer = await link.ask("subscriptions/listen", listen)
        assert answer["error"]["code"] == -32601


@pytest.fixture(scope="module")
def private_watched(mesh: Mesh, admin_token: str) -> Iterator[tuple[kit.Person, kit.Person]]:
    """Alice's private gateway (the conformance server: its `test://watched-resource`), and bob,
    a developer of another team who cannot see it."""
    proc, port = start_server(mesh, "forge.servers.conformance")
    run = f"{time.monotonic_ns()}"
    emails = {who: f"{who}-watch-{run}@example.com" for who in ("alice", "bob")}
    for email in emails.values():
        kit.make_user(mesh, admin_token, email, "developer")
    alice, bob = (kit.login(mesh, email) for email in emails.values())
    body = {
        "name": f"watched-{run}",
        "url": f"http://127.0.0.1:{port}/mcp",
        "visibility": "private",
    }
    with kit.rest(mesh, alice.token) as http:
        gateway = kit.ok(http.post("/gateways", json=body))["id"]
    try:
        yield alice, bob
    finally:
        with kit.rest(mesh, alice.token) as http:
            http.delete(f"/gateways/{gateway}")
        stop_process(proc)


@pytest.mark.parametrize("era", ["modern", "legacy"])
async def test_a_resource_the_caller_cannot_see_cannot_be_subscribed(
    mesh: Mesh, private_watched: tuple[kit.Person, kit.Person], era: str
) -> None:
    alice, bob = private_watched
    for who, code in ((alice, None), (bob, -32602)):
        async with opened(mesh, who.token, "mcp") as link:
            if era == "modern":
                params: dict[str, Any] = {
                    "notifications": {"resourceSubscriptions": [WATCHED]},
                    "_meta": META,
                }
                if code is None:
                    await listened(mesh, who.token, params)
                    continue
                _, answer = await link.ask("subscriptions/listen", params)
            else:
                _, answer = await link.ask("resources/subscribe", {"uri": WATCHED})
            if code is None:
                assert answer["result"] == {}, answer
            else:
                assert answer["error"]["code"] == code, answer


async def listened(mesh: Mesh, token: str, params: dict[str, Any]) -> None:
    """Open a listen on /mcp and read its acknowledgement: it honours the resource."""
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": "2026-07-28",
        "Mcp-Method": "subscriptions/listen",
    }
    body = {"jsonrpc": "2.0", "id": "L", "method": "subscriptions/listen", "params": params}
    async with (
        httpx.AsyncClient(timeout=30) as http,
        http.stream("POST", mesh.url + "/mcp", json=body, headers=headers) as stream,
    ):
        assert stream.status_code == 200
        _, data = await anext(events(stream))
        ack = json.loads(data)
        assert ack["method"] == "notifications/subscriptions/acknowledged"
        assert ack["params"]["notifications"] == {"resourceSubscriptions": [WATCHED]}
