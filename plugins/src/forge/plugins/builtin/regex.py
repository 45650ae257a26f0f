"""Regex replace: rewrite text in calls and results by ordered pattern → replacement rules
(RE2 syntax: forge.plugins.patterns)."""

from __future__ import annotations

from typing import Any

import msgspec

from forge.plugins.builtin import walk
from forge.plugins.builtin.content import ContentPlugin
from forge.plugins.context import HookContext
from forge.plugins.patterns import compile_pattern
from forge.plugins.plugin import Host
from forge.plugins.result import PluginResult, modify


class Rule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pattern: str
    replacement: str = ""  # may refer to groups: \1, \g<name>
    ignore_case: bool = False


class RegexReplaceConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rules: tuple[Rule, ...] = ()


class RegexReplace(ContentPlugin):
    inline_safe = True
    Config = RegexReplaceConfig

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        super().__init__(name, config, host)
        self.rules = [
            (
                compile_pattern(
                    name, r.pattern, ignore_case=r.ignore_case, field=f"config.rules[{i}].pattern"
                ),
                r.replacement,
            )
            for i, r in enumerate(self.settings.rules)
        ]

    def rewrite(self, text: str) -> str:
        out = text
        for regex, replacement in self.rules:
            out = regex.sub(replacement, out)
        return text if out == text else out

    def inspect(self, payload: Any, context: HookContext) -> PluginResult | None:
        new = walk.apply(context.hook, payload, self.rewrite)
        return None if new is payload else modify(new)
