"""Plugin-runner wiring: the current plugin set, hot reload, the catalog's bindings, the hook
subjects, the manifest."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import Coroutine
from typing import Any

import msgspec

from forge.core import ops, rpc, service, subjects
from forge.core.bus import Bus, Headers, NatsBus
from forge.core.config import ConfigError
from forge.core.netguard import SETTING, NetGuard
from forge.plugin_runner import bindings as catalog_bindings
from forge.plugin_runner import handlers
from forge.plugin_runner.config import PluginRunnerConfig
from forge.plugin_runner.source import ConfigFile
from forge.plugins import config as plugin_config
from forge.plugins.chain import PluginSet
from forge.plugins.config import Binding, PluginConfigError, PluginsConfig
from forge.plugins.hookspec import HOOKS, manager
from forge.plugins.inline import section
from forge.plugins.loader import Loader
from forge.plugins.overrides import OFF, build_with_off
from forge.plugins.plugin import Host
from forge.proto.envelope import Envelope
from forge.proto.plugins import LoadedPlugin, Manifest, PluginBinding, RejectedBinding

log = logging.getLogger("forge.plugin_runner")
QUEUE = "plugin-runner"
_ENC = msgspec.json.Encoder()


class Runner:
    """One plugin-runner replica. `plugins` is swapped whole: a call runs to its end on the
    set it started with, so a reload never mixes two configurations in one chain."""

    def __init__(
        self, bus: Bus, settings: PluginRunnerConfig, loader: Loader | None = None
    ) -> None:
        self.bus = bus
        self.settings = settings
        self.loader = loader or Loader()
        self.replica = f"{socket.gethostname()}-{os.getpid()}-{id(self) % 10_000:04d}"
        try:
            guard = NetGuard(settings.upstream_allowed_networks)
        except ValueError as exc:
            raise ConfigError(f"{SETTING}: {exc}") from None
        self.host = Host(bus=bus, replica=self.replica, guard=guard)
        self.file = ConfigFile(settings.plugins_config) if settings.plugins_config else None
        self.base = PluginsConfig()
        self.bindings: list[Binding] = []
        # The catalog's bindings (None: only set_bindings is used), and those left out.
        self.candidates: list[PluginBinding] | None = None
        self.rejected: list[RejectedBinding] = []
        self.plugins = PluginSet(PluginsConfig(), manager(), {})
        self.version = ""
        self.loaded_at = 0.0
        self._lock = asyncio.Lock()
        # Held from reading the running base and bindings to installing what follows from them,
        # so that a file reload and a bindings change never undo one another.
        self._configuring = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self._announced: tuple[list[str], list[str]] | None = None
        self._unreadable = False

    async def start(self) -> None:
        """Load the configuration (a bad one fails the start), then serve."""
        if self.file is not None:
            try:
                data, digest = self.file.read()
                base = plugin_config.parse(data, self.file.path)
                await self._install(base, self.bindings, digest)
            except OSError as exc:
                raise ConfigError(
                    f"cannot read the plugins config {self.file.path}: {exc}"
                ) from exc
            except PluginConfigError as exc:
                raise ConfigError(str(exc)) from exc
        for hook in HOOKS:
            await rpc.serve_envelopes(
                self.bus, subjects.plugins(hook), self._bare(hook), queue=QUEUE
            )
            await rpc.serve_envelopes(
                self.bus, subjects.plugins_call(hook), self._wrapped(hook), queue=QUEUE
            )
        await self.bus.serve(subjects.PLUGINS_MANIFEST_GET, self._manifest_get, queue=QUEUE)
        await self.announce()

    def _bare(self, hook: str) -> rpc.EnvelopeHandler:
        async def handle(envelope: Envelope) -> bytes:
            return await handlers.run_bare(hook, envelope, self.plugins)

        return handle

    def _wrapped(self, hook: str) -> rpc.EnvelopeHandler:
        async def handle(envelope: Envelope) -> bytes:
            return await handlers.run_wrapped(hook, envelope, self.plugins)

        return handle

    # -- the manifest

    def manifest(self) -> bytes:
        return _ENC.encode(
            Manifest(
                hooks=self.plugins.served(),
                version=self.version,
                replica=self.replica,
                plugins=loaded(self.plugins),
                rejected=self.rejected,
                loaded_at=self.loaded_at,
                inline=msgspec.Raw(_ENC.encode(section(self.plugins))),
            )
        )

    async def announce(self) -> None:
        self._announced = (self.plugins.served(), sorted(section(self.plugins)))
        await self.bus.publish(subjects.PLUGINS_MANIFEST, self.manifest())

    async def _manifest_get(self, data: bytes, headers: Headers) -> bytes:
        # The bare manifest (not a {"result": ...} reply): the same bytes as an announcement.
        return self.manifest()

    def _plugins_changed(self) -> None:
        """A plugin disabled itself (on_error: disable): tell routers if the hooks changed
        (served, or run inline)."""
        if (self.plugins.served(), sorted(section(self.plugins))) != self._announced:
            self._spawn(self.announce())

    # -- configuration

    async def _install(self, base: PluginsConfig, bindings: list[Binding], digest: str) -> None:
        """Build the merged configuration's plugins and swap them in; raise PluginConfigError
        (keeping the running set) when it cannot be built."""
        async with self._lock:
            merged = plugin_config.with_bindings(base, bindings)
            new = await build_with_off(merged, self.host, self.loader)
            new.on_change = self._plugins_changed
            old, self.plugins = self.plugins, new
            self.base, self.bindings = base, bindings
            material = digest.encode() + _ENC.encode(bindings)
            self.version = hashlib.sha256(material).hexdigest()[:16]
            self.loaded_at = time.time()
            self._spawn(old.close(self.settings.drain_s))
        log.info(
            "plugins loaded",
            extra={
                "version": self.version,
                "plugins": len(merged.plugins),
                "hooks": len(new.served()),
            },
        )

    async def reload(self) -> bool:
        """Load the file if it changed; True when a new configuration is running. A file that
        cannot be read or used keeps the running configuration, and the error is logged."""
        if self.file is None:
            return False
        try:
            data = self.file.changed()
        except OSError as exc:
            if not self._unreadable:  # said once, not at every poll
                log.error(
                    "cannot read the plugins config %s: %s; keeping the running one",
                    self.file.path,
                    exc,
                )
            self._unreadable = True
            return False
        self._unreadable = False
        if data is None:
            return False
        try:
            base = plugin_config.parse(data, self.file.path)
            async with self._configuring:
                if self.candidates is None:
                    await self._install(base, self.bindings, self.file.digest)
                else:  # the bindings that fit the new file
                    await self._bind(base, self.file.digest)
        except PluginConfigError as exc:
            log.error("plugins config not reloaded, keeping the running one: %s", exc)
            return False
        await self.announce()
        return True

    async def set_bindings(self, bindings: list[Binding]) -> None:
        """Per-team / per-tool bindings (from the REST API's events) merged over the file;
        raise PluginConfigError, keeping the running set, when they cannot be applied."""
        async with self._configuring:
            await self._install(self.base, list(bindings), self.file.digest if self.file else "")
        await self.announce()

    async def bind(self, records: list[PluginBinding]) -> None:
        """The catalog's bindings: those that can be used merged over the file; the others
        left out (logged once, listed in the manifest). Raise PluginConfigError, keeping the
        running set, when even the usable ones cannot be applied."""
        async with self._configuring:
            self.candidates = list(records)
            await self._bind(self.base, self.file.digest if self.file else "")
        await self.announce()

    async def _bind(self, base: PluginsConfig, digest: str) -> None:
        records = self.candidates or []
        usable, rejected = catalog_bindings.screen(base, records, self.loader)
        wanted = [binding for _, binding in usable]
        if base is not self.base or wanted != self.bindings:
            try:
                await self._install(base, wanted, digest)
            except PluginConfigError:
                usable, failed = await catalog_bindings.trial(base, usable, self.host, self.loader)
                rejected.extend(failed)
                await self._install(base, [binding for _, binding in usable], digest)
        known = {(r.id, r.reason) for r in self.rejected}
        for r in rejected:
            if (r.id, r.reason) not in known:
                log.warning(
                    "plugin binding %s (%s for team %s, tool %s) left out: %s",
                    *(r.id, r.plugin, r.team_id or "*", r.tool or "*", r.reason),
                )
        self.rejected = rejected

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload on change and announce the manifest periodically, until `stop`."""
        loop = asyncio.get_running_loop()
        next_announce = loop.time() + self.settings.manifest_interval_s
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.reload_interval_s)
            if stop.is_set():
                break
            if await self.reload():
                next_announce = loop.time() + self.settings.manifest_interval_s
            elif loop.time() >= next_announce:
                await self.announce()
                next_announce = loop.time() + self.settings.manifest_interval_s

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        """Stop the plugins (after the bus has drained the calls in flight)."""
        if self._closing:
            await asyncio.wait(set(self._closing))
        await self.plugins.close(self.settings.drain_s)


