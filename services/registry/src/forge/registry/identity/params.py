"""Request params of the identity operations: typed decoding, and the checks on emails and names.

Names are stored exactly as given when they pass the checks; every query is parameterised, so
text that looks like SQL or JSON is only ever text.
"""

from __future__ import annotations

import re

import msgspec
from msgspec import UNSET, UnsetType

from forge.core.errors import InvalidParamsError
from forge.registry.params import decode as decode  # one decoder cache for both registries

MAX_NAME = 255
MAX_EMAIL = 254
MAX_DESCRIPTION = 2000
MEMBER_ROLES = ("owner", "member")
_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*")
_ROLE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_PROVIDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class EmailParams(msgspec.Struct, frozen=True):
    email: str


class IdParams(msgspec.Struct, frozen=True):
    id: str


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


def check_email(email: str, field: str = "email") -> str:
    """An email address, lower-cased and trimmed: `local@domain` of plain address characters."""
    normal = email.strip().lower()
    local, at, domain = normal.rpartition("@")
    if (
        not at
        or len(normal) > MAX_EMAIL
        or not _LOCAL.fullmatch(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or not _DOMAIN.fullmatch(domain)
    ):
        raise InvalidParamsError(f"{field} is not a valid email address", {"field": field})
    return normal


def check_name(name: str, field: str = "name", limit: int = MAX_NAME) -> str:
    """A display name: 1 to `limit` printable characters, not blank. Stored as given."""
    if not name.strip() or len(name) > limit:
        raise InvalidParamsError(f"{field} must be 1 to {limit} characters", {"field": field})
    if not name.isprintable():
        raise InvalidParamsError(f"{field} must be printable characters", {"field": field})
    return name


def check_optional(text: str | None, field: str, limit: int = MAX_NAME) -> str | None:
    return None if text is None else check_name(text, field, limit)


def check_description(text: str | None) -> str | None:
    """Free text: may span lines, but no other control characters."""
    if text is None:
        return None
    if len(text) > MAX_DESCRIPTION or not text.replace("\n", "").replace("\t", "").isprintable():
        raise InvalidParamsError(
            f"description must be at most {MAX_DESCRIPTION} printable characters",
            {"field": "description"},
        )
    return text


def check_role_name(name: str, field: str = "role") -> str:
    """Role names are identifiers: lower-case letter first, then letters, digits, `_ . -`."""
    if not _ROLE.fullmatch(name):
        raise InvalidParamsError(
            f"{field} must be a lower-case identifier (letters, digits, '_', '.', '-')",
            {"field": field},
        )
    return name


def check_member_role(role: str) -> str:
    if role not in MEMBER_ROLES:
        raise InvalidParamsError("role must be 'owner' or 'member'", {"field": "role"})
    return role


def check_provider(provider: str) -> str:
    if not _PROVIDER.fullmatch(provider):
        raise InvalidParamsError("provider must be an identifier", {"field": "provider"})
    return provider
