"""Schema guard: call arguments and structured results checked against JSON Schemas per tool."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import jsonschema
import msgspec

from forge.plugins.builtin import walk
from forge.plugins.config import PluginConfigError
from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.plugin import Host, Plugin
from forge.plugins.result import PluginResult, block


class SchemaRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tools: tuple[str, ...] = ("*",)  # shell-style patterns on the tool name
    input_schema: dict[str, Any] | None = None  # for the arguments
    output_schema: dict[str, Any] | None = None  # for structuredContent
    require_structured: bool = False  # a result without structuredContent is refused


class SchemaGuardConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rules: tuple[SchemaRule, ...] = ()


def _validator(plugin: str, schema: dict[str, Any]) -> Any:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise PluginConfigError(f"plugin {plugin!r}: bad schema: {exc.message}") from exc
    return cls(schema)


def _first_error(validator: Any, value: Any) -> dict[str, str] | None:
    # Where and which rule, not the offending value: that may be sensitive.
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return None
    path = "/" + "/".join(str(part) for part in error.absolute_path)
    return {"path": path, "rule": str(error.validator)}


class SchemaGuard(Plugin):
    inline_safe = True
    Config = SchemaGuardConfig

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        super().__init__(name, config, host)
        self.rules = [
            (
                rule,
                _validator(name, rule.input_schema) if rule.input_schema is not None else None,
                _validator(name, rule.output_schema) if rule.output_schema is not None else None,
            )
            for rule in self.settings.rules
        ]

    def _for(self, tool: str | None) -> list[tuple[SchemaRule, Any, Any]]:
        if tool is None:
            return []
        return [r for r in self.rules if any(fnmatchcase(tool, p) for p in r[0].tools)]

    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        arguments = walk.arguments(payload)
        for _, check, _ in self._for(context.target):
            error = _first_error(check, arguments) if check is not None else None
            if error is not None:
                return block("schema_violation", "the arguments do not match the schema", **error)
        return None

    @hookimpl
    def tool_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        structured = payload.get("structuredContent") if isinstance(payload, dict) else None
        is_error = isinstance(payload, dict) and payload.get("isError") is True
        for rule, _, check in self._for(context.target):
            if is_error:
                continue
            if structured is None:
                if rule.require_structured:
                    return block("schema_violation", "the result has no structured content")
                continue
            error = _first_error(check, structured) if check is not None else None
            if error is not None:
                return block("schema_violation", "the result does not match the schema", **error)
        return None
