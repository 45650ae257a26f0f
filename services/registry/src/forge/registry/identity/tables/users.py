"""SQL of users: rows, what each may do (UserAccess), creation with a personal team, logins."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from forge.core.errors import InvalidParamsError, NotFoundError
from forge.proto.identity import UserAccess, UserRecord
from forge.registry.identity import records
from forge.registry.identity.records import ADMIN_ROLE
from forge.registry.identity.store import Row, Tx

# A user with the roles bound to them globally and the union of those roles' permissions; the
# same per team for the bindings on one team (JSON objects: team id -> names); and their teams
# with the personal team first.
_ACCESS = """
SELECT u.id, u.email, u.full_name, u.active, u.auth_provider, u.personal_team, u.created_at,
       u.last_login_at, u.tokens_since, u.password_hash IS NOT NULL AS has_password,
       ARRAY(SELECT DISTINCT b.role FROM role_bindings b
             WHERE b.user_id = u.id AND b.team_id IS NULL ORDER BY 1) AS roles,
       ARRAY(SELECT DISTINCT p FROM role_bindings b JOIN roles r ON r.name = b.role,
                    unnest(r.permissions) AS p
             WHERE b.user_id = u.id AND b.team_id IS NULL ORDER BY 1) AS permissions,
       (SELECT json_object_agg(g.team_id, g.roles) FROM (
            SELECT b.team_id, array_agg(DISTINCT b.role ORDER BY b.role) AS roles
            FROM role_bindings b WHERE b.user_id = u.id AND b.team_id IS NOT NULL
            GROUP BY b.team_id) g) AS team_roles,
       (SELECT json_object_agg(g.team_id, g.permissions) FROM (
            SELECT b.team_id, array_agg(DISTINCT p ORDER BY p) AS permissions
            FROM role_bindings b JOIN roles r ON r.name = b.role, unnest(r.permissions) AS p
            WHERE b.user_id = u.id AND b.team_id IS NOT NULL
            GROUP BY b.team_id) g) AS team_permissions,
       ARRAY(SELECT m.team_id FROM team_members m WHERE m.user_id = u.id
             ORDER BY m.team_id IS NOT DISTINCT FROM u.personal_team DESC, m.created_at, m.team_id)
           AS teams
