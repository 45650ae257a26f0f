"""The a2a-bridge on a real NATS, against the real sample agents (A2A 1.0 on a2a-sdk, A2A 0.3
without it): a tool call becomes a message, the answer an MCP CallToolResult."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from bridge_harness import agent, call, envelope, meta

from conftest import StartBridge
from forge.core import rpc, subjects
from forge.core.bus import Headers, NatsBus
from forge.core.errors import (
    FORBIDDEN,
    INVALID_PARAMS,
    REQUEST_CANCELLED,
    RESULT_TOO_LARGE,
    UPSTREAM_BAD_RESPONSE,
    UPSTREAM_TIMEOUT,
    UPSTREAM_UNAVAILABLE,
    ForgeError,
)
from forge.core.sealing import Keyring, new_key_spec
from forge.proto.agents import Agent, AgentCallParams, AgentsChanged
from forge.proto.catalog import UpstreamAuth
from forge.proto.envelope import Envelope, Protocol
from forge.servers.process import ServerProcess, spawn
from forge.testing import eventually
from forge.testing.oauth_server import OAuthServer

# The three ways to reach an echo agent: A2A 1.0 over JSON-RPC and over HTTP+JSON (a2a-sdk),
# and A2A 0.3 over JSON-RPC (the plain agent; the SDK's 0.3 compatibility is tested apart).
PEERS = ["v1-jsonrpc", "v1-http+json", "v03-jsonrpc"]
ELICITS = msgspec.Raw(b'{"elicitation":{}}')


def peer(name: str, echo: ServerProcess, echo03: ServerProcess) -> Agent:
    if name == "v1-jsonrpc":
        return agent(echo.url)
    if name == "v1-http+json":
        return agent(f"{echo.url}rest", binding="http+json")
    return agent(echo03.url, version="0.3")


@pytest.mark.parametrize("name", PEERS)
async def test_a_message_answer_becomes_text_and_structured_content(
    bus: NatsBus, start_bridge: StartBridge, echo: ServerProcess, echo03: ServerProcess, name: str
) -> None:
    target = peer(name, echo, echo03)
    await start_bridge(target)
    result = await call(bus, target.id, {"message": "hello", "data": {"n": 1}})
    assert result["isError"] is False
    assert result["content"][0] == {"type": "text", "text": "hello"}
    structured = result["structuredContent"]
    assert (structured["echo"], structured["data"]) == ("hello", {"n": 1})
    # The data part is rendered as text too, for clients that read text only.
    assert msgspec.json.decode(result["content"][1]["text"]) == structured
    assert meta(result)["kind"] == "message"
    assert meta(result)["contextId"] == structured["context_id"]


@pytest.mark.parametrize("name", PEERS)
async def test_a_completed_task_answers_its_artifacts_with_ids_to_continue(
    bus: NatsBus, start_bridge: StartBridge, echo: ServerProcess, echo03: ServerProcess, name: str
) -> None:
    target = peer(name, echo, echo03)
    await start_bridge(target)
    result = await call(bus, target.id, {"message": "task one", "context_id": "ctx-1"})
    assert result["isError"] is False
    assert result["content"][0] == {"type": "text", "text": "task one"}
    assert result["structuredContent"]["context_id"] == "ctx-1"
    found = meta(result)
    assert (found["kind"], found["state"], found["contextId"]) == ("task", "completed", "ctx-1")
    assert found["taskId"]


@pytest.mark.parametrize("name", PEERS)
async def test_a_failed_task_is_a_tool_error_with_the_agents_reason(
    bus: NatsBus, start_bridge: StartBridge, echo: ServerProcess, echo03: ServerProcess, name: str
) -> None:
    target = peer(name, echo, echo03)
    await start_bridge(target)
    result = await call(bus, target.id, {"message": "fail now"})
    assert result["isError"] is True
    assert "asked to fail: fail now" in result["content"][0]["text"]
    assert "structuredContent" not in result
    assert meta(result)["state"] == "failed"


@pytest.mark.parametrize("name", PEERS)
async def test_a_file_part_becomes_an_embedded_resource(
    bus: NatsBus, start_bridge: StartBridge, echo: ServerProcess, echo03: ServerProcess, name: str
) -> None:
    target = peer(name, echo, echo03)
    await start_bridge(target)
    result = await call(bus, target.id, {"message": "file please"})
    [content] = result["content"]
    assert content["type"] == "resource"
    resource = content["resource"]
    assert (resource["mimeType"], resource["text"]) == ("text/plain", "file please")
    assert resource["uri"].endswith("/echo.txt")


@pytest.mark.parametrize("name", PEERS)
async def test_an_input_required_task_continues_with_its_task_id(
    bus: NatsBus, start_bridge: StartBridge, echo: ServerProcess, echo03: ServerProcess, name: str
) -> None:
    target = peer(name, echo, echo03)
    await start_bridge(target)
    asked = await call(bus, target.id, {"message": "ask me"})
    first = meta(asked)
    assert (asked["isError"], first["state"]) == (False, "input-required")
    assert asked["content"][0]["text"] == "what else should I echo?"
    more = {"message": "more", "task_id": first["taskId"], "context_id": first["contextId"]}
    done = await call(bus, target.id, more)
    assert (meta(done)["taskId"], meta(done)["state"]) == (first["taskId"], "completed")
    assert done["content"][0]["text"] == "more"


async def test_the_sdk_agent_is_reached_in_a2a_0_3_too(
    bus: NatsBus, start_bridge: StartBridge, echo: ServerProcess
) -> None:
    target = agent(echo.url, version="0.3")  # a2a-sdk's 0.3 compatibility: message/send
    await start_bridge(target)
    result = await call(bus, target.id, {"message": "task old", "data": {"k": "v"}})
    assert result["structuredContent"]["data"] == {"k": "v"}
    assert meta(result)["state"] == "completed"


async def test_an_agent_error_is_a_tool_error_with_its_code(
    bus: NatsBus, start_bridge: StartBridge, echo03: ServerProcess
) -> None:
    target = agent(echo03.url)  # said to be 1.0: the 0.3 agent knows no SendMessage
    await start_bridge(target)
    result = await call(bus, target.id, {"message": "hello"})
    assert result["isError"] is True
    assert meta(result)["error"]["code"] == -32601
    unknown = await call(bus, target.id, {"message": "x", "task_id": "nope"})
    assert unknown["isError"] is True


def _code(exc: pytest.ExceptionInfo[ForgeError]) -> int:
    return exc.value.code


async def test_bad_agents_get_clear_errors_and_the_bridge_keeps_serving(
    bus: NatsBus, start_bridge: StartBridge, echo03: ServerProcess
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, never listening: connections are refused
        down = agent(f"http://127.0.0.1:{port}/")
        garbage = agent(f"{echo03.url}garbage", version="0.3")
        good = agent(echo03.url, version="0.3")
        await start_bridge(down, garbage, good)
        with pytest.raises(ForgeError) as unreachable:
            await call(bus, down.id, {"message": "hi"})
        assert _code(unreachable) == UPSTREAM_UNAVAILABLE
        assert "unreachable" in unreachable.value.message
    with pytest.raises(ForgeError) as html:
        await call(bus, garbage.id, {"message": "hi"})
    assert _code(html) == UPSTREAM_BAD_RESPONSE
    assert "text/html" in html.value.message
    result = await call(bus, good.id, {"message": "still here"})
    assert result["content"][0]["text"] == "still here"


@pytest.fixture
async def silent_peer() -> AsyncIterator[str]:
    """A TCP peer that accepts and reads but never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(65536)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/"
    for writer in held:
        writer.close()
    server.close()
    await server.wait_closed()


