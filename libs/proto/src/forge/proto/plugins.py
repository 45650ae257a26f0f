"""Plugin wire types: the wrapped hook call and its reply, the plugin-runners' manifest, and the
catalog's plugin bindings (served, announced, and read by the runners).

Every field a reader may lack has a default: an older runner's manifest or an older registry's
binding still decodes (rolling upgrades). A binding's deletion is announced as
`forge.proto.catalog.Deleted`.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

# The priority of a binding's entry (forge.plugins orders entries by it).
Priority = Annotated[int, msgspec.Meta(ge=-1_000_000, le=1_000_000)]


class HookCall(msgspec.Struct, frozen=True):
    """Params on `forge.plugins.call.<hook>`: the payload the hook may change and, for post
    hooks, the request's params as the pre hooks left them (absent: unknown). `team` is the
    team owning the call's tool, prompt or resource, as the router's catalog says (absent: it
    has none, or not a call on one): a team's plugin bindings apply only where it is theirs."""

    payload: msgspec.Raw
    request: msgspec.Raw = msgspec.Raw()
    team: str | None = None


class HookTarget(msgspec.Struct, frozen=True):
    """What a plugin-runner reads of a hook call's request (or a pre hook's payload) to choose
    the plugins that run, without decoding the rest (a post hook's result may be large): the
    members that name the call's target. Any type: the chosen plugins see the whole payload."""

    name: Any = None
    uri: Any = None
    agent: Any = None


class HookReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The result on `forge.plugins.call.<hook>`: `payload` only when `modified`; `result`
    only when a pre hook answered in the call's place (the caller then skips the call).
    Both stay raw (empty: absent): the router forwards them as they are, the edge decodes the
    payload. `modified` is always sent: callers compare an unchanged reply byte for byte."""

    modified: bool
    payload: msgspec.Raw = msgspec.Raw()
    result: msgspec.Raw = msgspec.Raw()


class LoadedPlugin(msgspec.Struct, frozen=True):
    """One entry of the running configuration, as the manifest shows it (never its config:
    that may hold credentials). A binding's entry is named `<plugin>@<team|*>/<tool|*>`."""

    name: str
    kind: str
    mode: str
    priority: int
    hooks: list[str] = msgspec.field(default_factory=list)  # served now (none when disabled)
    overrides: str | None = None
    teams: list[str] = msgspec.field(default_factory=list)
    tools: list[str] = msgspec.field(default_factory=list)
    active: bool = True  # False: disabled by mode, or by its own failure (on_error: disable)


class RejectedBinding(msgspec.Struct, frozen=True):
    """A catalog binding the runner cannot use, and why (an unknown plugin, a bad config)."""

    id: str
    plugin: str
    team_id: str | None = None
    tool: str | None = None
    reason: str = ""


class Manifest(msgspec.Struct, frozen=True):
    """Announced on `forge.plugins.manifest` and the reply to `forge.plugins.manifest.get`.

    `hooks` are those at least one active plugin serves; `wrapped` says the runner also
    serves `forge.plugins.call.<hook>`; `version` changes with the configuration; `plugins`
    is the running configuration and `rejected` the catalog bindings left out of it.
    `loaded_at` (epoch seconds) says when this configuration was installed: a router hearing
    replicas with different versions follows the newest. `inline` holds, for the hooks whose
    every active entry may run in a router, the entries themselves, config included: a JSON
    object of hook → `forge.plugins.inline.InlineChain`, left raw here because only the
    router reads it, with forge.plugins (docs/plugins.md, "Inline chains").
    """

    hooks: list[str] = msgspec.field(default_factory=list)
    version: str = ""
    replica: str = ""
    wrapped: bool = True
    loaded_at: float = 0.0
    inline: msgspec.Raw = msgspec.Raw(b"{}")
    plugins: list[LoadedPlugin] = msgspec.field(default_factory=list)
    rejected: list[RejectedBinding] = msgspec.field(default_factory=list)


class PluginBinding(msgspec.Struct, frozen=True):
    """One plugin binding: per-team, per-tool settings of one plugin that the runners merge
    over their configuration file. Served by the catalog registry
    (`forge.registry.catalog.plugin_bindings.*`) and announced on
    `forge.events.catalog.plugin_bindings.changed`."""

    id: str
    plugin: str
    team_id: str | None = None  # the team whose entries' calls it changes (None: every team)
    tool: str | None = None  # an exposed tool name or a shell pattern (None: any tool)
    mode: str | None = None  # None: the configured entry's mode
    config: dict[str, Any] = msgspec.field(default_factory=dict)  # merged over the entry's
    priority: int | None = None  # None: the configured entry's priority
    owner: str | None = None
    visibility: str = "team"  # private | team | public (forge.proto.access.can_see)
    created_at: str = ""
    updated_at: str = ""


class CreatePluginBindingParams(msgspec.Struct, frozen=True):
    """`plugin_bindings.create`: what the registry checks before storing a PluginBinding."""

    plugin: str
    # Absent: the caller's personal team; null: every team (platform admins only).
    team_id: str | msgspec.UnsetType | None = msgspec.UNSET
    tool: str | None = None
    mode: str | None = None
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    priority: Priority | None = None
    visibility: str | None = None


class UpdatePluginBindingParams(msgspec.Struct, frozen=True):
    """Only what is given changes; null resets tool, mode and priority to 'any' / inherited."""

    id: str
    plugin: str | None = None
    team_id: str | msgspec.UnsetType | None = msgspec.UNSET
    tool: str | msgspec.UnsetType | None = msgspec.UNSET
    mode: str | msgspec.UnsetType | None = msgspec.UNSET
    config: dict[str, Any] | None = None
    priority: Priority | msgspec.UnsetType | None = msgspec.UNSET
    visibility: str | None = None


class ListPluginBindingsParams(msgspec.Struct, frozen=True):
    """Optional exact filters of `plugin_bindings.list`."""

    plugin: str | None = None
    team_id: str | None = None


HOOK_CALL_DECODER = msgspec.json.Decoder(HookCall)
HOOK_REPLY_DECODER = msgspec.json.Decoder(HookReply)
HOOK_TARGET_DECODER = msgspec.json.Decoder(HookTarget)
MANIFEST_DECODER = msgspec.json.Decoder(Manifest)
BINDING_DECODER = msgspec.json.Decoder(PluginBinding)
BINDINGS_DECODER = msgspec.json.Decoder(list[PluginBinding])
