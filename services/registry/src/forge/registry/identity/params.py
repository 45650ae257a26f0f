"""Checks on the identity operations' params (forge.proto.identity_params): emails and names.

Names are stored exactly as given when they pass the checks; every query is parameterised, so
text that looks like SQL or JSON is only ever text.
"""

from __future__ import annotations

import re

from forge.core.errors import InvalidParamsError
from forge.proto.limits import MAX_DESCRIPTION, MAX_EMAIL, MAX_NAME

MEMBER_ROLES = ("owner", "member")
_LOCAL = re.compile(r"[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*")
_ROLE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")
_PROVIDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


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
