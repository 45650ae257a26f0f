"""SQL of teams, their members and the invitations to join them."""

from __future__ import annotations

import uuid

from forge.core.errors import NotFoundError
from forge.registry.identity.store import Row, Tx

_MEMBERS = (
    "SELECT m.team_id, m.role, m.created_at, u.email, u.full_name, u.id AS user_id"
    " FROM team_members m JOIN users u ON u.id = m.user_id"
)


def unknown(team_id: str) -> NotFoundError:
    """The one answer for a team id that does not exist or that the caller may not see."""
    return NotFoundError("no team has this id", {"id": team_id})


def unknown_invitation(invitation_id: str) -> NotFoundError:
    return NotFoundError("no invitation has this id", {"id": invitation_id})


async def get(tx: Tx, team_id: str, *, lock: bool = False) -> Row:
    found = await tx.fetchrow(
        "SELECT * FROM teams WHERE id = $1" + (" FOR UPDATE" if lock else ""), team_id
    )
    if found is None:
        raise unknown(team_id)
    return found


async def every(tx: Tx) -> list[Row]:
    return await tx.fetch("SELECT * FROM teams ORDER BY personal DESC, name, id")


async def of_user(tx: Tx, user_id: str) -> list[Row]:
    """A user's teams, the personal team first."""
    return await tx.fetch(
        "SELECT t.* FROM teams t JOIN team_members m ON m.team_id = t.id"
        " JOIN users u ON u.id = m.user_id WHERE m.user_id = $1"
        " ORDER BY t.id IS NOT DISTINCT FROM u.personal_team DESC, t.name, t.id",
        user_id,
    )


async def insert(tx: Tx, name: str, description: str | None, created_by: str) -> Row:
    found = await tx.fetchrow(
        "INSERT INTO teams (id, name, description, created_by) VALUES ($1, $2, $3, $4) RETURNING *",
        uuid.uuid4().hex,
        name,
        description,
        created_by,
    )
    assert found is not None  # RETURNING always yields the row
    return found


async def shared_by_name(tx: Tx, name: str, created_by: str) -> str:
    """The id of the shared (non-personal) team with this name, created when missing."""
    created = await tx.fetchval(
        "INSERT INTO teams (id, name, created_by) VALUES ($1, $2, $3)"
        " ON CONFLICT (name) WHERE NOT personal DO NOTHING RETURNING id",
        uuid.uuid4().hex,
        name,
        created_by,
    )
    if created is not None:
        return str(created)
    found: str = await tx.fetchval("SELECT id FROM teams WHERE name = $1 AND NOT personal", name)
    return found


async def update(tx: Tx, team_id: str, name: str, description: str | None) -> Row:
    found = await tx.fetchrow(
        "UPDATE teams SET name = $2, description = $3, updated_at = now() WHERE id = $1"
        " RETURNING *",
        team_id,
        name,
        description,
    )
    if found is None:
        raise NotFoundError("no team has this id", {"id": team_id})
    return found


async def delete(tx: Tx, team_id: str) -> None:
    await tx.execute("DELETE FROM teams WHERE id = $1", team_id)


async def members(tx: Tx, team_id: str) -> list[Row]:
    return await tx.fetch(
        _MEMBERS + " WHERE m.team_id = $1 ORDER BY m.role = 'owner' DESC, u.email", team_id
    )


async def member(tx: Tx, team_id: str, user_id: str) -> Row | None:
    return await tx.fetchrow(
        _MEMBERS + " WHERE m.team_id = $1 AND m.user_id = $2", team_id, user_id
    )


async def member_ids(tx: Tx, team_id: str) -> list[str]:
    found = await tx.fetch("SELECT user_id FROM team_members WHERE team_id = $1", team_id)
    return [r["user_id"] for r in found]


async def role_of(tx: Tx, team_id: str, email: str) -> str | None:
    role: str | None = await tx.fetchval(
        "SELECT m.role FROM team_members m JOIN users u ON u.id = m.user_id"
        " WHERE m.team_id = $1 AND u.email = $2",
        team_id,
        email,
    )
    return role


