"""In-flight messages at the edge: streamed answers, server requests, replies and cancels."""

from __future__ import annotations

import asyncio
import json
from collections.abc import MutableMapping
from typing import Any

import httpx
import msgspec
import pytest

from forge.cli.tokens import mint
from forge.core import subjects
from forge.core.bus import Headers
from forge.core.errors import InvalidParamsError, InvalidRequestError
from forge.edge.app import build_asgi, build_edge
from forge.edge.config import EdgeConfig
from forge.edge.state import Edge
from forge.edge.transports.exchange import Caller, Exchange
from forge.edge.transports.messages import (
    ClientResponse,
    Request,
    envelope_id,
    parse,
    reply_target,
)
from forge.proto.envelope import ENVELOPE_DECODER, Principal, Protocol, ok
from forge.proto.identity import IdentitySnapshot, UserAccess
from forge.testing.membus import MemoryBus

SECRET = "s" * 40
PROGRESS = b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}'
ASK = b'{"jsonrpc":"2.0","id":7,"method":"elicitation/create","params":{"message":"ok?"}}'
CALL = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "t"}}


ALICE = UserAccess(email="alice", id="u-alice", is_admin=True, permissions=("*",))


def edge_on(bus: MemoryBus) -> Edge:
    """An edge whose identity cache already holds alice (these tests are not about identity)."""
    edge = build_edge(EdgeConfig(jwt_secret=SECRET, request_timeout_s=5), bus)
    edge.identity.apply_snapshot(IdentitySnapshot(users=[ALICE]))
    edge.identity.loaded.set()
    return edge


async def progress_router(bus: MemoryBus) -> None:
    """A router whose one tool reports progress once, then answers."""

    async def handle(data: bytes, headers: Headers) -> bytes:
        envelope = ENVELOPE_DECODER.decode(data)
        await bus.publish(subjects.stream(envelope.id), PROGRESS)
        return ok(b'{"content":[]}')

    await bus.serve(subjects.ROUTER_RPC, handle)


def http(edge: Edge) -> httpx.AsyncClient:
    headers = {"Authorization": "Bearer " + mint(SECRET, "alice")}
    transport = httpx.ASGITransport(app=build_asgi(edge))
    return httpx.AsyncClient(transport=transport, base_url="http://edge", headers=headers)


async def test_progress_before_the_result_turns_the_answer_into_an_sse_stream() -> None:
    bus = MemoryBus()
    await progress_router(bus)
    accept = {"Accept": "application/json, text/event-stream"}
    async with http(edge_on(bus)) as client:
        response = await client.post("/mcp", json=CALL, headers=accept)
    assert response.headers["content-type"] == "text/event-stream"
    data = [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]
    assert [json.loads(d).get("method") for d in data] == ["notifications/progress", None]
    assert json.loads(data[-1])["result"] == {"content": []}


async def test_a_client_that_accepts_only_json_gets_json_and_no_stream_subscription() -> None:
    bus = MemoryBus()
    await progress_router(bus)
    async with http(edge_on(bus)) as client:
        response = await client.post("/mcp", json=CALL, headers={"Accept": "application/json"})
    assert response.headers["content-type"] == "application/json"
    assert response.json()["result"] == {"content": []}
    assert not any(subject.startswith("forge.stream.") for subject, _ in bus.published[1:])


async def test_a_server_request_reaches_the_client_and_its_answer_reaches_the_asker() -> None:
    bus = MemoryBus()

    async def handle(data: bytes, headers: Headers) -> bytes:
        envelope = ENVELOPE_DECODER.decode(data)
        answer = await bus.request(subjects.stream(envelope.id), ASK, deadline=envelope.deadline)
        return ok(answer)

    await bus.serve(subjects.ROUTER_RPC, handle)
    exchange = Exchange(edge_on(bus))
    caller = Caller(Principal("alice", is_admin=True), Protocol("2025-11-25", era="legacy"))
    asked: list[dict[str, object]] = []

    async def deliver(message: bytes) -> None:
        request = json.loads(message)
        asked.append(request)
        response = {"jsonrpc": "2.0", "id": request["id"], "result": {"action": "accept"}}
        incoming = parse(json.dumps(response).encode())
        assert isinstance(incoming, ClientResponse)
        await exchange.answer(incoming)

    request = parse(json.dumps(CALL).encode())
    assert not isinstance(request, ClientResponse)
    async with asyncio.timeout(5):
        result = await exchange.call(request, caller, deliver)
    forwarded_id = str(asked[0]["id"])
    assert forwarded_id.startswith("forge-reply:_INBOX.") and forwarded_id.endswith(":7")
    assert json.loads(result) == {"jsonrpc": "2.0", "id": 7, "result": {"action": "accept"}}


