"""Identity wire types: what the identity registry serves and the edge caches.

The identity registry owns users, teams, memberships, invitations, roles, role bindings, API
tokens, revocations and the audit log. The edge keeps `IdentitySnapshot` in memory, kept fresh by
`forge.events.identity.<entity>.<changed|deleted>` events, so no warm request touches a database.
"""

from __future__ import annotations

import msgspec


class UserAccess(msgspec.Struct, frozen=True, omit_defaults=True):
    """One user as the edge needs them: who, whether active, and what they may do.

    `permissions` is the effective set (union of every bound role's permissions, `*` for
    platform admins), computed by the identity registry whenever a binding or role changes.
    Event body of `forge.events.identity.users.changed`.
    """

    email: str  # the principal's subject
    id: str
    active: bool = True
    full_name: str | None = None
    is_admin: bool = False  # holds the platform_admin role
    roles: tuple[str, ...] = ()  # role names bound to the user (global or on any team)
    teams: tuple[str, ...] = ()  # ids of every team the user is a member of (personal included)
    personal_team: str | None = None
    permissions: tuple[str, ...] = ()
    auth_provider: str = "local"  # local | sso:<provider>


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


class TokenUsage(msgspec.Struct, frozen=True):
    """Edge → identity registry, batched on `forge.events.metrics.token_usage`."""

    counts: dict[str, int]  # token id -> uses since the last batch
    last_used: dict[str, float]  # token id -> UNIX time of the last use in the batch
