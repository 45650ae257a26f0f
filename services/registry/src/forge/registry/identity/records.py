"""Identity table rows as the wire types the identity operations answer (public records, never
a secret or a hash; forge.proto.identity) and the edge caches (UserAccess, TokenEntry,
Revocation)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from forge.proto.access import ALL
from forge.proto.identity import (
    AuditRecord,
    InvitationRecord,
    MemberRecord,
    Revocation,
    RoleBinding,
    RoleRecord,
    TeamRecord,
    TokenEntry,
    TokenRecord,
    UserAccess,
    UserRecord,
)
from forge.registry import times

ADMIN_ROLE = "platform_admin"
_DETAILS = msgspec.json.Decoder(dict[str, Any])
_BY_TEAM = msgspec.json.Decoder(dict[str, tuple[str, ...]])


def timestamp(value: datetime | None) -> str | None:
    return None if value is None else times.timestamp(value)


def unix(value: datetime | None) -> float | None:
    return None if value is None else value.timestamp()


def effective(roles: tuple[str, ...], permissions: tuple[str, ...]) -> tuple[str, ...]:
    """Every permission the roles grant; `*` alone when any grants all (platform_admin does)."""
    if ADMIN_ROLE in roles or ALL in permissions:
        return (ALL,)
    return permissions


def _by_team(value: str | None) -> dict[str, tuple[str, ...]]:
    return {} if value is None else _BY_TEAM.decode(value)


def _team_effective(
    held: tuple[str, ...], team_roles: dict[str, tuple[str, ...]], by_team: str | None
) -> dict[str, tuple[str, ...]]:
    """What bindings on each team add to the global permissions `held` (teams adding nothing
    are left out, so the usual principal carries no per-team table)."""
    if ALL in held:
        return {}
    added = {}
    for team_id, permissions in _by_team(by_team).items():
        granted = effective(team_roles.get(team_id, ()), permissions)
        extra = tuple(p for p in granted if p not in held)
        if extra:
            added[team_id] = extra
    return added


def access(row: Mapping[str, Any]) -> UserAccess:
    roles = tuple(row["roles"])
    permissions = effective(roles, tuple(row["permissions"]))
    team_roles = _by_team(row["team_roles"])
    return UserAccess(
        email=row["email"],
        id=row["id"],
        active=row["active"],
        full_name=row["full_name"],
        is_admin=ADMIN_ROLE in roles,  # a platform_admin binding on one team is `*` there only
        roles=roles,
        teams=tuple(row["teams"]),
        personal_team=row["personal_team"],
        permissions=permissions,
        auth_provider=row["auth_provider"],
        tokens_since=unix(row["tokens_since"]),
        team_roles=team_roles,
        team_permissions=_team_effective(permissions, team_roles, row["team_permissions"]),
    )


def user(row: Mapping[str, Any]) -> UserRecord:
    seen = access(row)
    return UserRecord(
        id=seen.id,
        email=seen.email,
        full_name=seen.full_name,
        active=seen.active,
        auth_provider=seen.auth_provider,
        is_admin=seen.is_admin,
        roles=seen.roles,
        teams=seen.teams,
        personal_team=seen.personal_team,
        permissions=seen.permissions,
        has_password=row["has_password"],
        team_roles=seen.team_roles,
        team_permissions=seen.team_permissions,
        created_at=timestamp(row["created_at"]),
        last_login_at=timestamp(row["last_login_at"]),
    )


def team(row: Mapping[str, Any]) -> TeamRecord:
    return TeamRecord(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        personal=row["personal"],
        created_by=row["created_by"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


def member(row: Mapping[str, Any]) -> MemberRecord:
    return MemberRecord(
        team_id=row["team_id"],
        email=row["email"],
        role=row["role"],
        full_name=row["full_name"],
        joined_at=timestamp(row["created_at"]),
    )


def invitation(row: Mapping[str, Any]) -> InvitationRecord:
    return InvitationRecord(
        id=row["id"],
        team_id=row["team_id"],
        email=row["email"],
        role=row["role"],
        invited_by=row["invited_by"],
        expires_at=timestamp(row["expires_at"]),
        created_at=timestamp(row["created_at"]),
    )


def role(row: Mapping[str, Any]) -> RoleRecord:
    return RoleRecord(
        name=row["name"],
        permissions=tuple(row["permissions"]),
        description=row["description"],
        builtin=row["builtin"],
        created_at=timestamp(row["created_at"]),
        updated_at=timestamp(row["updated_at"]),
    )


def binding(row: Mapping[str, Any]) -> RoleBinding:
    return RoleBinding(
        email=row["email"],
        role=row["role"],
        team_id=row["team_id"],
        granted_by=row["granted_by"],
        created_at=timestamp(row["created_at"]),
    )


def token(row: Mapping[str, Any]) -> TokenRecord:
    return TokenRecord(
        id=row["id"],
        name=row["name"],
        user_email=row["email"],
        active=row["active"],
        teams=tuple(row["teams"]),
        server_id=row["server_id"],
        permissions=tuple(row["permissions"]),
        cidrs=tuple(row["cidrs"]),
        window_start=row["window_start"],
        window_end=row["window_end"],
        window_days=tuple(row["window_days"]),
        expires_at=timestamp(row["expires_at"]),
        created_at=timestamp(row["created_at"]),
        revoked_at=timestamp(row["revoked_at"]),
        last_used_at=timestamp(row["last_used_at"]),
        use_count=row["use_count"],
    )


def token_entry(row: Mapping[str, Any]) -> TokenEntry:
    return TokenEntry(
        id=row["id"],
        token_hash=row["token_hash"],
        user_email=row["email"],
        name=row["name"],
        active=row["active"],
        user_id=row["user_id"],
        teams=tuple(row["teams"]),
        server_id=row["server_id"],
        permissions=tuple(row["permissions"]),
        cidrs=tuple(row["cidrs"]),
        window_start=row["window_start"],
        window_end=row["window_end"],
        window_days=tuple(row["window_days"]),
        expires_at=unix(row["expires_at"]),
    )


def revocation(row: Mapping[str, Any]) -> Revocation:
    return Revocation(jti=row["jti"], expires_at=unix(row["expires_at"]), reason=row["reason"])


def audit(row: Mapping[str, Any]) -> AuditRecord:
    return AuditRecord(
        id=row["id"],
        at=timestamp(row["at"]) or "",
        actor=row["actor"],
        action=row["action"],
        target=row["target"],
        details=_DETAILS.decode(row["details"]),
    )
