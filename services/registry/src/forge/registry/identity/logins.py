"""Signing in: password login (throttled), password change, and SSO login with team mapping."""

from __future__ import annotations

from typing import Any

from forge.core.errors import (
    ConflictError,
    ForbiddenError,
    InvalidParamsError,
    NotFoundError,
    UnauthorizedError,
)
from forge.proto.identity import UserAccess
from forge.proto.identity_params import ChangePasswordParams, LoginParams, SsoLoginParams
from forge.registry.identity import events, throttle
from forge.registry.identity.context import Context
from forge.registry.identity.params import (
    check_email,
    check_name,
    check_optional,
    check_provider,
    check_role_name,
)
from forge.registry.identity.tables import audit, teams, users

# One answer for an unknown email, a wrong password, a disabled account or no password at all.
INVALID = "invalid email or password"
MAX_GROUPS = 1000


async def login(p: LoginParams, ctx: Context) -> UserAccess:
    """Every refusal is the same for known and unknown emails: 429 from the throttle before any
    password is looked at, else one Argon2 verification (a real one or a wasted one) and 401.

    A device cookie counts only when the account it names is this email's account as it is now
    (not a deleted one of the same email): known and unknown emails read the same row first."""
    try:
        email = check_email(p.email)
    except InvalidParamsError:
        email = None
    row = None
    if email is not None:
        async with ctx.store.read() as tx:
            row = await users.row(tx, email)
    vouched = row is not None and p.device is not None and p.device_account == row["id"]
    keys = throttle.sign_in_keys(p.email, p.client_ip, p.device if vouched else None)
    await throttle.check(ctx, keys)
    if row is None or email is None:
        await ctx.passwords.waste(p.password)
        correct = False
    else:
        correct = await ctx.passwords.verify(row["password_hash"], p.password)
    if row is None or email is None or not correct or not row["active"]:
        await throttle.failed(ctx, keys)
        raise UnauthorizedError(INVALID)
    rehashed = None
    if ctx.passwords.needs_rehash(row["password_hash"]):
        rehashed = await ctx.passwords.hash(p.password)
    async with ctx.store.tx() as tx:
        await users.login_succeeded(tx, row["id"], rehashed)
        await audit.write(tx, email, "users.login", email, {"method": "password"})
        seen = await users.access_by_email(tx, email)
    await throttle.succeeded(ctx, keys)
    if seen is None:
        raise UnauthorizedError(INVALID)  # deleted meanwhile
    return seen


async def change_password(p: ChangePasswordParams, ctx: Context) -> dict[str, Any]:
    """The principal's own password; the current one is checked (failures are throttled)."""
    email = ctx.actor
    keys = throttle.Keys(throttle.password_key(email))
    async with ctx.store.read() as tx:
        row = await users.row(tx, email)
    if row is None or not row["active"]:
        raise NotFoundError("no active user is signed in")
    await throttle.check(ctx, keys)
    if not await ctx.passwords.verify(row["password_hash"], p.old_password):
        await throttle.failed(ctx, keys)
        raise ForbiddenError("the current password is not correct")
    if p.new_password == p.old_password:
        raise InvalidParamsError(
            "the new password must differ from the current one", {"field": "new_password"}
        )
    ctx.passwords.check(p.new_password, email, "new_password")
    hashed = await ctx.passwords.hash(p.new_password)
    async with ctx.store.tx() as tx:
        await users.set_fields(tx, row["id"], password_hash=hashed)
        await audit.write(tx, email, "users.change_password", email)
    await throttle.succeeded(ctx, keys)
    return {"email": email, "changed": True}


async def sso_login(p: SsoLoginParams, ctx: Context) -> UserAccess:
    """Upsert an SSO user; keep the memberships of mapped groups in step with the IdP's groups.

    Teams named by the mapping are created when missing (without an owner: admins assign one).
    Only memberships an earlier login through the same provider added are ever removed.
    """
    provider = check_provider(p.provider)
    email = check_email(p.email)
    full_name = check_optional(p.full_name, "full_name")
    default_role = check_role_name(p.default_role, "default_role")
    if len(p.groups) > MAX_GROUPS:
        raise InvalidParamsError(f"at most {MAX_GROUPS} groups", {"field": "groups"})
    names = sorted(
        {check_name(p.team_mapping[g], "team_mapping") for g in p.groups if g in p.team_mapping}
    )
    auth_provider = f"sso:{provider}"
    try:
        return await _sso_upsert(ctx, email, full_name, default_role, names, auth_provider)
    except ConflictError:
        # Two first logins of one user raced and this insert lost: now the user exists.
        return await _sso_upsert(ctx, email, full_name, default_role, names, auth_provider)


async def _sso_upsert(
    ctx: Context,
    email: str,
    full_name: str | None,
    default_role: str,
    names: list[str],
    auth_provider: str,
) -> UserAccess:
    provider = auth_provider.removeprefix("sso:")
    async with ctx.store.tx() as tx:
        row = await users.row(tx, email, lock=True)
        if row is None:
            new = users.NewUser(email, full_name, None, True, auth_provider)
            user_id = await users.insert(tx, new, [default_role], auth_provider)
        elif not row["active"]:
            raise UnauthorizedError("this account is disabled")
        else:
            user_id = row["id"]
            await users.set_fields(
                tx, user_id, auth_provider=auth_provider, full_name=full_name or row["full_name"]
            )
        wanted = {await teams.shared_by_name(tx, name, auth_provider) for name in names}
        added = [t for t in sorted(wanted) if await teams.add_sso_member(tx, t, user_id, provider)]
        removed = sorted(await teams.sso_teams(tx, user_id, provider) - wanted)
        for team_id in removed:
            await teams.remove_member(tx, team_id, user_id)
        await users.login_succeeded(tx, user_id)
        details = {"provider": provider, "created": row is None, "added": added, "removed": removed}
        await audit.write(tx, email, "users.sso_login", email, details)
        seen = await users.access_by_email(tx, email)
    await events.users_changed(ctx.bus, ctx.store, [user_id])
    if seen is None:  # committed just above
        raise NotFoundError("no user has this email")
    return seen
