"""Registry wiring: one exit stack owns the bus and the pool; each operation on its subject."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus, Headers, NatsBus
from forge.proto.envelope import Envelope
from forge.registry.config import RegistryConfig
from forge.registry.handlers import OPERATIONS, Context, Handler
from forge.registry.store import Store

log = logging.getLogger("forge.registry")
_ENC = msgspec.json.Encoder()
QUEUE = "registry-catalog"


class Registry:
    """One catalog registry replica: serves every catalog operation in the queue group."""

    def __init__(self, bus: Bus, store: Store, config: RegistryConfig) -> None:
        self.bus = bus
        self.store = store
        self.config = config

    async def start(self) -> None:
        for (entity, op), handler in OPERATIONS.items():
            subject = subjects.registry(subjects.CATALOG, entity, op)
            await rpc.serve_envelopes(self.bus, subject, self._adapt(handler), queue=QUEUE)
        await self.bus.serve(subjects.registry_health(subjects.CATALOG), self._health, queue=QUEUE)

    def _adapt(self, handler: Handler) -> rpc.EnvelopeHandler:
        async def run(envelope: Envelope) -> bytes:
            ctx = Context(
                bus=self.bus,
                store=self.store,
                config=self.config,
                principal=envelope.principal,
                deadline=envelope.deadline,
            )
            params = bytes(envelope.params) if len(envelope.params) else b"{}"
            return _ENC.encode(await handler(params, ctx))

        return run

    async def _health(self, data: bytes, headers: Headers) -> bytes:
        # Cheap on purpose: readiness probes run often; a closed pool means we are going away.
        if not self.store.alive():
            return b'{"error":{"code":-32000,"message":"the catalog database pool is closed"}}'
        return b'{"result":{"status":"ok"}}'


async def main(stop: asyncio.Event, config: RegistryConfig) -> None:
    async with contextlib.AsyncExitStack() as stack:
        store = await Store.connect(
            config.catalog_database_url,
            min_size=config.pool_min_size,
            max_size=config.pool_max_size,
        )
        stack.push_async_callback(store.close)
        bus = await NatsBus.connect(config.nats_url, "forge-registry")
        # Pushed after the pool so it runs first: drain in-flight requests, then close the pool.
        stack.push_async_callback(bus.close)
        await Registry(bus, store, config).start()
        log.info("registry ready")
        await stop.wait()
