"""Registry wiring: one exit stack owns the bus and both pools (catalog, identity); each
operation of each registry on its own subject."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from forge.core import metrics, ops, rpc, service, subjects
from forge.core.bus import Bus, Headers, NatsBus
from forge.core.errors import ForgeError, InvalidParamsError, ServiceUnavailableError
from forge.core.operations import Operation
from forge.proto.envelope import Envelope
from forge.proto.identity import TokenUsage
from forge.registry import pg
from forge.registry.catalog.card_refresh import CardRefresher
from forge.registry.catalog.handlers import OPERATIONS, Context
from forge.registry.catalog.metrics import Recorder
from forge.registry.catalog.store import Store
from forge.registry.config import RegistryConfig
from forge.registry.identity import context as identity_context
from forge.registry.identity import events, launches
from forge.registry.identity import tokens as identity_tokens
from forge.registry.identity.bootstrap import bootstrap
from forge.registry.identity.operations import OPERATIONS as IDENTITY_OPERATIONS
from forge.registry.identity.passwords import Passwords
from forge.registry.identity.store import Store as IdentityStore

log = logging.getLogger("forge.registry")
_ENC = msgspec.json.Encoder()
_USAGE = msgspec.json.Decoder(TokenUsage)
QUEUE = "registry-catalog"
IDENTITY_QUEUE = "registry-identity"
_MALFORMED_USAGE = rpc.error_reply(InvalidParamsError("malformed token usage batch").to_object())
_IDENTITY_CLOSED = rpc.error_reply(
    ServiceUnavailableError("the identity database pool is closed").to_object()
)
_CATALOG_CLOSED = rpc.error_reply(
    ServiceUnavailableError("the catalog database pool is closed").to_object()
)


class IdentityRegistry:
    """One identity registry replica: bootstraps, then serves every identity operation and
    records API-token usage batches (each batch reaches one replica of the queue group)."""

    def __init__(
        self,
        bus: Bus,
        store: IdentityStore,
        config: RegistryConfig,
        passwords: Passwords | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bus = bus
        self.store = store
        self.config = config
        self.passwords = passwords or Passwords(config.password_min_length)
        self.clock = clock

    async def start(self) -> None:
        changed = await bootstrap(self.store, self.config, self.passwords)
        await events.users_changed(self.bus, self.store, changed)
        for (entity, op), handler in IDENTITY_OPERATIONS.items():
            subject = subjects.registry(subjects.IDENTITY, entity, op)
            await rpc.serve_envelopes(self.bus, subject, self._adapt(handler), queue=IDENTITY_QUEUE)
        await self.bus.serve(subjects.TOKEN_USAGE, self._usage, queue=IDENTITY_QUEUE)
        await self.bus.serve(subjects.AUDIT_LAUNCH, self._launch, queue=IDENTITY_QUEUE)
        health = subjects.registry_health(subjects.IDENTITY)
        await self.bus.serve(health, self._health, queue=IDENTITY_QUEUE)

    def _adapt(self, handler: Operation[identity_context.Context]) -> rpc.EnvelopeHandler:
        async def run(envelope: Envelope) -> bytes:
            ctx = identity_context.Context(
                bus=self.bus,
                store=self.store,
                config=self.config,
                passwords=self.passwords,
                principal=envelope.principal,
                deadline=envelope.deadline,
                clock=self.clock,
            )
            return _ENC.encode(await _stored(handler(envelope.params, ctx)))

        return run

    async def _usage(self, data: bytes, headers: Headers) -> bytes:
        """One batch from the edge: published (no answer), or requested (answered when stored)."""
        try:
            usage = _USAGE.decode(data)
        except msgspec.DecodeError:
            log.warning("dropped a malformed token usage batch")
            return _MALFORMED_USAGE
        try:
            touched = await identity_tokens.record_usage(self.store, usage)
        except ForgeError as exc:
            log.warning("token usage not recorded: %s", exc.message)
            return rpc.error_reply(exc.to_object())
        return b'{"result":{"tokens":%d}}' % touched

    async def _launch(self, data: bytes, headers: Headers) -> bytes:
        return await launches.record(self.store, data)

    async def _health(self, data: bytes, headers: Headers) -> bytes:
        if not self.store.alive():
            return _IDENTITY_CLOSED
        return b'{"result":{"status":"ok"}}'


async def _stored(work: Awaitable[Any]) -> Any:
    """`work`'s result; a value the database cannot store is the caller's error (-32602), a
    database that cannot be reached now is unavailable (-32000, retryable)."""
    try:
        return await work
    except pg.INPUT_ERRORS as exc:
        raise InvalidParamsError(
            "a value cannot be stored: it holds a NUL character, an unpaired surrogate,"
            " text where an id belongs, or a number out of range"
        ) from exc
    except pg.UNAVAILABLE_ERRORS as exc:
        # A database down or restarting (the identity store says which one itself).
        raise ServiceUnavailableError("the registry's database is unavailable; retry") from exc


class Registry:
    """One registry replica: serves every catalog operation in the queue group, and starts the
    identity registry when it is given one."""

    def __init__(
        self,
        bus: Bus,
        store: Store,
        config: RegistryConfig,
        identity: IdentityRegistry | None = None,
    ) -> None:
        self.bus = bus
        self.store = store
        self.config = config
        self.identity = identity
        self.metrics = Recorder(bus, store, config, QUEUE)

    async def start(self) -> None:
        for (entity, op), handler in OPERATIONS.items():
            subject = subjects.registry(subjects.CATALOG, entity, op)
            await rpc.serve_envelopes(self.bus, subject, self._adapt(handler), queue=QUEUE)
        await self.metrics.start()
        await self.bus.serve(subjects.registry_health(subjects.CATALOG), self._health, queue=QUEUE)
        if self.identity is not None:
            await self.identity.start()

    def _adapt(self, handler: Operation[Context]) -> rpc.EnvelopeHandler:
        async def run(envelope: Envelope) -> bytes:
            ctx = Context(
                bus=self.bus,
                store=self.store,
                config=self.config,
                principal=envelope.principal,
                deadline=envelope.deadline,
            )
            return _ENC.encode(await _stored(handler(envelope.params, ctx)))

        return run

    async def _health(self, data: bytes, headers: Headers) -> bytes:
        # Cheap on purpose: readiness probes run often; a closed pool means we are going away.
        if not self.store.alive():
            return _CATALOG_CLOSED
        return b'{"result":{"status":"ok"}}'


_POOL = (
    "forge_db_pool_connections",
    "Connections of a database pool, by database (catalog, identity) and state "
    "(open, idle, in_use, max).",
    ["database", "state"],
)


def _ready(bus: NatsBus, stores: tuple[Store, IdentityStore], stop: asyncio.Event) -> ops.Readiness:
    async def ready() -> str | None:
        if stop.is_set():
            return service.DRAINING
        if not bus.connected():
            return "not connected to NATS"
        for store in stores:
            reason = await store.unreachable()
            if reason is not None:
                return reason
        return None

    return ready


async def main(stop: asyncio.Event, config: RegistryConfig) -> None:
    async with contextlib.AsyncExitStack() as stack:
        # Both pools and the bus open at once (a restart serves sooner); each one opened is
        # closed when the stack unwinds, also when another failed to open.
        catalog = asyncio.create_task(
            Store.connect(
                config.catalog_database_url,
                min_size=config.pool_min_size,
                max_size=config.pool_max_size,
            )
        )
        identities = asyncio.create_task(
            IdentityStore.connect(
                config.identity_database_url,
                min_size=config.pool_min_size,
                max_size=config.pool_max_size,
            )
        )
        connecting = asyncio.create_task(
            NatsBus.connect(config.nats_url, "forge-registry", max_inflight=config.max_inflight)
        )
        opening: tuple[asyncio.Task[Any], ...] = (catalog, identities, connecting)
        try:
            await asyncio.wait(opening)
        finally:
            # Pushed in this order so the bus closes first: drain in-flight requests, then close
            # the pools.
            for task in opening:
                if not task.done():
                    task.cancel()
                elif not task.cancelled() and task.exception() is None:
                    stack.push_async_callback(task.result().close)
        store, identity_store, bus = catalog.result(), identities.result(), connecting.result()
        stores = (store, identity_store)
        metrics.gauge(
            *_POOL,
            lambda: [((s.database, k), n) for s in stores for k, n in s.pool_sizes().items()],
        )
        identity = IdentityRegistry(bus, identity_store, config)
        registry = Registry(bus, store, config, identity)
        await registry.start()
        rollups = asyncio.create_task(registry.metrics.run(stop))
        refreshes = asyncio.create_task(CardRefresher(bus, store, config).run(stop))
        ready = _ready(bus, stores, stop)
        await ops.serve(stack, "registry", config.ops_host, config.ops_port, ready)
        log.info("registry ready")
        await stop.wait()
        await bus.stop_serving(config.drain_timeout_s)  # in-flight requests finish first
        await rollups
        await refreshes
