"""A token made with an API token never exceeds the token that made it.

Whoever holds a narrowed token holding `tokens.create` could otherwise mint a token with all of
its owner's permissions and teams. So when the caller authenticated with an API token, every
scope of the new token must lie within that token's: permissions, teams, virtual server,
networks, time window and expiry. A value the request leaves out is inherited from the creating
token (so "no narrowing" never means "wider than me"); an explicit wider value is refused (403).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from forge.core.errors import ForbiddenError, NotFoundError
from forge.proto.access import ALL
from forge.proto.identity import UserAccess
from forge.registry.identity import records, scopes
from forge.registry.identity.context import Context
from forge.registry.identity.store import Row, Tx
from forge.registry.identity.tables import tokens

API_TOKEN = "api_token"  # Principal.auth_method of a caller that sent an API token
_DAY = 24 * 60


def _wider(field: str, message: str, **data: object) -> ForbiddenError:
    return ForbiddenError(message, {"field": field, **data})


async def creator(tx: Tx, ctx: Context) -> Row | None:
    """The API token the caller is using (None for sessions and JWTs), if it is still good."""
    if ctx.principal.auth_method != API_TOKEN:
        return None
    token_id = ctx.principal.token_id
    try:
        row = None if token_id is None else await tokens.get(tx, token_id)
    except NotFoundError:
        row = None
    if row is None or not row["active"] or row["email"] != ctx.actor:
        raise ForbiddenError("the API token in use is unknown or revoked")
    return row


def within(new: tokens.NewToken, token: Mapping[str, Any], owner: UserAccess) -> tokens.NewToken:
    """`new`, narrowed to the creating `token`: missing values inherited, wider ones refused."""
    limit = tuple(token["permissions"])
    permissions = (
        new.permissions if ALL in limit else _subset("permissions", new.permissions, limit)
    )
    start, end, days = _window(new, token)
    return dataclasses.replace(
        new,
        # Inherited values pass the owner's checks again: the owner may hold less by now.
        permissions=scopes.permissions(permissions, owner),
        teams=scopes.teams(_subset("teams", new.teams, tuple(token["teams"])), owner),
        server_id=_server(new.server_id, token["server_id"]),
        cidrs=_networks(new.cidrs, tuple(token["cidrs"])),
        window_start=start,
        window_end=end,
        window_days=days,
        expires_at=_expiry(new.expires_at, records.unix(token["expires_at"])),
    )


def _subset(field: str, requested: Sequence[str], limit: Sequence[str]) -> tuple[str, ...]:
    if not limit or not requested:
        return tuple(requested or limit)
    for value in requested:
        if value not in limit:
            raise _wider(
                field, f"the new token cannot exceed the token creating it: {value}", value=value
            )
    return tuple(requested)


def _server(requested: str | None, limit: str | None) -> str | None:
    if limit is None or requested is None:
        return requested if limit is None else limit
    if requested != limit:
        raise _wider("server_id", "the new token cannot leave the creating token's server")
    return requested


def _networks(requested: Sequence[str], limit: Sequence[str]) -> tuple[str, ...]:
    if not limit:
        return tuple(requested)
    if not requested:
        return tuple(limit)
    outer = [ipaddress.ip_network(text, strict=False) for text in limit]
    for text in requested:
        network = ipaddress.ip_network(text, strict=False)
        inside = any(
            network.version == o.version and network.subnet_of(o)  # type: ignore[arg-type]
            for o in outer
        )
        if not inside:
            raise _wider("cidrs", f"{text} is outside the creating token's networks", cidr=text)
    return tuple(requested)


def _expiry(requested: float | None, limit: float | None) -> float | None:
    if limit is None:
        return requested
    if requested is None:
        return limit
    if requested > limit:
        raise _wider("expires_in_days", "the new token cannot outlive the token creating it")
    return requested


def _window(
    new: tokens.NewToken, token: Mapping[str, Any]
) -> tuple[str | None, str | None, tuple[int, ...]]:
    """The new token's window and days, each inherited when left out, inside the creator's."""
    limit_days = tuple(token["window_days"])
    if token["window_start"] is None and not limit_days:
        return new.window_start, new.window_end, new.window_days
    start, end = new.window_start, new.window_end
    if start is None:
        start, end = token["window_start"], token["window_end"]
    days = new.window_days or limit_days
    if not _moments(start, end, days) <= _moments(
        token["window_start"], token["window_end"], limit_days
    ):
        raise _wider("window_start", "the new token's time window exceeds the creating token's")
    return start, end, days


def _moments(start: str | None, end: str | None, days: Sequence[int]) -> set[tuple[int, int]]:
    """Every (ISO weekday, minute of the day) the edge would accept, by its own rule."""
    first = 0 if start is None else _minute(start)
    last = _DAY if end is None else _minute(end)
    if first <= last:
        minutes = range(first, last)
    else:  # wraps midnight
        minutes = range(first - _DAY, last)
    return {(day, m % _DAY) for day in (days or range(1, 8)) for m in minutes}


def _minute(clock: str) -> int:
    hours, _, minutes = clock.partition(":")
    return int(hours) * 60 + int(minutes)
