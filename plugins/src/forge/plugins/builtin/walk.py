"""The text a content plugin inspects in a payload, and rewriting it without mutating it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

# Members that are protocol plumbing or binary, never user text: left alone by every plugin.
SKIP_KEYS = frozenset(
    {"_meta", "type", "mimeType", "blob", "annotations", "inputSchema", "outputSchema", "icons"}
)
# In a pre hook's payload only these members carry what the caller sent (not the name).
_REGION = {
    "tool_pre_invoke": "arguments",
    "prompt_pre_fetch": "arguments",
    "agent_pre_invoke": "arguments",
    "resource_pre_fetch": "uri",
    "http_pre_request": "headers",
    "http_post_request": "headers",
}


def map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """`value` with `fn` applied to every string in it (not to keys); the same object where
    nothing changed, so callers can tell by identity."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        changed = False
        out: dict[str, Any] = {}
        for key, item in value.items():
            new = item if key in SKIP_KEYS else map_strings(item, fn)
            changed |= new is not item
            out[key] = new
        return out if changed else value
    if isinstance(value, list):
        items = [map_strings(item, fn) for item in value]
        if any(new is not old for new, old in zip(items, value, strict=True)):
            return items
        return value
    return value


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key not in SKIP_KEYS:
                yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def apply(hook: str, payload: Any, fn: Callable[[str], str]) -> Any:
    """The payload with `fn` applied to the strings of the hook's region (same object if none
    changed)."""
    key = _REGION.get(hook)
    if key is None:
        return map_strings(payload, fn)
    if not isinstance(payload, dict) or key not in payload:
        return payload
    new = map_strings(payload[key], fn)
    return payload if new is payload[key] else {**payload, key: new}


def texts(hook: str, payload: Any) -> Iterator[str]:
    """Every string of the hook's region."""
    key = _REGION.get(hook)
    if key is None:
        yield from strings(payload)
    elif isinstance(payload, dict) and key in payload:
        yield from strings(payload[key])


def arguments(payload: Any) -> dict[str, Any]:
    """A call's arguments (tools/call, prompts/get), or {} when absent or not an object."""
    found = payload.get("arguments") if isinstance(payload, dict) else None
    return found if isinstance(found, dict) else {}
