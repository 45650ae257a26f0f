"""Deny list: block a request or result whose text contains a listed word or pattern."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from forge.plugins.builtin import walk
from forge.plugins.builtin.content import ContentPlugin
from forge.plugins.context import HookContext
from forge.plugins.patterns import Pattern, compile_pattern
from forge.plugins.plugin import Host
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
        s = self.settings
        # Words are escaped literals, safe for `re` (whose \b knows Unicode words, RE2's only
        # ASCII); patterns are anyone's regexes, so they run on RE2 (linear time), each checked
        # alone first so that a refused one is named.
        flags = 0 if s.case_sensitive else re.IGNORECASE
        words = "|".join(rf"\b{re.escape(word)}\b" for word in s.words)
        self.words = re.compile(words, flags) if words else None
        for i, pattern in enumerate(s.patterns):
            compile_pattern(name, pattern, field=f"config.patterns[{i}]")
        union = "|".join(f"(?:{pattern})" for pattern in s.patterns)
        self.regex: Pattern | None = None
        if union:
            self.regex = compile_pattern(
                name, union, ignore_case=not s.case_sensitive, field="config.patterns"
            )

    def _denied(self, text: str) -> bool:
        return any(r is not None and r.search(text) for r in (self.words, self.regex))

    def inspect(self, payload: Any, context: HookContext) -> PluginResult | None:
        if self.words is None and self.regex is None:
            return None
        for text in walk.texts(context.hook, payload):
            if self._denied(text):
                return block("denied_content", "the request contains denied content")
        return None
