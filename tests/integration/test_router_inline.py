"""Inline chains: hooks whose every plugin is pure and stateless run in the router, with the
same outcome as over the bus (masking, blocks, modes, priority, conditions, bindings), no
`forge.plugins.call.*` request, and the plugin-runner's configuration changes reaching them.
Against a real nats-server and a real plugin-runner (in-process)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

import msgspec
import pytest

from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.core.errors import PLUGIN_VIOLATION, ForgeError
from forge.plugin_runner.app import Runner
from forge.plugin_runner.config import PluginRunnerConfig
from forge.plugins.config import Binding
from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.loader import Loader
from forge.plugins.plugin import Plugin
from forge.plugins.result import PluginResult
from forge.proto.access import BUILTIN_ROLES
from forge.proto.catalog import ToolRecord
from forge.proto.envelope import Envelope, Principal
from forge.proto.mcp import Tool
from forge.router.app import Router
from forge.router.hooks import Hooks
from forge.testing import eventually
from services.router.tests.router_harness import SNAPSHOT, ask, envelope, start_router

HOOKS = ["tool_pre_invoke", "tool_post_invoke"]
PRE = ["tool_pre_invoke"]


class Noop(Plugin):
    """An installed (entry point) plugin: never inline, so its hooks go over the bus."""

    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return None

    @hookimpl
    def tool_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return None


LOADER = Loader(
    [
        EntryPoint(
            name="noop", value="tests.integration.test_router_inline:Noop", group="forge.plugins"
        )
    ]
)
NOOP = {"name": "zz-noop", "kind": "noop", "hooks": HOOKS}
DEV = BUILTIN_ROLES["developer"]
# Each team's own tool (public: both teams see and call both).
TEAM_TOOLS = [
    ToolRecord(f"x-{team}", f"{team}-t", "t1", "g1", Tool(name="t1"), team_id=team)
    for team in ("red", "blue")
]
RED = Principal(
    subject="rita@corp.example", email="rita@corp.example", teams=("red",), permissions=DEV
)
BLUE = Principal(
    subject="bo@else.example", email="bo@else.example", teams=("blue",), permissions=DEV
)


class Mesh:
    """A router, a plugin-runner and an upstream echoing the call's arguments, on one bus;
    `asked` counts the `forge.plugins.call.*` requests (a plain subscription)."""

    def __init__(self, bus: NatsBus, runner: Runner, router: Router, path: Path) -> None:
        self.bus, self.runner, self.router, self.path = bus, runner, router, path
        self.asked = 0
        self.forwarded: list[Any] = []

    async def count(self, subject: str, data: bytes) -> None:
        self.asked += 1

    async def upstream(self, env: Envelope) -> bytes:
        arguments = msgspec.json.decode(env.params).get("arguments", {})
        self.forwarded.append(arguments)
        text = json.dumps(arguments, sort_keys=True)
        return msgspec.json.encode({"content": [{"type": "text", "text": text}]})

    async def configure(self, entries: list[dict[str, Any]], *, remote: bool = False) -> None:
        """Hot reload `entries` (plus, when remote, a plugin that keeps the hooks on the bus);
        return once the router heard the new manifest."""
        self.path.write_text(json.dumps({"plugins": [*entries, *([NOOP] if remote else [])]}))
        assert await self.runner.reload()
        await self.settle()

    async def bind(self, bindings: list[Binding]) -> None:
        await self.runner.set_bindings(bindings)
        await self.settle()

    async def settle(self) -> None:
        hooks = self.router.ctx.hooks

        def heard() -> bool:
            newest = hooks.newest()
            return newest is not None and newest.manifest.version == self.runner.version

        await eventually(
            heard, within_s=5, every_s=0.005, what="the router hears the runner's new manifest"
        )

    async def outcome(self, principal: Principal, tool: str = "docs-t1", **arguments: Any) -> Any:
        """What the caller gets from `tool`, and what reached the upstream."""
        params = msgspec.json.encode({"name": tool, "arguments": arguments})
        env = msgspec.structs.replace(envelope("tools/call", params), principal=principal)
        self.forwarded.clear()
        try:
            return ("ok", await ask(self.bus, env), list(self.forwarded))
        except ForgeError as exc:
            return ("error", exc.code, exc.message, exc.data, list(self.forwarded))

    async def both(self, entries: list[dict[str, Any]], calls: list[Any]) -> list[Any]:
        """The outcomes of `calls` ((principal, arguments), arguments naming the `tool` if not
        docs-t1) run inline, checked equal to those over the bus."""
        await self.configure(entries, remote=True)
        assert not set(HOOKS) & self.router.ctx.hooks.inline
        before = self.asked
        remote = [await self.outcome(principal, **arguments) for principal, arguments in calls]
        await self.bus.flush()
        assert self.asked > before  # the mixed hooks went over the bus
        await self.configure(entries)
        served = self.router.ctx.hooks.served
        assert served and served <= self.router.ctx.hooks.inline
        before = self.asked
        inline = [await self.outcome(principal, **arguments) for principal, arguments in calls]
        await self.bus.flush()
        assert self.asked == before  # not one forge.plugins.call.* request
        assert inline == remote
        return inline


@pytest.fixture
async def mesh(bus: NatsBus, tmp_path: Path) -> AsyncIterator[Mesh]:
    path = tmp_path / "plugins.yaml"
    path.write_text("plugins: []\n")
    runner = Runner(bus, PluginRunnerConfig(plugins_config=str(path), drain_s=0), LOADER)
    await runner.start()
    snapshot = msgspec.structs.replace(SNAPSHOT, tools=[*SNAPSHOT.tools, *TEAM_TOOLS])
    router = await start_router(bus, snapshot)  # type: ignore[arg-type]
    mesh = Mesh(bus, runner, router, path)
    await rpc.serve_envelopes(bus, subjects.upstream_any("rpc"), mesh.upstream, queue=None)
    await bus.subscribe(subjects.plugins_call("*"), mesh.count)
    await bus.flush()
    try:
        yield mesh
    finally:
        await router.ctx.hooks.close()
        await runner.close()


def text_of(outcome: Any) -> str:
    assert outcome[0] == "ok", outcome
    return str(outcome[1]["content"][0]["text"])


def regex(name: str, pattern: str, replacement: str, **more: Any) -> dict[str, Any]:
    rules = [{"pattern": pattern, "replacement": replacement}]
    return {"name": name, "kind": "regex_replace", "config": {"rules": rules}, **more}


def deny(**more: Any) -> dict[str, Any]:
    return {"name": "deny", "kind": "deny_list", "config": {"words": ["forbidden"]}, **more}


async def test_masking_and_blocking_inline_are_as_over_the_bus(mesh: Mesh) -> None:
    entries = [
        {"name": "pii", "kind": "pii_filter", "hooks": HOOKS},
        {"name": "secrets", "kind": "secrets_detection", "hooks": HOOKS},
        deny(),
    ]
    masked, blocked, clean = await mesh.both(
        entries,
        [
            (RED, {"to": "mail ann@example.com now"}),
            (RED, {"q": "a forbidden word"}),
            (RED, {"q": "fine"}),
        ],
    )
    assert "ann@example.com" not in text_of(masked)
    assert "ann@example.com" not in json.dumps(masked[2])  # masked before the upstream too
    assert blocked[:2] == ("error", -32013)
    assert blocked[3]["plugin"] == "deny" and blocked[4] == []  # the upstream was not called
    assert text_of(clean) == '{"q": "fine"}'


async def test_modes_and_priority_inline_are_as_over_the_bus(mesh: Mesh) -> None:
    entries = [
        deny(mode="permissive"),
        regex("first", "hello", "bye", priority=10, hooks=PRE),
        regex("second", "bye", "ciao", priority=20, hooks=PRE),
        regex("watch", "ciao", "NO", priority=30, mode="audit", hooks=PRE),
    ]
    (permitted,) = await mesh.both(entries, [(RED, {"q": "hello forbidden"})])
    assert text_of(permitted) == '{"q": "ciao forbidden"}'
    swapped = [
        regex("first", "hello", "bye", priority=20, hooks=PRE),
        regex("second", "bye", "ciao", priority=10, hooks=PRE),
    ]
    (once,) = await mesh.both(swapped, [(RED, {"q": "hello"})])
    assert text_of(once) == '{"q": "bye"}'


async def test_conditions_on_teams_users_and_tools_inline_are_as_over_the_bus(
    mesh: Mesh,
) -> None:
    entries = [
        deny(conditions={"teams": ["red"]}),
        regex("users", "x", "U", conditions={"users": ["*@else.example"]}),
        regex("tools", "y", "T", conditions={"tools": ["docs-t2"]}),
    ]
    red, blue = await mesh.both(
        entries, [(RED, {"q": "forbidden x y"}), (BLUE, {"q": "forbidden x y"})]
    )
    assert red[:2] == ("error", -32013)
    assert text_of(blue) == '{"q": "forbidden U y"}'


async def test_bindings_reach_inline_chains_as_they_reach_the_runner(mesh: Mesh) -> None:
    entries = [deny(), regex("shout", "b", "B")]
    await mesh.configure(entries)
    upper_a = {"rules": [{"pattern": "a", "replacement": "A"}]}
    await mesh.bind(
        [
            Binding(plugin="deny", team="blue", mode="disabled"),
            Binding(plugin="shout", team="red", config=upper_a),
        ]
    )
    calls = [
        (RED, {"tool": "red-t", "q": "ab"}),
        (BLUE, {"tool": "blue-t", "q": "ab forbidden"}),
        (BLUE, {"tool": "red-t", "q": "ab"}),  # a team's binding follows its tool's team
        (BLUE, {"q": "ab forbidden"}),  # a tool of no team: only the file's entries
    ]
    red, blue, red_by_blue, teamless = await mesh.both(entries, calls)
    assert text_of(red) == '{"q": "Ab"}'  # the binding's config replaces the entry's for red
    assert text_of(blue) == '{"q": "aB forBidden"}'  # deny is off for blue
    assert text_of(red_by_blue) == '{"q": "Ab"}'
    assert teamless[:2] == ("error", PLUGIN_VIOLATION)


async def test_a_hot_reload_rebuilds_the_inline_chain(mesh: Mesh) -> None:
    await mesh.configure([regex("swap", "hello", "bye")])
    chains = mesh.router.ctx.hooks.chains
    assert text_of(await mesh.outcome(RED, q="hello")) == '{"q": "bye"}'
    await mesh.configure([regex("swap", "hello", "ciao")])
    assert text_of(await mesh.outcome(RED, q="hello")) == '{"q": "ciao"}'
    assert mesh.router.ctx.hooks.chains is not chains
    await mesh.configure([])
    assert mesh.router.ctx.hooks.chains is None
    assert text_of(await mesh.outcome(RED, q="hello")) == '{"q": "hello"}'


async def test_a_mixed_hook_goes_over_the_bus_and_an_inline_one_does_not(mesh: Mesh) -> None:
    entries = [
        regex("pre", "hello", "bye", hooks=["tool_pre_invoke"]),
        regex("post", "bye", "ciao", hooks=["tool_post_invoke"]),
        {**NOOP, "hooks": ["tool_post_invoke"]},
    ]
    await mesh.configure(entries)
    assert mesh.router.ctx.hooks.inline == {"tool_pre_invoke"}
    seen: list[str] = []

    async def which(subject: str, data: bytes) -> None:
        seen.append(subject)

    await mesh.bus.subscribe(subjects.plugins_call("*"), which)
    await mesh.bus.flush()
    assert text_of(await mesh.outcome(RED, q="hello")) == '{"q": "ciao"}'
    await mesh.bus.flush()
    assert seen == [subjects.plugins_call("tool_post_invoke")]


async def test_replicas_with_different_versions_the_newest_is_followed(mesh: Mesh) -> None:
    hooks = Hooks(mesh.bus)

    def manifest(replica: str, loaded_at: float, replacement: str) -> bytes:
        chain = {"plugins": [regex("swap", "hello", replacement)]}
        return msgspec.json.encode(
            {
                "hooks": ["tool_pre_invoke"],
                "replica": replica,
                "version": replacement,
                "loaded_at": loaded_at,
                "inline": {"tool_pre_invoke": chain},
            }
        )

    hooks.on_manifest(manifest("new", 200.0, "fresh"))
    hooks.on_manifest(manifest("old", 100.0, "stale"))  # heard last, loaded first
    env = envelope("tools/call", b'{"name":"docs-t1","arguments":{"q":"hello"}}')
    changed, _ = await hooks.pre("tool_pre_invoke", env)
    assert msgspec.json.decode(changed.params)["arguments"] == {"q": "fresh"}
    await hooks.close()


async def test_an_inline_chain_holds_while_its_manifest_does(mesh: Mesh) -> None:
    now = [0.0]
    hooks = Hooks(mesh.bus, stale_s=30, clock=lambda: now[0])
    chain = {"plugins": [regex("swap", "hello", "bye")]}
    hooks.on_manifest(
        msgspec.json.encode(
            {"hooks": PRE, "replica": "gone", "version": "v", "inline": {PRE[0]: chain}}
        )
    )
    env = envelope("tools/call", b'{"name":"docs-t1","arguments":{"q":"hello"}}')
    now[0] = 29  # no runner answers, and none is asked: the guardrail still runs
    changed, _ = await hooks.pre("tool_pre_invoke", env)
    assert msgspec.json.decode(changed.params)["arguments"] == {"q": "bye"}
    now[0] = 31  # not heard for the whole window: served no more, as over the bus
    changed, _ = await hooks.pre("tool_pre_invoke", env)
    assert changed.params == env.params
    assert not hooks.inline and not hooks.served
    await hooks.close()
