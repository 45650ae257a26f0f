"""SQL of API tokens (stored by hash only) and JWT revocations."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from forge.core.errors import NotFoundError
from forge.registry.identity.store import Row, Tx

_TOKENS = "SELECT t.*, u.email FROM api_tokens t JOIN users u ON u.id = t.user_id"
# What the edge may authenticate with: active, unexpired, and owned by an active user.
_USABLE = "t.active AND u.active AND (t.expires_at IS NULL OR t.expires_at > to_timestamp($1))"


@dataclass(frozen=True)
class NewToken:
    token_hash: str
    user_id: str
    name: str
    teams: tuple[str, ...] = ()
    server_id: str | None = None
    permissions: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    window_start: str | None = None
    window_end: str | None = None
    window_days: tuple[int, ...] = ()
    expires_at: float | None = None


async def insert(tx: Tx, new: NewToken) -> Row:
    token_id = uuid.uuid4().hex
    await tx.execute(
        "INSERT INTO api_tokens (id, token_hash, user_id, name, teams, server_id, permissions,"
        " cidrs, window_start, window_end, window_days, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, to_timestamp($12))",
        token_id,
        new.token_hash,
        new.user_id,
        new.name,
        list(new.teams),
        new.server_id,
        list(new.permissions),
        list(new.cidrs),
        new.window_start,
        new.window_end,
        list(new.window_days),
        new.expires_at,
    )
    return await get(tx, token_id)


async def get(tx: Tx, token_id: str) -> Row:
    found = await tx.fetchrow(_TOKENS + " WHERE t.id = $1", token_id)
    if found is None:
        raise NotFoundError("no token has this id", {"id": token_id})
    return found


async def of_user(tx: Tx, user_id: str | None) -> list[Row]:
    """A user's tokens (every user's when None), newest first."""
    if user_id is None:
        return await tx.fetch(_TOKENS + " ORDER BY t.created_at DESC, t.id")
    return await tx.fetch(
        _TOKENS + " WHERE t.user_id = $1 ORDER BY t.created_at DESC, t.id", user_id
    )


async def usable(tx: Tx, now: float, user_id: str | None = None) -> list[Row]:
    """Tokens the edge may accept now (of one user when given)."""
    if user_id is None:
        return await tx.fetch(_TOKENS + " WHERE " + _USABLE + " ORDER BY t.id", now)
    return await tx.fetch(
        _TOKENS + " WHERE " + _USABLE + " AND t.user_id = $2 ORDER BY t.id", now, user_id
    )


async def ids_of_user(tx: Tx, user_id: str) -> list[str]:
    found = await tx.fetch("SELECT id FROM api_tokens WHERE user_id = $1 AND active", user_id)
    return [r["id"] for r in found]


async def revoke(tx: Tx, token_id: str) -> bool:
    """Deactivate a token; False when it already was."""
    status = await tx.execute(
        "UPDATE api_tokens SET active = false, revoked_at = now() WHERE id = $1 AND active",
        token_id,
    )
    return status != "UPDATE 0"


async def revoke_all(tx: Tx, user_id: str) -> list[str]:
    """Deactivate every active token of a user; their ids."""
    found = await tx.fetch(
        "UPDATE api_tokens SET active = false, revoked_at = now()"
        " WHERE user_id = $1 AND active RETURNING id",
        user_id,
    )
    return sorted(r["id"] for r in found)


async def record_usage(tx: Tx, counts: Mapping[str, int], last_used: Mapping[str, float]) -> int:
    """Add one batch of uses in a single UPDATE; returns how many tokens it touched."""
    ids = list(counts)
    status = await tx.execute(
        "UPDATE api_tokens AS t SET use_count = t.use_count + u.n,"
        " last_used_at = GREATEST(t.last_used_at, to_timestamp(nullif(u.at, 0)))"
        " FROM unnest($1::text[], $2::bigint[], $3::float8[]) AS u(id, n, at)"
        " WHERE t.id = u.id",
        ids,
        [max(0, counts[i]) for i in ids],
        [last_used.get(i, 0.0) for i in ids],
    )
    return int(status.rsplit(" ", 1)[-1])


async def upsert_revocation(
    tx: Tx, jti: str, expires_at: float | None, reason: str | None, by: str
) -> Row:
    found = await tx.fetchrow(
        "INSERT INTO revocations (jti, expires_at, reason, revoked_by)"
        " VALUES ($1, to_timestamp($2), $3, $4) ON CONFLICT (jti) DO UPDATE SET"
        " expires_at = EXCLUDED.expires_at, reason = coalesce(EXCLUDED.reason, revocations.reason)"
        " RETURNING *",
        jti,
        expires_at,
        reason,
        by,
    )
    assert found is not None  # RETURNING always yields the row
    return found


async def revocations(tx: Tx, now: float) -> list[Row]:
    """Revocations still worth keeping: their token has not expired anyway."""
    return await tx.fetch(
        "SELECT * FROM revocations WHERE expires_at IS NULL OR expires_at > to_timestamp($1)"
        " ORDER BY created_at, jti",
        now,
    )
