"""Inline chains: the hooks a router may run in-process, as the plugin-runner describes them,
and building them again from that description (docs/plugins.md, "Inline chains").

A hook is inline when every active entry serving it is a built-in kind whose class says it is
pure and stateless per call (`inline_safe`), none of them with `on_error: disable` (that state
must be shared), and no plugin of the set listens to violations (`on_violation`: it lives in
the runner). The description is the hook's entries in chain order, bindings included (as the
overriding entries `with_bindings` makes, `Off` stand-ins for disabling ones), with their
config, and the defaults: a router builds the very chain the runner runs.
"""

from __future__ import annotations

import msgspec

from forge.plugins.chain import PluginSet
from forge.plugins.config import Defaults, PluginConfigError, PluginEntry, PluginsConfig
from forge.plugins.loader import BUILTINS, Loader
from forge.plugins.overrides import OFF, build_with_off
from forge.plugins.plugin import Host, Plugin


class InlineChain(msgspec.Struct, frozen=True):
    """One hook's chain as a router rebuilds it."""

    plugins: tuple[PluginEntry, ...]
    defaults: Defaults = Defaults()


def _listens(plugin: object) -> bool:
    notify = getattr(type(plugin), "on_violation", None)
    return notify is not None and notify is not Plugin.on_violation


def section(plugins: PluginSet) -> dict[str, InlineChain]:
    """The hooks of `plugins` a router may run in-process, with their chains."""
    if any(_listens(plugin) for plugin in plugins.plugins.values()):
        return {}  # a violation must reach the observers, which only the runner holds
    inline: dict[str, InlineChain] = {}
    for hook, links in plugins.links.items():
        active = [link for link in links if link.entry.name not in plugins.disabled]
        if active and all(_capable(link.entry, link.plugin) for link in active):
            entries = tuple(link.entry for link in active)
            inline[hook] = InlineChain(plugins=entries, defaults=plugins.config.defaults)
    return inline


def _capable(entry: PluginEntry, plugin: object) -> bool:
    return (
        (entry.kind in BUILTINS or entry.kind == OFF)
        and entry.on_error != "disable"
        and getattr(type(plugin), "inline_safe", False) is True
    )


async def build_inline(chains: dict[str, InlineChain], host: Host | None = None) -> PluginSet:
    """One PluginSet running `chains`' hooks (and no other): raise PluginConfigError when it
    cannot be built. Entries serving several inline hooks are made once."""
    entries: dict[str, PluginEntry] = {}
    defaults = Defaults()
    for chain in chains.values():
        defaults = chain.defaults
        for entry in chain.plugins:
            if entry.kind not in BUILTINS and entry.kind != OFF:
                raise PluginConfigError(f"plugin {entry.name!r} ({entry.kind}) cannot run inline")
            entries.setdefault(entry.name, entry)
    config = PluginsConfig(plugins=tuple(entries.values()), defaults=defaults)
    plugins = await build_with_off(config, host or Host(), Loader(entry_points=()))
    plugins.links = {hook: links for hook, links in plugins.links.items() if hook in chains}
    return plugins
