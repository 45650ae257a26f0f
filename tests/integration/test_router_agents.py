"""An A2A agent's tool called through the router, on a real nats-server: the router sends it to
the a2a-bridge (`forge.a2a.<agent>.call`) through the same tool hooks (a real plugin-runner) and
metrics as any tool, with the agent hooks around the bridge's call, and the bridge reaches the
real echo agent (a2a-sdk, A2A 1.0)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import msgspec
import pytest

from forge.a2a_bridge.app import Bridge
from forge.a2a_bridge.config import A2aBridgeConfig
from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.core.errors import PLUGIN_VIOLATION, SERVICE_UNAVAILABLE, ForgeError
from forge.plugins.loader import Loader
from forge.proto.access import BUILTIN_ROLES
from forge.proto.agents import Agent
from forge.proto.catalog import Snapshot, ToolRecord
from forge.proto.envelope import Envelope, Principal, Protocol
from forge.proto.mcp import Tool
from forge.router.app import Router
from forge.router.config import RouterConfig
from forge.servers.process import ServerProcess, spawn
from services.plugin_runner.tests.runner_harness import running

CONFIG = """
plugins:
  - name: shout
    kind: regex_replace
    priority: 20
    config: {rules: [{pattern: hello, replacement: HELLO}]}
  - name: deny
    kind: deny_list
    priority: 10
    config: {words: [forbidden]}
  - name: agent-guard
    kind: deny_list
    hooks: [agent_pre_invoke]
    conditions: {agents: [Echo]}
    config: {words: [classified]}
  - name: agent-stamp
    kind: regex_replace
    hooks: [agent_post_invoke]
    config: {rules: [{pattern: HELLO, replacement: HELLO-AGENT}]}
  - name: canned
    kind: answer
    hooks: [agent_pre_invoke]
"""
# An installed plugin answering "canned" messages in the agent's place.
LOADER = Loader(
    [
        EntryPoint(
            name="answer", value="tests.integration.test_bridge_hooks:Answer", group="forge.plugins"
        )
    ]
)
ME = Principal(subject="tester", permissions=BUILTIN_ROLES["developer"])


@pytest.fixture(scope="module")
def echo() -> Iterator[ServerProcess]:
    with spawn("forge.agents.echo", path="/") as agent:
        yield agent


def catalog(agent: Agent) -> Snapshot:
    tool = ToolRecord(
        id="t-echo",
        name="a2a-echo",
        original_name="echo",
        gateway_id=agent.id,
        tool=Tool(name="echo", inputSchema={"type": "object"}),
    )
    return Snapshot(gateways=[], tools=[tool], servers=[], agents=[agent])


def tools_call(arguments: dict[str, Any], era: str = "modern") -> Envelope:
    params = {"name": "a2a-echo", "arguments": arguments, "_meta": {"progressToken": 7}}
    return Envelope(
        id=uuid.uuid4().hex,
        method="tools/call",
        params=msgspec.Raw(msgspec.json.encode(params)),
        principal=ME,
        deadline=time.time() + 10,
        protocol=Protocol(version="2026-07-28" if era == "modern" else "2025-11-25", era=era),
    )


async def serve_snapshot(bus: NatsBus, snapshot: Snapshot) -> None:
    encoded = msgspec.json.encode(snapshot)

    async def answer(env: Envelope) -> bytes:
        return encoded

    subject = subjects.registry(subjects.CATALOG, "snapshot", "get")
    await rpc.serve_envelopes(bus, subject, answer, queue=None)


async def test_an_agents_tool_goes_through_hooks_and_metrics_to_the_agent(
    bus: NatsBus, tmp_path: Path, echo: ServerProcess
) -> None:
    agent = Agent(id=uuid.uuid4().hex[:12], name="Echo", slug="echo", url=echo.url)
    await serve_snapshot(bus, catalog(agent))
    path = tmp_path / "plugins.yaml"
    path.write_text(CONFIG)
    async with running(bus, path, LOADER):
        router = Router(bus, RouterConfig())
        await router.start()
        # No a2a-bridge yet: a clear -32000, no hang.
        with pytest.raises(ForgeError) as none:
            await rpc.call(bus, subjects.ROUTER_RPC, tools_call({"message": "hi"}))
        assert none.value.code == SERVICE_UNAVAILABLE
        bridge = Bridge(bus, A2aBridgeConfig(upstream_allowed_networks="127.0.0.0/8"))
        await bridge.start()
        try:
            for era in ("modern", "legacy"):
                sent = tools_call({"message": "hello", "data": {"k": 1}}, era)
                result = msgspec.json.decode(await rpc.call(bus, subjects.ROUTER_RPC, sent))
                # tool_pre_invoke rewrote the message before the agent saw it, and
                # agent_post_invoke its answer.
                assert result["content"][0] == {"type": "text", "text": "HELLO-AGENT"}
                assert result["structuredContent"]["data"] == {"k": 1}
                assert result["_meta"]["forge/a2a"]["agentId"] == agent.id
            with pytest.raises(ForgeError) as blocked:
                await rpc.call(bus, subjects.ROUTER_RPC, tools_call({"message": "forbidden"}))
            assert blocked.value.code == PLUGIN_VIOLATION
            # agent_pre_invoke sees the agent's name (its `agents` condition) and blocks.
            with pytest.raises(ForgeError) as guarded:
                await rpc.call(bus, subjects.ROUTER_RPC, tools_call({"message": "classified"}))
            assert guarded.value.code == PLUGIN_VIOLATION
            # agent_pre_invoke answers in the agent's place: not a call of the tool or agent.
            answered = await rpc.call(bus, subjects.ROUTER_RPC, tools_call({"message": "canned"}))
            assert msgspec.json.decode(answered)["content"][0]["text"] == "answered by a plugin"
            stats = router.ctx.metrics.batch["t-echo"]
            # The first call (before the bridge ran) failed; the guarded one failed inside.
            assert (stats.calls, stats.failures) == (4, 2)
            assert router.ctx.metrics.batches["agents"][agent.id].calls == 4
        finally:
            await bridge.close()
