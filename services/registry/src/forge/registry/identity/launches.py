"""Process launches in the audit log: what the upstream-proxy and the catalog registry (which
have no identity database) started or refused to start, sent on `forge.audit.launch`."""

from __future__ import annotations

import logging

import msgspec

from forge.core import rpc
from forge.core.errors import InvalidParamsError
from forge.proto.identity import LaunchAudit
from forge.registry.identity.store import Store
from forge.registry.identity.tables import audit

log = logging.getLogger("forge.registry.identity")
ACTIONS = frozenset({"stdio.launch", "stdio.launch_failed", "stdio.refused"})
_DECODER = msgspec.json.Decoder(LaunchAudit)
_MALFORMED = rpc.error_reply(InvalidParamsError("malformed launch audit record").to_object())
_UNKNOWN_ACTION = rpc.error_reply(InvalidParamsError("unknown launch audit action").to_object())


async def record(store: Store, data: bytes) -> bytes:
    """Write one launch to the audit log; the reply says whether it is stored (the sender
    starts nothing before it is)."""
    try:
        launch = _DECODER.decode(data)
    except msgspec.DecodeError:
        log.warning("dropped a malformed launch audit record")
        return _MALFORMED
    if launch.action not in ACTIONS:
        return _UNKNOWN_ACTION
    details = {
        "gateway": launch.gateway_name,
        "command": launch.command,
        "run_as": launch.run_as,
        "reason": launch.reason,
        "service": launch.service,
    }
    async with store.tx() as tx:
        await audit.write(
            tx,
            launch.actor,
            launch.action,
            launch.gateway_id or None,  # none yet: a refused registration
            {k: v for k, v in details.items() if v is not None},
        )
    return b'{"result":{"stored":true}}'
