"""Deny list: block a request or result whose text contains a listed word or pattern."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from forge.plugins.builtin import walk
from forge.plugins.builtin.content import ContentPlugin
from forge.plugins.context import HookContext
from forge.plugins.plugin import Host, compile_pattern
from forge.plugins.result import PluginResult, block


class DenyListConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    words: tuple[str, ...] = ()  # matched as whole words
    patterns: tuple[str, ...] = ()  # regular expressions
    case_sensitive: bool = False


class DenyList(ContentPlugin):
    """Refuses text matching any listed word or pattern (the match itself is not echoed)."""

    inline_safe = True

    Config = DenyListConfig

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        super().__init__(name, config, host)
        flags = 0 if self.settings.case_sensitive else re.IGNORECASE
        parts = [rf"\b{re.escape(word)}\b" for word in self.settings.words]
        parts += [f"(?:{pattern})" for pattern in self.settings.patterns]
        self.regex = compile_pattern(name, "|".join(parts), flags) if parts else None

    def inspect(self, payload: Any, context: HookContext) -> PluginResult | None:
        if self.regex is None:
            return None
        for text in walk.texts(context.hook, payload):
            if self.regex.search(text):
                return block("denied_content", "the request contains denied content")
        return None