async def test_an_agent_that_never_answers_times_out_at_the_deadline(
    bus: NatsBus, start_bridge: StartBridge, silent_peer: str
) -> None:
    target = agent(silent_peer)
    await start_bridge(target)
    with pytest.raises(ForgeError) as late:
        await call(bus, target.id, {"message": "hello?"}, within_s=1.0)
    assert _code(late) == UPSTREAM_TIMEOUT


async def test_the_ssrf_guard_refuses_an_agent_on_a_private_address(
    bus: NatsBus, start_bridge: StartBridge, echo03: ServerProcess
) -> None:
    target = agent(echo03.url, version="0.3")
    await start_bridge(target, upstream_allowed_networks="")
    with pytest.raises(ForgeError) as refused:
        await call(bus, target.id, {"message": "hi"})
    assert _code(refused) == FORBIDDEN


async def test_arguments_that_do_not_fit_the_tool_are_invalid_params(
    bus: NatsBus, start_bridge: StartBridge, echo03: ServerProcess
) -> None:
    target = agent(echo03.url, version="0.3")
    await start_bridge(target)
    for arguments in ({}, {"message": 3}, {"message": "x", "task_id": 1}):
        with pytest.raises(ForgeError) as bad:
            await call(bus, target.id, arguments)
        assert _code(bad) == INVALID_PARAMS


