"""The router's plugin hooks against a real plugin-runner (in-process, on the in-memory bus):
the wrapped form, post hooks that know their request, answers in the call's place, the list
hooks, rerouting, and the served set learnt from manifests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import msgspec
import pytest

from forge.core import rpc, subjects
from forge.core.errors import InvalidParamsError, PluginViolationError, ServiceUnavailableError
from forge.plugin_runner.app import Runner
from forge.plugin_runner.config import PluginRunnerConfig
from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.loader import Loader
from forge.plugins.plugin import Plugin
from forge.plugins.result import PluginResult, modify
from forge.proto.access import BUILTIN_ROLES
from forge.proto.catalog import Server
from forge.proto.envelope import Principal
from forge.router.hooks import Hooks
from forge.testing.membus import MemoryBus
from services.router.tests.router_harness import SNAPSHOT, FakeUpstream, ask, envelope, start_router


class HideConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    names: tuple[str, ...] = ()


class Hide(Plugin):
    """Removes the named entries from tools, prompts and resources lists."""

    Config = HideConfig

    def _hide(self, payload: Any, member: str, key: str) -> PluginResult | None:
        kept = [e for e in payload[member] if e.get(key) not in self.settings.names]
        return None if len(kept) == len(payload[member]) else modify({**payload, member: kept})

    @hookimpl
    def tools_post_list(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self._hide(payload, "tools", "name")

    @hookimpl
    def prompts_post_list(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self._hide(payload, "prompts", "name")

    @hookimpl
    def resources_post_list(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self._hide(payload, "resources", "uri")


class Reroute(Plugin):
    """Sends every tool call to `docs-t4`."""

    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return modify({**payload, "name": "docs-t4"})


LOADER = Loader(
    [
        EntryPoint(
            name="hide", value="tests.integration.test_router_hooks:Hide", group="forge.plugins"
        ),
        EntryPoint(
            name="reroute",
            value="tests.integration.test_router_hooks:Reroute",
            group="forge.plugins",
        ),
    ]
)


@asynccontextmanager
async def plugins(bus: MemoryBus, tmp_path: Path, text: str) -> AsyncIterator[Runner]:
    path = tmp_path / "plugins.yaml"
    path.write_text(text)
    runner = Runner(bus, PluginRunnerConfig(plugins_config=str(path), drain_s=0), LOADER)
    await runner.start()
    try:
        yield runner
    finally:
        await runner.close()


@pytest.fixture
async def upstream(membus: MemoryBus) -> FakeUpstream:
    fake = FakeUpstream(result=b'{"content":[{"type":"text","text":"hello world"}]}')
    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), fake.rpc, queue=None)
    return fake


def call(name: str, **arguments: Any) -> bytes:
    return msgspec.json.encode({"name": name, "arguments": arguments})


def text_of(result: Any) -> str:
    return str(result["content"][0]["text"])


async def test_the_router_learns_the_served_hooks_at_start_by_asking(
    membus: MemoryBus, tmp_path: Path
) -> None:
    text = "plugins: [{name: shout, kind: regex_replace, config: {rules: []}}]"
    async with plugins(membus, tmp_path, text):  # announced before the router listened
        router = await start_router(membus, SNAPSHOT)
        assert router.ctx.hooks.serves("tool_pre_invoke")
        assert not router.ctx.hooks.serves("tools_post_list")


async def test_pre_hooks_change_the_call_and_match_on_the_tool_name(
    membus: MemoryBus, tmp_path: Path, upstream: FakeUpstream
) -> None:
    text = """
plugins:
  - name: shout
    kind: regex_replace
    hooks: [tool_pre_invoke]
    conditions: {tools: [docs-t1]}
    config: {rules: [{pattern: hello, replacement: HELLO}]}
"""
    async with plugins(membus, tmp_path, text):
        await start_router(membus, SNAPSHOT)
        await ask(membus, envelope("tools/call", call("docs-t1", text="hello")))
        assert upstream.last()[2] == {"name": "t1", "arguments": {"text": "HELLO"}}
        await ask(membus, envelope("tools/call", call("docs-t2", text="hello")))
        assert upstream.last()[2] == {"name": "t2", "arguments": {"text": "hello"}}


async def test_post_hooks_know_their_request_so_tool_conditions_match_them(
    membus: MemoryBus, tmp_path: Path, upstream: FakeUpstream
) -> None:
    text = """
plugins:
  - name: short
    kind: output_length_guard
    hooks: [tool_post_invoke]
    conditions: {tools: [docs-t1]}
    config: {max_chars: 5, marker: ""}
"""
    async with plugins(membus, tmp_path, text):
        await start_router(membus, SNAPSHOT)
        assert text_of(await ask(membus, envelope("tools/call", call("docs-t1")))) == "hello"
        assert text_of(await ask(membus, envelope("tools/call", call("docs-t2")))) == "hello world"


async def test_a_block_reaches_the_caller_as_a_plugin_violation(
    membus: MemoryBus, tmp_path: Path, upstream: FakeUpstream
) -> None:
    text = "plugins: [{name: deny, kind: deny_list, config: {words: [forbidden]}}]"
    async with plugins(membus, tmp_path, text):
        await start_router(membus, SNAPSHOT)
        with pytest.raises(PluginViolationError) as raised:
            await ask(membus, envelope("tools/call", call("docs-t1", q="a forbidden word")))
        assert raised.value.data["plugin"] == "deny"
        assert raised.value.data["code"]
        assert upstream.seen == []


async def test_a_cached_answer_skips_the_upstream_and_post_hooks_still_run(
    membus: MemoryBus, tmp_path: Path, upstream: FakeUpstream
) -> None:
    text = """
