"""Finding plugin kinds (built-in, installed `forge.plugins` entry points, external MCP) and
building a configuration's plugins into a PluginSet."""

from __future__ import annotations

import importlib
import importlib.metadata
import inspect
import logging
from collections.abc import Callable, Iterable
from typing import Any

import pluggy

from forge.plugins import hookspec
from forge.plugins.chain import PluginSet
from forge.plugins.config import PluginConfigError, PluginsConfig
from forge.plugins.plugin import Host

log = logging.getLogger("forge.plugins.loader")

ENTRY_POINT_GROUP = "forge.plugins"
# A factory makes one instance: (entry name, its config mapping, host) -> an object whose
# `@hookimpl` methods implement hooks (a forge.plugins.plugin.Plugin subclass, typically).
Factory = Callable[[str, dict[str, Any], Host], Any]

BUILTINS: dict[str, str] = {
    "pii_filter": "forge.plugins.builtin.scanning:PiiFilter",
    "secrets_detection": "forge.plugins.builtin.scanning:SecretsDetection",
    "exfil_detection": "forge.plugins.builtin.scanning:ExfilDetection",
    "deny_list": "forge.plugins.builtin.denylist:DenyList",
    "regex_replace": "forge.plugins.builtin.regex:RegexReplace",
    "rate_limiter": "forge.plugins.builtin.ratelimit:RateLimiter",
    "schema_guard": "forge.plugins.builtin.schema:SchemaGuard",
    "output_length_guard": "forge.plugins.builtin.length:OutputLengthGuard",
    "html_sanitizer": "forge.plugins.builtin.html:HtmlSanitizer",
    "circuit_breaker": "forge.plugins.builtin.resilience:CircuitBreaker",
    "watchdog": "forge.plugins.builtin.resilience:Watchdog",
    "cached_tool_result": "forge.plugins.builtin.cache:CachedToolResult",
    "header_filter": "forge.plugins.builtin.headers:HeaderFilter",
    "url_reputation": "forge.plugins.builtin.urls:UrlReputation",
    "sql_sanitizer": "forge.plugins.builtin.sql:SqlSanitizer",
    "argument_normalizer": "forge.plugins.builtin.normalize:ArgumentNormalizer",
    "json_repair": "forge.plugins.builtin.jsonrepair:JsonRepair",
    "webhook_notification": "forge.plugins.builtin.webhook:WebhookNotification",
    "external": "forge.plugins.external:ExternalPlugin",
}


def _import(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


class Loader:
    """Resolves a kind to a factory: built-ins first, then installed entry points.

    `entry_points` defaults to the installed distributions' `forge.plugins` group; tests pass
    their own `importlib.metadata.EntryPoint` objects.
    """

    def __init__(self, entry_points: Iterable[importlib.metadata.EntryPoint] | None = None) -> None:
        if entry_points is None:
            entry_points = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        self.entry_points = {ep.name: ep for ep in entry_points}

    def kinds(self) -> list[str]:
        return sorted({*BUILTINS, *self.entry_points})

    def factory(self, kind: str) -> Factory:
        try:
            if kind in BUILTINS:
                found = _import(BUILTINS[kind])
            elif kind in self.entry_points:
                found = self.entry_points[kind].load()
            else:
                raise PluginConfigError(
                    f"unknown plugin kind {kind!r} (known: {', '.join(self.kinds())})"
                )
        except (ImportError, AttributeError) as exc:
            raise PluginConfigError(f"plugin kind {kind!r} cannot be loaded: {exc}") from exc
        if not callable(found):
            raise PluginConfigError(f"plugin kind {kind!r} is not a class or factory")
        factory: Factory = found
        return factory


def vet(kind: str, config: dict[str, Any]) -> None:
    """Raise what a built-in pure kind's plugin says of `config` (a PatternError names the
    setting), by building one and discarding it: nothing starts, nothing connects. Other kinds
    are not built outside a runner (their constructors are not known to be side-effect free);
    the runner reports a config they refuse."""
    target = BUILTINS.get(kind)
    if target is None:
        return
    factory = _import(target)
    if getattr(factory, "inline_safe", False) is True:
        factory(kind, config, Host())


def dials_out(factory: Factory) -> bool:
    """Whether a kind's plugins connect out; a factory that does not say is assumed to."""
    return bool(getattr(factory, "dials_out", True))


def url_settings(factory: Factory) -> tuple[str, ...]:
    """The config keys holding where a kind's plugins connect to."""
    return tuple(getattr(factory, "url_settings", ()))


async def build(config: PluginsConfig, host: Host, loader: Loader) -> PluginSet:
    """Make and start every non-disabled entry's plugin; on any failure stop those started
    and raise PluginConfigError (the caller keeps its previous set)."""
    pm = hookspec.manager()
    plugins: dict[str, Any] = {}
    try:
        for entry in config.plugins:
            if entry.mode == "disabled":
                continue
            try:
                plugin = loader.factory(entry.kind)(entry.name, entry.config, host)
                plugins[entry.name] = plugin
                start = getattr(plugin, "start", None)
                if start is not None:
                    started = start()
                    if inspect.isawaitable(started):
                        await started
                pm.register(plugin, name=entry.name)
            except PluginConfigError:
                raise
            except pluggy.PluginValidationError as exc:
                raise PluginConfigError(f"plugin {entry.name!r}: {exc}") from exc
            # A third-party plugin's constructor or start may raise anything: that is a load
            # failure of this configuration, not of the runner.
            except Exception as exc:
                raise PluginConfigError(f"plugin {entry.name!r} failed to start: {exc}") from exc
            served = {impl.name for impl in pm.get_hookcallers(plugin) or ()}
            missing = [hook for hook in entry.hooks if hook not in served]
            if missing:
                raise PluginConfigError(
                    f"plugin {entry.name!r} ({entry.kind}) does not implement {', '.join(missing)}"
                )
            if not served:
                raise PluginConfigError(f"plugin {entry.name!r} ({entry.kind}) implements no hook")
    except PluginConfigError:
        await PluginSet(PluginsConfig(), hookspec.manager(), plugins).close(grace_s=0)
        raise
    return PluginSet(config, pm, plugins)
