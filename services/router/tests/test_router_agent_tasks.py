"""An A2A agent's tool call as an MCP task, in the router: a call that asks for a task reaches the
a2a-bridge with `task`, its handle's id is tagged with the agent and the caller, and `tasks/*` on
that id go to the bridge (method `a2a.task`) for the agent's own id, or are an unknown task for
anyone who may not call the agent. The handshake offers tasks when an agent's tool is offered."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from router_harness import envelope, start_router

from forge.core import rpc, subjects, tasks
from forge.core.bus import SUBJECT
from forge.core.errors import InvalidParamsError, PluginViolationError
from forge.proto.access import BUILTIN_ROLES
from forge.proto.agents import Agent, AgentCallParams, AgentTaskParams
from forge.proto.catalog import Snapshot, ToolRecord
from forge.proto.envelope import Envelope, Principal
from forge.proto.mcp import Tool
from forge.router.app import Router
from forge.testing.membus import MemoryBus

ALICE = Principal(subject="alice@x", teams=("team-a",), permissions=BUILTIN_ROLES["developer"])
CAROL = Principal(subject="carol@x", teams=("team-b",), permissions=BUILTIN_ROLES["developer"])
PLACE: dict[str, Any] = {"owner": "alice@x", "team_id": "team-a", "visibility": "team"}
AGENT = Agent(id="a1", name="Echo", slug="echo", url="http://127.0.0.1:1/", **PLACE)
TOOL = ToolRecord(
    id="t-a",
    name="a2a-echo",
    original_name="echo",
    gateway_id="a1",
    tool=Tool(name="echo"),
    **PLACE,
)
DECLARED = b'{"extensions":{"io.modelcontextprotocol/tasks":{}}}'


def sent(method: str, params: bytes, principal: Principal = ALICE, era: str = "modern") -> Envelope:
    env = envelope(method, params, era=era)
    assert env.protocol is not None
    protocol = msgspec.structs.replace(env.protocol, capabilities=msgspec.Raw(DECLARED))
    return msgspec.structs.replace(env, principal=principal, protocol=protocol)


async def ask(bus: MemoryBus, env: Envelope) -> Any:
    return msgspec.json.decode(await rpc.call(bus, subjects.ROUTER_RPC, env))


@pytest.fixture
async def router(membus: MemoryBus) -> Router:
    return await start_router(
        membus, Snapshot(gateways=[], tools=[TOOL], servers=[], agents=[AGENT])
    )


class Bridge:
    """Answers `forge.a2a.<agent>.call` as the a2a-bridge would, recording what arrived."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, Envelope]] = []

    async def rpc(self, env: Envelope) -> bytes:
        self.seen.append((subjects.agent_of(SUBJECT.get()), env))
        if env.method == "a2a.call":
            return b'{"resultType":"task","taskId":"t-42","status":"working"}'
        return b'{"resultType":"complete","taskId":"t-42","status":"completed"}'


async def test_an_agents_task_handle_is_tagged_and_its_tasks_requests_reach_the_bridge(
    router: Router, membus: MemoryBus
) -> None:
    bridge = Bridge()
    await rpc.serve_envelopes(membus, subjects.a2a_any("call"), bridge.rpc, queue=None)
    call = b'{"name":"a2a-echo","arguments":{"message":"slow"}}'
    handle = await ask(membus, sent("tools/call", call))
    assert handle["taskId"] == f"a1~{tasks.owner('alice@x')}~t-42"
    agent_id, env = bridge.seen[-1]
    assert agent_id == "a1" and msgspec.json.decode(env.params, type=AgentCallParams).task
    update = {"taskId": handle["taskId"], "inputResponses": {"a2a": {"action": "accept"}}}
    polled = await ask(membus, sent("tasks/update", msgspec.json.encode(update)))
    assert polled["taskId"] == handle["taskId"]
    agent_id, env = bridge.seen[-1]
    assert agent_id == "a1" and env.method == "a2a.task"
    params = msgspec.json.decode(env.params, type=AgentTaskParams)
    assert (params.method, params.task_id, params.handle, params.era) == (
        "tasks/update",
        "t-42",
        handle["taskId"],
        "modern",
    )
    assert params.input_responses == {"a2a": {"action": "accept"}}
    # Carol cannot see the agent: its id, even tagged as hers, is an unknown task.
    count = len(bridge.seen)
    for held in (handle["taskId"], f"a1~{tasks.owner('carol@x')}~t-42"):
        with pytest.raises(InvalidParamsError, match="unknown task"):
            await ask(membus, sent("tasks/get", msgspec.json.encode({"taskId": held}), CAROL))
    assert len(bridge.seen) == count