async def test_an_agent_is_followed_by_events_and_fetched_on_a_miss(
    bus: NatsBus, start_bridge: StartBridge, echo03: ServerProcess
) -> None:
    bridge = await start_bridge()
    late = agent(echo03.url, version="0.3")
    asked: list[str] = []

    async def get_agent(env: Envelope) -> bytes:
        asked.append(msgspec.json.decode(env.params)["id"])
        return msgspec.json.encode(late)

    await rpc.serve_envelopes(
        bus, subjects.registry(subjects.CATALOG, "agents", "get"), get_agent, queue=None
    )
    result = await call(bus, late.id, {"message": "fetched"})
    assert (asked, result["content"][0]["text"]) == ([late.id], "fetched")
    # A change event replaces the cached agent: now it is disabled.
    disabled = msgspec.structs.replace(late, enabled=False)
    changed = subjects.event(subjects.CATALOG, "agents", "changed")
    await bus.publish(changed, msgspec.json.encode(AgentsChanged(agent=disabled)))
    await eventually(lambda: not bridge.agents.by_id[late.id].enabled or None, what="the event")
    with pytest.raises(ForgeError) as off:
        await call(bus, late.id, {"message": "hi"})
    assert _code(off) == UPSTREAM_UNAVAILABLE


@pytest.mark.parametrize(
    ("version", "binding", "path"),
    [("1.0", "jsonrpc", ""), ("1.0", "http+json", "rest"), ("0.3", "jsonrpc", "")],
)
async def test_a_streaming_agent_sends_progress_then_the_same_result(
    bus: NatsBus,
    start_bridge: StartBridge,
    echo: ServerProcess,
    version: str,
    binding: str,
    path: str,
) -> None:
    target = agent(f"{echo.url}{path}", version=version, binding=binding, streaming=True)
    await start_bridge(target)
    sent = envelope({"message": "task streamed", "data": {"s": 1}}, progress_token="p-1")
    seen: list[dict[str, Any]] = []

    async def on_progress(subject: str, data: bytes) -> None:
        seen.append(msgspec.json.decode(data))

    await bus.subscribe(subjects.stream(sent.id), on_progress)
    result = msgspec.json.decode(await rpc.call(bus, subjects.a2a(target.id, "call"), sent))
    assert result["content"][0] == {"type": "text", "text": "task streamed"}
    assert result["structuredContent"]["data"] == {"s": 1}
    assert meta(result)["state"] == "completed"
    await eventually(lambda: len(seen) >= 3 or None, what="three progress notifications")
    assert {n["method"] for n in seen} == {"notifications/progress"}
    assert [n["params"]["progress"] for n in seen] == list(range(1, len(seen) + 1))
    assert {n["params"]["progressToken"] for n in seen} == {"p-1"}
    said = [n["params"]["message"] for n in seen]
    assert said[0] == "task submitted" and said[-1] == "task completed"
    assert "artifact echo" in said
    # A failed task streams its reason and ends as a tool error.
    failed = envelope({"message": "fail streamed"}, progress_token="p-2")
    answer = msgspec.json.decode(await rpc.call(bus, subjects.a2a(target.id, "call"), failed))
    assert answer["isError"] is True and "fail streamed" in answer["content"][0]["text"]


