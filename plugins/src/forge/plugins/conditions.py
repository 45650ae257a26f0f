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
        kind, target = ctx.target_kind, ctx.target
        patterns = by_kind.get(kind) if kind is not None else None
        if patterns is None and kind == "agent":
            # An agent's hook call is a call of its MCP tool too (`a2a-<slug>`, the request's
            # `name` beside `agent`), from the router and from Forge's A2A endpoint alike: a
            # tool condition (a team's binding on its agent's tool) holds there as well.
            patterns, target = by_kind.get("tool"), _agent_tool(ctx.request)
        if patterns is None or target is None or not _any(patterns, target):
            return False
    return True


def _agent_tool(request: object) -> str | None:
    if isinstance(request, dict) and "agent" in request and isinstance(request.get("name"), str):
        return str(request["name"])
    return None
