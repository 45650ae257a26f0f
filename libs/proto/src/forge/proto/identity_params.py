"""Params of the identity registry's operations (`forge.registry.identity.<entity>.<op>`), as
the edge sends them. Only their shape is here: the registry checks emails, names and roles
after decoding (forge.registry.identity.params). `IdParams` is the catalog's."""

from __future__ import annotations

import msgspec
from msgspec import UNSET, UnsetType

from forge.proto.catalog_params import IdParams

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
    email: str


class NameParams(msgspec.Struct, frozen=True):
    name: str


class TeamIdParams(msgspec.Struct, frozen=True):
    team_id: str


class CreateUserParams(msgspec.Struct, frozen=True):
    email: str
    password: str | None = None
    full_name: str | None = None
    is_admin: bool = False
    roles: list[str] | None = None
    active: bool = True


class UpdateUserParams(msgspec.Struct, frozen=True):
    email: str
    full_name: str | UnsetType | None = UNSET
    active: bool | UnsetType = UNSET
    password: str | UnsetType = UNSET


class LoginParams(msgspec.Struct, frozen=True):
    email: str
    password: str
    client_ip: str | None = None  # set by the edge: the address sign-ins are throttled by
    # Set by the edge from a device cookie it verified for this email (docs/identity.md): the
    # cookie's random id and the account id it names. The edge drops any the body names.
    device: str | None = None
    device_account: str | None = None


class ChangePasswordParams(msgspec.Struct, frozen=True):
    old_password: str
    new_password: str


class RegisterParams(msgspec.Struct, frozen=True):
    email: str
    password: str
    full_name: str | None = None


class SsoLoginParams(msgspec.Struct, frozen=True):
    provider: str
    email: str
    full_name: str | None = None
    groups: list[str] = msgspec.field(default_factory=list)
    team_mapping: dict[str, str] = msgspec.field(default_factory=dict)
    default_role: str = "developer"


class CreateTeamParams(msgspec.Struct, frozen=True):
    name: str
    description: str | None = None


class UpdateTeamParams(msgspec.Struct, frozen=True):
    id: str
    name: str | UnsetType = UNSET
    description: str | UnsetType | None = UNSET


class SetMemberParams(msgspec.Struct, frozen=True):
    team_id: str
    email: str
    role: str = "member"


class RemoveMemberParams(msgspec.Struct, frozen=True):
    team_id: str
    email: str


class AcceptParams(msgspec.Struct, frozen=True):
    token: str


class CreateRoleParams(msgspec.Struct, frozen=True):
    name: str
    permissions: list[str]
    description: str | None = None


class UpdateRoleParams(msgspec.Struct, frozen=True):
    name: str
    description: str | UnsetType | None = UNSET
    permissions: list[str] | UnsetType = UNSET


class ListBindingsParams(msgspec.Struct, frozen=True):
    email: str | None = None


class BindingParams(msgspec.Struct, frozen=True):
    email: str
    role: str
    team_id: str | None = None


class CreateTokenParams(msgspec.Struct, frozen=True):
    name: str
    expires_in_days: int | None = None
    teams: list[str] = msgspec.field(default_factory=list)
    server_id: str | None = None
    permissions: list[str] = msgspec.field(default_factory=list)
    cidrs: list[str] = msgspec.field(default_factory=list)
    window_start: str | None = None
    window_end: str | None = None
    window_days: list[int] = msgspec.field(default_factory=list)
    user_email: str | None = None


class ListTokensParams(msgspec.Struct, frozen=True):
    all: bool = False


class CreateRevocationParams(msgspec.Struct, frozen=True):
    jti: str
    expires_at: float | None = None
    reason: str | None = None


class ListAuditParams(msgspec.Struct, frozen=True):
    limit: int = 100
    actor: str | None = None
    action: str | None = None
