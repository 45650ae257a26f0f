"""The agent hooks where the a2a-bridge runs them (Forge's A2A endpoint, and a streaming
agent's progress on the MCP path), on a real nats-server with a real plugin-runner (in-process)
and the real echo agent (a2a-sdk): pure built-in chains run inside the bridge with no
`forge.plugins.call.*` request, a pre hook's answer is the A2A answer without dialling the
agent, and the post hook sees every streamed event (masked, or the stream ends with -32013)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import msgspec
import pytest

from forge.a2a_bridge.app import Bridge
from forge.a2a_bridge.config import A2aBridgeConfig
from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.core.errors import PLUGIN_VIOLATION, UPSTREAM_UNAVAILABLE, ForgeError
from forge.plugin_runner.app import Runner
from forge.plugin_runner.config import PluginRunnerConfig
from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.loader import Loader
from forge.plugins.plugin import Plugin
from forge.plugins.result import PluginResult, respond
from forge.proto.access import BUILTIN_ROLES
from forge.proto.agents import A2aReply, A2aRequestParams, Agent, AgentCallParams
from forge.proto.catalog import Snapshot
from forge.proto.envelope import Envelope, Principal
from forge.servers.process import ServerProcess, spawn
from forge.testing import eventually

SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
ME = Principal(subject="tester", permissions=BUILTIN_ROLES["developer"])
ANSWER = {
    "content": [{"type": "text", "text": "answered by a plugin"}],
    "structuredContent": {"k": 1},
}


class Answer(Plugin):
    """An installed plugin (so its hook goes to the plugin-runner) answering `canned` messages
    in the agent's place."""

    @hookimpl
    def agent_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return respond(ANSWER) if "canned" in json.dumps(payload) else None

    @hookimpl
    def tool_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return None


LOADER = Loader(
    [
        EntryPoint(
            name="answer",
            value="tests.integration.test_bridge_hooks:Answer",
            group="forge.plugins",
        )
    ]
)


@pytest.fixture(scope="module")
def echo() -> Iterator[ServerProcess]:
    with spawn("forge.agents.echo", path="/") as agent:
        yield agent


class Bench:
    """A plugin-runner and an a2a-bridge on one bus, serving the echo agent and an agent at an
    address where nothing listens; `asked` counts `forge.plugins.call.*` requests."""

    def __init__(self, bus: NatsBus, runner: Runner, bridge: Bridge, path: Path) -> None:
        self.bus, self.runner, self.bridge, self.path = bus, runner, bridge, path
        self.asked = 0

    async def count(self, subject: str, data: bytes) -> None:
        self.asked += 1

    async def configure(self, entries: list[dict[str, Any]]) -> None:
        self.path.write_text(json.dumps({"plugins": entries}))
        assert await self.runner.reload()
        hooks = self.bridge.server.hooks

        def heard() -> bool:
            newest = hooks.newest()
            return newest is not None and newest.manifest.version == self.runner.version

        await eventually(heard, within_s=5, every_s=0.005, what="the bridge hears the manifest")

    async def a2a(
        self, agent: Agent, op: str, method: str, params: dict[str, Any]
    ) -> tuple[A2aReply, list[A2aReply]]:
        """One request to Forge's A2A endpoint as the edge sends it: the reply and, for a
        stream, its events."""
        sent = A2aRequestParams(agent=agent.id, method=method, params=params)
        env = Envelope(
            id=uuid.uuid4().hex,
            method=f"a2a/{method}",
            params=msgspec.Raw(msgspec.json.encode(sent)),
            principal=ME,
            deadline=time.time() + 15,
        )
        events: list[A2aReply] = []

        async def on(subject: str, data: bytes) -> None:
            events.append(msgspec.json.decode(data, type=A2aReply))

        await self.bus.subscribe(subjects.stream(env.id), on)
        await self.bus.flush()
        reply = msgspec.json.decode(
            await rpc.call(self.bus, subjects.a2a(agent.id, op), env), type=A2aReply
        )
        await eventually(lambda: len(events) >= reply.events, within_s=5, what="the events")
        return reply, events


class Counted:
    """An agent's calls and failures in the bridge's metrics: published, and in its batch."""

    def __init__(self, bench: Bench) -> None:
        self.metrics = bench.bridge.server.metrics
        self.published: list[dict[str, Any]] = []

    async def on(self, subject: str, data: bytes) -> None:
        self.published.append(msgspec.json.decode(data))

    def of(self, agent_id: str) -> tuple[int, int]:
        seen = [b[agent_id] for b in self.published if agent_id in b]
        batch = self.metrics.batch.get(agent_id)
        calls = sum(s["calls"] for s in seen) + (batch.calls if batch else 0)
        failures = sum(s["failures"] for s in seen) + (batch.failures if batch else 0)
        return calls, failures


