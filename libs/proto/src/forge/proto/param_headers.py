"""MCP 2026-07-28 custom parameter headers: `x-mcp-header` in a tool's input schema, `Mcp-Param-*`.

A tool's input schema may mark a property (reachable from the root through `properties` only)
with `"x-mcp-header": "<token>"`; a modern client then repeats that argument's value in the
`Mcp-Param-<token>` HTTP header of its `tools/call`, so intermediaries can route on it without
reading the body. The rules here follow the spec (transports, "Custom Headers") and the official
Python SDK (`mcp.shared.inbound`), so Forge checks and sends exactly what an SDK server expects.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator, Mapping
from typing import Any, Final

PREFIX: Final = "Mcp-Param-"
ANNOTATION: Final = "x-mcp-header"

_SENTINEL = re.compile(r"^=\?base64\?(?P<payload>.*)\?=$")
_SAFE = re.compile(r"^[\x20-\x7E]*$")
_TOKEN = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")  # RFC 9110 field-name token
# `number` may not carry a header: float to text is not portable between implementations.
_TYPES: Final = frozenset({"string", "integer", "boolean"})
_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def encode_value(value: str) -> str:
    """`value` as a header carries it: base64-wrapped when it would not survive an HTTP field."""
    if _SAFE.fullmatch(value) and value == value.strip() and not _SENTINEL.fullmatch(value):
        return value
    return f"=?base64?{base64.b64encode(value.encode()).decode('ascii')}?="


def decode_value(value: str) -> str | None:
    """The inverse of `encode_value`; None for a malformed sentinel, which then matches nothing."""
    found = _SENTINEL.fullmatch(value)
    if found is None:
        return value
    payload = found.group("payload")
    try:
        raw = base64.b64decode(payload, validate=True)
        if base64.b64encode(raw).decode("ascii") != payload:  # canonical form only
            return None
        return raw.decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


# JSON Schema 2020-12 applicators whose values are schemas. Instance data (`default`, `enum`,
# `const`, `examples`) is never entered, so a value there is never mistaken for an annotation.
_ONE = frozenset(
    {
        "items",
        "contains",
        "unevaluatedItems",
        "additionalProperties",
        "propertyNames",
        "unevaluatedProperties",
        "not",
        "if",
        "then",
        "else",
        "contentSchema",
    }
)
_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems"})
_MAP = frozenset({"patternProperties", "dependentSchemas", "$defs", "definitions"})


def _positions(schema: Any) -> Iterator[tuple[tuple[str, ...] | None, dict[str, Any]]]:
    """Every schema position with its `properties` path, None once another applicator is crossed."""
    stack: list[tuple[tuple[str, ...] | None, Any]] = [((), schema)]
    while stack:
        path, node = stack.pop()
        if not isinstance(node, dict):
            continue
        yield path, node
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                stack.extend(
                    (None if path is None else (*path, str(name)), sub)
                    for name, sub in value.items()
                )
            elif key in _ONE:
                stack.append((None, value))
            elif key in _LIST and isinstance(value, list):
                stack.extend((None, sub) for sub in value)
            elif key in _MAP and isinstance(value, dict):
                stack.extend((None, sub) for sub in value.values())


def _annotated(schema: Any) -> Iterator[tuple[tuple[str, ...], Any, Any]]:
    """(path, token, property type) of each annotated property on a pure `properties` chain."""
    for path, node in _positions(schema):
        if path and ANNOTATION in node:
            yield path, node[ANNOTATION], node.get("type")


def declares(schema: Any) -> bool:
    """Whether any property of the schema carries an `x-mcp-header` annotation."""
    return any(True for _ in _annotated(schema))


def invalid(schema: Any) -> str | None:
    """Why the schema's annotations are invalid (a conforming client drops such a tool), or None."""
    seen: set[str] = set()
    for path, node in _positions(schema):
        if ANNOTATION not in node:
            continue
        if not path:  # the root, or a position reached through anything but `properties`
            return f"{ANNOTATION} is only allowed on a property reached through `properties`"
        where, token, kind = ".".join(path), node[ANNOTATION], node.get("type")
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            return f"property {where!r}: {ANNOTATION} must be an RFC 9110 token"
        if not isinstance(kind, str) or kind not in _TYPES:
            return f"property {where!r}: {ANNOTATION} is only allowed on string/integer/boolean"
        if token.lower() in seen:
            return f"property {where!r}: {ANNOTATION} {token!r} is used twice"
        seen.add(token.lower())
    return None


def _at(arguments: Any, path: tuple[str, ...]) -> Any:
    node = arguments
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _render(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        try:
            return str(value)
        except ValueError:  # an int beyond CPython's digit limit has no rendering
            return None
    return None


def headers_for(schema: Any, arguments: Any) -> dict[str, str]:
    """The `Mcp-Param-*` headers a `tools/call` with these arguments carries (absent: omitted)."""
    if invalid(schema) is not None:
        return {}
    headers: dict[str, str] = {}
    for path, token, _ in _annotated(schema):
        rendered = _render(_at(arguments, path))
        if rendered is not None:
            headers[f"{PREFIX}{token}"] = encode_value(rendered)
    return headers


def _matches(kind: Any, value: Any, rendered: str, decoded: str) -> bool:
    # An integer compares as a number (`42` matches `42.0`, the spec's SHOULD), exactly.
    numeric = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if (
        kind == "integer"
        and not isinstance(value, bool)
        and numeric
        and _DECIMAL.fullmatch(decoded)
    ):
        whole, _, fraction = decoded.partition(".")
        return not fraction.strip("0") and int(whole) == int(value)
    return decoded == rendered


def mismatch(schema: Any, arguments: Any, headers: Mapping[str, str]) -> str | None:
    """Why the client's `Mcp-Param-*` headers (lower-case names) disagree with its arguments.

    Header and argument must be present together (a null argument is absent) and equal once
    decoded. Headers the schema does not declare are ignored; a schema with invalid annotations
    declares nothing, as conforming clients drop that tool and send no headers for it.
    """
    if invalid(schema) is not None:
        return None
    for path, token, kind in _annotated(schema):
        name = f"{PREFIX}{token}"
        raw = headers.get(name.lower())
        value = _at(arguments, path)
        rendered = None if value is None else _render(value)
        argument = ".".join(path)
        if rendered is None:
            if raw is not None:
                return f"the {name} header has no matching {argument!r} argument"
            continue
        if raw is None:
            return f"the {name} header is missing for the {argument!r} argument"
        decoded = decode_value(raw)
        if decoded is None:
            return f"the {name} header carries a malformed base64 value"
        if not _matches(kind, value, rendered, decoded):
            return f"the {name} header disagrees with the {argument!r} argument"
    return None