@pytest.mark.parametrize(
    "reply_id",
    ["forge-reply:forge.router.rpc:1", "forge-reply:_INBOX.>:1", "forge-reply:_INBOX.x:{"],
)
def test_a_reply_that_names_no_inbox_is_an_invalid_request(reply_id: str) -> None:
    response = ClientResponse(reply_id, msgspec.Raw(b"{}"), msgspec.Raw())
    with pytest.raises(InvalidRequestError):
        reply_target(response)


def test_a_response_with_an_ordinary_id_waits_for_nothing() -> None:
    assert reply_target(ClientResponse(3, msgspec.Raw(b"{}"), msgspec.Raw())) is None


async def test_a_posted_reply_to_a_foreign_subject_is_refused_with_invalid_request() -> None:
    body = {"jsonrpc": "2.0", "id": "forge-reply:forge.cancel.x:1", "result": {}}
    async with http(edge_on(MemoryBus())) as client:
        response = await client.post("/mcp", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600


def test_a_session_requests_envelope_id_is_the_same_on_every_replica() -> None:
    assert envelope_id("sid", 1) == envelope_id("sid", 1) != envelope_id("sid", "1")
    assert len(envelope_id("sid", 1)) == 32
    assert envelope_id(None, 1) != envelope_id(None, 1)


async def test_a_legacy_cancel_notification_publishes_the_cancel_of_that_request() -> None:
    bus = MemoryBus()
    edge = edge_on(bus)
    token, state = edge.sessions.new(
        "alice", "2025-11-25", msgspec.Raw(b"{}"), msgspec.Raw(b"{}"), "mcp"
    )
    async with http(edge) as client:
        note = {
            "jsonrpc": "2.0",
            "method": "notifications/cancelled",
            "params": {"requestId": 4},
        }
        response = await client.post("/mcp", json=note, headers={"Mcp-Session-Id": token})
    assert response.status_code == 202
    assert (subjects.cancel(envelope_id(state.sid, 4)), b"") in bus.published


async def test_catalog_events_in_a_burst_become_one_notice() -> None:
    bus = MemoryBus()
    edge = edge_on(bus)
    heard: asyncio.Queue[frozenset[str]] = asyncio.Queue()
    await edge.notices.add(heard.put_nowait)
    await bus.publish(subjects.event("catalog", "tools", "changed"), b"{}")
    await bus.publish(subjects.event("catalog", "servers", "changed"), b"{}")
    await bus.publish(subjects.event("catalog", "gateways", "changed"), b"{}")
    async with asyncio.timeout(5):
        assert await heard.get() == frozenset({"tools", "resources", "prompts"})
    assert heard.empty()


async def test_a_listen_stream_acknowledges_what_it_honours_then_tags_each_change() -> None:
    from forge.edge.transports import streams

    bus = MemoryBus()
    edge = edge_on(bus)
    sent: asyncio.Queue[dict[str, object]] = asyncio.Queue()
    gone = asyncio.Event()

    async def send(message: MutableMapping[str, Any]) -> None:
        await sent.put(dict(message))

    async def receive() -> dict[str, object]:
        await gone.wait()
        return {"type": "http.disconnect"}

    # An extension's key is tolerated and not honoured; false is not echoed.
    params = b'{"notifications":{"toolsListChanged":true,"promptsListChanged":false,"taskIds":[]}}'
    request = Request("subscriptions/listen", msgspec.Raw(params), "L1", False)
    caller = Caller(Principal(subject="alice"), Protocol(version="2026-07-28", era="modern"))
    exchange = Exchange(edge)
    listening = asyncio.create_task(streams.listen(edge, exchange, receive, send, request, caller))

    async def next_data() -> dict[str, object]:
        while True:
            message = await sent.get()
            body = message.get("body")
            if isinstance(body, bytes) and body.startswith(b"event: message"):
                return json.loads(body.split(b"data: ", 1)[1])  # type: ignore[no-any-return]

    async with asyncio.timeout(5):
        ack = await next_data()
        assert ack["method"] == "notifications/subscriptions/acknowledged"
        assert ack["params"] == {
            "notifications": {"toolsListChanged": True},
            "_meta": {"io.modelcontextprotocol/subscriptionId": "L1"},
        }
        await bus.publish(subjects.event("catalog", "prompts", "changed"), b"{}")
        await bus.publish(subjects.event("catalog", "tools", "changed"), b"{}")
        changed = await next_data()
        assert changed["method"] == "notifications/tools/list_changed"
        assert changed["params"] == {"_meta": {"io.modelcontextprotocol/subscriptionId": "L1"}}
        edge.closing.set()
        farewell = await next_data()
        assert farewell["id"] == "L1"
        assert farewell["result"] == {
            "_meta": {"io.modelcontextprotocol/subscriptionId": "L1"},
            "resultType": "complete",
        }
        await listening


@pytest.mark.parametrize(
    "params",
    [
        b"{}",
        b'{"notifications":true}',
        b'{"notifications":{"toolsListChanged":1}}',
        b'{"notifications":{"resourceSubscriptions":"file:///a"}}',
    ],
)
async def test_a_listen_with_a_malformed_filter_is_invalid_params_before_any_stream(
    params: bytes,
) -> None:
    from forge.edge.transports import streams

    edge = edge_on(MemoryBus())
    sent: list[object] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    request = Request("subscriptions/listen", msgspec.Raw(params), 1, False)
    caller = Caller(Principal(subject="alice"), Protocol(version="2026-07-28", era="modern"))
    with pytest.raises(InvalidParamsError):
        await streams.listen(edge, Exchange(edge), receive, send, request, caller)
    assert not sent


MODERN_CALL = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/call",
    "params": {"name": "t", "_meta": {"io.modelcontextprotocol/protocolVersion": "2026-07-28"}},
}
MODERN_HEADERS = {
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
    "mcp-name": "t",
    "accept": "application/json, text/event-stream",
}


