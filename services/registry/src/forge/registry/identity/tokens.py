"""API tokens and JWT revocations. A raw token is shown once, at creation; only its sha256 is
stored, and the hash never leaves through an operation (only in events, for the edge's cache)."""

from __future__ import annotations

import hashlib
import math
import secrets
from typing import Any

from forge.core.errors import ConflictError, ForbiddenError, InvalidParamsError, NotFoundError
from forge.proto.identity import Revocation, TokenRecord, TokenUsage
from forge.proto.identity_params import (
    CreateRevocationParams,
    CreateTokenParams,
    IdParams,
    ListTokensParams,
)
from forge.registry.identity import events, records, scopes, token_limits
from forge.registry.identity.context import Context, require_admin
from forge.registry.identity.params import check_email, check_name, check_optional
from forge.registry.identity.store import Row, Store, Tx
from forge.registry.identity.tables import audit, tokens, users

PREFIX = "forge_"


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_token(p: CreateTokenParams, ctx: Context) -> dict[str, Any]:
    name = check_name(p.name)
    owner_email = ctx.actor if p.user_email is None else check_email(p.user_email, "user_email")
    if owner_email != ctx.actor and not ctx.is_admin:
        raise ForbiddenError("only platform admins may create tokens for other users")
    server_id = check_optional(p.server_id, "server_id")
    cidrs, (start, end) = scopes.cidrs(p.cidrs), scopes.window(p.window_start, p.window_end)
    days, expires_at = scopes.days(p.window_days), scopes.expiry(p.expires_in_days, ctx.now())
    raw = PREFIX + secrets.token_urlsafe(32)
    async with ctx.store.tx() as tx:
        creator = await token_limits.creator(tx, ctx)
        owner = await users.access_by_email(tx, owner_email)
        if owner is None:
            raise NotFoundError("no user has this email", {"email": owner_email})
        if not owner.active:
            raise ConflictError("tokens cannot be created for a deactivated user")
        new = tokens.NewToken(
            token_hash=token_hash(raw),
            user_id=owner.id,
            name=name,
            teams=scopes.teams(p.teams, owner),
            server_id=server_id,
            permissions=scopes.permissions(p.permissions, owner),
            cidrs=cidrs,
            window_start=start,
            window_end=end,
            window_days=days,
            expires_at=expires_at,
        )
        if creator is not None:
            new = token_limits.within(new, creator, owner)
        row = await tokens.insert(tx, new)
        details = {
            "name": name,
            "owner": owner_email,
            "teams": list(new.teams),
            "permissions": list(new.permissions),
            "server_id": new.server_id,
            "expires_at": records.timestamp(row["expires_at"]),
        }
        await audit.write(tx, ctx.actor, "tokens.create", row["id"], details)
    await events.tokens_changed(ctx.bus, [records.token_entry(row)])
    return {"token": raw, "record": records.token(row)}


async def record_usage(store: Store, usage: TokenUsage) -> int:
    """One usage batch from the edge; returns how many known tokens it touched."""
    if not usage.counts:
        return 0
    async with store.tx() as tx:
        return await tokens.record_usage(tx, usage.counts, usage.last_used)


async def _own(tx: Tx, ctx: Context, token_id: str) -> Row:
    """The token, if it is the principal's or the principal is an admin (else "unknown")."""
    row = await tokens.get(tx, token_id)
    if row["email"] != ctx.actor and not ctx.is_admin:
        raise NotFoundError("no token has this id", {"id": token_id})
    return row


async def list_tokens(params: ListTokensParams, ctx: Context) -> list[TokenRecord]:
    """Your tokens; everyone's with `all` (platform admins only)."""
    every = params.all
    if every:
        require_admin(ctx, "list every user's tokens")
    async with ctx.store.read() as tx:
        if every:
            return [records.token(r) for r in await tokens.of_user(tx, None)]
        user = await users.row(tx, ctx.actor)
        found = [] if user is None else await tokens.of_user(tx, user["id"])
    return [records.token(r) for r in found]


async def get_token(params: IdParams, ctx: Context) -> TokenRecord:
    token_id = params.id
    async with ctx.store.read() as tx:
        return records.token(await _own(tx, ctx, token_id))


async def revoke_token(params: IdParams, ctx: Context) -> TokenRecord:
    token_id = params.id
    async with ctx.store.tx() as tx:
        row = await _own(tx, ctx, token_id)
        revoked = await tokens.revoke(tx, token_id)
        if revoked:
            await audit.write(tx, ctx.actor, "tokens.revoke", token_id, {"owner": row["email"]})
        row = await tokens.get(tx, token_id)
    if revoked:
        await events.tokens_deleted(ctx.bus, [token_id])
    return records.token(row)


async def create_revocation(p: CreateRevocationParams, ctx: Context) -> Revocation:
    """Revoke a JWT by its id: admins any, anyone the token they are using right now."""
    jti = check_name(p.jti, "jti")
    if not ctx.is_admin and jti != ctx.principal.token_id:
        raise ForbiddenError("only platform admins may revoke tokens other than their own")
    if p.expires_at is not None and not math.isfinite(p.expires_at):
        raise InvalidParamsError("expires_at must be a UNIX time", {"field": "expires_at"})
    reason = check_optional(p.reason, "reason", 1000)
    async with ctx.store.tx() as tx:
        row = await tokens.upsert_revocation(tx, jti, p.expires_at, reason, ctx.actor)
        await audit.write(tx, ctx.actor, "revocations.create", jti, {"reason": reason})
    revocation = records.revocation(row)
    await events.revocation_changed(ctx.bus, revocation)
    return revocation


async def list_revocations(params: None, ctx: Context) -> list[Revocation]:
    require_admin(ctx, "list revocations")
    async with ctx.store.read() as tx:
        return [records.revocation(r) for r in await tokens.revocations(tx, ctx.now())]
