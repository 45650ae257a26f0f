"""Regular expressions from a plugin's config, compiled for RE2: matching time grows linearly
with the text, whatever the pattern.

Operators and team admins write these patterns (regex_replace, deny_list, url_reputation,
schema_guard's `pattern`s); Python's backtracking `re` would let one pattern such as `(a+)+$`
hold the event loop for minutes on a short text (ReDoS), stalling every other call the replica
serves. RE2 refuses what it cannot run in linear time (backreferences, lookaround) and
patterns larger than its memory bound; compile_pattern turns that into a PluginConfigError
naming the setting, so a binding carrying one is refused when it is made (registry) and never
loaded (runner). The built-in scanners keep their own fixed, vetted expressions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import re2

from forge.plugins.config import PluginConfigError

__all__ = ["Pattern", "PatternError", "compile_pattern"]


class Match(Protocol):
    def group(self, index: int | str = 0) -> str: ...


class Pattern(Protocol):
    """What plugins use of a compiled pattern (RE2's and `re`'s alike)."""

    pattern: str

    def search(self, text: str) -> Match | None: ...

    def sub(self, replacement: str | Callable[[Any], str], text: str) -> str: ...


class PatternError(PluginConfigError):
    """A configured pattern RE2 cannot take; `field` names the setting, as
    `config.rules[0].pattern`."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def _options(ignore_case: bool) -> Any:
    options = re2.Options()
    options.case_sensitive = not ignore_case
    options.log_errors = False  # the error is raised (and reported) instead of printed to stderr
    return options


def compile_pattern(
    plugin: str, pattern: str, *, ignore_case: bool = False, field: str = "config"
) -> Pattern:
    """A pattern from a plugin's config, for RE2; one it refuses fails the load, naming the
    plugin and the setting."""
    try:
        compiled: Pattern = re2.compile(pattern, _options(ignore_case))
    except re2.error as exc:
        reason = exc.args[0] if exc.args else "not a valid pattern"
        if isinstance(reason, bytes):  # RE2's own message comes as bytes
            reason = reason.decode(errors="replace")
        raise PatternError(
            f"plugin {plugin!r}: bad pattern in {field}: RE2 refuses it ({reason};"
            " backreferences and lookaround are not supported)",
            field,
        ) from exc
    except TypeError as exc:
        raise PatternError(f"plugin {plugin!r}: {field} must be a string", field) from exc
    return compiled
