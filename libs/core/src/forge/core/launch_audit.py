"""Sending a launch (or a refused one) to the audit log, kept by the identity registry."""

from __future__ import annotations

import time

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.proto.identity import LaunchAudit

AUDIT_TIMEOUT_S = 5.0
_ENC = msgspec.json.Encoder()


async def record(bus: Bus, entry: LaunchAudit, timeout_s: float = AUDIT_TIMEOUT_S) -> None:
    """Return once the entry is stored; a ForgeError (no registry, timeout, refusal) otherwise,
    on which a launch must not go ahead: no launch without its audit entry."""
    data = await bus.request(
        subjects.AUDIT_LAUNCH, _ENC.encode(entry), deadline=time.time() + timeout_s
    )
    rpc.unwrap(data)
