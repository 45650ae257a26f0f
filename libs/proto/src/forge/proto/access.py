"""Access control shared by every hop: permissions, built-in roles, and visibility.

The edge checks permissions (`required_permission`, `REST` tables); the router and the catalog
registry check visibility (`can_see`). Both read only the Principal the edge resolved.
"""

from __future__ import annotations

from forge.proto.envelope import Principal

ALL = "*"

PERMISSIONS: tuple[str, ...] = (
    "tools.read", "tools.execute", "tools.create", "tools.update", "tools.delete",
    "resources.read", "resources.create", "resources.update", "resources.delete",
    "prompts.read", "prompts.create", "prompts.update", "prompts.delete",
    "servers.read", "servers.use", "servers.create", "servers.update", "servers.delete",
    "gateways.read", "gateways.create", "gateways.update", "gateways.delete",
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
        "teams.update", "teams.manage_members", "plugins.read", "plugins.manage", *_SELF,
    ),
    "developer": (
        "tools.read", "tools.execute", "resources.read", "prompts.read",
        "servers.read", "servers.use", "servers.create", "servers.update",
        "gateways.read", "gateways.create", "gateways.update", "plugins.read", *_SELF,
    ),
    "viewer": (
        "tools.read", "resources.read", "prompts.read", "servers.read", "servers.use",
        "gateways.read", *_SELF,
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


def permits(principal: Principal, permission: str) -> bool:
    """Whether the principal holds the permission (platform admins hold every one)."""
    return principal.is_admin or ALL in principal.permissions or permission in principal.permissions


def required_permission(method: str) -> str | None:
    return MCP_PERMISSIONS.get(method)


def sees_everything(principal: Principal) -> bool:
    """Platform admins and platform viewers see every entity, whatever its visibility."""
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