class HangingRouter:
    """A router whose one tool reports progress, then answers only when cancelled."""

    def __init__(self, bus: MemoryBus) -> None:
        self.bus = bus
        self.started = asyncio.Event()
        self.cancelled = asyncio.Event()

    async def serve(self) -> HangingRouter:
        async def handle(data: bytes, headers: Headers) -> bytes:
            envelope = ENVELOPE_DECODER.decode(data)
            await self.bus.publish(subjects.stream(envelope.id), PROGRESS)
            self.started.set()
            try:
                await asyncio.Event().wait()
            finally:
                self.cancelled.set()
            return ok(b"{}")

        await self.bus.serve(subjects.ROUTER_RPC, handle)
        return self


class RawPost:
    """One MCP POST straight into the edge's ASGI app: what it sent, and a client that leaves
    (`http.disconnect`) once `leave` is set."""

    def __init__(self, edge: Edge, body: dict[str, Any], headers: dict[str, str]) -> None:
        self.app = build_asgi(edge)
        self.body = json.dumps(body).encode()
        token = "Bearer " + mint(SECRET, "alice")
        self.headers = [
            (k.encode(), v.encode())
            for k, v in {
                **headers,
                "authorization": token,
                "content-type": "application/json",
            }.items()
        ]
        self.sent: list[MutableMapping[str, Any]] = []
        self.streaming = asyncio.Event()
        self.leave = asyncio.Event()
        self._read = False

    async def receive(self) -> dict[str, Any]:
        if not self._read:
            self._read = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.leave.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: MutableMapping[str, Any]) -> None:
        self.sent.append(message)
        if message["type"] == "http.response.body" and message.get("more_body"):
            self.streaming.set()

    async def run(self) -> int:
        """Serve the POST in this task; how many cancels of this task are still pending."""
        scope = {
            "type": "http",
            "method": "POST",
            "path": "/mcp",
            "raw_path": b"/mcp",
            "query_string": b"",
            "headers": self.headers,
            "client": ("127.0.0.1", 40000),
        }
        await self.app(scope, self.receive, self.send)
        task = asyncio.current_task()
        assert task is not None
        return task.cancelling()


async def test_a_modern_client_that_leaves_a_streamed_answer_cancels_the_call_not_the_request() -> (
    None
):
    bus = MemoryBus()
    router = await HangingRouter(bus).serve()
    post = RawPost(edge_on(bus), MODERN_CALL, MODERN_HEADERS)
    serving = asyncio.create_task(post.run())
    async with asyncio.timeout(5):
        await post.streaming.wait()  # the progress event went out: the answer is a stream
        post.leave.set()
        await router.cancelled.wait()
        assert await serving == 0  # the request itself ended normally, no cancel left over
    assert any(subject.startswith("forge.cancel.") for subject, _ in bus.published)


async def test_a_request_cancelled_while_its_call_runs_is_cancelled_and_so_is_the_call() -> None:
    bus = MemoryBus()
    router = await HangingRouter(bus).serve()
    post = RawPost(edge_on(bus), MODERN_CALL, MODERN_HEADERS)
    serving = asyncio.create_task(post.run())
    async with asyncio.timeout(5):
        await router.started.wait()
        serving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await serving
        await router.cancelled.wait()
    assert serving.cancelled()
    assert not any(subject.startswith("forge.cancel.") for subject, _ in bus.published)


async def test_a_request_cancelled_after_its_client_left_is_still_cancelled() -> None:
    bus = MemoryBus()
    router = await HangingRouter(bus).serve()
    post = RawPost(edge_on(bus), MODERN_CALL, MODERN_HEADERS)
    serving = asyncio.create_task(post.run())
    async with asyncio.timeout(5):
        await post.streaming.wait()
        post.leave.set()  # the client's leaving cancels the call ...
        serving.cancel()  # ... and the request is cancelled as well, before either lands
        with pytest.raises(asyncio.CancelledError):
            await serving
        await router.cancelled.wait()
    assert serving.cancelled()
