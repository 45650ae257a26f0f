"""Starting stdio children: the allow list checked again (defence in depth), the launch in the
audit log before the process starts, then forge.core.launch's least privilege."""

from __future__ import annotations

import asyncio
import logging
import subprocess
from collections.abc import Mapping

from forge.core import commands, launch_audit
from forge.core.bus import Bus
from forge.core.commands import CommandNotAllowedError
from forge.core.errors import ForgeError, UpstreamUnavailableError
from forge.core.launch import Account, Launch, account, account_name, limits_of
from forge.proto.catalog import Gateway
from forge.proto.identity import LaunchAudit
from forge.upstream_proxy.config import UpstreamProxyConfig

log = logging.getLogger("forge.upstream_proxy.transports.stdio")
# The only variables a child inherits from the upstream-proxy: FORGE_* secrets never reach it.
# (HOME and TMPDIR are the child's own working directory.)
INHERITED = ("PATH", "LANG")
MAX_LINE = 64 * 1024 * 1024


def child_env(own: Mapping[str, str], inherited: Mapping[str, str]) -> dict[str, str]:
    """PATH and LANG of the proxy, then the gateway's own variables (opened from its sealed
    credentials, see credentials.Access.env)."""
    env = {name: inherited[name] for name in INHERITED if name in inherited}
    env.update(own)
    return env


class CannotStartError(UpstreamUnavailableError):
    """The command's executable could not be started as the stdio account (EACCES, ENOENT...).
    Calls get it as -32001; a discovery (registration, refresh) as 422, naming the field."""


class Launcher:
    """What every stdio child of this replica is started with. ValueError for a bad setting."""

    def __init__(
        self, bus: Bus, config: UpstreamProxyConfig, inherited: Mapping[str, str], service: str
    ) -> None:
        self.bus = bus
        self.allowed = config.stdio_allowed_commands
        commands.parse(self.allowed)  # a bad entry stops the proxy at start, with its name
        self.account: Account | None = account(config.stdio_user)
        self.limits = limits_of(config)
        self.inherited = dict(inherited)
        self.service = service

    def _entry(self, gateway: Gateway, action: str, reason: str | None = None) -> LaunchAudit:
        return LaunchAudit(
            action=action,
            actor=gateway.owner or "unknown",
            gateway_id=gateway.id,
            gateway_name=gateway.name,
            command=list(gateway.command or []),
            run_as=str(self.account.uid) if self.account is not None else None,
            reason=reason,
            service=self.service,
        )

    async def _record_quietly(self, entry: LaunchAudit) -> None:
        try:
            await launch_audit.record(self.bus, entry)
        except ForgeError as exc:
            log.warning("gateway %r: %s not audited: %s", entry.gateway_name, entry.action, exc)

    async def start(
        self, gateway: Gateway, own_env: Mapping[str, str]
    ) -> tuple[asyncio.subprocess.Process, Launch]:
        """The running child and its Launch (whose `cleanup` follows the child's exit).

        CommandNotAllowedError when the allow list refuses it; a ForgeError when the audit log
        cannot record it (nothing starts then); UpstreamUnavailableError when exec fails.
        """
        command = list(gateway.command or [])
        try:
            commands.check(self.allowed, command, own_env.keys())
        except CommandNotAllowedError as exc:
            await self._record_quietly(self._entry(gateway, "stdio.refused", exc.message))
            raise
        await launch_audit.record(self.bus, self._entry(gateway, "stdio.launch"))
        launch = Launch(command, child_env(own_env, self.inherited), self.account, self.limits)
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                limit=MAX_LINE,
                **launch.popen_args(),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            launch.cleanup()
            reason = f"{type(exc).__name__}: {getattr(exc, 'strerror', None) or exc}"
            await self._record_quietly(self._entry(gateway, "stdio.launch_failed", reason))
            raise self.cannot_start(gateway, command[0], exc) from exc
        return proc, launch

    def cannot_start(
        self, gateway: Gateway, executable: str, exc: OSError | subprocess.SubprocessError
    ) -> CannotStartError:
        """What the operator needs to fix it: the account, the executable and why."""
        who = account_name(self.account)
        why = getattr(exc, "strerror", None) or str(exc)
        hint = ""
        if isinstance(exc, PermissionError):
            # EACCES as the stdio account: e.g. an interpreter under a private home (/root).
            hint = (
                "; every directory on its path must be searchable, and the file executable, by"
                " that account (FORGE_STDIO_USER)"
            )
        return CannotStartError(
            f"gateway {gateway.name!r}: the account {who!r} cannot start {executable} ({why})"
            + hint,
            {"field": "command", "account": who, "executable": executable},
        )