async def test_only_a_call_that_asks_for_a_task_is_one_and_the_handshake_offers_tasks(
    router: Router, membus: MemoryBus
) -> None:
    bridge = Bridge()
    await rpc.serve_envelopes(membus, subjects.a2a_any("call"), bridge.rpc, queue=None)
    call = b'{"name":"a2a-echo","arguments":{"message":"hi"}}'
    await ask(membus, sent("tools/call", call, era="legacy"))
    assert not msgspec.json.decode(bridge.seen[-1][1].params, type=AgentCallParams).task
    tasked = b'{"name":"a2a-echo","arguments":{"message":"hi"},"task":{"ttl":1000}}'
    legacy = await ask(membus, sent("tools/call", tasked, era="legacy"))
    assert legacy["taskId"].startswith("a1~")  # the fake answers the modern shape
    assert msgspec.json.decode(bridge.seen[-1][1].params, type=AgentCallParams).task
    init = b'{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t"}}'
    offered = (await ask(membus, sent("initialize", init, era="legacy")))["capabilities"]
    assert offered["tasks"] == {"list": {}, "cancel": {}, "requests": {"tools": {"call": {}}}}
    discovered = (await ask(membus, sent("server/discover", b"{}")))["capabilities"]
    assert "io.modelcontextprotocol/tasks" in discovered["extensions"] and "tasks" not in discovered
    hidden = (await ask(membus, sent("server/discover", b"{}", CAROL)))["capabilities"]
    assert "extensions" not in hidden


async def test_legacy_tasks_list_asks_the_bridge_for_the_callers_tasks_of_each_agent(
    router: Router, membus: MemoryBus
) -> None:
    seen: list[AgentTaskParams] = []

    async def bridge(env: Envelope) -> bytes:
        seen.append(msgspec.json.decode(env.params, type=AgentTaskParams))
        return b'{"tasks":[{"taskId":"t-7","status":"working"}]}'

    await rpc.serve_envelopes(membus, subjects.a2a_any("call"), bridge, queue=None)
    listed = await ask(membus, sent("tasks/list", b"{}", era="legacy"))
    assert listed == {
        "tasks": [{"taskId": f"a1~{tasks.owner('alice@x')}~t-7", "status": "working"}]
    }
    assert [p.method for p in seen] == ["tasks/list"]
    assert await ask(membus, sent("tasks/list", b"{}", CAROL, era="legacy")) == {"tasks": []}
    assert len(seen) == 1  # carol may not call the agent: it is not asked for her


async def test_an_agents_task_passes_the_agents_guardrails_as_a_blocking_call_does(
    router: Router, membus: MemoryBus
) -> None:
    """What tasks/update sends the agent passes the pre hooks (a refusal reaches no bridge);
    what the agent said reaches the client through the post hooks: the inlined result, and
    the status message (a refused one left out)."""
    told: list[tuple[str, Any]] = []

    async def bridge(env: Envelope) -> bytes:
        told.append((env.method, msgspec.json.decode(env.params)))
        if msgspec.json.decode(env.params, type=AgentTaskParams).method == "tasks/update":
            return b'{"resultType":"complete"}'
        text = {"content": [{"type": "text", "text": "the secret is 42"}], "isError": False}
        return msgspec.json.encode(
            {
                "resultType": "complete",
                "taskId": "t-42",
                "status": "completed",
                "statusMessage": "forbidden words",
                "result": text,
            }
        )

    async def plugins(env: Envelope) -> bytes:
        hook = SUBJECT.get().rsplit(".", 1)[-1]
        call = msgspec.json.decode(env.params)
        if hook == "tool_pre_invoke":
            answers = call["payload"]["inputResponses"]
            if "forbidden" in str(answers):
                raise PluginViolationError("refused by the guardrail")
            return b'{"modified":false}'
        assert call["request"]["name"] == "a2a-echo" and call["team"] == "team-a"
        text = call["payload"]["content"][0]["text"]
        if "forbidden" in text:
            raise PluginViolationError("refused by the guardrail")
        masked = {"content": [{"type": "text", "text": text.replace("42", "**")}], "isError": False}
        return msgspec.json.encode({"modified": True, "payload": masked})

    await rpc.serve_envelopes(membus, subjects.a2a_any("call"), bridge, queue=None)
    for hook in ("tool_pre_invoke", "agent_post_invoke"):
        await rpc.serve_envelopes(membus, subjects.plugins_call(hook), plugins, queue=None)
    await membus.publish(
        subjects.PLUGINS_MANIFEST,
        b'{"hooks":["tool_pre_invoke","agent_post_invoke"],"replica":"runner-1"}',
    )
    handle = f"a1~{tasks.owner('alice@x')}~t-42"
    got = await ask(membus, sent("tasks/get", msgspec.json.encode({"taskId": handle})))
    assert got["result"]["content"][0]["text"] == "the secret is **"
    assert "statusMessage" not in got and got["taskId"] == handle
    refused = {"a2a": {"action": "accept", "content": {"message": "forbidden words"}}}
    with pytest.raises(PluginViolationError):
        update = {"taskId": handle, "inputResponses": refused}
        await ask(membus, sent("tasks/update", msgspec.json.encode(update)))
    assert [params["method"] for _, params in told] == ["tasks/get"]  # the refusal never left
    fine = {"a2a": {"action": "accept", "content": {"message": "fine"}}}
    update = {"taskId": handle, "inputResponses": fine}
    assert await ask(membus, sent("tasks/update", msgspec.json.encode(update))) == {
        "resultType": "complete"
    }
    assert told[-1][1]["input_responses"] == fine
