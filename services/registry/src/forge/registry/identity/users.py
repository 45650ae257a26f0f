"""User operations: create (admins), register (self sign-up), get, list, update, delete, access."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from forge.core.errors import ConflictError, ForbiddenError, NotFoundError
from forge.proto import access
from forge.proto.identity import UserAccess, UserRecord
from forge.proto.identity_params import (
    CreateUserParams,
    EmailParams,
    RegisterParams,
    UpdateUserParams,
)
from forge.registry.identity import events, throttle
from forge.registry.identity.context import Context, require_admin, require_permission
from forge.registry.identity.params import check_email, check_optional, check_role_name
from forge.registry.identity.records import ADMIN_ROLE
from forge.registry.identity.store import BOOTSTRAP_LOCK
from forge.registry.identity.tables import audit, teams, tokens, users

DEFAULT_ROLE = "developer"


async def create_user(p: CreateUserParams, ctx: Context) -> UserRecord:
    require_admin(ctx, "create users")
    email = check_email(p.email)
    full_name = check_optional(p.full_name, "full_name")
    roles = [DEFAULT_ROLE] if p.roles is None else [check_role_name(r, "roles") for r in p.roles]
    if p.is_admin:
        roles.append(ADMIN_ROLE)
    hashed = None
    if p.password is not None:
        ctx.passwords.check(p.password, email)
        hashed = await ctx.passwords.hash(p.password)
    async with ctx.store.tx() as tx:
        new = users.NewUser(email, full_name, hashed, p.active)
        user_id = await users.insert(tx, new, roles, ctx.actor)
        details = {"roles": sorted(set(roles)), "active": p.active, "password": hashed is not None}
        await audit.write(tx, ctx.actor, "users.create", email, details)
        created = await users.record(tx, email)
    await events.users_changed(ctx.bus, ctx.store, [user_id])
    return created


async def register(p: RegisterParams, ctx: Context) -> UserAccess:
    """Self sign-up with a password; whether it is open is the edge's decision."""
    email = check_email(p.email)
    full_name = check_optional(p.full_name, "full_name")
    ctx.passwords.check(p.password, email)
    hashed = await ctx.passwords.hash(p.password)
    async with ctx.store.tx() as tx:
        user_id = await users.insert(
            tx, users.NewUser(email, full_name, hashed), [DEFAULT_ROLE], email
        )
        await audit.write(tx, email, "users.register", email, {"roles": [DEFAULT_ROLE]})
        seen = await users.access_by_email(tx, email)
    await events.users_changed(ctx.bus, ctx.store, [user_id])
    if seen is None:  # committed just above
        raise NotFoundError("no user has this email")
    return seen


async def get_user(params: EmailParams, ctx: Context) -> UserRecord:
    email = check_email(params.email)
    if email != ctx.actor:
        require_permission(ctx, "users.read", "reading another user")
    async with ctx.store.read() as tx:
        return await users.record(tx, email)


async def list_users(params: None, ctx: Context) -> list[UserRecord]:
    """Every user for admins and holders of users.read; yourself for anyone else."""
    async with ctx.store.read() as tx:
        if access.permits(ctx.principal, "users.read"):
            return await users.all_records(tx)
        found = await users.row(tx, ctx.actor)
        return [] if found is None else [await users.record(tx, ctx.actor)]


async def access_of(params: EmailParams, ctx: Context) -> UserAccess:
    """The edge's cache fill on a miss."""
    email = check_email(params.email)
    async with ctx.store.read() as tx:
        seen = await users.access_by_email(tx, email)
    if seen is None:
        raise NotFoundError("no user has this email", {"email": email})
    return seen


async def update_user(p: UpdateUserParams, ctx: Context) -> UserRecord:
    """Anyone may rename themselves; only admins set another user's fields, activity, password."""
    email = check_email(p.email)
    if not ctx.is_admin and (email != ctx.actor or p.active is not UNSET):
        raise ForbiddenError("only platform admins may change another user or activate users")
    if not ctx.is_admin and p.password is not UNSET:
        raise ForbiddenError("change your own password with users.change_password")
    fields: dict[str, Any] = {}
    if p.full_name is not UNSET:
        fields["full_name"] = check_optional(p.full_name, "full_name")
    if p.active is not UNSET:
        fields["active"] = p.active
    if p.password is not UNSET:
        ctx.passwords.check(p.password, email)
        fields["password_hash"] = await ctx.passwords.hash(p.password)
    async with ctx.store.tx(lock=BOOTSTRAP_LOCK) as tx:
        user = await users.need(tx, email, lock=True)
        if p.active is False and await users.holds(tx, user["id"], ADMIN_ROLE):
            if not await users.other_active_admins(tx, user["id"]):
                raise ConflictError("the last active platform admin cannot be deactivated")
        if fields:
            await users.set_fields(tx, user["id"], **fields)
            changed = sorted("password" if f == "password_hash" else f for f in fields)
            await audit.write(tx, ctx.actor, "users.update", email, {"fields": changed})
        revoked: list[str] = []
        if p.active is not UNSET and p.active != user["active"]:
            # Either way the JWTs issued until now end, and deactivating revokes the API tokens
            # for good: reactivating an account never brings back what it held before.
            await users.end_sessions(tx, user["id"], ctx.now())
            if not p.active:
                revoked = await tokens.revoke_all(tx, user["id"])
                await audit.write(tx, ctx.actor, "tokens.revoke_all", email, {"tokens": revoked})
        updated = await users.record(tx, email)
    if "password_hash" in fields:  # a new password: earlier guesses say nothing about it
        await throttle.forget(ctx, throttle.account_key(email))
    await events.tokens_deleted(ctx.bus, revoked)
    await events.users_changed(ctx.bus, ctx.store, [user["id"]])
    return updated


async def delete_user(params: EmailParams, ctx: Context) -> dict[str, Any]:
    require_admin(ctx, "delete users")
    email = check_email(params.email)
    async with ctx.store.tx(lock=BOOTSTRAP_LOCK) as tx:
        user = await users.need(tx, email, lock=True)
        if await users.holds(tx, user["id"], ADMIN_ROLE):
            if not await users.other_active_admins(tx, user["id"]):
                raise ConflictError("the last active platform admin cannot be deleted")
        sole = await teams.solely_owned(tx, user["id"])
        if sole:
            raise ConflictError(
                "this user is the only owner of some teams: give them another owner first",
                {"teams": sole},
            )
        token_ids = await tokens.ids_of_user(tx, user["id"])
        await users.delete(tx, user)
        await audit.write(tx, ctx.actor, "users.delete", email)
    await events.user_deleted(ctx.bus, email)
    await events.tokens_deleted(ctx.bus, token_ids)
    return {"email": email, "deleted": True}
