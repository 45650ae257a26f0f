"""In-flight messages (docs/streams.md): progress and logs out, client answers back, cancels."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
from proxy_harness import call, gateway, stdio_gateway, text_of, tool_call

from conftest import StartProxy
from forge.core import subjects
from forge.core.bus import Headers, NatsBus
from forge.core.errors import ForgeError
from forge.proto.catalog import Gateway
from forge.proto.envelope import Envelope, Protocol
from forge.servers.process import ServerProcess

Answer = Callable[[dict[str, Any]], dict[str, Any]]


class ClientStream:
    """The edge's side of `forge.stream.<id>`: collects notifications, answers requests."""

    def __init__(self, bus: NatsBus, envelope_id: str, answer: Answer | None = None) -> None:
        self.bus = bus
        self.subject = subjects.stream(envelope_id)
        self.answer = answer
        self.notes: list[dict[str, Any]] = []
        self.asked: list[dict[str, Any]] = []
        self._changed = asyncio.Condition()

    async def __aenter__(self) -> ClientStream:
        self.sub = await self.bus.serve(self.subject, self._on_message)
        await self.bus.flush()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.sub.unsubscribe()

    async def _on_message(self, data: bytes, headers: Headers) -> bytes:
        message = msgspec.json.decode(data)
        reply = b""
        if "id" in message:
            self.asked.append(message)
            if self.answer is not None:
                reply = msgspec.json.encode(self.answer(message))
        else:
            self.notes.append(message)
        async with self._changed:
            self._changed.notify_all()
        return reply

    async def notes_at_least(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(10), self._changed:
            await self._changed.wait_for(lambda: len(self.notes) >= count)
        return self.notes


def upstream(request: pytest.FixtureRequest, transport: str) -> Gateway:
    """The demo server over one transport; http-legacy and http-modern are Streamable HTTP."""
    if transport == "stdio":
        return stdio_gateway()
    fixture = {"http-legacy": "demo_legacy", "http-modern": "demo", "sse": "demo_sse"}
    server: ServerProcess = request.getfixturevalue(fixture[transport])
    return gateway(server.url, transport="sse" if transport == "sse" else "streamablehttp")


def reply_with(result: dict[str, Any]) -> Answer:
    # The edge hands back the client's response with an id of its own making.
    return lambda request: {"jsonrpc": "2.0", "id": "forge-reply:x:1", "result": result}


@pytest.mark.parametrize("transport", ["http-legacy", "http-modern", "sse", "stdio"])
async def test_progress_notifications_reach_the_stream_with_the_clients_token(
    bus: NatsBus, start_proxy: StartProxy, request: pytest.FixtureRequest, transport: str
) -> None:
    gw = upstream(request, transport)
    await start_proxy(gw)
    env = tool_call("progress", progress_token="client-token-1", steps=3)
    async with ClientStream(bus, env.id) as stream:
        result = await call(bus, gw, env)
        notes = await stream.notes_at_least(3)
    assert text_of(result) == "done after 3 steps"
    assert [n["method"] for n in notes] == ["notifications/progress"] * 3
    assert [n["params"]["progress"] for n in notes] == [1, 2, 3]
    assert {n["params"]["progressToken"] for n in notes} == {"client-token-1"}


@pytest.mark.parametrize("transport", ["http-legacy", "stdio"])
async def test_a_log_message_reaches_the_stream(
    bus: NatsBus, start_proxy: StartProxy, request: pytest.FixtureRequest, transport: str
) -> None:
    gw = upstream(request, transport)
    await start_proxy(gw)
    env = tool_call("log", message="hello from upstream")
    async with ClientStream(bus, env.id) as stream:
        await call(bus, gw, env)
        notes = await stream.notes_at_least(1)
    assert notes[0]["method"] == "notifications/message"
    assert notes[0]["params"]["data"] == "hello from upstream"


@pytest.mark.parametrize("transport", ["http-legacy", "sse", "stdio"])
async def test_an_elicitation_is_asked_on_the_stream_and_the_answer_reaches_the_tool(
    bus: NatsBus, start_proxy: StartProxy, request: pytest.FixtureRequest, transport: str
) -> None:
    gw = upstream(request, transport)
    await start_proxy(gw)
    env = from_legacy_client(tool_call("ask", question="Favourite colour?"))
    answer = reply_with({"action": "accept", "content": {"answer": "blue"}})
    async with ClientStream(bus, env.id, answer) as stream:
        result = await call(bus, gw, env)
    assert text_of(result) == "blue"
    assert stream.asked[0]["method"] == "elicitation/create"
    assert stream.asked[0]["params"]["message"] == "Favourite colour?"


async def test_sampling_and_roots_requests_are_answered_by_the_client(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    gw = stdio_gateway()
    await start_proxy(gw)
    sampled = reply_with(
        {"role": "assistant", "content": {"type": "text", "text": "a haiku"}, "model": "m"}
    )
    env = from_legacy_client(tool_call("sample", prompt="Write a haiku"))
    async with ClientStream(bus, env.id, sampled) as stream:
        assert text_of(await call(bus, gw, env)) == "a haiku"
    assert stream.asked[0]["method"] == "sampling/createMessage"
    env = from_legacy_client(tool_call("roots"))
    async with ClientStream(bus, env.id, reply_with({"roots": [{"uri": "file:///work"}]})):
        result = msgspec.json.decode(await call(bus, gw, env))
    assert result["structuredContent"] == {"result": ["file:///work"]}


async def test_an_elicitation_no_client_listens_for_is_refused_at_once(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    gw = stdio_gateway()
    await start_proxy(gw)
    with pytest.raises(ForgeError) as caught:
        await call(bus, gw, from_legacy_client(tool_call("ask", question="Anyone?")))
    # The SDK turns the refused elicitation into the tool call's error: method not found.
    assert caught.value.to_object().code == -32601


async def cancelled_count(bus: NatsBus, gw: Gateway) -> int:
    return int(text_of(await call(bus, gw, tool_call("cancelled"))))


@pytest.mark.parametrize("transport", ["http-legacy", "http-modern", "sse", "stdio"])
async def test_a_cancel_reaches_the_upstream_and_the_call_ends_with_an_error(
    bus: NatsBus, start_proxy: StartProxy, request: pytest.FixtureRequest, transport: str
) -> None:
    gw = upstream(request, transport)
    await start_proxy(gw)
    before = await cancelled_count(bus, gw)
    env = tool_call("slow", progress_token="p", seconds=30)
    async with ClientStream(bus, env.id) as stream:
        pending = asyncio.create_task(call(bus, gw, env))
        await stream.notes_at_least(1)  # the upstream is inside the tool now
        await bus.publish(subjects.cancel(env.id), b"")
        with pytest.raises(ForgeError) as caught:
            await pending
    assert caught.value.to_object().code == -32800
    # The upstream learns of it asynchronously: ask until it has counted the cancel.
    async with asyncio.timeout(10):
        while await cancelled_count(bus, gw) == before:
            pass


def from_legacy_client(env: Envelope) -> Envelope:
    """The envelope as a legacy client that can answer elicitation and sampling sends it."""
    capabilities = msgspec.Raw(b'{"elicitation":{},"sampling":{},"roots":{}}')
    protocol = Protocol(version="2025-11-25", era="legacy", capabilities=capabilities)
    return msgspec.structs.replace(env, protocol=protocol)


async def test_a_modern_upstreams_input_requests_are_asked_of_a_legacy_client_on_the_stream(
    bus: NatsBus, start_proxy: StartProxy, demo_modern: ServerProcess
) -> None:
    gw = gateway(demo_modern.url)
    proxy = await start_proxy(gw)
    env = from_legacy_client(tool_call("ask", question="Which size?"))
    answer = reply_with({"action": "accept", "content": {"answer": "large"}})
    async with ClientStream(bus, env.id, answer) as stream:
        result = await call(bus, gw, env)
    assert text_of(result) == "large"
    assert stream.asked[0]["method"] == "elicitation/create"
    assert stream.asked[0]["id"].startswith("forge-input-")
    # The upstream lacks the client's era: the legacy client's session speaks the modern one.
    assert proxy.pool.sessions[gw.id]["legacy"].era == "modern"


async def test_a_legacy_client_gets_a_modern_upstreams_log_messages(
    bus: NatsBus, start_proxy: StartProxy, demo_modern: ServerProcess
) -> None:
    gw = gateway(demo_modern.url)
    await start_proxy(gw)
    env = from_legacy_client(tool_call("log", message="to a legacy client"))
    async with ClientStream(bus, env.id) as stream:
        await call(bus, gw, env)
        notes = await stream.notes_at_least(1)
    assert notes[0]["params"]["data"] == "to a legacy client"


async def test_a_dual_era_upstream_is_spoken_to_in_each_clients_era(
    bus: NatsBus, start_proxy: StartProxy, demo: ServerProcess
) -> None:
    gw = gateway(demo.url)
    proxy = await start_proxy(gw)
    env = from_legacy_client(tool_call("ask", question="Which size?"))
    answer = reply_with({"action": "accept", "content": {"answer": "large"}})
    async with ClientStream(bus, env.id, answer) as stream:
        assert text_of(await call(bus, gw, env)) == "large"
    # Asked mid-call by the upstream itself, on a legacy session: nothing was translated.
    assert stream.asked[0]["method"] == "elicitation/create"
    assert not str(stream.asked[0]["id"]).startswith("forge-input-")
    sampled = reply_with(
        {"role": "assistant", "content": {"type": "text", "text": "a haiku"}, "model": "m"}
    )
    env = from_legacy_client(tool_call("sample", prompt="Write a haiku"))
    async with ClientStream(bus, env.id, sampled) as stream:
        assert text_of(await call(bus, gw, env)) == "a haiku"
    assert stream.asked[0]["method"] == "sampling/createMessage"
    assert not str(stream.asked[0]["id"]).startswith("forge-input-")
    await call(bus, gw, tool_call("echo", text="modern"))
    eras = proxy.pool.sessions[gw.id]
    assert {era: session.era for era, session in eras.items()} == {
        "legacy": "legacy",
        "modern": "modern",
    }