async def solely_owned(tx: Tx, user_id: str) -> list[str]:
    """Shared teams whose only owner is this user."""
    found = await tx.fetch(
        "SELECT t.id FROM teams t JOIN team_members m ON m.team_id = t.id"
        " WHERE m.user_id = $1 AND m.role = 'owner' AND NOT t.personal AND NOT EXISTS"
        " (SELECT 1 FROM team_members o WHERE o.team_id = t.id AND o.role = 'owner'"
        " AND o.user_id <> $1) ORDER BY t.id",
        user_id,
    )
    return [r["id"] for r in found]


async def owners(tx: Tx, team_id: str) -> int:
    count: int = await tx.fetchval(
        "SELECT count(*) FROM team_members WHERE team_id = $1 AND role = 'owner'", team_id
    )
    return count


async def set_member(tx: Tx, team_id: str, user_id: str, role: str) -> None:
    """Add or change a membership; a membership set by hand is no longer SSO-managed."""
    await tx.execute(
        "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, $3)"
        " ON CONFLICT (team_id, user_id) DO UPDATE SET role = EXCLUDED.role, sso_provider = NULL",
        team_id,
        user_id,
        role,
    )


async def join(tx: Tx, team_id: str, user_id: str, role: str) -> None:
    """Add a membership; an owner who joins again (an invitation as member) stays owner."""
    await tx.execute(
        "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, $3)"
        " ON CONFLICT (team_id, user_id) DO UPDATE SET sso_provider = NULL, role ="
        " CASE WHEN team_members.role = 'owner' THEN 'owner' ELSE EXCLUDED.role END",
        team_id,
        user_id,
        role,
    )


async def remove_member(tx: Tx, team_id: str, user_id: str) -> None:
    await tx.execute(
        "DELETE FROM team_members WHERE team_id = $1 AND user_id = $2", team_id, user_id
    )


async def sso_teams(tx: Tx, user_id: str, provider: str) -> set[str]:
    """The teams an SSO login through `provider` added this user to."""
    found = await tx.fetch(
        "SELECT team_id FROM team_members WHERE user_id = $1 AND sso_provider = $2",
        user_id,
        provider,
    )
    return {r["team_id"] for r in found}


async def add_sso_member(tx: Tx, team_id: str, user_id: str, provider: str) -> bool:
    """Add an SSO-managed membership; False when the user is already a member."""
    status = await tx.execute(
        "INSERT INTO team_members (team_id, user_id, role, sso_provider)"
        " VALUES ($1, $2, 'member', $3) ON CONFLICT (team_id, user_id) DO NOTHING",
        team_id,
        user_id,
        provider,
    )
    return status != "INSERT 0 0"


async def insert_invitation(
    tx: Tx, team_id: str, email: str, role: str, token_hash: str, by: str, expires_at: float
) -> Row:
    found = await tx.fetchrow(
        "INSERT INTO invitations (id, team_id, email, role, token_hash, invited_by, expires_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7)) RETURNING *",
        uuid.uuid4().hex,
        team_id,
        email,
        role,
        token_hash,
        by,
        expires_at,
    )
    assert found is not None  # RETURNING always yields the row
    return found


async def invitations(tx: Tx, team_id: str) -> list[Row]:
    return await tx.fetch(
        "SELECT * FROM invitations WHERE team_id = $1 ORDER BY created_at, id", team_id
    )


async def invitation(tx: Tx, invitation_id: str) -> Row:
    found = await tx.fetchrow("SELECT * FROM invitations WHERE id = $1", invitation_id)
    if found is None:
        raise unknown_invitation(invitation_id)
    return found


async def invitation_by_hash(tx: Tx, token_hash: str, now: float) -> Row | None:
    return await tx.fetchrow(
        "SELECT * FROM invitations WHERE token_hash = $1 AND expires_at > to_timestamp($2)"
        " FOR UPDATE",
        token_hash,
        now,
    )


async def delete_invitation(tx: Tx, invitation_id: str) -> None:
    await tx.execute("DELETE FROM invitations WHERE id = $1", invitation_id)
