"""The base of built-in plugins, and what the runner lends every plugin (the bus, the SSRF
guard its outbound connections go through)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import msgspec

from forge.core.bus import Bus
from forge.core.netguard import NetGuard
from forge.plugins.config import PluginConfigError
from forge.plugins.context import HookContext
from forge.plugins.patterns import compile_pattern  # where plugins have found it
from forge.plugins.result import Violation


@dataclass(frozen=True)
class Host:
    """Shared services a plugin may use. `bus` is None where no NATS is at hand (unit use).
    `guard`: every outbound connection a plugin makes goes through it (forge.core.httpx_dialer);
    the runner's allows FORGE_UPSTREAM_ALLOWED_NETWORKS, the default allows nothing special."""

    bus: Bus | None = None
    replica: str = "local"
    guard: NetGuard = field(default_factory=NetGuard)


class NoConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """For plugins that take no settings."""


class Plugin:
    """One configured instance. Subclasses set `Config` (a frozen msgspec Struct checked at
    load, so a misspelt setting fails the load with its name) and implement hooks with
    `@hookimpl` methods `(self, payload, context)`.

    Hooks must not change the payload they are given in place: return `modify(new)` instead
    (a plugin in audit mode is given a copy, others are not).
    """

    Config: ClassVar[type[msgspec.Struct]] = NoConfig
    # Pure and stateless per call (no state shared across calls or replicas, no I/O): a router
    # may run it in-process from the manifest's `inline` section (docs/plugins.md, "Inline
    # chains"). Only built-in kinds are trusted with it.
    inline_safe: ClassVar[bool] = False
    # Connects to a place its config names (a webhook, an MCP server): binding the kind needs
    # a platform admin, and the settings in `url_settings` are checked by the SSRF guard when
    # the binding is made (registry) and again at connect time (Host.guard). A binding of an
    # operator's entry of such a kind may not change those settings.
    dials_out: ClassVar[bool] = False
    url_settings: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        self.name = name
        self.host = host
        try:
            self.settings: Any = msgspec.convert(config, self.Config, strict=False)
        except msgspec.ValidationError as exc:
            raise PluginConfigError(f"plugin {name!r}: bad config: {exc}") from exc

    async def start(self) -> None:
        """Open what the plugin needs (clients, watches) before its first hook."""

    async def stop(self) -> None:
        """Close it again once the configuration that made it is replaced."""

    async def on_violation(self, plugin: str, violation: Violation, ctx: HookContext) -> None:
        """Told of every violation any plugin reports (webhook notification listens)."""


__all__ = ["Host", "NoConfig", "Plugin", "compile_pattern"]
