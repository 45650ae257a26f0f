"""The catalog's plugin bindings in the runner: which can be used, and keeping them current.

The catalog registry stores per-team, per-tool bindings (set through the REST API); the runner
asks for all of them at start (`catalog.plugin_bindings.snapshot`, until the registry answers),
follows `forge.events.catalog.plugin_bindings.*`, and reads them all again every
FORGE_PLUGIN_RUNNER_BINDINGS_RESYNC_S in case an event was lost. A binding the runner cannot
use (an unknown plugin, a config the plugin refuses, one that changes where an operator's
entry dials out) is left out, logged once, and listed in the manifest's `rejected`; the others
still apply.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus, Subscription
from forge.core.errors import ForgeError
from forge.plugin_runner.config import PluginRunnerConfig
from forge.plugins.config import Binding, PluginConfigError, PluginsConfig, with_bindings
from forge.plugins.loader import Loader, build, url_settings
from forge.plugins.plugin import Host
from forge.proto.catalog import Deleted
from forge.proto.envelope import Envelope, Principal
from forge.proto.plugins import BINDING_DECODER, BINDINGS_DECODER, PluginBinding, RejectedBinding

log = logging.getLogger("forge.plugin_runner.bindings")
ENTITY = "plugin_bindings"
_DELETED = msgspec.json.Decoder(Deleted)
_SERVICE = Principal(subject="forge-plugin-runner", is_admin=True, auth_method="service")
Usable = list[tuple[PluginBinding, Binding]]


def reject(record: PluginBinding, reason: str) -> RejectedBinding:
    return RejectedBinding(record.id, record.plugin, record.team_id, record.tool, reason)


def redirects(base: PluginsConfig, record: PluginBinding, loader: Loader) -> str | None:
    """The setting by which a binding would change where a configured entry connects to.

    Only the operator's file says where its entries dial out; the registry lets only platform
    admins bind a kind that dials out (with its URL checked), but it cannot tell the kind of a
    file entry, so that rule is kept here.
    """
    entry = base.entry(record.plugin)
    if entry is None:
        return None
    try:
        settings = url_settings(loader.factory(entry.kind))
    except PluginConfigError:
        return None  # the whole configuration fails to load, which says why
    return next((name for name in settings if name in record.config), None)


def screen(
    base: PluginsConfig, records: Iterable[PluginBinding], loader: Loader
) -> tuple[Usable, list[RejectedBinding]]:
    """The bindings that name a configured entry or a known kind, once per plugin, team and
    tool (the oldest wins), as Bindings; and the others, with why."""
    names = {entry.name for entry in base.plugins}
    kinds = loader.kinds()
    usable: Usable = []
    rejected: list[RejectedBinding] = []
    scopes: set[tuple[str, str | None, str | None]] = set()
    for record in sorted(records, key=lambda r: (r.created_at, r.id)):
        if record.plugin not in names and record.plugin not in kinds:
            rejected.append(reject(record, "unknown plugin: neither a configured entry nor a kind"))
            continue
        setting = redirects(base, record, loader)
        if setting is not None:
            reason = f"a binding may not change where {record.plugin} connects to ({setting})"
            rejected.append(reject(record, reason))
            continue
        scope = (record.plugin, record.team_id, record.tool)
        if scope in scopes:
            rejected.append(reject(record, "another binding has the same plugin, team and tool"))
            continue
        try:
            binding = msgspec.convert(
                {
                    "plugin": record.plugin,
                    "team": record.team_id,
                    "tool": record.tool,
                    "mode": record.mode,
                    "config": record.config,
                    "priority": record.priority,
                },
                Binding,
            )
        except msgspec.ValidationError as exc:
            rejected.append(reject(record, f"not a valid binding: {exc}"))
            continue
        scopes.add(scope)
        usable.append((record, binding))
    return usable, rejected


async def trial(
    base: PluginsConfig, usable: Usable, host: Host, loader: Loader
) -> tuple[Usable, list[RejectedBinding]]:
    """Build each binding's entry on its own (then stop it): those that load, and the others.

    Only when the whole set failed to load, to find which bindings are at fault.
    """
    kept: Usable = []
    failed: list[RejectedBinding] = []
    for record, binding in usable:
        try:
            entry = with_bindings(base, [binding]).plugins[-1]
            alone = PluginsConfig(
                plugins=(msgspec.structs.replace(entry, overrides=None),), defaults=base.defaults
            )
            plugins = await build(alone, host, loader)
        except PluginConfigError as exc:
            failed.append(reject(record, str(exc)))
            continue
        await plugins.close(grace_s=0)
        kept.append((record, binding))
    return kept, failed


class Follower:
    """Keeps the runner's bindings equal to the catalog's: `bind` (the runner's) gets
    every binding after each change, and raises PluginConfigError when it keeps its set."""

    def __init__(
        self,
        bus: Bus,
        bind: Callable[[list[PluginBinding]], Awaitable[None]],
        settings: PluginRunnerConfig,
    ) -> None:
        self.bus = bus
        self.bind = bind
        self.settings = settings
        self.records: dict[str, PluginBinding] = {}
        self.loaded = asyncio.Event()
        self._pending: list[tuple[str, bytes]] | None = []  # events heard while reading all
        self._dirty = asyncio.Event()
        self._sub: Subscription | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Subscribe first (no change is missed), then read and apply in the background."""
        events = subjects.entity_events(subjects.CATALOG, ENTITY)
        self._sub = await self.bus.subscribe(events, self._on_event)
        await self.bus.flush()
        self._task = asyncio.create_task(self._run())
        self._task.add_done_callback(_ended)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._sub is not None:
            await self._sub.unsubscribe()

    async def _on_event(self, subject: str, data: bytes) -> None:
        if self._pending is not None:
            self._pending.append((subject, data))
        elif self._take(subject, data):
            self._dirty.set()

    def _take(self, subject: str, data: bytes) -> bool:
        """Apply one event to the records; True when they changed."""
        kind = subject.rsplit(".", 1)[-1]
        try:
            if kind == "changed":
                record = BINDING_DECODER.decode(data)
                current = self.records.get(record.id)
                if current is not None and current.updated_at >= record.updated_at:
                    return False  # the same, or older than what we hold
                self.records[record.id] = record
                return True
            if kind == "deleted":
                return self.records.pop(_DELETED.decode(data).id, None) is not None
        except msgspec.DecodeError:
            log.warning("ignored a malformed plugin binding event on %s", subject)
        return False

    async def _fetch(self) -> list[PluginBinding]:
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method=f"{subjects.CATALOG}.{ENTITY}.snapshot",
            params=msgspec.Raw(b"{}"),
            principal=_SERVICE,
            deadline=time.time() + self.settings.bindings_timeout_s,
        )
        subject = subjects.registry(subjects.CATALOG, ENTITY, "snapshot")
        return BINDINGS_DECODER.decode(await rpc.call(self.bus, subject, envelope))

    async def sync(self) -> bool:
        """Read every binding again, then apply the events heard meanwhile; False when the
        registry did not answer (the records stay as they were)."""
        self._pending = []
        fetched: list[PluginBinding] | None = None
        try:
            fetched = await self._fetch()
        except ForgeError as exc:
            log.debug("plugin bindings not read: %s", exc.message)
        except msgspec.DecodeError:
            log.warning("the catalog registry sent malformed plugin bindings")
        pending, self._pending = self._pending, None
        changed = False
        if fetched is not None:
            fresh = {record.id: record for record in fetched}
            changed = fresh != self.records
            self.records = fresh
        for subject, data in pending:
            changed = self._take(subject, data) or changed
        if changed:
            self._dirty.set()
        return fetched is not None

    async def _run(self) -> None:
        delay = 0.1
        while not await self.sync():
            if delay == 0.1:
                log.info("the catalog registry is not answering yet: plugin bindings wait for it")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)
        self.loaded.set()
        await self._apply()
        while True:
            try:
                async with asyncio.timeout(self.settings.bindings_resync_s):
                    await self._dirty.wait()
            except TimeoutError:
                await self.sync()
                continue
            self._dirty.clear()
            await self._apply()

    async def _apply(self) -> None:
        self._dirty.clear()
        try:
            await self.bind(list(self.records.values()))
        except PluginConfigError as exc:
            log.error("plugin bindings not applied, keeping the running set: %s", exc)


def _ended(task: asyncio.Task[None]) -> None:
    """The follower never ends but by close(): say so if it does (bindings stop following)."""
    if not task.cancelled() and task.exception() is not None:
        log.error("plugin bindings are no longer followed", exc_info=task.exception())
