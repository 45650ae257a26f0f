"""Cached tool result: a pre hook answers repeated calls of cacheable tools from memory."""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from fnmatch import fnmatchcase
from typing import Any, Literal

import msgspec

from forge.plugins.builtin import walk
from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.plugin import Host, Plugin
from forge.plugins.result import PluginResult, respond

_KEY = msgspec.json.Encoder(order="sorted")


class CacheConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tools: tuple[str, ...] = ()  # shell-style patterns of cacheable tools (none by default)
    ttl_s: float = 60.0
    max_entries: int = 1000
    # Whose calls share entries: results often depend on who asks, so by default the user.
    scope: Literal["user", "team", "global"] = "user"


class CachedToolResult(Plugin):
    """Needs the request in post hooks (the wrapped hook form) to store results; answers in
    the call's place (`respond`) on a hit. Entries live in this replica's memory."""

    Config = CacheConfig

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        super().__init__(name, config, host)
        self.entries: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self.hits = 0

    def key(self, request: Any, ctx: HookContext) -> str | None:
        tool = ctx.target
        if tool is None or not any(fnmatchcase(tool, p) for p in self.settings.tools):
            return None
        scope = {"user": ctx.user, "team": ctx.team or ctx.user, "global": ""}[self.settings.scope]
        material = _KEY.encode([scope, ctx.server_id, tool, walk.arguments(request)])
        return hashlib.sha256(material).hexdigest()

    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        key = self.key(payload, context)
        entry = self.entries.get(key) if key is not None else None
        if key is None or entry is None:
            return None
        expires, result = entry
        if expires < time.monotonic():
            del self.entries[key]
            return None
        self.entries.move_to_end(key)
        self.hits += 1
        return respond(result)

    @hookimpl
    def tool_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        if context.request is None or not isinstance(payload, dict):
            return None
        if payload.get("isError") is True or "content" not in payload:
            return None  # failures, and task or input-required answers, are not kept
        key = self.key(context.request, context)
        now = time.monotonic()
        if key is None or (key in self.entries and self.entries[key][0] >= now):
            return None  # the result answered from this very entry, or a concurrent call's
        self.entries[key] = (now + self.settings.ttl_s, payload)
        while len(self.entries) > self.settings.max_entries:
            self.entries.popitem(last=False)
        return None
