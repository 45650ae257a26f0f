"""How the CLI starts processes for others: `forge translate --stdio` children and the demo
server of `forge up --demo`, with forge.core.launch's least privilege and the shared
`FORGE_STDIO_*` settings.

`forge translate` runs on the operator's own machine, with a command the operator typed: that
command is its own allow list of one, unless FORGE_STDIO_ALLOWED_COMMANDS is set, when it must
match that list too (a host that restricts Forge's children restricts the bridge's as well).
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Mapping

import msgspec

from forge.core import commands, config
from forge.core.launch import Account, Limits, account, limits_of
from forge.core.settings import (
    StdioAllowedCommands,
    StdioMaxCpuS,
    StdioMaxMemoryMb,
    StdioMaxOpenFiles,
    StdioMaxProcesses,
    StdioUser,
)


class LaunchConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The shared FORGE_STDIO_* settings (docs/settings.md)."""

    stdio_allowed_commands: StdioAllowedCommands = ""
    stdio_user: StdioUser = "nobody"
    stdio_max_memory_mb: StdioMaxMemoryMb = 4096
    stdio_max_processes: StdioMaxProcesses = 512
    stdio_max_open_files: StdioMaxOpenFiles = 1024
    stdio_max_cpu_s: StdioMaxCpuS = 3600

    @property
    def limits(self) -> Limits:
        return limits_of(self)

    @property
    def account(self) -> Account | None:
        return account(self.stdio_user)


class CommandError(ValueError):
    """A command the CLI will not start; the message says why."""


def load(env: Mapping[str, str] | None = None) -> LaunchConfig:
    return config.load(LaunchConfig, "translate", env)


def resolve(command: str, settings: LaunchConfig) -> list[str]:
    """The argv of a command line (split as a shell would, run without one), its executable
    looked up once, now, in the operator's PATH; checked against the allow list when one is set."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise CommandError(f"cannot split the command: {exc}") from None
    if not argv:
        raise CommandError("the command is empty")
    executable = argv[0] if "/" in argv[0] else shutil.which(argv[0])
    if executable is None:
        raise CommandError(f"{argv[0]!r} is not an executable in PATH")
    argv[0] = os.path.normpath(os.path.abspath(executable))
    if settings.stdio_allowed_commands.strip():
        try:
            commands.check_command(commands.parse(settings.stdio_allowed_commands), argv)
        except commands.CommandNotAllowedError as exc:
            raise CommandError(exc.message) from None
        except ValueError as exc:  # a bad entry in the setting itself
            raise CommandError(str(exc)) from None
    return argv


def child_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The operator's environment without Forge's own settings and secrets (FORGE_*)."""
    return {k: v for k, v in environ.items() if not k.startswith("FORGE_")}
