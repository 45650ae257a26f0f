"""Invitations to join a team: a raw token shown once (only its hash is stored), accepted only
by the invited email before it expires."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from forge.core.errors import ConflictError, ForbiddenError, NotFoundError
from forge.proto.identity import InvitationRecord, MemberRecord
from forge.proto.identity_params import AcceptParams, IdParams, SetMemberParams, TeamIdParams
from forge.registry.identity import events, records
from forge.registry.identity.context import Context
from forge.registry.identity.params import check_email, check_member_role
from forge.registry.identity.tables import audit, teams, users
from forge.registry.identity.teams import shared, team_for

VALID_FOR_S = 7 * 24 * 3600


def _hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def create_invitation(p: SetMemberParams, ctx: Context) -> dict[str, Any]:
    email, role = check_email(p.email), check_member_role(p.role)
    raw = secrets.token_urlsafe(32)
    async with ctx.store.tx() as tx:
        shared(await team_for(tx, ctx, p.team_id, manage=True))
        invitee = await users.row(tx, email)
        if invitee is not None and await teams.member(tx, p.team_id, invitee["id"]) is not None:
            raise ConflictError("this user is already a member of the team")
        row = await teams.insert_invitation(
            tx, p.team_id, email, role, _hash(raw), ctx.actor, ctx.now() + VALID_FOR_S
        )
        await audit.write(
            tx, ctx.actor, "invitations.create", p.team_id, {"email": email, "role": role}
        )
    record = records.invitation(row)
    return {
        "id": record.id,
        "token": raw,
        "expires_at": record.expires_at,
        "team_id": record.team_id,
        "email": record.email,
        "role": record.role,
    }


async def list_invitations(params: TeamIdParams, ctx: Context) -> list[InvitationRecord]:
    team_id = params.team_id
    async with ctx.store.read() as tx:
        await team_for(tx, ctx, team_id, manage=True)
        return [records.invitation(r) for r in await teams.invitations(tx, team_id)]


async def accept_invitation(params: AcceptParams, ctx: Context) -> MemberRecord:
    raw = params.token
    async with ctx.store.tx() as tx:
        found = await teams.invitation_by_hash(tx, _hash(raw), ctx.now())
        if found is None:
            raise NotFoundError("no open invitation has this token")
        if found["email"] != ctx.actor:
            raise ForbiddenError("this invitation is for another email address")
        user = await users.need(tx, ctx.actor)
        await teams.join(tx, found["team_id"], user["id"], found["role"])
        await teams.delete_invitation(tx, found["id"])
        await audit.write(
            tx, ctx.actor, "invitations.accept", found["team_id"], {"invitation": found["id"]}
        )
        member = await teams.member(tx, found["team_id"], user["id"])
    await events.users_changed(ctx.bus, ctx.store, [user["id"]])
    if member is None:  # written just above
        raise NotFoundError("no such membership")
    return records.member(member)


async def delete_invitation(params: IdParams, ctx: Context) -> dict[str, Any]:
    """The team's owners and admins withdraw an invitation; the invitee may decline it."""
    invitation_id = params.id
    async with ctx.store.tx() as tx:
        found = await teams.invitation(tx, invitation_id)
        if found["email"] != ctx.actor:
            try:
                await team_for(tx, ctx, found["team_id"], manage=True)
            except NotFoundError:
                # The team is hidden from the caller: so is its invitation, like an unknown id.
                raise teams.unknown_invitation(invitation_id) from None
        await teams.delete_invitation(tx, invitation_id)
        await audit.write(
            tx, ctx.actor, "invitations.delete", found["team_id"], {"email": found["email"]}
        )
    return {"id": invitation_id, "deleted": True}
