"""The base of plugins that inspect or rewrite the text of calls and results."""

from __future__ import annotations

from typing import Any

from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.plugin import Plugin
from forge.plugins.result import PluginResult


class ResultPlugin(Plugin):
    """Serves every result hook with one `inspect`; an entry's `hooks:` narrows it."""

    def inspect(self, payload: Any, context: HookContext) -> PluginResult | None:
        raise NotImplementedError

    @hookimpl
    def tool_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.inspect(payload, context)

    @hookimpl
    def prompt_post_fetch(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.inspect(payload, context)

    @hookimpl
    def resource_post_fetch(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.inspect(payload, context)

    @hookimpl
    def agent_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.inspect(payload, context)


class ContentPlugin(ResultPlugin):
    """Serves every call and result hook with one `inspect`; an entry's `hooks:` narrows it."""

    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.inspect(payload, context)

    @hookimpl
    def prompt_pre_fetch(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.inspect(payload, context)

    @hookimpl
    def resource_pre_fetch(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.inspect(payload, context)

    @hookimpl
    def agent_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.inspect(payload, context)
