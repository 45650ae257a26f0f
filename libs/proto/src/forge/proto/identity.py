"""Identity wire types: what the identity registry serves and the edge caches.

The identity registry owns users, teams, memberships, invitations, roles, role bindings, API
tokens, revocations and the audit log. The edge keeps `IdentitySnapshot` in memory, kept fresh by
`forge.events.identity.<entity>.<changed|deleted>` events, so no warm request touches a database.
"""

from __future__ import annotations

from typing import Any

import msgspec


class UserAccess(msgspec.Struct, frozen=True, omit_defaults=True):
    """One user as the edge needs them: who, whether active, and what they may do.

    `permissions` is the effective set of the global bindings (union of their roles'
    permissions, `*` for platform admins); `team_permissions` what bindings on one team add there
    (only what the global set lacks). Both are computed by the identity registry whenever a
    binding or role changes; `forge.proto.access.permits` reads them.
    Event body of `forge.events.identity.users.changed`.
    """

    email: str  # the principal's subject
    id: str
    active: bool = True
    full_name: str | None = None
    is_admin: bool = False  # holds the platform_admin role globally
    roles: tuple[str, ...] = ()  # role names bound to the user globally
    teams: tuple[str, ...] = ()  # ids of every team the user is a member of (personal included)
    personal_team: str | None = None
    permissions: tuple[str, ...] = ()
    auth_provider: str = "local"  # local | sso:<provider>
    # UNIX time: a JWT issued (`iat`) before it is refused. Set when the account is created and
    # whenever it is deactivated or reactivated, so a deleted-and-recreated email or a
    # reactivated account never accepts the tokens issued before.
    tokens_since: float | None = None
    team_roles: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)  # by team id
    team_permissions: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)


class TokenEntry(msgspec.Struct, frozen=True, omit_defaults=True):
    """An API token as the edge needs it to authenticate: found by the hash of the raw token.

    Scope fields narrow what the owner could do; empty means "no narrowing".
    Event body of `forge.events.identity.tokens.changed` (deleted: `{"id": ...}`).
    """

    id: str
    token_hash: str  # sha256 hex of the raw token string
    user_email: str
    name: str
    active: bool = True
    user_id: str | None = None  # the owner's account id: another account of that email is not it
    teams: tuple[str, ...] = ()  # subset of the owner's teams the token may act in
    server_id: str | None = None  # only this virtual server's endpoints
    permissions: tuple[str, ...] = ()  # subset of the owner's permissions
    cidrs: tuple[str, ...] = ()  # client address must fall in one of these
    window_start: str | None = None  # "HH:MM" UTC: usable only from ...
    window_end: str | None = None  # ... until "HH:MM" UTC (may wrap midnight)
    window_days: tuple[int, ...] = ()  # ISO weekdays 1..7 the token is usable on; empty = all
    not_before: float | None = None  # UNIX time
    expires_at: float | None = None  # UNIX time


class Revocation(msgspec.Struct, frozen=True, omit_defaults=True):
    """A revoked JWT id; kept until the token would have expired anyway.

    Event body of `forge.events.identity.revocations.changed`.
    """

    jti: str
    expires_at: float | None = None
    reason: str | None = None


class IdentitySnapshot(msgspec.Struct, frozen=True):
    """Everything the edge caches, at one instant: `forge.registry.identity.snapshot.get`."""

    users: list[UserAccess] = msgspec.field(default_factory=list)
    tokens: list[TokenEntry] = msgspec.field(default_factory=list)
    revocations: list[Revocation] = msgspec.field(default_factory=list)


class UserDeleted(msgspec.Struct, frozen=True):
    """Event body of `forge.events.identity.users.deleted` (tokens and revocations deleted:
    `forge.proto.catalog.Deleted`)."""

    email: str


