"""The plugin-runner's wire types: the wrapped hook call, its reply, the manifest, and the
catalog's plugin bindings as the runner reads them."""

from __future__ import annotations

from typing import Any

import msgspec

from forge.plugins.inline import InlineChain


class HookCall(msgspec.Struct, frozen=True):
    """Params on `forge.plugins.call.<hook>`: the payload the hook may change and, for post
    hooks, the request's params as the pre hooks left them (absent: unknown)."""

    payload: msgspec.Raw
    request: msgspec.Raw = msgspec.Raw()


class HookReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The result on `forge.plugins.call.<hook>`: `payload` only when `modified`; `result`
    only when a pre hook answered in the call's place (the caller then skips the call)."""

    modified: bool
    payload: msgspec.Raw | None = None
    result: msgspec.Raw | None = None


class LoadedPlugin(msgspec.Struct, frozen=True):
    """One entry of the running configuration, as the manifest shows it (never its config:
    that may hold credentials). A binding's entry is named `<plugin>@<team|*>/<tool|*>`."""

    name: str
    kind: str
    mode: str
    priority: int
    hooks: list[str]  # the hooks it serves now (none when disabled)
    overrides: str | None = None
    teams: list[str] = msgspec.field(default_factory=list)
    tools: list[str] = msgspec.field(default_factory=list)
    active: bool = True  # False: disabled by mode, or by its own failure (on_error: disable)


class RejectedBinding(msgspec.Struct, frozen=True):
    """A catalog binding the runner cannot use, and why (an unknown plugin, a bad config)."""

    id: str
    plugin: str
    team_id: str | None
    tool: str | None
    reason: str


class Manifest(msgspec.Struct, frozen=True):
    """Announced on `forge.plugins.manifest` and the reply to `forge.plugins.manifest.get`.

    `hooks` are those at least one active plugin serves; `wrapped` says the runner also
    serves `forge.plugins.call.<hook>`; `version` changes with the configuration; `plugins`
    is the running configuration and `rejected` the catalog bindings left out of it.
    `loaded_at` (epoch seconds) says when this configuration was installed: a router hearing
    replicas with different versions follows the newest. `inline` holds, for the hooks whose
    every active entry may run in a router, the entries themselves, config included
    (forge.plugins.inline; docs/plugins.md, "Inline chains").
    """

    hooks: list[str]
    version: str
    replica: str
    wrapped: bool = True
    loaded_at: float = 0.0
    inline: dict[str, InlineChain] = msgspec.field(default_factory=dict)
    plugins: list[LoadedPlugin] = msgspec.field(default_factory=list)
    rejected: list[RejectedBinding] = msgspec.field(default_factory=list)


class BindingRecord(msgspec.Struct, frozen=True):
    """A plugin binding as the catalog registry serves and announces it
    (`catalog.plugin_bindings.snapshot`, `forge.events.catalog.plugin_bindings.changed`)."""

    id: str
    plugin: str
    team_id: str | None = None
    tool: str | None = None
    mode: str | None = None
    config: dict[str, Any] = msgspec.field(default_factory=dict)
    priority: int | None = None
    created_at: str = ""
    updated_at: str = ""


class Deleted(msgspec.Struct, frozen=True):
    """`forge.events.catalog.plugin_bindings.deleted`."""

    id: str


HOOK_CALL_DECODER = msgspec.json.Decoder(HookCall)
MANIFEST_DECODER = msgspec.json.Decoder(Manifest)
BINDINGS_DECODER = msgspec.json.Decoder(list[BindingRecord])
BINDING_DECODER = msgspec.json.Decoder(BindingRecord)
DELETED_DECODER = msgspec.json.Decoder(Deleted)
