"""The identity registry's table of contents: (entity, op) → handler, plus the audit log and
the snapshot the edge caches."""

from __future__ import annotations

from forge.core.errors import InvalidParamsError
from forge.proto.identity import AuditRecord, IdentitySnapshot
from forge.registry.identity import invitations, logins, records, roles, teams, tokens, users
from forge.registry.identity.context import Context, Handler, require_permission
from forge.registry.identity.params import ListAuditParams, decode
from forge.registry.identity.tables import audit
from forge.registry.identity.tables import tokens as token_table
from forge.registry.identity.tables import users as user_table

MAX_AUDIT = 1000


async def list_audit(params: bytes, ctx: Context) -> list[AuditRecord]:
    require_permission(ctx, "audit.read", "reading the audit log")
    p = decode(ListAuditParams, params)
    if not 1 <= p.limit <= MAX_AUDIT:
        raise InvalidParamsError(f"limit must be 1 to {MAX_AUDIT}", {"field": "limit"})
    async with ctx.store.read() as tx:
        found = await audit.entries(tx, p.limit, p.actor, p.action)
    return [records.audit(r) for r in found]


async def get_snapshot(params: bytes, ctx: Context) -> IdentitySnapshot:
    """Active users, usable tokens and live revocations, as of one instant."""
    now = ctx.now()
    async with ctx.store.read() as tx:
        found_users = await user_table.active_accesses(tx)
        found_tokens = await token_table.usable(tx, now)
        found_revocations = await token_table.revocations(tx, now)
    return IdentitySnapshot(
        users=found_users,
        tokens=[records.token_entry(r) for r in found_tokens],
        revocations=[records.revocation(r) for r in found_revocations],
    )


# Each is served on forge.registry.identity.<entity>.<op>.
OPERATIONS: dict[tuple[str, str], Handler] = {
    ("users", "create"): users.create_user,
    ("users", "get"): users.get_user,
    ("users", "list"): users.list_users,
    ("users", "update"): users.update_user,
    ("users", "delete"): users.delete_user,
    ("users", "register"): users.register,
    ("users", "access"): users.access_of,
    ("users", "login"): logins.login,
    ("users", "change_password"): logins.change_password,
    ("users", "sso_login"): logins.sso_login,
    ("teams", "create"): teams.create_team,
    ("teams", "get"): teams.get_team,
    ("teams", "list"): teams.list_teams,
    ("teams", "update"): teams.update_team,
    ("teams", "delete"): teams.delete_team,
    ("members", "list"): teams.list_members,
    ("members", "set"): teams.set_member,
    ("members", "remove"): teams.remove_member,
    ("invitations", "create"): invitations.create_invitation,
    ("invitations", "list"): invitations.list_invitations,
    ("invitations", "accept"): invitations.accept_invitation,
    ("invitations", "delete"): invitations.delete_invitation,
    ("roles", "list"): roles.list_roles,
    ("roles", "get"): roles.get_role,
    ("roles", "create"): roles.create_role,
    ("roles", "update"): roles.update_role,
    ("roles", "delete"): roles.delete_role,
    ("bindings", "list"): roles.list_bindings,
    ("bindings", "grant"): roles.grant,
    ("bindings", "revoke"): roles.revoke,
    ("tokens", "create"): tokens.create_token,
    ("tokens", "list"): tokens.list_tokens,
    ("tokens", "get"): tokens.get_token,
    ("tokens", "revoke"): tokens.revoke_token,
    ("revocations", "create"): tokens.create_revocation,
    ("revocations", "list"): tokens.list_revocations,
    ("audit", "list"): list_audit,
    ("snapshot", "get"): get_snapshot,
}