async def test_oauth_client_credentials_are_granted_once_and_renewed_when_refused(
    bus: NatsBus, start_bridge: StartBridge
) -> None:
    spec = new_key_spec()
    with (
        OAuthServer() as oauth,
        spawn("forge.agents.echo03", "--show-auth", "--refuse-first", path="/") as peer_agent,
    ):
        target = agent(peer_agent.url, version="0.3", auth_type="oauth_client_credentials")
        auth = UpstreamAuth(
            type="oauth_client_credentials",
            token_url=oauth.token_url,
            client_id="forge",
            client_secret="forge-secret",
            scopes=["agents"],
        )
        sealed = Keyring.parse(spec).seal(msgspec.json.encode(auth), target.id.encode())
        target = msgspec.structs.replace(target, auth=sealed)
        await start_bridge(target, secret_keys=spec)
        first = await call(bus, target.id, {"message": "one"})
        second = await call(bus, target.id, {"message": "two"})
        # The first token was refused (401): a second grant, then kept for the next call.
        grants = oauth.grants("client_credentials")
        assert len(grants) == 2
        assert grants[0].form["scope"] == "agents"
        seen = {first["structuredContent"]["authorization"]}
        seen.add(second["structuredContent"]["authorization"])
        assert len(seen) == 1 and seen.pop().startswith("Bearer at-")


async def test_credentials_that_do_not_open_are_a_clear_error(
    bus: NatsBus, start_bridge: StartBridge, echo03: ServerProcess
) -> None:
    target = agent(echo03.url, version="0.3", auth_type="bearer", auth="not-sealed")
    await start_bridge(target, secret_keys=new_key_spec())
    with pytest.raises(ForgeError) as refused:
        await call(bus, target.id, {"message": "hi"})
    assert _code(refused) == UPSTREAM_UNAVAILABLE


async def test_a_cancelled_call_stops_waiting_for_the_agent(
    bus: NatsBus, start_bridge: StartBridge, silent_peer: str
) -> None:
    target = agent(silent_peer)
    bridge = await start_bridge(target)
    sent = envelope({"message": "never mind"}, timeout=60)
    calling = asyncio.create_task(rpc.call(bus, subjects.a2a(target.id, "call"), sent))
    await eventually(lambda: sent.id in bridge.calls.racing or None, what="the call in flight")
    await bus.publish(subjects.cancel(sent.id), b"")
    with pytest.raises(ForgeError) as cancelled:
        await calling
    assert _code(cancelled) == REQUEST_CANCELLED
    assert bridge.calls.racing == {}


async def test_a_long_task_reports_each_working_step_as_progress(
    bus: NatsBus, start_bridge: StartBridge, echo: ServerProcess
) -> None:
    target = agent(echo.url, streaming=True)
    await start_bridge(target)
    sent = envelope({"message": "slow 2"}, progress_token=9)
    seen: list[str] = []

    async def on_progress(subject: str, data: bytes) -> None:
        seen.append(msgspec.json.decode(data)["params"]["message"])

    await bus.subscribe(subjects.stream(sent.id), on_progress)
    result = msgspec.json.decode(await rpc.call(bus, subjects.a2a(target.id, "call"), sent))
    assert meta(result)["state"] == "completed"
    await eventually(lambda: "task completed" in seen or None, what="the last progress")
    steps = [s for s in seen if s.startswith("task working")]
    assert steps == ["task working: step 1 of 2", "task working: step 2 of 2"]
    # Without a progress token the same agent is asked to block: the same answer, no stream.
    quiet = await call(bus, target.id, {"message": "slow 1"})
    assert quiet["content"][0]["text"] == "slow 1"


@pytest.mark.parametrize(
    ("name", "code"),
    [("v1-jsonrpc", -32001), ("v1-http+json", "NOT_FOUND"), ("v03-jsonrpc", -32001)],
)
async def test_an_unknown_task_is_the_agents_error_in_every_binding(
    bus: NatsBus,
    start_bridge: StartBridge,
    echo: ServerProcess,
    echo03: ServerProcess,
    name: str,
    code: object,
) -> None:
    target = peer(name, echo, echo03)
    await start_bridge(target)
    result = await call(bus, target.id, {"message": "more", "task_id": "no-such-task"})
    assert result["isError"] is True
    assert meta(result)["error"]["code"] == code
    assert "not found" in result["content"][0]["text"]


async def test_an_answer_over_the_limit_is_result_too_large(
    bus: NatsBus, start_bridge: StartBridge, echo03: ServerProcess
) -> None:
    target = agent(echo03.url, version="0.3")
    await start_bridge(target, max_result_bytes=1000)
    with pytest.raises(ForgeError) as large:
        await call(bus, target.id, {"message": "x" * 2000})
    assert _code(large) == RESULT_TOO_LARGE
    small = await call(bus, target.id, {"message": "fits"})
    assert small["content"][0]["text"] == "fits"


