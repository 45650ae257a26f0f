"""An API token's scope: it may only narrow what its owner can do, never widen it."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from forge.core.errors import InvalidParamsError
from forge.proto.access import ALL, PERMISSIONS
from forge.proto.identity import UserAccess

MAX_DAYS = 3650
MAX_ENTRIES = 100
_HHMM = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


def _bad(field: str, message: str, **data: object) -> InvalidParamsError:
    return InvalidParamsError(message, {"field": field, **data})


def permissions(requested: Sequence[str], owner: UserAccess) -> tuple[str, ...]:
    """A subset of what the owner holds on some team (anything known, for `*` holders); the
    edge narrows each team's grants to it, so a team-scoped grant stays on its team."""
    held = set(owner.permissions).union(*owner.team_permissions.values())
    allowed = set(PERMISSIONS) | {ALL} if ALL in held else held
    for permission in requested:
        if permission not in allowed:
            raise _bad(
                "permissions",
                f"the token cannot have a permission its owner lacks: {permission}",
                permission=permission,
            )
    return tuple(dict.fromkeys(requested))


def teams(requested: Sequence[str], owner: UserAccess) -> tuple[str, ...]:
    for team_id in requested:
        if team_id not in owner.teams:
            raise _bad("teams", "the token can only act in its owner's teams", team=team_id)
    return tuple(dict.fromkeys(requested))


def cidrs(requested: Sequence[str]) -> tuple[str, ...]:
    """Networks in canonical form (host bits dropped): `10.1.2.3/8` is stored as `10.0.0.0/8`."""
    if len(requested) > MAX_ENTRIES:
        raise _bad("cidrs", f"at most {MAX_ENTRIES} networks")
    found = []
    for text in requested:
        try:
            found.append(str(ipaddress.ip_network(text.strip(), strict=False)))
        except ValueError:
            raise _bad("cidrs", f"not an IP network: {text!r}", cidr=text) from None
    return tuple(dict.fromkeys(found))


def window(start: str | None, end: str | None) -> tuple[str | None, str | None]:
    """Both "HH:MM" (UTC) or neither; the end may be before the start (it wraps midnight)."""
    if (start is None) != (end is None):
        raise _bad("window_start", "window_start and window_end come together")
    for field, value in (("window_start", start), ("window_end", end)):
        if value is not None and not _HHMM.fullmatch(value):
            raise _bad(field, f"{field} must be HH:MM (00:00 to 23:59)")
    return start, end


def days(requested: Sequence[int]) -> tuple[int, ...]:
    for day in requested:
        if not 1 <= day <= 7:
            raise _bad("window_days", "window_days are ISO weekdays, 1 (Monday) to 7 (Sunday)")
    return tuple(sorted(set(requested)))


def expiry(expires_in_days: int | None, now: float) -> float | None:
    if expires_in_days is None:
        return None
    if not 1 <= expires_in_days <= MAX_DAYS:
        raise _bad("expires_in_days", f"expires_in_days must be 1 to {MAX_DAYS}")
    return now + expires_in_days * 86400.0
