"""Plugin binding operations: per-team, per-tool settings of one plugin, which the plugin-runner
merges over its configuration file (forge.plugins.config.Binding), and their change events.

A binding's `team_id` is both the team whose entries' calls it changes (whoever calls them) and
the team that sees it, so a named tool must be that team's; a binding for every team
(`team_id` null) is a platform admin's. The registry cannot load plugins,
so `plugin` is only checked for its shape: the runner logs (and reports in its manifest) a
binding naming a plugin it does not know.
"""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING, Any

import msgspec

from forge.core import subjects
from forge.core.errors import ForbiddenError, InvalidParamsError, NotFoundError
from forge.plugins.config import PluginConfigError
from forge.plugins.loader import vet
from forge.plugins.patterns import PatternError
from forge.proto.catalog import Deleted
from forge.proto.catalog_params import IdParams
from forge.proto.plugins import (
    CreatePluginBindingParams,
    ListPluginBindingsParams,
    PluginBinding,
    UpdatePluginBindingParams,
)
from forge.registry.catalog import outbound, ownership
from forge.registry.catalog.store import MISSING_BINDING

if TYPE_CHECKING:
    from forge.registry.catalog.operation import Context

ENTITY = "plugin_bindings"
MANAGE = "plugins.manage"  # held on a binding's team to create, change or delete it there
MODES = ("enforce", "enforce_ignore_error", "permissive", "audit", "disabled")
MAX_CONFIG_BYTES = 65_536
_PLUGIN = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_GLOB = re.compile(r"[*?\[]")
_ENC = msgspec.json.Encoder()


# -- checks


def _invalid(field: str, message: str) -> InvalidParamsError:
    return InvalidParamsError(message, {"field": field})


def _plugin(name: str) -> str:
    if not _PLUGIN.match(name):
        raise _invalid("plugin", "plugin must be 1 to 100 letters, digits, '_', '.' or '-'")
    return name


# Only platform admins may bind a plugin in a mode that lets calls through what it finds:
# team admins can add guardrails to their team, never switch one off or soften it.
_SOFT_MODES = frozenset({"enforce_ignore_error", "permissive", "audit", "disabled"})


def _mode(ctx: Context, mode: str | None) -> str | None:
    if mode is not None and mode not in MODES:
        raise _invalid("mode", f"mode must be one of: {', '.join(MODES)}")
    if mode in _SOFT_MODES and not ctx.principal.is_admin:
        raise ForbiddenError(
            f"only a platform admin may bind a plugin in mode '{mode}': it would let calls"
            " through that the guardrail refuses",
            {"field": "mode"},
        )
    return mode


def _config(config: dict[str, Any]) -> dict[str, Any]:
    if len(_ENC.encode(config)) > MAX_CONFIG_BYTES:
        raise _invalid("config", f"config must be at most {MAX_CONFIG_BYTES} bytes of JSON")
    return config


def _vetted(plugin: str, config: dict[str, Any]) -> None:
    """Refuse a config a built-in kind would not load (a pattern RE2 cannot run, a misspelt
    setting) now, naming the setting, rather than leave the runner to drop the binding."""
    try:
        vet(plugin, config)
    except PatternError as exc:
        raise _invalid(exc.field, str(exc)) from exc
    except PluginConfigError as exc:
        raise _invalid("config", str(exc)) from exc


def _tool(tool: str | None) -> str | None:
    """None, a shell pattern, or a name: its shape."""
    if tool is None:
        return None
    if not tool.strip() or len(tool) > 255 or _CONTROL.search(tool):
        raise _invalid("tool", "tool must be 1 to 255 characters without control characters")
    return tool


async def _team_tool(ctx: Context, tool: str | None, team: str | None) -> None:
    """A named tool must be one the caller sees and, for a team's binding, of that team: a
    binding applies only to its own team's entries (the runner keeps to that too), so naming
    another team's tool would be a binding that never applies, or an attempt on theirs.
    A pattern may match any name: it reaches only the team's own tools."""
    if tool is None or _GLOB.search(tool):
        return
    known = ownership.seen(
        ctx.principal, [t for t in await ctx.store.resolve_tools([tool]) if t.name == tool]
    )
    if not known:
        # One answer for a tool that does not exist and one the caller cannot see.
        raise NotFoundError(f"unknown tool: {tool}", {"field": "tool", "tool": tool})
    if team is not None and all(t.team_id != team for t in known):
        raise ForbiddenError(
            "a team's plugin binding may name only a tool of that team",
            {"field": "tool", "tool": tool, "team_id": team},
        )


def _team(ctx: Context, team_id: str | None) -> str | None:
    """A team the caller belongs to and holds plugins.manage on, or None (every team) for a
    platform admin."""
    if team_id is None:
        if not ctx.principal.is_admin:
            raise ForbiddenError(
                "only a platform admin may bind a plugin for every team", {"field": "team_id"}
            )
        return None
    if not team_id:
        raise ForbiddenError(
            "team_id must be a team you are a member of", {"field": "team_id", "team_id": team_id}
        )
    ownership.check_team(ctx.principal, team_id)
    ownership.require_permission(ctx.principal, MANAGE, team_id)
    return team_id