@pytest.mark.parametrize("name", PEERS)
async def test_a_legacy_client_is_asked_the_agents_question_by_elicitation(
    bus: NatsBus, start_bridge: StartBridge, echo: ServerProcess, echo03: ServerProcess, name: str
) -> None:
    target = peer(name, echo, echo03)
    await start_bridge(target)
    asked: list[dict[str, Any]] = []

    def legacy(arguments: dict[str, Any]) -> Envelope:
        sent = envelope(arguments)
        protocol = Protocol(version="2025-11-25", era="legacy", capabilities=ELICITS)
        return msgspec.structs.replace(sent, protocol=protocol)

    async def answer_with(action: str, sent: Envelope) -> dict[str, Any]:
        async def client(data: bytes, headers: Headers) -> bytes:
            request = msgspec.json.decode(data)
            asked.append(request)
            result = {"action": action, "content": {"message": "and more"}}
            return msgspec.json.encode({"jsonrpc": "2.0", "id": request["id"], "result": result})

        await bus.serve(subjects.stream(sent.id), client)
        return msgspec.json.decode(await rpc.call(bus, subjects.a2a(target.id, "call"), sent))

    done = await answer_with("accept", legacy({"message": "ask away"}))
    assert asked[0]["method"] == "elicitation/create"
    assert asked[0]["params"]["message"] == "what else should I echo?"
    assert (meta(done)["state"], done["content"][0]["text"]) == ("completed", "and more")
    # Declined: the question is the tool's result, its task left to continue.
    declined = await answer_with("decline", legacy({"message": "ask again"}))
    assert meta(declined)["state"] == "input-required"
    # A modern client is not asked mid-call: the question comes back as the result.
    modern = await call(bus, target.id, {"message": "ask modern"})
    assert (len(asked), meta(modern)["state"]) == (2, "input-required")


@pytest.mark.parametrize("name", PEERS)
async def test_a_modern_client_gets_an_input_round_and_its_retry_continues_the_task(
    bus: NatsBus, start_bridge: StartBridge, echo: ServerProcess, echo03: ServerProcess, name: str
) -> None:
    target = peer(name, echo, echo03)
    other = peer(name, echo, echo03)
    await start_bridge(target, other)
    protocol = Protocol(version="2026-07-28", era="modern", capabilities=ELICITS)

    async def send(agent_id: str, params: AgentCallParams) -> dict[str, Any]:
        sent = msgspec.structs.replace(
            envelope({}), params=msgspec.Raw(msgspec.json.encode(params)), protocol=protocol
        )
        return msgspec.json.decode(await rpc.call(bus, subjects.a2a(agent_id, "call"), sent))

    first = await send(target.id, AgentCallParams(arguments={"message": "ask me"}))
    assert first["resultType"] == "input_required"
    [request] = first["inputRequests"].values()
    assert request["method"] == "elicitation/create"
    assert request["params"]["message"] == "what else should I echo?"
    state = first["requestState"]
    accept = {"a2a": {"action": "accept", "content": {"message": "the rest"}}}
    retry = AgentCallParams(
        arguments={"message": "ask me"}, input_responses=accept, request_state=state
    )
    done = await send(target.id, retry)
    assert (done["content"][0]["text"], meta(done)["state"]) == ("the rest", "completed")
    # Declined: the task still waits; a state of another agent's, or none of ours, is -32602.
    again = await send(target.id, AgentCallParams(arguments={"message": "ask again"}))
    declined = AgentCallParams(
        input_responses={"a2a": {"action": "decline"}}, request_state=again["requestState"]
    )
    assert meta(await send(target.id, declined))["state"] == "input-required"
    wrong = [(other.id, again["requestState"]), (target.id, "a2a1.!!!"), (target.id, "xyz")]
    for agent_id, bad_state in wrong:
        bad = AgentCallParams(input_responses=accept, request_state=bad_state)
        with pytest.raises(ForgeError) as refused:
            await send(agent_id, bad)
        assert _code(refused) == INVALID_PARAMS
