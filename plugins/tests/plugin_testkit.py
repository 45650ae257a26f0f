"""Test plugins and helpers shared by the plugin tests (loaded through entry points)."""

from __future__ import annotations

import asyncio
from importlib.metadata import EntryPoint
from typing import Any

import msgspec

from forge.core.netguard import NetGuard
from forge.plugins import config as plugin_config
from forge.plugins.chain import Outcome, PluginSet
from forge.plugins.context import HookContext, target_of
from forge.plugins.hookspec import PRE_HOOKS, hookimpl
from forge.plugins.loader import Loader, build
from forge.plugins.plugin import Host, Plugin
from forge.plugins.result import PluginResult, block, modify, respond
from forge.proto.envelope import Principal

# Every Scripted call, in order: (plugin name, hook, the payload's trail as it arrived).
CALLS: list[tuple[str, str, list[str]]] = []


class ScriptedConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    action: str = "modify"  # allow, modify, block, crash, sleep, respond
    sleep_s: float = 0.0


class Scripted(Plugin):
    """Does what its config says on every hook; `modify` appends its name to payload.trail."""

    Config = ScriptedConfig

    def act(self, payload: Any, context: HookContext) -> PluginResult | None:
        trail = list(payload.get("trail", [])) if isinstance(payload, dict) else []
        CALLS.append((self.name, context.hook, trail))
        action = self.settings.action
        if action == "modify":
            return modify({**payload, "trail": [*trail, self.name]})
        if action == "block":
            return block("scripted", f"{self.name} says no", by=self.name)
        if action == "crash":
            raise RuntimeError("scripted crash")
        if action == "respond":
            return respond({"content": [{"type": "text", "text": f"from {self.name}"}]})
        return None

    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.act(payload, context)

    @hookimpl
    async def tool_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        if self.settings.action == "sleep":
            await asyncio.sleep(self.settings.sleep_s)
        return self.act(payload, context)

    @hookimpl
    def prompt_pre_fetch(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.act(payload, context)

    @hookimpl
    def resource_pre_fetch(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.act(payload, context)

    @hookimpl
    def agent_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.act(payload, context)

    @hookimpl
    def http_pre_request(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.act(payload, context)


class NoHooks(Plugin):
    """Implements nothing: loading it is a configuration error."""


def broken_factory(name: str, config: dict[str, Any], host: Host) -> Any:
    raise RuntimeError("cannot build")


ENTRY_POINTS = [
    EntryPoint("scripted", "plugin_testkit:Scripted", "forge.plugins"),
    EntryPoint("nohooks", "plugin_testkit:NoHooks", "forge.plugins"),
    EntryPoint("broken", "plugin_testkit:broken_factory", "forge.plugins"),
    EntryPoint("missing", "plugin_testkit_absent:Nothing", "forge.plugins"),
]


def loader() -> Loader:
    return Loader(ENTRY_POINTS)


# For plugins that dial test servers on loopback, which the SSRF guard refuses by default.
LOOPBACK = Host(guard=NetGuard("127.0.0.0/8,::1/128"))


async def load(yaml_text: str, host: Host | None = None) -> PluginSet:
    return await build(plugin_config.parse(yaml_text), host or Host(), loader())


def ctx(
    hook: str,
    request: Any = None,
    *,
    user: str = "ann@example.com",
    teams: tuple[str, ...] = ("ann-personal", "blue"),
    server_id: str | None = "srv1",
    request_id: str = "r1",
    target_team: str | None = None,
) -> HookContext:
    principal = Principal(subject=user, email=user, teams=teams)
    return HookContext(
        hook=hook,
        method="tools/call",
        request_id=request_id,
        server_id=server_id,
        principal=principal,
        request=request,
        target=target_of(hook, request),
        target_team=target_team,
    )


async def run(
    plugins: PluginSet, hook: str, payload: Any, request: Any = None, **kw: Any
) -> Outcome:
    if request is None and hook in PRE_HOOKS:
        request = payload
    return await plugins.run(hook, payload, ctx(hook, request, **kw))


async def one(
    kind: str, config: dict[str, Any], hook: str, payload: Any, request: Any = None, **kw: Any
) -> Outcome:
    """Run one built-in plugin (enforce mode) on one payload."""
    entry = plugin_config.PluginEntry(name=kind, kind=kind, config=config)
    plugins = await build(
        plugin_config.PluginsConfig(plugins=(entry,)), kw.pop("host", Host()), loader()
    )
    try:
        return await run(plugins, hook, payload, request, **kw)
    finally:
        await plugins.close()


def call(name: str = "echo", **arguments: Any) -> dict[str, Any]:
    return {"name": name, "arguments": arguments}


def text_result(*texts: str, **extra: Any) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": t} for t in texts], **extra}
