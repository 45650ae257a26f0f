"""SQL sanitizer: destructive or injected SQL in call arguments refused; comments stripped."""

from __future__ import annotations

import re
from typing import Any

import msgspec

from forge.plugins.builtin import walk
from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.plugin import Plugin
from forge.plugins.result import PluginResult, block, modify

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_LITERALS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_TAUTOLOGY = re.compile(
    r"\bor\s+(?:(\d+)\s*=\s*\1|'([^']*)'\s*=\s*'\2'|true)\b|\bor\s+''\s*=\s*''", re.IGNORECASE
)
_WHERE = re.compile(r"\bwhere\b", re.IGNORECASE)


class SqlSanitizerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    fields: tuple[str, ...] = ()  # argument names holding SQL; empty: every string argument
    blocked_statements: tuple[str, ...] = ("DROP", "TRUNCATE", "ALTER", "GRANT", "REVOKE")
    block_delete_without_where: bool = True  # DELETE and UPDATE that would touch every row
    block_stacked_queries: bool = True  # `...; DROP ...`
    block_tautologies: bool = True  # `OR 1=1`, `OR 'a'='a'`
    strip_comments: bool = True  # rewrite the argument without SQL comments


def _statements(sql: str) -> list[str]:
    # Literals are blanked first so that a `;` or keyword inside a string does not count.
    bare = _LITERALS.sub("''", _COMMENTS.sub(" ", sql))
    return [part.strip() for part in bare.split(";") if part.strip()]


class SqlSanitizer(Plugin):
    inline_safe = True
    Config = SqlSanitizerConfig

    def problem(self, sql: str) -> str | None:
        settings = self.settings
        statements = _statements(sql)
        if settings.block_stacked_queries and len(statements) > 1:
            return "stacked_queries"
        blocked = {word.upper() for word in settings.blocked_statements}
        for statement in statements:
            words = statement.split(None, 1)
            verb = words[0].upper() if words else ""
            if verb in blocked:
                return "blocked_statement"
            if (
                settings.block_delete_without_where
                and verb in ("DELETE", "UPDATE")
                and not _WHERE.search(statement)
            ):
                return "unbounded_write"
        if settings.block_tautologies and _TAUTOLOGY.search(_COMMENTS.sub(" ", sql)):
            return "tautology"
        return None

    def _targets(self, arguments: dict[str, Any]) -> list[str]:
        names = self.settings.fields or tuple(arguments)
        return [n for n in names if isinstance(arguments.get(n), str)]

    def check(self, payload: Any, context: HookContext) -> PluginResult | None:
        arguments = walk.arguments(payload)
        targets = self._targets(arguments)
        for name in targets:
            reason = self.problem(arguments[name])
            if reason is not None:
                return block("unsafe_sql", f"argument {name!r} holds unsafe SQL", kind=reason)
        if not self.settings.strip_comments:
            return None
        cleaned = {n: _COMMENTS.sub(" ", arguments[n]).strip() for n in targets}
        changed = {n: v for n, v in cleaned.items() if v != arguments[n]}
        if not changed:
            return None
        return modify({**payload, "arguments": {**arguments, **changed}})

    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.check(payload, context)

    @hookimpl
    def prompt_pre_fetch(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.check(payload, context)
