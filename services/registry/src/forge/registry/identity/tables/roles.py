"""SQL of roles and role bindings (a role bound to a user, globally or on one team)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence

from forge.core.errors import NotFoundError
from forge.registry.identity.store import Row, Tx

_BINDINGS = (
    "SELECT b.role, b.team_id, b.granted_by, b.created_at, u.email"
    " FROM role_bindings b JOIN users u ON u.id = b.user_id"
)


async def every(tx: Tx) -> list[Row]:
    return await tx.fetch("SELECT * FROM roles ORDER BY builtin DESC, name")


async def get(tx: Tx, name: str, *, lock: bool = False) -> Row:
    found = await tx.fetchrow(
        "SELECT * FROM roles WHERE name = $1" + (" FOR UPDATE" if lock else ""), name
    )
    if found is None:
        raise NotFoundError("no role has this name", {"name": name})
    return found


async def insert(tx: Tx, name: str, description: str | None, permissions: Sequence[str]) -> Row:
    found = await tx.fetchrow(
        "INSERT INTO roles (name, description, permissions) VALUES ($1, $2, $3) RETURNING *",
        name,
        description,
        list(permissions),
    )
    assert found is not None  # RETURNING always yields the row
    return found


async def update(tx: Tx, name: str, description: str | None, permissions: Sequence[str]) -> Row:
    found = await tx.fetchrow(
        "UPDATE roles SET description = $2, permissions = $3, updated_at = now()"
        " WHERE name = $1 RETURNING *",
        name,
        description,
        list(permissions),
    )
    if found is None:
        raise NotFoundError("no role has this name", {"name": name})
    return found


async def delete(tx: Tx, name: str) -> None:
    await tx.execute("DELETE FROM roles WHERE name = $1", name)


async def sync_builtin(
    tx: Tx, builtin: Mapping[str, tuple[str | None, Sequence[str]]]
) -> list[str]:
    """Write the built-in roles as the code defines them; returns those added or changed."""
    changed = []
    for name, (description, permissions) in builtin.items():
        written = await tx.fetchval(
            "INSERT INTO roles (name, description, permissions, builtin)"
            " VALUES ($1, $2, $3, true) ON CONFLICT (name) DO UPDATE SET"
            " description = EXCLUDED.description, permissions = EXCLUDED.permissions,"
            " builtin = true, updated_at = now()"
            " WHERE roles.permissions IS DISTINCT FROM EXCLUDED.permissions"
            " OR roles.description IS DISTINCT FROM EXCLUDED.description OR NOT roles.builtin"
            " RETURNING name",
            name,
            description,
            list(permissions),
        )
        if written is not None:
            changed.append(name)
    return changed


async def bound_users(tx: Tx, names: Iterable[str]) -> list[str]:
    """Ids of every user bound to any of these roles."""
    found = await tx.fetch(
        "SELECT DISTINCT user_id FROM role_bindings WHERE role = any($1::text[])", list(names)
    )
    return [r["user_id"] for r in found]


async def bound_on_team(tx: Tx, team_id: str) -> list[str]:
    """Ids of every user with a binding on this team."""
    found = await tx.fetch("SELECT DISTINCT user_id FROM role_bindings WHERE team_id = $1", team_id)
    return [r["user_id"] for r in found]


async def bindings(tx: Tx, email: str | None = None) -> list[Row]:
    if email is None:
        return await tx.fetch(_BINDINGS + " ORDER BY u.email, b.role, b.team_id NULLS FIRST")
    return await tx.fetch(
        _BINDINGS + " WHERE u.email = $1 ORDER BY b.role, b.team_id NULLS FIRST", email
    )


async def binding(tx: Tx, user_id: str, role: str, team_id: str | None) -> Row | None:
    return await tx.fetchrow(
        _BINDINGS + " WHERE b.user_id = $1 AND b.role = $2"
        " AND b.team_id IS NOT DISTINCT FROM $3::text",
        user_id,
        role,
        team_id,
    )


async def grant(tx: Tx, user_id: str, role: str, team_id: str | None, by: str) -> bool:
    """Bind a role; False when it was already bound there."""
    status = await tx.execute(
        "INSERT INTO role_bindings (id, user_id, role, team_id, granted_by)"
        " VALUES ($1, $2, $3, $4, $5)"
        " ON CONFLICT (user_id, role, coalesce(team_id, '')) DO NOTHING",
        uuid.uuid4().hex,
        user_id,
        role,
        team_id,
        by,
    )
    return status != "INSERT 0 0"


async def revoke(tx: Tx, user_id: str, role: str, team_id: str | None) -> bool:
    status = await tx.execute(
        "DELETE FROM role_bindings WHERE user_id = $1 AND role = $2"
        " AND team_id IS NOT DISTINCT FROM $3::text",
        user_id,
        role,
        team_id,
    )
    return status != "DELETE 0"
