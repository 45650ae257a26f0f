"""Bindings in `disabled` mode: a stand-in that turns the overridden entry off where they match.

`with_bindings` makes a disabled binding an overriding entry in `disabled` mode, which `build`
skips; with no link of its own it never wins in `PluginSet.select`, so the entry it should turn
off would run. Here such an entry becomes an `Off` plugin that serves the overridden entry's hooks
and changes nothing: where the binding matches, it replaces the entry, and nothing runs.
"""

from __future__ import annotations

from typing import Any

import msgspec

from forge.plugins.chain import PluginSet
from forge.plugins.config import PluginEntry, PluginsConfig
from forge.plugins.hookspec import HOOKS, hookimpl
from forge.plugins.loader import Factory, Loader, build
from forge.plugins.plugin import Host

# Not a name the catalog accepts for a plugin (nor a likely entry point name).
OFF = "(off)"


class Off:
    """Serves every hook and answers None: the call goes on as if the entry were not there."""

    inline_safe = True

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        self.name = name


def _unchanged(self: Off, payload: Any, context: Any) -> None:
    return None


for _hook in HOOKS:
    setattr(Off, _hook, hookimpl(_unchanged))


class OffLoader(Loader):
    """A loader knowing `Off` too (the runner's, and a router's building inline chains)."""

    def __init__(self, inner: Loader) -> None:
        self.inner = inner
        self.entry_points = inner.entry_points

    def kinds(self) -> list[str]:
        return self.inner.kinds()

    def factory(self, kind: str) -> Factory:
        return Off if kind == OFF else self.inner.factory(kind)


def switch_off(config: PluginsConfig) -> PluginsConfig:
    """Each disabled overriding entry as an `Off` entry with the overridden entry's hooks."""
    entries: list[PluginEntry] = []
    for entry in config.plugins:
        base = config.entry(entry.overrides) if entry.overrides is not None else None
        if base is not None and entry.mode == "disabled":
            entry = msgspec.structs.replace(
                entry, kind=OFF, mode="enforce", on_error="ignore", hooks=base.hooks, config={}
            )
        entries.append(entry)
    return msgspec.structs.replace(config, plugins=tuple(entries))


def trim(plugins: PluginSet) -> None:
    """Drop `Off` links from hooks the entry they stand in for does not serve (else the runner
    would announce, and be asked for, hooks no plugin needs)."""
    for hook, links in list(plugins.links.items()):
        present = {link.entry.name for link in links}
        kept = [link for link in links if link.entry.kind != OFF or link.entry.overrides in present]
        if kept:
            plugins.links[hook] = kept
        else:
            del plugins.links[hook]


async def build_with_off(config: PluginsConfig, host: Host, loader: Loader) -> PluginSet:
    """`build` with each disabling binding of `config` as an `Off` stand-in (see above)."""
    plugins = await build(switch_off(config), host, OffLoader(loader))
    trim(plugins)
    return plugins
