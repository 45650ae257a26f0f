"""Who owns a catalog entry, who sees it, who may change it: the rules every operation applies.

An entry the caller cannot see does not exist for them: it answers exactly as an unknown id.
Changing an entry, or placing one in a team, takes the operation's permission on that team
(`forge.proto.access.permits`): a role bound on one team acts on that team's entries only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NamedTuple, TypeVar

from forge.core.errors import ForbiddenError, InvalidParamsError, NotFoundError
from forge.proto import access
from forge.proto.envelope import Principal

T = TypeVar("T")


class Placement(NamedTuple):
    """Owner, team and visibility of an entry (a gateway's entries share its placement)."""

    owner: str | None
    team_id: str | None
    visibility: str


def of(record: Any) -> Placement:
    return Placement(record.owner, record.team_id, record.visibility)


def visible(principal: Principal, record: Any) -> bool:
    return access.can_see(principal, record.owner, record.team_id, record.visibility)


def seen(principal: Principal, records: Iterable[T]) -> list[T]:
    """The records the principal can see, in their order."""
    return [r for r in records if visible(principal, r)]


def require_visible(principal: Principal, record: T, missing: str) -> T:
    """The record, or NotFoundError with the very message an unknown id gets."""
    if not visible(principal, record):
        raise NotFoundError(missing)
    return record


def may_manage(principal: Principal, record: Any, permission: str) -> bool:
    """Holders of `permission` on the entry's team change it if they own it, are platform
    admins, or hold team_admin globally or on that team (and are its members)."""
    team_id = record.team_id
    if not access.permits(principal, permission, team_id):
        return False
    if principal.is_admin or (record.owner is not None and record.owner == principal.subject):
        return True
    return (
        team_id is not None
        and team_id in principal.teams
        and access.holds_role(principal, access.TEAM_ADMIN, team_id)
    )


def require_manager(principal: Principal, record: T, missing: str, what: str, permission: str) -> T:
    """The record if the principal may change it: unseen is 404, seen but not theirs 403."""
    require_visible(principal, record, missing)
    if not may_manage(principal, record, permission):
        raise ForbiddenError(
            f"only the owner, a team admin of its team or a platform admin holding"
            f" '{permission}' there may change this {what}",
            {"permission": permission},
        )
    return record


def check_visibility(visibility: str, team_id: str | None) -> str:
    """A known visibility; 'team' also needs a team."""
    if visibility not in access.VISIBILITIES:
        raise InvalidParamsError(
            f"visibility must be one of: {', '.join(access.VISIBILITIES)}",
            {"field": "visibility"},
        )
    if visibility == "team" and team_id is None:
        raise InvalidParamsError("team visibility needs a team_id", {"field": "team_id"})
    return visibility


def choose_visibility(default: str, visibility: str | None, team_id: str | None) -> str:
    """The given visibility, else the default (private when the default is 'team' and there is
    no team), checked."""
    if visibility is None:
        visibility = "private" if default == "team" and team_id is None else default
    return check_visibility(visibility, team_id)


def check_team(principal: Principal, team_id: str) -> str:
    """A team the caller is a member of (any team, for platform admins)."""
    if not principal.is_admin and team_id not in principal.teams:
        raise ForbiddenError(
            "team_id must be a team you are a member of", {"field": "team_id", "team_id": team_id}
        )
    return team_id


def require_permission(principal: Principal, permission: str, team_id: str | None) -> None:
    """403 unless the principal holds `permission` on the team's entries."""
    if not access.permits(principal, permission, team_id):
        raise ForbiddenError(
            f"permission denied: this needs the '{permission}' permission on this team",
            {"permission": permission, "team_id": team_id},
        )


def place(
    principal: Principal,
    default_visibility: str,
    visibility: str | None,
    team_id: str | None,
    permission: str,
) -> Placement:
    """A new entry's placement: owned by the caller, in the chosen team or their personal one,
    where they hold `permission` (the kind's create permission).

    A caller without any team who chose nothing gets a private entry (only they see it).
    """
    team = check_team(principal, team_id) if team_id is not None else None
    if team is None and principal.teams:
        team = principal.teams[0]  # the personal team comes first
    chosen = choose_visibility(default_visibility, visibility, team)
    require_permission(principal, permission, team)
    return Placement(principal.subject, team, chosen)


def replace(
    principal: Principal,
    current: Placement,
    visibility: str | None,
    team_id: str | None,
    permission: str,
) -> Placement:
    """An updated entry's placement: its owner stays; team and visibility change if given. A
    new team must be one where the caller holds `permission` too."""
    team = check_team(principal, team_id) if team_id is not None else current.team_id
    if team != current.team_id:
        require_permission(principal, permission, team)
    chosen = visibility if visibility is not None else current.visibility
    return Placement(current.owner, team, check_visibility(chosen, team))
