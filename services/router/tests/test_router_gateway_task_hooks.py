"""A gateway's MCP task inside its tool's guardrails, in the router: the task id names the tool
that made it, and what `tasks/get`, `tasks/result` and `tasks/cancel` bring back from the
upstream (the result, the status message, the questions) passes that tool's `tool_post_invoke`
with its team, as the call's result does (decision 0031). An id without a tool passes every
tool of the gateway's hooks; an id naming another gateway's tool, or one the caller may not
call, is an unknown task."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from router_harness import ME, envelope, start_router

from forge.core import rpc, subjects, tasks
from forge.core.errors import InvalidParamsError, PluginViolationError
from forge.proto.catalog import Gateway, Snapshot, ToolRecord
from forge.proto.envelope import Envelope
from forge.proto.mcp import Tool
from forge.router.app import Router
from forge.testing.membus import MemoryBus

GATEWAYS = [
    Gateway(id="g1", name="one", slug="one", url="http://127.0.0.1:1/mcp"),
    Gateway(id="g2", name="two", slug="two", url="http://127.0.0.1:2/mcp"),
]
TOOLS = [
    ToolRecord(
        id="t1", name="one-job", original_name="job", gateway_id="g1", tool=Tool(name="job")
    ),
    ToolRecord(
        id="t2",
        name="one-other",
        original_name="other",
        gateway_id="g1",
        tool=Tool(name="other"),
        team_id="team-x",
    ),
    ToolRecord(
        id="t3", name="two-job", original_name="job", gateway_id="g2", tool=Tool(name="job")
    ),
    ToolRecord(
        id="t4",
        name="one-hidden",
        original_name="hidden",
        gateway_id="g1",
        tool=Tool(name="hidden"),
        owner="someone@else",
        visibility="private",
    ),
]
DECLARED = b'{"extensions":{"io.modelcontextprotocol/tasks":{}}}'
SECRET = "sk-live-1234"


def sent(method: str, params: dict[str, Any], era: str = "modern") -> Envelope:
    env = envelope(method, msgspec.json.encode(params), era=era)
    assert env.protocol is not None
    protocol = msgspec.structs.replace(env.protocol, capabilities=msgspec.Raw(DECLARED))
    return msgspec.structs.replace(env, protocol=protocol)


async def ask(bus: MemoryBus, env: Envelope) -> Any:
    return msgspec.json.decode(await rpc.call(bus, subjects.ROUTER_RPC, env))


@pytest.fixture
async def router(membus: MemoryBus) -> Router:
    return await start_router(membus, Snapshot(gateways=GATEWAYS, tools=TOOLS, servers=[]))


@pytest.fixture
async def hooked(router: Router, membus: MemoryBus) -> list[tuple[str, str | None]]:
    """An upstream whose task says SECRET everywhere, and a tool_post_invoke that masks it in
    results and refuses a status message holding it: (tool name, team) of each hook call."""
    seen: list[tuple[str, str | None]] = []
    said = {"content": [{"type": "text", "text": f"done: {SECRET}"}], "isError": False}
    question = {"method": "elicitation/create", "params": {"message": f"give {SECRET}?"}}

    async def upstream(env: Envelope) -> bytes:
        if env.method == "tools/call":
            return b'{"resultType":"task","taskId":"u-1","status":"working"}'
        if env.method == "tasks/result":
            return msgspec.json.encode(said)
        task = {"taskId": "u-1", "status": "input_required", "statusMessage": f"at {SECRET}"}
        return msgspec.json.encode(
            {**task, "result": said, "inputRequests": {"q": question}, "resultType": "complete"}
        )

    async def plugins(env: Envelope) -> bytes:
        call = msgspec.json.decode(env.params)
        if "content" not in call["payload"]:  # the call's task handle
            return b'{"modified":false}'
        seen.append((call["request"]["name"], call.get("team")))
        text = call["payload"]["content"][0]["text"]
        if text.startswith("at "):
            raise PluginViolationError("refused by the guardrail")
        masked = {"content": [{"type": "text", "text": text.replace(SECRET, "***")}]}
        return msgspec.json.encode({"modified": True, "payload": masked})

    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), upstream, queue=None)
    await rpc.serve_envelopes(
        membus, subjects.plugins_call("tool_post_invoke"), plugins, queue=None
    )
    await membus.publish(
        subjects.PLUGINS_MANIFEST, b'{"hooks":["tool_post_invoke"],"replica":"runner-1"}'
    )
    return seen


async def test_a_tasks_answers_pass_the_post_hooks_of_the_tool_that_made_it(
    membus: MemoryBus, hooked: list[tuple[str, str | None]]
) -> None:
    handle = await ask(membus, sent("tools/call", {"name": "one-job"}))
    assert handle["taskId"] == f"g1.t1~{tasks.owner(ME.subject)}~u-1"
    got = await ask(membus, sent("tasks/get", {"taskId": handle["taskId"]}))
    assert SECRET not in msgspec.json.encode(got).decode()
    assert got["result"]["content"][0]["text"] == "done: ***"
    assert "statusMessage" not in got  # refused: left out, the status still told
    assert got["inputRequests"]["q"]["params"]["message"] == "give ***?"
    assert {name for name, _ in hooked} == {"one-job"}
    legacy = await ask(membus, sent("tasks/result", {"taskId": handle["taskId"]}, era="legacy"))
    assert legacy["content"][0]["text"] == "done: ***"


async def test_an_id_without_its_tool_passes_every_tool_of_the_gateway(
    membus: MemoryBus, hooked: list[tuple[str, str | None]]
) -> None:
    old = f"g1~{tasks.owner(ME.subject)}~u-1"
    got = await ask(membus, sent("tasks/result", {"taskId": old}, era="legacy"))
    assert got["content"][0]["text"] == "done: ***"
    assert sorted(hooked) == [("one-hidden", None), ("one-job", None), ("one-other", "team-x")]


async def test_an_id_naming_a_tool_the_caller_could_not_call_is_an_unknown_task(
    membus: MemoryBus, hooked: list[tuple[str, str | None]]
) -> None:
    for forged in ("g1.t3", "g1.nowhere", "g1.", "g1.t4"):
        task_id = f"{forged}~{tasks.owner(ME.subject)}~u-1"
        with pytest.raises(InvalidParamsError, match="unknown task"):
            await ask(membus, sent("tasks/get", {"taskId": task_id}))
    assert hooked == []