async def main(stop: asyncio.Event, settings: PluginRunnerConfig) -> None:
    async with contextlib.AsyncExitStack() as stack:
        bus = await NatsBus.connect(
            settings.nats_url, "forge-plugin-runner", max_inflight=settings.max_inflight
        )
        runner = Runner(bus, settings)
        stack.push_async_callback(runner.close)  # runs after the bus has drained
        stack.push_async_callback(bus.close)
        await runner.start()
        follower = catalog_bindings.Follower(bus, runner.bind, settings)
        stack.push_async_callback(follower.close)  # runs first
        await follower.start()
        ready = ops.nats(bus)  # started: its plugins and the catalog's bindings are loaded
        await ops.serve(
            stack,
            "plugin-runner",
            settings.ops_host,
            settings.ops_port,
            ops.all_of(ready, service.draining(stop)),
        )
        watcher = asyncio.create_task(runner.watch(stop))
        log.info("plugin-runner ready", extra={"hooks": len(runner.plugins.served())})
        await stop.wait()
        await bus.stop_serving(settings.drain_timeout_s)  # in-flight requests finish first
        await watcher


def loaded(plugins: PluginSet) -> list[LoadedPlugin]:
    """The running entries as the manifest shows them (a disabling binding as disabled)."""
    served: dict[str, list[str]] = {}
    for hook, links in plugins.links.items():
        for link in links:
            served.setdefault(link.entry.name, []).append(hook)
    shown: list[LoadedPlugin] = []
    for entry in plugins.config.plugins:
        off = entry.kind == OFF
        base = plugins.config.entry(entry.overrides) if entry.overrides else None
        shown.append(
            LoadedPlugin(
                name=entry.name,
                kind=base.kind if off and base is not None else entry.kind,
                mode="disabled" if off else entry.mode,
                priority=entry.priority,
                hooks=[] if off else served.get(entry.name, []),
                overrides=entry.overrides,
                # A binding's entry shows its team (the owner of the entries it changes).
                teams=list(entry.conditions.target_teams or entry.conditions.teams),
                tools=list(entry.conditions.tools),
                active=not off and entry.mode != "disabled" and entry.name not in plugins.disabled,
            )
        )
    return shown