def agent(url: str, name: str) -> Agent:
    return Agent(id=uuid.uuid4().hex[:12], name=name, slug=name, url=url, streaming=True)


@pytest.fixture
async def bench(bus: NatsBus, tmp_path: Path, echo: ServerProcess) -> AsyncIterator[Bench]:
    path = tmp_path / "plugins.yaml"
    path.write_text("plugins: []\n")
    runner = Runner(bus, PluginRunnerConfig(plugins_config=str(path), drain_s=0), LOADER)
    await runner.start()
    agents = [agent(echo.url, "echo"), agent("http://127.0.0.1:9/", "nowhere")]
    snapshot = msgspec.json.encode(Snapshot(gateways=[], tools=[], servers=[], agents=agents))

    async def serve_snapshot(env: Envelope) -> bytes:
        return snapshot

    subject = subjects.registry(subjects.CATALOG, "snapshot", "get")
    await rpc.serve_envelopes(bus, subject, serve_snapshot, queue=None)
    bridge = Bridge(bus, A2aBridgeConfig(upstream_allowed_networks="127.0.0.0/8"))
    await bridge.start()
    found = Bench(bus, runner, bridge, path)
    await bus.subscribe(subjects.plugins_call("*"), found.count)
    try:
        yield found
    finally:
        await bridge.close()
        await runner.close()


def echo_of(bench: Bench) -> Agent:
    return next(a for a in bench.bridge.agents.by_id.values() if a.slug == "echo")


def nowhere_of(bench: Bench) -> Agent:
    return next(a for a in bench.bridge.agents.by_id.values() if a.slug == "nowhere")


def message(text: str, version: str) -> dict[str, Any]:
    if version == "1.0":
        return {
            "message": {
                "messageId": uuid.uuid4().hex,
                "role": "ROLE_USER",
                "parts": [{"text": text}],
            }
        }
    parts = [{"kind": "text", "text": text}]
    sent = {"kind": "message", "messageId": uuid.uuid4().hex, "role": "user", "parts": parts}
    return {"message": sent}


SEND = {"1.0": "SendMessage", "0.3": "message/send"}
STREAM = {"1.0": "SendStreamingMessage", "0.3": "message/stream"}
SECRETS = {
    "name": "secrets",
    "kind": "secrets_detection",
    "hooks": ["agent_pre_invoke", "agent_post_invoke"],
}


async def test_a_pure_chain_runs_in_the_bridge_without_asking_the_plugin_runner(
    bench: Bench,
) -> None:
    await bench.configure([{**SECRETS, "config": {"action": "block"}}])
    hooks = bench.bridge.server.hooks
    assert {"agent_pre_invoke", "agent_post_invoke"} <= hooks.inline
    echo = echo_of(bench)
    await bench.bus.flush()
    before = bench.asked
    with pytest.raises(ForgeError) as blocked:
        await bench.a2a(echo, "send", "SendMessage", message(f"token {SECRET}", "1.0"))
    assert blocked.value.code == PLUGIN_VIOLATION
    assert blocked.value.data["plugin"] == "secrets"
    reply, _ = await bench.a2a(echo, "send", "message/send", message("nothing secret", "0.3"))
    assert (
        reply.result["kind"] == "message" and reply.result["parts"][0]["text"] == "nothing secret"
    )
    await bench.bus.flush()
    assert bench.asked == before  # not one forge.plugins.call.* request


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_a_pre_hooks_answer_is_the_a2a_answer_and_the_agent_is_not_dialled(
    bench: Bench, version: str
) -> None:
    await bench.configure([{"name": "canned", "kind": "answer", "hooks": ["agent_pre_invoke"]}])
    nowhere = nowhere_of(bench)  # dialling it would fail: nothing listens there
    counted = Counted(bench)
    await bench.bus.subscribe(subjects.metrics("agents"), counted.on)
    reply, _ = await bench.a2a(nowhere, "send", SEND[version], message("canned please", version))
    answer = reply.result if version == "0.3" else reply.result["message"]
    texts = [p["text"] for p in answer["parts"] if "text" in p]
    data = [p["data"] for p in answer["parts"] if "data" in p]
    assert texts == ["answered by a plugin"] and data == [{"k": 1}]
    assert answer["role"] == ("agent" if version == "0.3" else "ROLE_AGENT")
    streamed, events = await bench.a2a(
        nowhere, "stream", STREAM[version], message("canned", version)
    )
    assert streamed.events == 1 and streamed.error is None
    [event] = events
    sent = event.result if version == "0.3" else event.result["message"]
    assert [p["text"] for p in sent["parts"] if "text" in p] == ["answered by a plugin"]
    # Not calls of the agent: the per-agent metrics count none (as the router counts no call
    # of a tool a pre hook answered), and forget the answered requests.
    await bench.bus.flush()
    assert counted.of(nowhere.id) == (0, 0) and not bench.bridge.server.metrics.answered
    # Without the plugin's answer the agent is dialled (and is not there).
    with pytest.raises(ForgeError) as unreachable:
        await bench.a2a(nowhere, "send", SEND[version], message("hello", version))
    assert unreachable.value.code == UPSTREAM_UNAVAILABLE
    await bench.bus.flush()
    assert counted.of(nowhere.id) == (1, 1)


