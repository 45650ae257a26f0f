"""Params of the identity registry's operations (`forge.registry.identity.<entity>.<op>`), as
the edge sends them. Only their shape and lengths (forge.proto.limits) are here: the registry
checks emails, names and roles after decoding (forge.registry.identity.params). `IdParams` is
the catalog's."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from forge.proto.catalog_params import IdParams
from forge.proto.limits import Description, Email, Id, Ids, Name, Names, Secret

__all__ = [
    "AcceptParams",
    "BindingParams",
    "ChangePasswordParams",
    "CreateRevocationParams",
    "CreateRoleParams",
    "CreateTeamParams",
    "CreateTokenParams",
    "CreateUserParams",
    "EmailParams",
    "IdParams",
    "ListAuditParams",
    "ListBindingsParams",
    "ListTokensParams",
    "LoginParams",
    "NameParams",
    "RegisterParams",
    "RemoveMemberParams",
    "SetMemberParams",
    "SsoLoginParams",
    "TeamIdParams",
    "UpdateRoleParams",
    "UpdateTeamParams",
    "UpdateUserParams",
]


class EmailParams(msgspec.Struct, frozen=True):
    email: Email


class NameParams(msgspec.Struct, frozen=True):
    name: Name


class TeamIdParams(msgspec.Struct, frozen=True):
    team_id: Id


class CreateUserParams(msgspec.Struct, frozen=True):
    email: Email
    password: Secret | None = None
    full_name: Name | None = None
    is_admin: bool = False
    roles: Names | None = None
    active: bool = True


class UpdateUserParams(msgspec.Struct, frozen=True):
    email: Email
    full_name: Name | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET
    password: Secret | UnsetType = UNSET


class LoginParams(msgspec.Struct, frozen=True):
    email: Email
    password: Secret
    client_ip: str | None = None  # set by the edge: the address sign-ins are throttled by
    # Set by the edge from a device cookie it verified for this email (docs/identity.md): the
    # cookie's random id and the account id it names. The edge drops any the body names.
    device: str | None = None
    device_account: str | None = None


class ChangePasswordParams(msgspec.Struct, frozen=True):
    old_password: Secret
    new_password: Secret


class RegisterParams(msgspec.Struct, frozen=True):
    email: Email
    password: Secret
    full_name: Name | None = None


class SsoLoginParams(msgspec.Struct, frozen=True):
    provider: str
    email: str
    full_name: str | None = None
    groups: list[str] = msgspec.field(default_factory=list)
    team_mapping: dict[str, str] = msgspec.field(default_factory=dict)
    default_role: str = "developer"


class CreateTeamParams(msgspec.Struct, frozen=True):
    name: Name
    description: Description | None = None


class UpdateTeamParams(msgspec.Struct, frozen=True):
    id: Id
    name: Name | UnsetType = UNSET
    description: Description | UnsetType | None = UNSET


class SetMemberParams(msgspec.Struct, frozen=True):
    team_id: Id
    email: Email
    role: Name = "member"


class RemoveMemberParams(msgspec.Struct, frozen=True):
    team_id: Id
    email: Email


class AcceptParams(msgspec.Struct, frozen=True):
    token: str


class CreateRoleParams(msgspec.Struct, frozen=True):
    name: Name
    permissions: Names
    description: Description | None = None


class UpdateRoleParams(msgspec.Struct, frozen=True):
    name: Name
    description: Description | UnsetType | None = UNSET
    permissions: Names | UnsetType = UNSET


class ListBindingsParams(msgspec.Struct, frozen=True):
    email: str | None = None


class BindingParams(msgspec.Struct, frozen=True):
    email: Email
    role: Name
    team_id: Id | None = None


class CreateTokenParams(msgspec.Struct, frozen=True):
    name: Name
    expires_in_days: int | None = None
    teams: Ids = msgspec.field(default_factory=list)
    server_id: Id | None = None
    permissions: Names = msgspec.field(default_factory=list)
    cidrs: Names = msgspec.field(default_factory=list)
    window_start: str | None = None
    window_end: str | None = None
    window_days: list[int] = msgspec.field(default_factory=list)
    user_email: str | None = None


class ListTokensParams(msgspec.Struct, frozen=True):
    all: bool = False


class CreateRevocationParams(msgspec.Struct, frozen=True):
    jti: Id
    expires_at: float | None = None
    reason: Description | None = None


class ListAuditParams(msgspec.Struct, frozen=True):
    limit: int = 100
    actor: str | None = None
    action: str | None = None
