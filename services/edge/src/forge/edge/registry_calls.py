"""Edge requests to a registry: one envelope to `forge.registry.<registry>.<entity>.<op>`."""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.proto.envelope import Envelope, Principal

_ENC = msgspec.json.Encoder()


async def registry_call(
    bus: Bus,
    registry: str,
    entity: str,
    op: str,
    params: Any,
    principal: Principal,
    timeout_s: float,
) -> bytes:
    """The registry's reply (raw JSON) to `<registry>.<entity>.<op>`, asked as `principal`."""
    envelope = Envelope(
        id=uuid.uuid4().hex,
        method=f"{registry}.{entity}.{op}",
        params=msgspec.Raw(_ENC.encode(params)),
        principal=principal,
        deadline=time.time() + timeout_s,
    )
    return await rpc.call(bus, subjects.registry(registry, entity, op), envelope)


def without_token(principal: Principal) -> Principal:
    """The principal without the caller's bearer token, which the identity registry and the
    plugin bindings never need (catalog calls keep it: discovery may exchange it upstream)."""
    return msgspec.structs.replace(principal, subject_token=None)
