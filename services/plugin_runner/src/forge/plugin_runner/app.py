"""Plugin-runner wiring: the current plugin set, hot reload, the hook subjects, the manifest."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
from collections.abc import Coroutine
from typing import Any

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus, Headers, NatsBus
from forge.core.config import ConfigError
from forge.plugin_runner import handlers
from forge.plugin_runner.config import PluginRunnerConfig
from forge.plugin_runner.source import ConfigFile
from forge.plugin_runner.wire import Manifest
from forge.plugins import config as plugin_config
from forge.plugins.chain import PluginSet
from forge.plugins.config import Binding, PluginConfigError, PluginsConfig
from forge.plugins.hookspec import HOOKS, manager
from forge.plugins.loader import Loader, build
from forge.plugins.plugin import Host
from forge.proto.envelope import Envelope

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
        self.host = Host(bus=bus, replica=self.replica)
        self.file = ConfigFile(settings.plugins_config) if settings.plugins_config else None
        self.base = PluginsConfig()
        self.bindings: list[Binding] = []
        self.plugins = PluginSet(PluginsConfig(), manager(), {})
        self.version = ""
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self._announced: list[str] | None = None
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
            Manifest(hooks=self.plugins.served(), version=self.version, replica=self.replica)
        )

    async def announce(self) -> None:
        self._announced = self.plugins.served()
        await self.bus.publish(subjects.PLUGINS_MANIFEST, self.manifest())

    async def _manifest_get(self, data: bytes, headers: Headers) -> bytes:
        # The bare manifest (not a {"result": ...} reply): the same bytes as an announcement.
        return self.manifest()

    def _plugins_changed(self) -> None:
        """A plugin disabled itself (on_error: disable): tell routers if the hooks changed."""
        if self.plugins.served() != self._announced:
            self._spawn(self.announce())

    # -- configuration

    async def _install(self, base: PluginsConfig, bindings: list[Binding], digest: str) -> None:
        """Build the merged configuration's plugins and swap them in; raise PluginConfigError
        (keeping the running set) when it cannot be built."""
        async with self._lock:
            merged = plugin_config.with_bindings(base, bindings)
            new = await build(merged, self.host, self.loader)
            new.on_change = self._plugins_changed
            old, self.plugins = self.plugins, new
            self.base, self.bindings = base, bindings
            material = digest.encode() + _ENC.encode(bindings)
            self.version = hashlib.sha256(material).hexdigest()[:16]
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
            await self._install(base, self.bindings, self.file.digest)
        except PluginConfigError as exc:
            log.error("plugins config not reloaded, keeping the running one: %s", exc)
            return False
        await self.announce()
        return True

    async def set_bindings(self, bindings: list[Binding]) -> None:
        """Per-team / per-tool bindings (from the REST API's events) merged over the file;
        raise PluginConfigError, keeping the running set, when they cannot be applied."""
        await self._install(self.base, list(bindings), self.file.digest if self.file else "")
        await self.announce()

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
        bus = await NatsBus.connect(settings.nats_url, "forge-plugin-runner")
        runner = Runner(bus, settings)
        stack.push_async_callback(runner.close)  # runs after the bus has drained
        stack.push_async_callback(bus.close)
        await runner.start()
        watcher = asyncio.create_task(runner.watch(stop))
        log.info("plugin-runner ready", extra={"hooks": len(runner.plugins.served())})
        await stop.wait()
        await watcher
