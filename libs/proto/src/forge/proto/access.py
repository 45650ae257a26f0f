"""Access control shared by every hop: permissions, built-in roles, and visibility.

Every hop asks `permits` (the edge before it knows the entry, on any team; the router and the
catalog registry again for the entry's team) and `can_see`. All read only the Principal the edge
resolved. A global binding grants its role's permissions on every team's entries; a binding on
one team grants them on that team's entries only.
"""

from __future__ import annotations

from forge.proto.envelope import Principal

ALL = "*"
# The team argument of `permits` before the entry is known: held on at least one team. Team ids
# are generated hex strings, never "*".
ANY_TEAM = "*"
TEAM_ADMIN = "team_admin"

PERMISSIONS: tuple[str, ...] = (
    "tools.read", "tools.execute", "tools.create", "tools.update", "tools.delete",
    "resources.read", "resources.create", "resources.update", "resources.delete",
    "prompts.read", "prompts.create", "prompts.update", "prompts.delete",
    "servers.read", "servers.use", "servers.create", "servers.update", "servers.delete",
    "gateways.read", "gateways.create", "gateways.update", "gateways.delete", "gateways.stdio",
    "a2a.read", "a2a.create", "a2a.update", "a2a.delete", "a2a.invoke",
    "teams.read", "teams.create", "teams.update", "teams.delete", "teams.manage_members",
    "tokens.read", "tokens.create", "tokens.revoke",
    "users.read", "users.create", "users.update", "users.delete",
    "rbac.read", "rbac.manage",
    "audit.read",
    "plugins.read", "plugins.manage",
    "admin.config",
)  # fmt: skip

_READS = tuple(p for p in PERMISSIONS if p.endswith(".read"))
# What every signed-in user may do for themselves; the identity registry still checks that they
# own the team (team owners manage their members) or the token.
_SELF = (
    "teams.read", "teams.create", "teams.update", "teams.delete", "teams.manage_members",
    "tokens.read", "tokens.create", "tokens.revoke",
)  # fmt: skip

BUILTIN_ROLES: dict[str, tuple[str, ...]] = {
    "platform_admin": (ALL,),
    "platform_viewer": _READS,
    "team_admin": (
        "tools.read", "tools.execute", "tools.create", "tools.update", "tools.delete",
        "resources.read", "resources.create", "resources.update", "resources.delete",
        "prompts.read", "prompts.create", "prompts.update", "prompts.delete",
        "servers.read", "servers.use", "servers.create", "servers.update", "servers.delete",
        "gateways.read", "gateways.create", "gateways.update", "gateways.delete",
        "a2a.read", "a2a.create", "a2a.update", "a2a.delete", "a2a.invoke",
        "teams.update", "teams.manage_members", "plugins.read", "plugins.manage", *_SELF,
    ),
    "developer": (
        "tools.read", "tools.execute", "resources.read", "prompts.read",
        "servers.read", "servers.use", "servers.create", "servers.update",
        "gateways.read", "gateways.create", "gateways.update", "plugins.read",
        "a2a.read", "a2a.create", "a2a.update", "a2a.invoke", *_SELF,
    ),
    "viewer": (
        "tools.read", "resources.read", "prompts.read", "servers.read", "servers.use",
        "gateways.read", "a2a.read", *_SELF,
    ),
}  # fmt: skip

VISIBILITIES = ("private", "team", "public")

# What each MCP method needs beyond being authenticated. Methods not listed need nothing more
# (initialize, ping, server/discover, notifications, logging/setLevel, subscriptions/listen).
MCP_PERMISSIONS: dict[str, str] = {
    "tools/list": "tools.read",
    "tools/call": "tools.execute",
    "resources/list": "resources.read",
    "resources/templates/list": "resources.read",
    "resources/read": "resources.read",
    "resources/subscribe": "resources.read",
    "resources/unsubscribe": "resources.read",
    "prompts/list": "prompts.read",
    "prompts/get": "prompts.read",
    "completion/complete": "prompts.read",
    "tasks/list": "tools.execute",
    "tasks/get": "tools.execute",
    "tasks/result": "tools.execute",
    "tasks/update": "tools.execute",
    "tasks/cancel": "tools.execute",
}


def _grants(held: tuple[str, ...], permission: str) -> bool:
    return permission in held or ALL in held


def permits(principal: Principal, permission: str, team_id: str | None = ANY_TEAM) -> bool:
    """Whether the principal holds the permission on the entries of `team_id`.

    Platform admins and global bindings hold it on every team. A team-scoped binding holds it on
    its team only. `team_id` is the entry's team (None: an entry of no team, which only a global
    grant reaches); the default ANY_TEAM asks whether it is held on some team: the edge's coarse
    check before it knows the entry, which the hop that finds the entry repeats for its team.
    """
    if principal.is_admin or _grants(principal.permissions, permission):
        return True
    if team_id == ANY_TEAM:
        return any(_grants(held, permission) for held in principal.team_permissions.values())
    return team_id is not None and _grants(principal.team_permissions.get(team_id, ()), permission)


def holds_role(principal: Principal, role: str, team_id: str | None) -> bool:
    """Whether the role is bound to the principal globally or on the entry's team."""
    if role in principal.roles:
        return True
    return team_id is not None and role in principal.team_roles.get(team_id, ())


# Registering or changing a stdio gateway starts a process on the Forge host: a host-wide power
# that no built-in role but platform_admin holds, and that only a global binding grants.
LAUNCH = "gateways.stdio"


def may_launch(principal: Principal) -> bool:
    """Whether the principal may have Forge start a command (global grants only)."""
    return principal.is_admin or ALL in principal.permissions or LAUNCH in principal.permissions


def required_permission(method: str) -> str | None:
    return MCP_PERMISSIONS.get(method)


def sees_everything(principal: Principal) -> bool:
    """Platform admins and platform viewers (both bound globally) see every entity, whatever its
    visibility."""
    return principal.is_admin or "platform_viewer" in principal.roles


def can_see(principal: Principal, owner: str | None, team_id: str | None, visibility: str) -> bool:
    """Visibility of one catalog entity: public to all, team to its members, private to its owner.

    An entity the caller cannot see does not exist for them: lists omit it and calls answer
    "unknown" (never "forbidden", which would confirm that it exists).
    """
    if sees_everything(principal) or visibility == "public":
        return True
    if owner is not None and owner == principal.subject:
        return True
    return visibility == "team" and team_id is not None and team_id in principal.teams
