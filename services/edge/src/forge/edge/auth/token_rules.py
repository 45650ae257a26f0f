"""API tokens: lookup by hash, their validity and scope rules, the narrowed principal, usage."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
from dataclasses import dataclass

import msgspec

from forge.core.errors import ForbiddenError, UnauthorizedError
from forge.edge.auth.account_binding import STALE
from forge.proto import access
from forge.proto.envelope import Principal
from forge.proto.identity import TokenEntry, TokenUsage, UserAccess

PREFIX = "forge_"
_ENC = msgspec.json.Encoder()
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _minutes(clock: str | None) -> int | None:
    if not clock:
        return None
    hours, _, minutes = clock.partition(":")
    try:
        return int(hours) * 60 + int(minutes or 0)
    except ValueError:
        return None


@dataclass(frozen=True, slots=True)
class Scope:
    """A token's narrowing rules, parsed once (not per request)."""

    server_id: str | None
    cidr_limited: bool  # true even when every CIDR was malformed: then no address is inside
    networks: tuple[Network, ...]
    start: int | None  # minutes after midnight UTC
    end: int | None
    days: frozenset[int]

    @property
    def per_request(self) -> bool:
        """Whether requests must be checked against where and when they come."""
        return (
            self.cidr_limited
            or self.server_id is not None
            or self.start is not None
            or self.end is not None
            or bool(self.days)
        )

    @classmethod
    def of(cls, entry: TokenEntry) -> Scope:
        networks: list[Network] = []
        for cidr in entry.cidrs:
            try:
                networks.append(ipaddress.ip_network(cidr.strip(), strict=False))
            except ValueError:
                continue  # a malformed CIDR allows nothing
        return cls(
            entry.server_id,
            bool(entry.cidrs),
            tuple(networks),
            _minutes(entry.window_start),
            _minutes(entry.window_end),
            frozenset(entry.window_days),
        )

    def check(self, client_ip: str | None, server_id: str | None, now: float) -> None:
        """Refuse (403) a request from outside the token's networks, window or server."""
        if self.server_id is not None and server_id != self.server_id:
            raise ForbiddenError("this API token is limited to another virtual server's endpoints")
        if self.cidr_limited and not self._from_inside(client_ip):
            raise ForbiddenError("this API token may not be used from this address")
        if self.days or self.start is not None or self.end is not None:
            self._check_window(now)

    def _from_inside(self, client_ip: str | None) -> bool:
        if client_ip is None:
            return False
        try:
            address = ipaddress.ip_address(client_ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self.networks)

    def _check_window(self, now: float) -> None:
        moment = datetime.datetime.fromtimestamp(now, datetime.UTC)
        if self.days and moment.isoweekday() not in self.days:
            raise ForbiddenError("this API token may not be used on this day")
        minute = moment.hour * 60 + moment.minute
        start = self.start if self.start is not None else 0
        end = self.end if self.end is not None else 24 * 60
        inside = start <= minute < end if start <= end else (minute >= start or minute < end)
        if not inside:
            raise ForbiddenError("this API token may not be used at this time of day")


def check_valid(entry: TokenEntry | None, now: float) -> TokenEntry:
    """The token, if it is active and within its validity period; else 401."""
    if entry is None or not entry.active:
        raise UnauthorizedError(STALE)
    if entry.expires_at is not None and entry.expires_at <= now:
        raise UnauthorizedError("invalid token: the API token has expired")
    if entry.not_before is not None and entry.not_before > now:
        raise UnauthorizedError("invalid token: the API token is not valid yet")
    return entry


def ordered_teams(user: UserAccess) -> tuple[str, ...]:
    """The user's teams, the personal team first."""
    personal = user.personal_team
    if personal is None:
        return user.teams
    return (personal, *(team for team in user.teams if team != personal))


def _narrow(held: tuple[str, ...], wanted: tuple[str, ...]) -> tuple[str, ...]:
    """The token's permissions among those held (all of them where `*` is held)."""
    if not wanted:
        return held
    if access.ALL in held:
        return wanted
    return tuple(p for p in wanted if p in held)


def narrowed(owner: UserAccess, entry: TokenEntry) -> Principal:
    """The owner's principal, narrowed to what the token allows (never widened): its teams and
    permissions narrow the global grants and each team's grants alike."""
    teams = ordered_teams(owner)
    team_roles, team_permissions = owner.team_roles, owner.team_permissions
    if entry.teams:
        allowed = set(entry.teams)
        teams = tuple(team for team in teams if team in allowed)
        team_roles = {t: roles for t, roles in team_roles.items() if t in allowed}
        team_permissions = {t: held for t, held in team_permissions.items() if t in allowed}
    permissions = _narrow(owner.permissions, entry.permissions)
    team_permissions = {
        t: kept
        for t, held in team_permissions.items()
        if (kept := _narrow(held, entry.permissions))
    }
    # A narrowed token must not keep the admin's blanket pass, or the narrowing means nothing.
    is_admin = owner.is_admin and access.ALL in permissions
    return Principal(
        subject=owner.email,
        email=owner.email,
        teams=teams,
        roles=owner.roles,
        permissions=permissions,
        team_roles=team_roles,
        team_permissions=team_permissions,
        is_admin=is_admin,
        token_id=entry.id,
        server_scope=entry.server_id,
        auth_method="api_token",
    )


class Usage:
    """Uses per token id since the last batch; published every few seconds, not per request."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.last_used: dict[str, float] = {}

    def record(self, token_id: str, now: float) -> None:
        self.counts[token_id] = self.counts.get(token_id, 0) + 1
        self.last_used[token_id] = now

    def take(self) -> bytes | None:
        """The pending batch as a TokenUsage message, or None when there is nothing to send."""
        if not self.counts:
            return None
        batch = TokenUsage(counts=self.counts, last_used=self.last_used)
        self.counts, self.last_used = {}, {}
        return _ENC.encode(batch)
