"""Who may register a stdio gateway, and which commands: the `gateways.stdio` permission (global
grants only) and the operator's allow list, each refusal written to the audit log."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from forge.core import commands, launch_audit
from forge.core.commands import CommandNotAllowedError
from forge.core.errors import ForbiddenError, ForgeError
from forge.proto.access import LAUNCH, may_launch
from forge.proto.identity import LaunchAudit
from forge.registry.catalog.operation import Context

log = logging.getLogger("forge.registry")


async def _refused(
    ctx: Context, gateway_id: str, name: str, command: Sequence[str], why: str
) -> None:
    entry = LaunchAudit(
        action="stdio.refused",
        actor=ctx.principal.subject,
        gateway_id=gateway_id,
        gateway_name=name,
        command=list(command),
        reason=why,
        service="registry",
    )
    try:
        await launch_audit.record(ctx.bus, entry)
    except ForgeError as exc:  # the refusal stands; only its record is missing
        log.warning("a refused stdio registration was not audited: %s", exc.message)


async def require_permission(
    ctx: Context, gateway_id: str, name: str, command: Sequence[str]
) -> None:
    """403 unless the caller holds `gateways.stdio` through a global grant."""
    if not may_launch(ctx.principal):
        await _refused(ctx, gateway_id, name, command, f"lacks {LAUNCH}")
        raise ForbiddenError(
            f"permission denied: a stdio gateway needs the '{LAUNCH}' permission",
            {"permission": LAUNCH},
        )


async def check_command(
    ctx: Context, gateway_id: str, name: str, command: Sequence[str], env: Iterable[str]
) -> None:
    """The command and its variables' names against the operator's allow list (403)."""
    try:
        commands.check(ctx.config.stdio_allowed_commands, command, env)
    except CommandNotAllowedError as exc:
        await _refused(ctx, gateway_id, name, command, exc.message)
        raise
