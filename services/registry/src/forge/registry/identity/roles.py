"""Roles and role bindings: platform admins manage them; built-in roles are fixed by the code.

A change to what a role grants republishes the UserAccess of every user bound to it.
"""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from forge.core.errors import ConflictError, ForbiddenError, InvalidParamsError, NotFoundError
from forge.proto.access import ALL, PERMISSIONS
from forge.proto.identity import RoleBinding, RoleRecord
from forge.proto.identity_params import (
    BindingParams,
    CreateRoleParams,
    ListBindingsParams,
    NameParams,
    UpdateRoleParams,
)
from forge.registry.identity import events, records
from forge.registry.identity.context import Context, require_admin, require_permission
from forge.registry.identity.params import check_description, check_email, check_role_name
from forge.registry.identity.records import ADMIN_ROLE
from forge.registry.identity.store import BOOTSTRAP_LOCK
from forge.registry.identity.tables import audit, roles, teams, users

_KNOWN = frozenset((*PERMISSIONS, ALL))


def check_permissions(permissions: list[str]) -> list[str]:
    """Each one a known permission or `*`; duplicates dropped, order kept."""
    for permission in permissions:
        if permission not in _KNOWN:
            raise InvalidParamsError(
                f"unknown permission: {permission}",
                {"field": "permissions", "permission": permission},
            )
    return list(dict.fromkeys(permissions))


def _changeable(role: Any) -> None:
    if role["builtin"]:
        raise ForbiddenError("built-in roles cannot be changed or deleted")


async def list_roles(params: None, ctx: Context) -> list[RoleRecord]:
    async with ctx.store.read() as tx:
        return [records.role(r) for r in await roles.every(tx)]


async def get_role(params: NameParams, ctx: Context) -> RoleRecord:
    name = params.name
    async with ctx.store.read() as tx:
        return records.role(await roles.get(tx, name))


async def create_role(p: CreateRoleParams, ctx: Context) -> RoleRecord:
    require_admin(ctx, "manage roles")
    name = check_role_name(p.name, "name")
    permissions, description = check_permissions(p.permissions), check_description(p.description)
    async with ctx.store.tx() as tx:
        row = await roles.insert(tx, name, description, permissions)
        await audit.write(tx, ctx.actor, "roles.create", name, {"permissions": permissions})
    return records.role(row)


async def update_role(p: UpdateRoleParams, ctx: Context) -> RoleRecord:
    require_admin(ctx, "manage roles")
    async with ctx.store.tx() as tx:
        role = await roles.get(tx, p.name, lock=True)
        _changeable(role)
        description = (
            role["description"] if p.description is UNSET else check_description(p.description)
        )
        permissions = (
            list(role["permissions"])
            if p.permissions is UNSET
            else check_permissions(p.permissions)
        )
        row = await roles.update(tx, role["name"], description, permissions)
        regranted = permissions != list(role["permissions"])
        await audit.write(tx, ctx.actor, "roles.update", role["name"], {"permissions": permissions})
        bound = await roles.bound_users(tx, [role["name"]]) if regranted else []
    await events.users_changed(ctx.bus, ctx.store, bound)
    return records.role(row)


async def delete_role(params: NameParams, ctx: Context) -> dict[str, Any]:
    require_admin(ctx, "manage roles")
    name = params.name
    async with ctx.store.tx() as tx:
        _changeable(await roles.get(tx, name, lock=True))
        bound = await roles.bound_users(tx, [name])
        await roles.delete(tx, name)  # its bindings go with it
        await audit.write(tx, ctx.actor, "roles.delete", name, {"unbound_users": len(bound)})
    await events.users_changed(ctx.bus, ctx.store, bound)
    return {"name": name, "deleted": True}


async def list_bindings(p: ListBindingsParams, ctx: Context) -> list[RoleBinding]:
    """Your own bindings; anyone's (or everyone's) with rbac.read."""
    email = None if p.email is None else check_email(p.email)
    if email != ctx.actor:
        require_permission(ctx, "rbac.read", "reading other users' role bindings")
    async with ctx.store.read() as tx:
        return [records.binding(r) for r in await roles.bindings(tx, email)]


def _binding_target(ctx: Context, p: BindingParams) -> tuple[str, str, str | None]:
    require_admin(ctx, "manage role bindings")
    return check_email(p.email), p.role, p.team_id


async def grant(params: BindingParams, ctx: Context) -> RoleBinding:
    """Bind a role (globally, or on one team); binding it again changes nothing."""
    email, role, team_id = _binding_target(ctx, params)
    async with ctx.store.tx() as tx:
        user = await users.need(tx, email)
        await roles.get(tx, role)
        if team_id is not None:
            await teams.get(tx, team_id)
        if await roles.grant(tx, user["id"], role, team_id, ctx.actor):
            await audit.write(
                tx, ctx.actor, "bindings.grant", email, {"role": role, "team_id": team_id}
            )
        found = await roles.binding(tx, user["id"], role, team_id)
    await events.users_changed(ctx.bus, ctx.store, [user["id"]])
    if found is None:  # written just above
        raise NotFoundError("no such binding")
    return records.binding(found)


async def revoke(params: BindingParams, ctx: Context) -> dict[str, Any]:
    email, role, team_id = _binding_target(ctx, params)
    async with ctx.store.tx(lock=BOOTSTRAP_LOCK) as tx:
        user = await users.need(tx, email)
        if role == ADMIN_ROLE and user["active"]:
            if not await users.other_active_admins(tx, user["id"]):
                raise ConflictError("the last active platform admin keeps the role")
        if not await roles.revoke(tx, user["id"], role, team_id):
            raise NotFoundError("this role is not bound to this user there")
        await audit.write(
            tx, ctx.actor, "bindings.revoke", email, {"role": role, "team_id": team_id}
        )
    await events.users_changed(ctx.bus, ctx.store, [user["id"]])
    return {"email": email, "role": role, "team_id": team_id, "revoked": True}