class TokenUsage(msgspec.Struct, frozen=True):
    """Edge → identity registry, batched on `forge.events.metrics.token_usage`."""

    counts: dict[str, int]  # token id -> uses since the last batch
    last_used: dict[str, float]  # token id -> UNIX time of the last use in the batch


class LaunchAudit(msgspec.Struct, frozen=True, omit_defaults=True):
    """A process Forge started or refused to start for a stdio gateway, sent by a service
    without a database (upstream-proxy, catalog registry) on `forge.audit.launch`; the identity
    registry writes it to the audit log and answers once it is stored.

    `action`: `stdio.launch`, `stdio.launch_failed` or `stdio.refused`. Never an env value, never
    a secret: the command's argv, its variables' names at most.
    """

    action: str
    actor: str  # who asked: the gateway's owner (who registered it), or the refused caller
    gateway_id: str
    gateway_name: str = ""
    command: list[str] = msgspec.field(default_factory=list)
    run_as: str | None = None  # the account the child runs as (uid), None: the service's own
    reason: str | None = None  # why it was refused or failed (no secret)
    service: str = ""  # which service and replica started it


# -- what the identity operations answer (forge.registry.identity.<entity>.<op>)


class UserRecord(msgspec.Struct, frozen=True):
    """A user as the identity operations answer: never a password hash (`has_password` only)."""

    id: str
    email: str
    full_name: str | None = None
    active: bool = True
    auth_provider: str = "local"
    is_admin: bool = False
    roles: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    personal_team: str | None = None
    permissions: tuple[str, ...] = ()
    has_password: bool = False
    team_roles: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    team_permissions: dict[str, tuple[str, ...]] = msgspec.field(default_factory=dict)
    created_at: str | None = None
    last_login_at: str | None = None


class TeamRecord(msgspec.Struct, frozen=True):
    """A team (`personal`: a user's own team, made with the account)."""

    id: str
    name: str
    description: str | None = None
    personal: bool = False
    created_by: str | None = None
    created_at: str | None = None
    updated_at: str | None = None


class MemberRecord(msgspec.Struct, frozen=True):
    """A member of a team: `role` is `owner` or `member`."""

    team_id: str
    email: str
    role: str
    full_name: str | None = None
    joined_at: str | None = None


class InvitationRecord(msgspec.Struct, frozen=True):
    """An invitation to a team, until accepted, deleted or expired (never its token)."""

    id: str
    team_id: str
    email: str
    role: str
    invited_by: str
    expires_at: str | None = None
    created_at: str | None = None


class RoleRecord(msgspec.Struct, frozen=True):
    """A role: built in (forge.proto.access.BUILTIN_ROLES) or made by an admin."""

    name: str
    permissions: tuple[str, ...] = ()
    description: str | None = None
    builtin: bool = False
    created_at: str | None = None
    updated_at: str | None = None


class RoleBinding(msgspec.Struct, frozen=True):
    """A role bound to a user, globally (`team_id` None) or on one team. Not a plugin binding
    (forge.proto.plugins.PluginBinding)."""

    email: str
    role: str
    team_id: str | None = None
    granted_by: str | None = None
    created_at: str | None = None


class TokenRecord(msgspec.Struct, frozen=True):
    """An API token as its owner sees it: everything but the hash."""

    id: str
    name: str
    user_email: str
    active: bool = True
    teams: tuple[str, ...] = ()
    server_id: str | None = None
    permissions: tuple[str, ...] = ()
    cidrs: tuple[str, ...] = ()
    window_start: str | None = None
    window_end: str | None = None
    window_days: tuple[int, ...] = ()
    expires_at: str | None = None
    created_at: str | None = None
    revoked_at: str | None = None
    last_used_at: str | None = None
    use_count: int = 0


class AuditRecord(msgspec.Struct, frozen=True):
    """One audit log entry (`forge.registry.identity.audit.list`)."""

    id: int
    at: str
    actor: str
    action: str
    target: str | None = None
    details: dict[str, Any] = msgspec.field(default_factory=dict)