plugins:
  - name: cache
    kind: cached_tool_result
    config: {tools: ["docs-*"]}
  - name: shout
    kind: regex_replace
    hooks: [tool_post_invoke]
    config: {rules: [{pattern: world, replacement: WORLD}]}
"""
    async with plugins(membus, tmp_path, text):
        await start_router(membus, SNAPSHOT)
        first = await ask(membus, envelope("tools/call", call("docs-t1", n=1)))
        second = await ask(membus, envelope("tools/call", call("docs-t1", n=1)))
        assert len(upstream.seen) == 1
        assert text_of(first) == text_of(second) == "hello WORLD"


async def test_prompt_and_resource_hooks_run_around_their_calls(
    membus: MemoryBus, tmp_path: Path, upstream: FakeUpstream
) -> None:
    text = """
plugins:
  - name: no-readme
    kind: deny_list
    hooks: [resource_pre_fetch]
    conditions: {resources: ["file:///read*"]}
    config: {patterns: [".*"]}
  - name: shout
    kind: regex_replace
    hooks: [prompt_post_fetch, resource_post_fetch]
    config: {rules: [{pattern: hello, replacement: HELLO}]}
"""
    async with plugins(membus, tmp_path, text):
        await start_router(membus, SNAPSHOT)
        with pytest.raises(PluginViolationError):
            await ask(membus, envelope("resources/read", b'{"uri":"file:///readme"}'))
        result = await ask(membus, envelope("resources/read", b'{"uri":"file:///logo.png"}'))
        assert text_of(result) == "HELLO world"
        result = await ask(membus, envelope("prompts/get", b'{"name":"docs-greet"}'))
        assert text_of(result) == "HELLO world"
        assert upstream.last()[2] == {"name": "greet"}


async def test_list_hooks_run_on_each_page_served_and_leave_the_memo_alone(
    membus: MemoryBus, tmp_path: Path
) -> None:
    text = """
plugins:
  - name: hide
    kind: hide
    conditions: {users: ["ann@*"]}
    config: {names: [docs-t0, docs-greet, "file:///logo.png"]}
"""
    ann = Principal(
        subject="ann@example.com", email="ann@example.com", permissions=BUILTIN_ROLES["developer"]
    )
    async with plugins(membus, tmp_path, text):
        await start_router(membus, SNAPSHOT)
        for method, member, key, hidden in (
            ("tools/list", "tools", "name", "docs-t0"),
            ("prompts/list", "prompts", "name", "docs-greet"),
            ("resources/list", "resources", "uri", "file:///logo.png"),
        ):
            theirs = msgspec.structs.replace(envelope(method), principal=ann)
            for _ in range(2):  # the second page comes from the memo
                assert hidden not in [e[key] for e in (await ask(membus, theirs))[member]]
                assert hidden in [e[key] for e in (await ask(membus, envelope(method)))[member]]


async def test_a_plugin_cannot_reroute_a_call_to_a_tool_the_caller_cannot_see(
    membus: MemoryBus, tmp_path: Path, upstream: FakeUpstream
) -> None:
    only_t1 = Server(id="s2", name="only-t1", associated_tools=["x1"])
    snapshot = msgspec.structs.replace(SNAPSHOT, servers=[only_t1])
    async with plugins(membus, tmp_path, "plugins: [{name: r, kind: reroute}]"):
        await start_router(membus, snapshot)
        await ask(membus, envelope("tools/call", call("docs-t1")))
        assert upstream.last()[2]["name"] == "t4"  # rerouted to a tool the caller sees
        with pytest.raises(InvalidParamsError):  # s2 offers docs-t1, not docs-t4
            await ask(membus, envelope("tools/call", call("docs-t1"), server_id="s2"))
        assert len(upstream.seen) == 1


async def test_served_hooks_are_the_union_of_fresh_replicas_manifests(membus: MemoryBus) -> None:
    now = [0.0]
    hooks = Hooks(membus, stale_s=30, clock=lambda: now[0])
    hooks.on_manifest(b'{"hooks":["tool_pre_invoke"],"replica":"a"}')
    now[0] = 20
    hooks.on_manifest(b'{"hooks":["tools_post_list"],"replica":"b"}')
    assert hooks.served == {"tool_pre_invoke", "tools_post_list"}
    now[0] = 40  # a's manifest is stale by now
    hooks.on_manifest(b'{"hooks":["tools_post_list"],"replica":"b"}')
    assert hooks.served == {"tools_post_list"}
    hooks.on_manifest(b"not json")
    assert hooks.served == {"tools_post_list"}


async def test_a_runner_that_stops_fails_closed_then_a_new_one_takes_over(
    membus: MemoryBus, tmp_path: Path, upstream: FakeUpstream
) -> None:
    # on_error: disable keeps the hook out of the router (docs/plugins.md, "Inline chains").
    text = (
        "plugins: [{name: deny, kind: deny_list, on_error: disable, config: {words: [forbidden]}}]"
    )
    async with plugins(membus, tmp_path, text) as runner:
        router = await start_router(membus, SNAPSHOT)
    assert not router.ctx.hooks.inline
    for sub in list(membus.subs):  # the runner's replica is gone from the bus
        if sub.pattern.startswith("forge.plugins.") and sub.queue == "plugin-runner":
            await sub.unsubscribe()
    with pytest.raises(ServiceUnavailableError):
        await ask(membus, envelope("tools/call", call("docs-t1")))
    async with plugins(membus, tmp_path, text):
        async with asyncio.timeout(5):
            with pytest.raises(PluginViolationError):
                await ask(membus, envelope("tools/call", call("docs-t1", q="forbidden")))
    assert runner.replica in router.ctx.hooks.replicas
