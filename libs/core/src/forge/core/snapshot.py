"""Loading the catalog snapshot at start: asked of the registry until it answers."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any, TypeVar, overload

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import ForgeError
from forge.proto.catalog import LeanSnapshot, Snapshot
from forge.proto.envelope import Envelope, Principal

log = logging.getLogger("forge.snapshot")
S = TypeVar("S", Snapshot, LeanSnapshot)
# The longest wait between two attempts: a registry that starts (or restarts) is seen within
# this (it was 2 s: `forge up` waited up to that long after the registry was ready; issue 16).
# An attempt while no registry runs costs one NATS message ("no responders").
RETRY_MAX_S = 0.5


@overload
async def load_snapshot(bus: Bus, who: str, timeout_s: float) -> Snapshot: ...


@overload
async def load_snapshot(bus: Bus, who: str, timeout_s: float, kind: type[S]) -> S: ...


async def load_snapshot(bus: Bus, who: str, timeout_s: float, kind: type[Any] = Snapshot) -> Any:
    """The whole catalog (as `kind`: a Snapshot, or a LeanSnapshot for a cache that keeps tool
    schemas undecoded); retried with backoff while the registry is starting or unreachable."""
    decoder = msgspec.json.Decoder(kind)
    principal = Principal(subject=who, is_admin=True)
    subject = subjects.registry(subjects.CATALOG, "snapshot", "get")
    delay = 0.1
    while True:
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method="catalog.snapshot.get",
            params=msgspec.Raw(b"{}"),
            principal=principal,
            deadline=time.time() + timeout_s,
        )
        try:
            return decoder.decode(await rpc.call(bus, subject, envelope))
        except ForgeError as exc:
            log.info("catalog registry not answering yet (%s); retrying", exc.message)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("the catalog registry sent a malformed snapshot; retrying")
        await asyncio.sleep(delay)
        delay = min(delay * 2, RETRY_MAX_S)