FROM users u
"""


@dataclass(frozen=True)
class NewUser:
    email: str
    full_name: str | None = None
    password_hash: str | None = None
    active: bool = True
    auth_provider: str = "local"


async def row(tx: Tx, email: str, *, lock: bool = False) -> Row | None:
    return await tx.fetchrow(
        "SELECT * FROM users WHERE email = $1" + (" FOR UPDATE" if lock else ""), email
    )


async def need(tx: Tx, email: str, *, lock: bool = False) -> Row:
    found = await row(tx, email, lock=lock)
    if found is None:
        raise NotFoundError("no user has this email", {"email": email})
    return found


async def access_by_email(tx: Tx, email: str) -> UserAccess | None:
    found = await tx.fetchrow(_ACCESS + " WHERE u.email = $1", email)
    return None if found is None else records.access(found)


async def accesses(tx: Tx, user_ids: Iterable[str]) -> list[UserAccess]:
    found = await tx.fetch(
        _ACCESS + " WHERE u.id = any($1::text[]) ORDER BY u.email", list(user_ids)
    )
    return [records.access(r) for r in found]


async def active_accesses(tx: Tx) -> list[UserAccess]:
    found = await tx.fetch(_ACCESS + " WHERE u.active ORDER BY u.email")
    return [records.access(r) for r in found]


async def record(tx: Tx, email: str) -> UserRecord:
    found = await tx.fetchrow(_ACCESS + " WHERE u.email = $1", email)
    if found is None:
        raise NotFoundError("no user has this email", {"email": email})
    return records.user(found)


async def all_records(tx: Tx) -> list[UserRecord]:
    return [records.user(r) for r in await tx.fetch(_ACCESS + " ORDER BY u.email")]


async def check_roles(tx: Tx, roles: Sequence[str]) -> None:
    known = {
        r["name"] for r in await tx.fetch("SELECT name FROM roles WHERE name = any($1)", roles)
    }
    for name in roles:
        if name not in known:
            raise InvalidParamsError(f"unknown role: {name}", {"field": "roles", "role": name})


async def insert(tx: Tx, new: NewUser, roles: Sequence[str], granted_by: str) -> str:
    """Store a user, their personal team (they own it) and their global role bindings."""
    roles = list(dict.fromkeys(roles))
    await check_roles(tx, roles)
    user_id, team_id = uuid.uuid4().hex, uuid.uuid4().hex
    await tx.execute(
        "INSERT INTO teams (id, name, personal, created_by) VALUES ($1, $2, true, $2)",
        team_id,
        new.email,
    )
    await tx.execute(
        "INSERT INTO users (id, email, full_name, password_hash, active, auth_provider,"
        " personal_team) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        user_id,
        new.email,
        new.full_name,
        new.password_hash,
        new.active,
        new.auth_provider,
        team_id,
    )
    await tx.execute(
        "INSERT INTO team_members (team_id, user_id, role) VALUES ($1, $2, 'owner')",
        team_id,
        user_id,
    )
    await tx.executemany(
        "INSERT INTO role_bindings (id, user_id, role, granted_by) VALUES ($1, $2, $3, $4)",
        [(uuid.uuid4().hex, user_id, name, granted_by) for name in roles],
    )
    return user_id


async def set_fields(tx: Tx, user_id: str, **fields: object) -> None:
    """Update the named columns (names come from code, never from a caller)."""
    names = list(fields)
    assigns = ", ".join(f"{name} = ${i}" for i, name in enumerate(names, start=2))
    await tx.execute(
        f"UPDATE users SET {assigns}, updated_at = now() WHERE id = $1",
        user_id,
        *fields.values(),
    )


async def end_sessions(tx: Tx, user_id: str, now: float) -> None:
    """Refuse, from now on, every JWT of this account issued before `now` (its `iat`)."""
    await tx.execute(
        "UPDATE users SET tokens_since = to_timestamp($2), updated_at = now() WHERE id = $1",
        user_id,
        now,
    )


async def delete(tx: Tx, user: Row) -> None:
    """Delete a user and their personal team; memberships, bindings and tokens cascade."""
    await tx.execute("DELETE FROM users WHERE id = $1", user["id"])
    if user["personal_team"] is not None:
        await tx.execute("DELETE FROM teams WHERE id = $1 AND personal", user["personal_team"])


async def other_active_admins(tx: Tx, user_id: str) -> int:
    count: int = await tx.fetchval(
        "SELECT count(DISTINCT u.id) FROM users u JOIN role_bindings b ON b.user_id = u.id"
        " WHERE b.role = $1 AND u.active AND u.id <> $2",
        ADMIN_ROLE,
        user_id,
    )
    return count


async def any_active_admin(tx: Tx) -> bool:
    found: bool = await tx.fetchval(
        "SELECT EXISTS (SELECT 1 FROM users u JOIN role_bindings b ON b.user_id = u.id"
        " WHERE b.role = $1 AND u.active)",
        ADMIN_ROLE,
    )
    return found


async def holds(tx: Tx, user_id: str, role: str) -> bool:
    found: bool = await tx.fetchval(
        "SELECT EXISTS (SELECT 1 FROM role_bindings WHERE user_id = $1 AND role = $2)",
        user_id,
        role,
    )
    return found


async def login_succeeded(tx: Tx, user_id: str, new_hash: str | None = None) -> None:
    """Note the login; store a rehashed password when given."""
    await tx.execute(
        "UPDATE users SET last_login_at = now(), password_hash = coalesce($2, password_hash)"
        " WHERE id = $1",
        user_id,
        new_hash,
    )
