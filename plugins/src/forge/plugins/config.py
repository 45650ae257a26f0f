"""The plugin configuration file (YAML): entries, modes, error policies, conditions, bindings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
import yaml

from forge.plugins.hookspec import HOOKS

Mode = Literal["enforce", "enforce_ignore_error", "permissive", "audit", "disabled"]
OnError = Literal["fail", "ignore", "disable"]
# Modes in which a violation stops the request.
BLOCKING: frozenset[str] = frozenset({"enforce", "enforce_ignore_error"})


class PluginConfigError(ValueError):
    """The plugin configuration cannot be used; the message says where and why."""


class Conditions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """When an entry runs. Each non-empty list must match (AND across lists, OR within one).

    `tools`, `prompts`, `resources` and `agents` are shell-style patterns (`*`, `?`, `[...]`)
    on the request's target; when any of them is set, a request that targets nothing they
    match (another kind, or an HTTP or list hook) is skipped. `users` are patterns on the
    principal's email (or subject); `teams` and `server_ids` are exact.

    `target_teams` (exact) are on the team that owns the request's tool, prompt or resource,
    as the router's catalog says, not on the caller's: a request whose target has no team
    (an HTTP or list hook, an agent, a global entry) is skipped. A team's binding is scoped by
    it, so it changes only its own team's entries, whoever calls them.
    """

    server_ids: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    target_teams: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    tools: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()

    def names(self) -> dict[str, tuple[str, ...]]:
        """The target patterns by target kind (only the kinds that have some)."""
        kinds = {
            "tool": self.tools,
            "prompt": self.prompts,
            "resource": self.resources,
            "agent": self.agents,
        }
        return {kind: patterns for kind, patterns in kinds.items() if patterns}


class PluginEntry(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One configured plugin instance."""

    name: str
    # A built-in plugin's name, an installed `forge.plugins` entry point's name, or "external"
    # (a plugin served as an MCP server: see forge.plugins.external).
    kind: str
    mode: Mode = "enforce"
    priority: int = 100  # lower runs first; equal priorities run in name order
    on_error: OnError = "fail"
    hooks: tuple[str, ...] = ()  # only these of the hooks it implements (empty: all of them)
    conditions: Conditions = Conditions()
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] | None = None
    # This entry replaces the named one for the requests it matches (a per-team / per-tool
    # binding); where it does not match, the named entry runs as usual.
    overrides: str | None = None


class Defaults(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    timeout_s: Annotated[float, msgspec.Meta(gt=0)] = 10.0  # a plugin's longest run per hook


class PluginsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The whole file."""

    plugins: tuple[PluginEntry, ...] = ()
    defaults: Defaults = Defaults()

    def entry(self, name: str) -> PluginEntry | None:
        return next((e for e in self.plugins if e.name == name), None)


class Binding(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A per-team / per-tool setting of one plugin, as the REST API will publish it.

    `plugin` names a configured entry (or, when none has that name, a plugin kind that then
    runs only where the binding matches). Mode and config override the entry's for calls of
    `tool` owned by `team` (either may be None: any; a team is the target's owner, never the
    caller's, so a team's binding cannot reach another team's entries).
    """

    plugin: str
    team: str | None = None
    tool: str | None = None
    mode: Mode | None = None
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    priority: int | None = None


def parse(text: str | bytes, source: str = "plugins config") -> PluginsConfig:
    """Read and check a YAML configuration; raise PluginConfigError saying what is wrong."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PluginConfigError(f"{source}: not valid YAML: {exc}") from exc
    if raw is None:
        raw = {}
    try:
        config = msgspec.convert(raw, PluginsConfig)
    except msgspec.ValidationError as exc:
        raise PluginConfigError(f"{source}: {exc}") from exc
    check(config, source)
    return config


def check(config: PluginsConfig, source: str = "plugins config") -> None:
    names: set[str] = set()
    for entry in config.plugins:
        if entry.name in names:
            raise PluginConfigError(f"{source}: two plugins are named {entry.name!r}")
        names.add(entry.name)
        unknown = [hook for hook in entry.hooks if hook not in HOOKS]
        if unknown:
            raise PluginConfigError(
                f"{source}: plugin {entry.name!r} lists unknown hook(s) {', '.join(unknown)}"
            )
    for entry in config.plugins:
        if entry.overrides is not None and entry.overrides not in names:
            raise PluginConfigError(
                f"{source}: plugin {entry.name!r} overrides {entry.overrides!r}, which is not"
                " configured"
            )


def with_bindings(config: PluginsConfig, bindings: list[Binding]) -> PluginsConfig:
    """The configuration plus one overriding entry per binding."""
    added: list[PluginEntry] = []
    for binding in bindings:
        base = config.entry(binding.plugin)
        scope = f"{binding.team or '*'}/{binding.tool or '*'}"
        conditions = base.conditions if base is not None else Conditions()
        conditions = msgspec.structs.replace(
            conditions,
            target_teams=(binding.team,) if binding.team else conditions.target_teams,
            tools=(binding.tool,) if binding.tool else conditions.tools,
        )
        if base is None:
            entry = PluginEntry(name=f"{binding.plugin}@{scope}", kind=binding.plugin)
        else:
            entry = msgspec.structs.replace(base, name=f"{base.name}@{scope}", overrides=base.name)
        added.append(
            msgspec.structs.replace(
                entry,
                mode=binding.mode or entry.mode,
                priority=entry.priority if binding.priority is None else binding.priority,
                config={**entry.config, **binding.config},
                conditions=conditions,
            )
        )
    merged = msgspec.structs.replace(config, plugins=(*config.plugins, *added))
    check(merged, "plugin bindings")
    return merged


def specificity(entry: PluginEntry) -> int:
    """How narrow an overriding entry is: a team and a tool beat a tool, which beats a team."""
    teams = entry.conditions.teams or entry.conditions.target_teams
    return 2 * bool(entry.conditions.tools) + bool(teams)