def _default_team(ctx: Context) -> str:
    if not ctx.principal.teams:
        raise _invalid("team_id", "team_id is required: you belong to no team")
    team = ctx.principal.teams[0]  # the personal team comes first
    _team(ctx, team)
    return team


# -- operations


async def _announce(ctx: Context, kind: str, body: Any) -> None:
    await ctx.bus.publish(subjects.event(subjects.CATALOG, ENTITY, kind), _ENC.encode(body))


async def create_binding(p: CreatePluginBindingParams, ctx: Context) -> PluginBinding:
    team = _default_team(ctx) if p.team_id is msgspec.UNSET else _team(ctx, p.team_id)
    binding = PluginBinding(
        id=uuid.uuid4().hex,
        plugin=_plugin(p.plugin),
        team_id=team,
        tool=_tool(p.tool),
        mode=_mode(ctx, p.mode),
        config=_config(p.config),
        priority=p.priority,
        owner=ctx.principal.subject,
        visibility=ownership.choose_visibility(ctx.config.default_visibility, p.visibility, team),
    )
    await _team_tool(ctx, binding.tool, binding.team_id)
    await outbound.check(ctx, binding.plugin, binding.config)
    _vetted(binding.plugin, binding.config)
    stored = await ctx.store.insert_plugin_binding(binding)
    await _announce(ctx, "changed", stored)
    return stored


async def update_binding(p: UpdatePluginBindingParams, ctx: Context) -> PluginBinding:
    current = await _managed(ctx, p.id)
    changes: dict[str, Any] = {}
    if p.plugin is not None:
        changes["plugin"] = _plugin(p.plugin)
    if p.team_id is not msgspec.UNSET:
        changes["team_id"] = _team(ctx, p.team_id)
    if p.tool is not msgspec.UNSET:
        changes["tool"] = _tool(p.tool)
    if p.mode is not msgspec.UNSET:
        changes["mode"] = _mode(ctx, p.mode)
    if p.config is not None:
        changes["config"] = _config(p.config)
    if p.priority is not msgspec.UNSET:
        changes["priority"] = p.priority
    team = changes.get("team_id", current.team_id)
    changes["visibility"] = ownership.check_visibility(p.visibility or current.visibility, team)
    updated = msgspec.structs.replace(current, **changes)
    if "tool" in changes or "team_id" in changes:
        await _team_tool(ctx, updated.tool, updated.team_id)
    # Any change to a binding that dials out (even of its mode) is a platform admin's; the
    # guard resolves each URL, so an unchanged plugin is checked once.
    if updated.plugin != current.plugin:
        await outbound.check(ctx, current.plugin, updated.config)
    await outbound.check(ctx, updated.plugin, updated.config)
    _vetted(updated.plugin, updated.config)
    stored = await ctx.store.update_plugin_binding(updated)
    await _announce(ctx, "changed", stored)
    return stored


async def _seen(ctx: Context, found: list[PluginBinding]) -> list[PluginBinding]:
    """The bindings the caller sees: visible to them, and naming no tool hidden from them (such
    a binding never changes their calls, and would tell them the tool's name)."""
    visible = ownership.seen(ctx.principal, found)
    named = {b.tool for b in visible if b.tool is not None and not _GLOB.search(b.tool)}
    if not named:
        return visible
    hidden = {
        t.name
        for t in await ctx.store.resolve_tools(named)
        if t.name in named and not ownership.visible(ctx.principal, t)
    }
    return [b for b in visible if b.tool not in hidden]


async def _one(ctx: Context, binding_id: str) -> PluginBinding:
    """The binding if the caller sees it; else NotFoundError, as for an unknown id."""
    binding = await ctx.store.get_plugin_binding(binding_id)
    if not await _seen(ctx, [binding]):
        raise NotFoundError(MISSING_BINDING)
    return binding


async def _managed(ctx: Context, binding_id: str) -> PluginBinding:
    binding = await _one(ctx, binding_id)
    return ownership.require_manager(
        ctx.principal, binding, MISSING_BINDING, "plugin binding", MANAGE
    )


async def list_bindings(p: ListPluginBindingsParams, ctx: Context) -> list[PluginBinding]:
    return [
        b
        for b in await _seen(ctx, await ctx.store.list_plugin_bindings())
        if (p.plugin is None or b.plugin == p.plugin)
        and (p.team_id is None or b.team_id == p.team_id)
    ]


async def get_binding(params: IdParams, ctx: Context) -> PluginBinding:
    return await _one(ctx, params.id)


async def delete_binding(params: IdParams, ctx: Context) -> dict[str, Any]:
    binding_id = (await _managed(ctx, params.id)).id
    await ctx.store.delete_plugin_binding(binding_id)
    await _announce(ctx, "deleted", Deleted(id=binding_id))
    return {"id": binding_id, "deleted": True}


async def snapshot(params: None, ctx: Context) -> list[PluginBinding]:
    """Every binding, whoever sees it: what the plugin-runner loads at start."""
    if not ctx.principal.is_admin:
        raise ForbiddenError("the plugin bindings snapshot is for Forge's own services")
    return await ctx.store.list_plugin_bindings()
