"""Schema guard: call arguments and structured results checked against JSON Schemas per tool.

A schema's `pattern` and `patternProperties` run on RE2 (forge.plugins.patterns), not on
`jsonschema`'s Python `re`, so a schema cannot stall the event loop (ReDoS); `jsonschema` also
matches `patternProperties` keys itself beside `additionalProperties` and
`unevaluatedProperties`, so a schema object combining them is refused at load.
"""

from __future__ import annotations

from collections.abc import Iterator
from fnmatch import fnmatchcase
from typing import Any

import jsonschema
import msgspec

from forge.plugins.builtin import walk
from forge.plugins.config import PluginConfigError
from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.patterns import Pattern, compile_pattern
from forge.plugins.plugin import Host, Plugin
from forge.plugins.result import PluginResult, block


class SchemaRule(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    tools: tuple[str, ...] = ("*",)  # shell-style patterns on the tool name
    input_schema: dict[str, Any] | None = None  # for the arguments
    output_schema: dict[str, Any] | None = None  # for structuredContent
    require_structured: bool = False  # a result without structuredContent is refused


class SchemaGuardConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    rules: tuple[SchemaRule, ...] = ()


_KEY_MATCHERS = ("additionalProperties", "unevaluatedProperties")


def _patterns(plugin: str, node: Any, field: str, found: dict[str, Pattern]) -> None:
    """Compile every `pattern` and `patternProperties` key under `node` into `found`."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            _patterns(plugin, item, f"{field}[{i}]", found)
        return
    if not isinstance(node, dict):
        return
    pattern = node.get("pattern")
    if isinstance(pattern, str):
        found[pattern] = compile_pattern(plugin, pattern, field=f"{field}.pattern")
    keyed = node.get("patternProperties")
    if isinstance(keyed, dict) and keyed:
        for key in keyed:
            found[key] = compile_pattern(plugin, key, field=f"{field}.patternProperties")
        if any(k in node for k in _KEY_MATCHERS):
            raise PluginConfigError(
                f"plugin {plugin!r}: {field} combines patternProperties with"
                " additionalProperties or unevaluatedProperties, which are matched outside RE2"
            )
    for key, value in node.items():
        if key not in ("pattern", "const", "enum", "default", "examples"):
            _patterns(plugin, value, f"{field}.{key}", found)


def _validator(plugin: str, schema: dict[str, Any], field: str) -> Any:
    cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    try:
        cls.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise PluginConfigError(f"plugin {plugin!r}: bad schema: {exc.message}") from exc
    compiled: dict[str, Pattern] = {}
    _patterns(plugin, schema, field, compiled)

    def regex(wanted: str) -> Pattern:
        if wanted not in compiled:  # somewhere the walk did not look: compiled (and checked) now
            compiled[wanted] = compile_pattern(plugin, wanted, field=field)
        return compiled[wanted]

    def pattern(validator: Any, wanted: str, instance: Any, schema: Any) -> Iterator[Any]:
        if validator.is_type(instance, "string") and not regex(wanted).search(instance):
            yield jsonschema.ValidationError("does not match the pattern")

    def pattern_properties(
        validator: Any, keyed: dict[str, Any], instance: Any, schema: Any
    ) -> Iterator[Any]:
        if not validator.is_type(instance, "object"):
            return
        for wanted, subschema in keyed.items():
            for key, value in instance.items():
                if regex(wanted).search(key):
                    yield from validator.descend(value, subschema, path=key, schema_path=wanted)

    linear = jsonschema.validators.extend(
        cls, {"pattern": pattern, "patternProperties": pattern_properties}
    )
    return linear(schema)


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
                None
                if rule.input_schema is None
                else _validator(name, rule.input_schema, f"config.rules[{i}].input_schema"),
                None
                if rule.output_schema is None
                else _validator(name, rule.output_schema, f"config.rules[{i}].output_schema"),
            )
            for i, rule in enumerate(self.settings.rules)
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
