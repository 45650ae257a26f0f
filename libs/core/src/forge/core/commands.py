"""The operator's allow list of commands Forge may start (stdio gateways, bridges).

`FORGE_STDIO_ALLOWED_COMMANDS` holds entries separated by `;` or newlines. Each entry is words
split the way a shell would (no shell ever runs them): the executable as an absolute, normalised
path, then optional argument patterns, one glob per argument (`fnmatch`: `*` also matches `/`);
a last pattern `...` accepts any further arguments. An entry of an executable alone allows it
with any arguments (never list an interpreter that way: `python -c ...` runs anything). An empty
list allows nothing.

    /usr/local/bin/mcp-server-git --repository /srv/repos/*
    /opt/venv/bin/python -m my_mcp_server ...
"""

from __future__ import annotations

import functools
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from fnmatch import fnmatchcase
from typing import NamedTuple

from forge.core.errors import ForbiddenError

ANY_MORE = "..."
_SEPARATOR = re.compile(r"[;\n]")
# Variables that make an allowed executable load other code: refused in a child's environment,
# or the allow list would mean nothing (LD_PRELOAD=/tmp/x.so, PYTHONSTARTUP, NODE_OPTIONS ...).
_LOADER_PREFIXES = ("LD_", "DYLD_")
_CODE_VARIABLES = frozenset(
    {
        "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONINSPECT", "PYTHONEXECUTABLE",
        "PYTHONUSERBASE", "PYTHONBREAKPOINT", "PYTHONWARNINGS",
        "NODE_OPTIONS", "NODE_PATH", "PERL5OPT", "PERL5LIB", "PERLLIB", "RUBYOPT", "RUBYLIB",
        "BASH_ENV", "ENV", "SHELLOPTS", "PS4", "JAVA_TOOL_OPTIONS", "_JAVA_OPTIONS",
        "JDK_JAVA_OPTIONS", "GCONV_PATH", "HOSTALIASES",
    }
)  # fmt: skip


class CommandNotAllowedError(ForbiddenError):
    """A command (or a variable of its environment) the operator's allow list does not admit."""


class Rule(NamedTuple):
    executable: str
    patterns: tuple[str, ...] | None  # None: any arguments

    def admits(self, args: Sequence[str]) -> bool:
        if self.patterns is None:
            return True
        patterns = self.patterns
        if patterns and patterns[-1] == ANY_MORE:
            patterns = patterns[:-1]
            if len(args) < len(patterns):
                return False
            args = args[: len(patterns)]
        elif len(args) != len(patterns):
            return False
        return all(fnmatchcase(a, p) for a, p in zip(args, patterns, strict=True))


def is_clean_path(path: str) -> bool:
    """Absolute and normalised: no PATH search, no `..` or `.` or doubled slashes to play with."""
    return path.startswith("/") and not path.startswith("//") and os.path.normpath(path) == path


@functools.lru_cache(maxsize=8)
def parse(text: str) -> tuple[Rule, ...]:
    """The rules of a setting's text; ValueError names a bad entry (a start-up error)."""
    rules = []
    for entry in _SEPARATOR.split(text):
        if not entry.strip():
            continue
        words = shlex.split(entry)
        if not is_clean_path(words[0]):
            raise ValueError(f"allowed command {words[0]!r} is not an absolute, normalised path")
        rules.append(Rule(words[0], tuple(words[1:]) if len(words) > 1 else None))
    return tuple(rules)


def check_command(rules: Iterable[Rule], command: Sequence[str]) -> None:
    """Raise CommandNotAllowedError unless some rule admits the whole argv."""
    if not command or not is_clean_path(command[0]):
        raise CommandNotAllowedError(
            "the command must start with the executable's absolute path", {"field": "command"}
        )
    executable, args = command[0], command[1:]
    if not any(r.executable == executable and r.admits(args) for r in rules):
        raise CommandNotAllowedError(
            "the command is not on the operator's allow list (FORGE_STDIO_ALLOWED_COMMANDS)",
            {"field": "command"},
        )


def check_env_names(names: Iterable[str]) -> None:
    """Raise CommandNotAllowedError for variables that would load code into the child."""
    for name in names:
        if name.startswith(_LOADER_PREFIXES) or name in _CODE_VARIABLES:
            raise CommandNotAllowedError(
                f"env {name} would make the command load other code", {"field": "env"}
            )


def check(text: str, command: Sequence[str], env_names: Iterable[str] = ()) -> None:
    """The whole check of a launch: the command against the setting's rules, then its env."""
    check_command(parse(text), command)
    check_env_names(env_names)
