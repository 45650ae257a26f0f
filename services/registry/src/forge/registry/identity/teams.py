"""Team operations: teams and their members. Owners and platform admins manage a team; its
members (and platform viewers) may look at it; a team keeps at least one owner."""

from __future__ import annotations

from typing import Any

from msgspec import UNSET

from forge.core.errors import ConflictError, ForbiddenError, InvalidParamsError, NotFoundError
from forge.proto.identity import MemberRecord, TeamRecord
from forge.proto.identity_params import (
    CreateTeamParams,
    IdParams,
    RemoveMemberParams,
    SetMemberParams,
    TeamIdParams,
    UpdateTeamParams,
)
from forge.registry.identity import events, records
from forge.registry.identity.context import Context, sees_all
from forge.registry.identity.params import (
    check_description,
    check_email,
    check_member_role,
    check_name,
)
from forge.registry.identity.store import Row, Tx
from forge.registry.identity.tables import audit, roles, teams, users


async def team_for(tx: Tx, ctx: Context, team_id: str, *, manage: bool, lock: bool = False) -> Row:
    """The team, if the principal may manage it (owner or admin) or, for reads, see it.

    A team the principal may not see answers exactly as an unknown id does (404), so its
    existence does not leak; only a team they see but may not manage answers 403.
    """
    team = await teams.get(tx, team_id, lock=lock)
    if ctx.is_admin or (not manage and sees_all(ctx)):
        return team
    role = await teams.role_of(tx, team_id, ctx.actor)
    if role == "owner" or (role is not None and not manage):
        return team
    if role is None and not sees_all(ctx):
        raise teams.unknown(team_id)
    raise ForbiddenError("only the team's owners and platform admins may manage this team")


def shared(team: Row) -> Row:
    if team["personal"]:
        raise InvalidParamsError("a personal team has only its owner", {"field": "team_id"})
    return team


async def create_team(p: CreateTeamParams, ctx: Context) -> TeamRecord:
    name, description = check_name(p.name), check_description(p.description)
    async with ctx.store.tx() as tx:
        creator = await users.row(tx, ctx.actor)
        if creator is None:
            raise ForbiddenError("only users may create teams")
        team = await teams.insert(tx, name, description, ctx.actor)
        await teams.set_member(tx, team["id"], creator["id"], "owner")
        await audit.write(tx, ctx.actor, "teams.create", team["id"], {"name": name})
    await events.users_changed(ctx.bus, ctx.store, [creator["id"]])
    return records.team(team)


async def get_team(params: IdParams, ctx: Context) -> TeamRecord:
    team_id = params.id
    async with ctx.store.read() as tx:
        return records.team(await team_for(tx, ctx, team_id, manage=False))


async def list_teams(params: None, ctx: Context) -> list[TeamRecord]:
    """The principal's teams (personal first); every team for admins and platform viewers."""
    async with ctx.store.read() as tx:
        if sees_all(ctx):
            return [records.team(t) for t in await teams.every(tx)]
        user = await users.row(tx, ctx.actor)
        found = [] if user is None else await teams.of_user(tx, user["id"])
    return [records.team(t) for t in found]


async def update_team(p: UpdateTeamParams, ctx: Context) -> TeamRecord:
    async with ctx.store.tx() as tx:
        team = await team_for(tx, ctx, p.id, manage=True, lock=True)
        name = team["name"] if p.name is UNSET else check_name(p.name)
        if team["personal"] and name != team["name"]:
            raise InvalidParamsError("a personal team keeps its name", {"field": "name"})
        description = (
            team["description"] if p.description is UNSET else check_description(p.description)
        )
        updated = await teams.update(tx, team["id"], name, description)
        changed = [f for f in ("name", "description") if team[f] != updated[f]]
        await audit.write(tx, ctx.actor, "teams.update", team["id"], {"fields": changed})
    return records.team(updated)


async def delete_team(params: IdParams, ctx: Context) -> dict[str, Any]:
    team_id = params.id
    async with ctx.store.tx() as tx:
        team = await team_for(tx, ctx, team_id, manage=True, lock=True)
        if team["personal"]:
            raise ConflictError("a personal team is deleted only with its user")
        # Bindings on the team go with it: their holders' per-team grants change too.
        members = [*await teams.member_ids(tx, team_id), *await roles.bound_on_team(tx, team_id)]
        await teams.delete(tx, team_id)
        await audit.write(tx, ctx.actor, "teams.delete", team_id, {"name": team["name"]})
    await events.users_changed(ctx.bus, ctx.store, members)
    return {"id": team_id, "deleted": True}


async def list_members(params: TeamIdParams, ctx: Context) -> list[MemberRecord]:
    team_id = params.team_id
    async with ctx.store.read() as tx:
        await team_for(tx, ctx, team_id, manage=False)
        return [records.member(m) for m in await teams.members(tx, team_id)]


async def set_member(p: SetMemberParams, ctx: Context) -> MemberRecord:
    """Add a user to a team or change their role there."""
    email, role = check_email(p.email), check_member_role(p.role)
    async with ctx.store.tx() as tx:
        shared(await team_for(tx, ctx, p.team_id, manage=True, lock=True))
        user = await users.need(tx, email)
        current = await teams.member(tx, p.team_id, user["id"])
        if current is not None and current["role"] == "owner" and role != "owner":
            if await teams.owners(tx, p.team_id) <= 1:
                raise ConflictError("a team keeps at least one owner")
        await teams.set_member(tx, p.team_id, user["id"], role)
        await audit.write(tx, ctx.actor, "members.set", p.team_id, {"email": email, "role": role})
        added = await teams.member(tx, p.team_id, user["id"])
    await events.users_changed(ctx.bus, ctx.store, [user["id"]])
    if added is None:  # written just above
        raise NotFoundError("no such membership")
    return records.member(added)


async def remove_member(p: RemoveMemberParams, ctx: Context) -> dict[str, Any]:
    """Owners and admins remove anyone; a member may leave on their own."""
    email = check_email(p.email)
    async with ctx.store.tx() as tx:
        # Leaving needs only to see the team: a hidden one answers as an unknown id.
        team = await team_for(tx, ctx, p.team_id, manage=email != ctx.actor, lock=True)
        shared(team)
        user = await users.need(tx, email)
        current = await teams.member(tx, p.team_id, user["id"])
        if current is None:
            raise NotFoundError("this user is not a member of the team")
        if current["role"] == "owner" and await teams.owners(tx, p.team_id) <= 1:
            raise ConflictError("a team keeps at least one owner")
        await teams.remove_member(tx, p.team_id, user["id"])
        await audit.write(tx, ctx.actor, "members.remove", p.team_id, {"email": email})
    await events.users_changed(ctx.bus, ctx.store, [user["id"]])
    return {"team_id": p.team_id, "email": email, "removed": True}
