"""The identity registry's table of contents: (entity, op) → handler, plus the audit log and
the snapshot the edge caches."""

from __future__ import annotations

from forge.core.errors import InvalidParamsError
from forge.core.operations import Operation, bare, operation
from forge.proto.identity import AuditRecord, IdentitySnapshot
from forge.proto.identity_params import (
    AcceptParams,
    BindingParams,
    ChangePasswordParams,
    CreateRevocationParams,
    CreateRoleParams,
    CreateTeamParams,
    CreateTokenParams,
    CreateUserParams,
    EmailParams,
    IdParams,
    ListAuditParams,
    ListBindingsParams,
    ListTokensParams,
    LoginParams,
    NameParams,
    RegisterParams,
    RemoveMemberParams,
    SetMemberParams,
    SsoLoginParams,
    TeamIdParams,
    UpdateRoleParams,
    UpdateTeamParams,
    UpdateUserParams,
)
from forge.registry.identity import invitations, logins, records, roles, teams, tokens, users
from forge.registry.identity.context import Context, require_permission
from forge.registry.identity.tables import audit
from forge.registry.identity.tables import tokens as token_table
from forge.registry.identity.tables import users as user_table

MAX_AUDIT = 1000


async def list_audit(p: ListAuditParams, ctx: Context) -> list[AuditRecord]:
    require_permission(ctx, "audit.read", "reading the audit log")
    if not 1 <= p.limit <= MAX_AUDIT:
        raise InvalidParamsError(f"limit must be 1 to {MAX_AUDIT}", {"field": "limit"})
    async with ctx.store.read() as tx:
        found = await audit.entries(tx, p.limit, p.actor, p.action)
    return [records.audit(r) for r in found]


async def get_snapshot(params: None, ctx: Context) -> IdentitySnapshot:
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
OPERATIONS: dict[tuple[str, str], Operation[Context]] = {
    ("users", "create"): operation(CreateUserParams, users.create_user),
    ("users", "get"): operation(EmailParams, users.get_user),
    ("users", "list"): bare(users.list_users),
    ("users", "update"): operation(UpdateUserParams, users.update_user),
    ("users", "delete"): operation(EmailParams, users.delete_user),
    ("users", "register"): operation(RegisterParams, users.register),
    ("users", "access"): operation(EmailParams, users.access_of),
    ("users", "login"): operation(LoginParams, logins.login),
    ("users", "change_password"): operation(ChangePasswordParams, logins.change_password),
    ("users", "sso_login"): operation(SsoLoginParams, logins.sso_login),
    ("teams", "create"): operation(CreateTeamParams, teams.create_team),
    ("teams", "get"): operation(IdParams, teams.get_team),
    ("teams", "list"): bare(teams.list_teams),
    ("teams", "update"): operation(UpdateTeamParams, teams.update_team),
    ("teams", "delete"): operation(IdParams, teams.delete_team),
    ("members", "list"): operation(TeamIdParams, teams.list_members),
    ("members", "set"): operation(SetMemberParams, teams.set_member),
    ("members", "remove"): operation(RemoveMemberParams, teams.remove_member),
    ("invitations", "create"): operation(SetMemberParams, invitations.create_invitation),
    ("invitations", "list"): operation(TeamIdParams, invitations.list_invitations),
    ("invitations", "accept"): operation(AcceptParams, invitations.accept_invitation),
    ("invitations", "delete"): operation(IdParams, invitations.delete_invitation),
    ("roles", "list"): bare(roles.list_roles),
    ("roles", "get"): operation(NameParams, roles.get_role),
    ("roles", "create"): operation(CreateRoleParams, roles.create_role),
    ("roles", "update"): operation(UpdateRoleParams, roles.update_role),
    ("roles", "delete"): operation(NameParams, roles.delete_role),
    ("bindings", "list"): operation(ListBindingsParams, roles.list_bindings),
    ("bindings", "grant"): operation(BindingParams, roles.grant),
    ("bindings", "revoke"): operation(BindingParams, roles.revoke),
    ("tokens", "create"): operation(CreateTokenParams, tokens.create_token),
    ("tokens", "list"): operation(ListTokensParams, tokens.list_tokens),
    ("tokens", "get"): operation(IdParams, tokens.get_token),
    ("tokens", "revoke"): operation(IdParams, tokens.revoke_token),
    ("revocations", "create"): operation(CreateRevocationParams, tokens.create_revocation),
    ("revocations", "list"): bare(tokens.list_revocations),
    ("audit", "list"): operation(ListAuditParams, list_audit),
    ("snapshot", "get"): bare(get_snapshot),
}
