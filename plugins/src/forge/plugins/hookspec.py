"""The hook specification: every hook a Forge plugin may implement and what each one is given.

Every hook has the same signature, `(payload, context) -> PluginResult | None`, and may be a
coroutine function. `payload` is the decoded JSON the hook may change; `context` is a
`forge.plugins.context.HookContext` (who asks, through which server, about which target, and
for post hooks the request as the pre hooks left it). Returning None (or `allow()`) lets the
payload through unchanged; `modify(new)` hands `new` to the next plugin; `block(code, reason)`
stops the request with a violation the client sees as a JSON-RPC error.

pluggy registers plugins and checks their hook names and arguments; it does not await, so the
chain (forge.plugins.chain) walks the implementations and awaits each itself.
"""

from __future__ import annotations

from typing import Any

import pluggy

PROJECT = "forge"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class HookSpec:
    """One method per hook; the docstring says what the payload is."""

    @hookspec
    def tool_pre_invoke(self, payload: Any, context: Any) -> Any:
        """`tools/call` params: {"name", "arguments", "_meta"?}."""

    @hookspec
    def tool_post_invoke(self, payload: Any, context: Any) -> Any:
        """The `tools/call` result: {"content", "structuredContent"?, "isError"?}."""

    @hookspec
    def prompt_pre_fetch(self, payload: Any, context: Any) -> Any:
        """`prompts/get` params: {"name", "arguments"?}."""

    @hookspec
    def prompt_post_fetch(self, payload: Any, context: Any) -> Any:
        """The `prompts/get` result: {"messages", "description"?}."""

    @hookspec
    def resource_pre_fetch(self, payload: Any, context: Any) -> Any:
        """`resources/read` params: {"uri"}."""

    @hookspec
    def resource_post_fetch(self, payload: Any, context: Any) -> Any:
        """The `resources/read` result: {"contents"}."""

    @hookspec
    def agent_pre_invoke(self, payload: Any, context: Any) -> Any:
        """An A2A agent call's params: {"name"|"agent", "message"|"arguments", ...}."""

    @hookspec
    def agent_post_invoke(self, payload: Any, context: Any) -> Any:
        """An A2A agent call's result."""

    @hookspec
    def http_pre_request(self, payload: Any, context: Any) -> Any:
        """An HTTP request at the edge: {"method", "path", "headers", "client"?}."""

    @hookspec
    def http_post_request(self, payload: Any, context: Any) -> Any:
        """The edge's HTTP response: {"status", "headers"}; the request is in context."""

    @hookspec
    def http_auth_resolve_user(self, payload: Any, context: Any) -> Any:
        """{"method", "path", "headers", "user": null}: a plugin may set "user" to a principal
        object ({"subject", "email"?, "teams"?, "roles"?}) the edge then trusts."""

    @hookspec
    def http_auth_check_permission(self, payload: Any, context: Any) -> Any:
        """{"permission", "resource_type"?, "resource_id"?, "granted": bool | null}: a plugin
        may set "granted" or block."""

    @hookspec
    def tools_post_list(self, payload: Any, context: Any) -> Any:
        """The `tools/list` result: {"tools", "nextCursor"?}."""

    @hookspec
    def prompts_post_list(self, payload: Any, context: Any) -> Any:
        """The `prompts/list` result: {"prompts", "nextCursor"?}."""

    @hookspec
    def resources_post_list(self, payload: Any, context: Any) -> Any:
        """The `resources/list` result: {"resources", "nextCursor"?}."""


HOOKS: tuple[str, ...] = (
    "tool_pre_invoke",
    "tool_post_invoke",
    "prompt_pre_fetch",
    "prompt_post_fetch",
    "resource_pre_fetch",
    "resource_post_fetch",
    "agent_pre_invoke",
    "agent_post_invoke",
    "http_pre_request",
    "http_post_request",
    "http_auth_resolve_user",
    "http_auth_check_permission",
    "tools_post_list",
    "prompts_post_list",
    "resources_post_list",
)

# Hooks that run before the call: their payload is the request itself, and they alone may
# answer in the call's place (a cached result).
PRE_HOOKS = frozenset(
    {
        "tool_pre_invoke",
        "prompt_pre_fetch",
        "resource_pre_fetch",
        "agent_pre_invoke",
        "http_pre_request",
        "http_auth_resolve_user",
        "http_auth_check_permission",
    }
)

# What a hook's request targets, for the name conditions (tools, prompts, resources, agents).
TARGET_KIND: dict[str, str] = {
    "tool_pre_invoke": "tool",
    "tool_post_invoke": "tool",
    "prompt_pre_fetch": "prompt",
    "prompt_post_fetch": "prompt",
    "resource_pre_fetch": "resource",
    "resource_post_fetch": "resource",
    "agent_pre_invoke": "agent",
    "agent_post_invoke": "agent",
}


def manager() -> pluggy.PluginManager:
    """A plugin manager that knows Forge's hooks."""
    pm = pluggy.PluginManager(PROJECT)
    pm.add_hookspecs(HookSpec)
    return pm
