"""SQL of the audit log: one row per change, written in the change's own transaction."""

from __future__ import annotations

from typing import Any

import msgspec

from forge.core.bus import TRACEPARENT
from forge.core.logs import trace_ids
from forge.registry.identity.store import Row, Tx

_ENC = msgspec.json.Encoder()


async def write(
    tx: Tx, actor: str, action: str, target: str | None, details: dict[str, Any] | None = None
) -> None:
    """Record who did what to what; `details` must never hold a secret. The entry carries the
    trace id of the request that made the change (`details.trace_id`), when it came with one."""
    ids = trace_ids(TRACEPARENT.get())
    if ids is not None:
        details = {**(details or {}), "trace_id": ids[0]}
    await tx.execute(
        "INSERT INTO audit_log (actor, action, target, details) VALUES ($1, $2, $3, $4::jsonb)",
        actor,
        action,
        target,
        _ENC.encode(details or {}).decode(),
    )


async def entries(tx: Tx, limit: int, actor: str | None, action: str | None) -> list[Row]:
    """The newest entries first, optionally of one actor and/or one action."""
    return await tx.fetch(
        "SELECT * FROM audit_log WHERE ($2::text IS NULL OR actor = $2)"
        " AND ($3::text IS NULL OR action = $3) ORDER BY at DESC, id DESC LIMIT $1",
        limit,
        actor,
        action,
    )
