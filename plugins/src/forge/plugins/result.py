"""What a hook answers: let through, change the payload, block with a violation, or respond."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final


class _Keep:
    """The payload (or result) was left as it was."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = _Keep()


@dataclass(frozen=True)
class Violation:
    """Why a plugin refuses a request: a stable machine code, a reason for people, details.

    Details reach the client in the error's data: never put the offending secret in them.
    """

    code: str
    reason: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PluginResult:
    """A hook's answer. `payload` is KEEP unless the plugin changed it; `result` is KEEP unless a
    pre hook answers in the call's place (the call is then not made)."""

    payload: Any = KEEP
    violation: Violation | None = None
    result: Any = KEEP

    @property
    def modified(self) -> bool:
        return self.payload is not KEEP


def allow() -> None:
    """Let the payload through unchanged (the same as returning None)."""
    return None


def modify(payload: Any) -> PluginResult:
    """Hand `payload` to the next plugin in place of the one received."""
    return PluginResult(payload=payload)


def block(code: str, reason: str, **details: Any) -> PluginResult:
    """Refuse the request (in enforce modes) with a violation."""
    return PluginResult(violation=Violation(code, reason, details))


def respond(result: Any) -> PluginResult:
    """A pre hook's answer in the call's place: the caller gets `result` without the call."""
    return PluginResult(result=result)