@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_every_streamed_event_passes_the_post_hook(bench: Bench, version: str) -> None:
    echo = echo_of(bench)
    masking = {**SECRETS, "hooks": ["agent_post_invoke"], "config": {"action": "mask"}}
    await bench.configure([masking])
    reply, events = await bench.a2a(
        echo, "stream", STREAM[version], message(f"task {SECRET}", version)
    )
    assert reply.events == len(events) >= 2 and all(e.error is None for e in events)
    assert SECRET not in json.dumps([e.result for e in events])
    assert "task" in json.dumps([e.result for e in events])  # masked, not dropped
    # A task read back is masked as its events were.
    [started] = [e.result for e in events[:1]]
    forge_id = started["id"] if version == "0.3" else started["task"]["id"]
    got, _ = await bench.a2a(
        echo, "task", "GetTask" if version == "1.0" else "tasks/get", {"id": forge_id}
    )
    assert SECRET not in json.dumps(got.result) and forge_id in json.dumps(got.result)
    # A block on the first event: the request's error, nothing streamed.
    await bench.configure([{**masking, "config": {"action": "block"}}])
    with pytest.raises(ForgeError) as blocked:
        await bench.a2a(echo, "stream", STREAM[version], message(f"task {SECRET}", version))
    assert blocked.value.code == PLUGIN_VIOLATION
    # A block mid-stream (the working status says "step"): the events before it, then -32013.
    steps = {"name": "deny", "kind": "deny_list", "hooks": ["agent_post_invoke"]}
    await bench.configure([{**steps, "config": {"words": ["step"]}}])
    reply, events = await bench.a2a(echo, "stream", STREAM[version], message("slow 1 go", version))
    assert reply.events == len(events) >= 2
    *before, last = events
    assert all(e.error is None for e in before) and "step" not in json.dumps(
        [e.result for e in before]
    )
    assert last.error is not None and last.error["code"] == PLUGIN_VIOLATION
    assert last.error["data"]["plugin"] == "deny"


async def test_mcp_progress_text_passes_the_agent_post_hook(bench: Bench) -> None:
    echo = echo_of(bench)

    async def progress(text: str) -> list[dict[str, Any]]:
        params = AgentCallParams(arguments={"message": text}, era="modern", progress_token=1)
        env = Envelope(
            id=uuid.uuid4().hex,
            method="a2a.call",
            params=msgspec.Raw(msgspec.json.encode(params)),
            principal=ME,
            deadline=time.time() + 15,
        )
        got: list[dict[str, Any]] = []

        async def on(subject: str, data: bytes) -> None:
            got.append(msgspec.json.decode(data)["params"])

        await bench.bus.subscribe(subjects.stream(env.id), on)
        await bench.bus.flush()
        await rpc.call(bench.bus, subjects.a2a(echo.id, "call"), env)
        await bench.bus.flush()
        return got

    shout = {"name": "shout", "kind": "regex_replace", "hooks": ["agent_post_invoke"]}
    await bench.configure(
        [{**shout, "config": {"rules": [{"pattern": "step", "replacement": "STEP"}]}}]
    )
    said = [p.get("message", "") for p in await progress("slow 2 go")]
    assert any("STEP 1 of 2" in s for s in said) and not any("step" in s for s in said)
    steps = {"name": "deny", "kind": "deny_list", "hooks": ["agent_post_invoke"]}
    await bench.configure([{**steps, "config": {"words": ["step"]}}])
    sent = await progress("slow 2 go")
    assert [p["progress"] for p in sent] == list(range(1, len(sent) + 1)) and len(sent) >= 3
    assert not any("step" in p.get("message", "") for p in sent)  # blocked: no message
    # A tool post hook the bridge cannot run inline (an installed plugin): no agent text.
    await bench.configure([{"name": "kept", "kind": "answer", "hooks": ["tool_post_invoke"]}])
    assert all("message" not in p for p in await progress("slow 1 go"))
