"""Whether an entry's conditions hold for one hook call."""

from __future__ import annotations

from fnmatch import fnmatchcase

from forge.plugins.config import Conditions
from forge.plugins.context import HookContext


def _any(patterns: tuple[str, ...], value: str) -> bool:
    return any(fnmatchcase(value, pattern) for pattern in patterns)


def matches(conditions: Conditions, ctx: HookContext) -> bool:
    if conditions.server_ids and ctx.server_id not in conditions.server_ids:
        return False
    if conditions.teams and not set(ctx.principal.teams) & set(conditions.teams):
        return False
    if conditions.target_teams and ctx.target_team not in conditions.target_teams:
        return False  # also when the target's team is unknown (None): never widen a team's scope
    if conditions.users:
        names = {ctx.principal.subject}
        if ctx.principal.email:
            names.add(ctx.principal.email)
        if not any(_any(conditions.users, name) for name in names):
            return False
    by_kind = conditions.names()
    if by_kind:
        kind = ctx.target_kind
        patterns = by_kind.get(kind) if kind is not None else None
        if patterns is None or ctx.target is None or not _any(patterns, ctx.target):
            return False
    return True
