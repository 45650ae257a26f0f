"""Change events, published after commit on `forge.events.identity.<entity>.<changed|deleted>`.

Each `users.changed` carries the user's whole UserAccess, so the edge replaces its cache entry
and a lost event heals at the next change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec

from forge.core import subjects
from forge.core.bus import Bus
from forge.proto.catalog import Deleted
from forge.proto.identity import Revocation, TokenEntry, UserDeleted
from forge.registry.identity.store import Store
from forge.registry.identity.tables import users

_ENC = msgspec.json.Encoder()


async def _publish(bus: Bus, entity: str, kind: str, body: Any) -> None:
    await bus.publish(subjects.event(subjects.IDENTITY, entity, kind), _ENC.encode(body))


async def users_changed(bus: Bus, store: Store, user_ids: Iterable[str]) -> None:
    ids = sorted(set(user_ids))
    if not ids:
        return
    async with store.read() as tx:
        found = await users.accesses(tx, ids)
    for seen in found:
        await _publish(bus, "users", "changed", seen)


async def user_deleted(bus: Bus, email: str) -> None:
    await _publish(bus, "users", "deleted", UserDeleted(email=email))


async def tokens_changed(bus: Bus, entries: Iterable[TokenEntry]) -> None:
    for entry in entries:
        await _publish(bus, "tokens", "changed", entry)


async def tokens_deleted(bus: Bus, token_ids: Iterable[str]) -> None:
    for token_id in token_ids:
        await _publish(bus, "tokens", "deleted", Deleted(id=token_id))


async def revocation_changed(bus: Bus, revocation: Revocation) -> None:
    await _publish(bus, "revocations", "changed", revocation)
