"""Upstream-proxy wiring: gateway cache, the upstream subjects, discovery, health, session pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from forge.core import rpc, subjects
from forge.core.bus import SUBJECT, Bus, Headers, NatsBus
from forge.proto.envelope import Envelope
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.gateways import Gateways
from forge.upstream_proxy.handlers import Context, call, discover
from forge.upstream_proxy.sessions import Pool

log = logging.getLogger("forge.upstream_proxy")
QUEUE = "upstream-proxy"


class UpstreamProxy:
    """One replica; `start` returns once it serves every gateway the catalog holds."""

    def __init__(self, bus: Bus, config: UpstreamProxyConfig) -> None:
        self.bus = bus
        self.config = config
        self.pool = Pool(config)
        self.gateways = Gateways(bus, self, snapshot_timeout_s=config.snapshot_timeout_s)
        self.ctx = Context(gateways=self.gateways, pool=self.pool)

    async def start(self) -> None:
        await self.gateways.start()
        await rpc.serve_envelopes(self.bus, subjects.upstream_any("rpc"), self._call, queue=QUEUE)
        await rpc.serve_envelopes(
            self.bus, subjects.upstream_any("discover"), self._discover, queue=QUEUE
        )
        await self.bus.serve(subjects.UPSTREAM_HEALTH, self._health, queue=QUEUE)

    async def close(self) -> None:
        await self.pool.close()

    async def gateway_added(self, gateway_id: str) -> None:
        return None  # sessions open lazily, on the first call

    async def gateway_stale(self, gateway_id: str, *, removed: bool) -> None:
        self.pool.discard(gateway_id)

    async def _call(self, envelope: Envelope) -> bytes:
        # Served on `forge.upstream.*.rpc`: the gateway is the subject's third token.
        return await call(envelope, subjects.gateway_of(SUBJECT.get()), self.ctx)

    async def _discover(self, envelope: Envelope) -> bytes:
        return await discover(envelope, self.ctx)

    async def _health(self, data: bytes, headers: Headers) -> bytes:
        return b'{"result":{"status":"ok"}}'


async def main(stop: asyncio.Event, config: UpstreamProxyConfig) -> None:
    async with contextlib.AsyncExitStack() as stack:
        bus = await NatsBus.connect(config.nats_url, "forge-upstream-proxy")
        proxy = UpstreamProxy(bus, config)
        # Exit order is the reverse: drain the bus first (in-flight calls finish), then close
        # every pooled upstream session.
        stack.push_async_callback(proxy.close)
        stack.push_async_callback(bus.close)
        # Start waits for the registry as long as it takes; a SIGTERM meanwhile must still stop.
        starting = asyncio.create_task(proxy.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return
        stopping.cancel()
        starting.result()  # a failed start raises here
        log.info("upstream-proxy ready", extra={"gateways": len(proxy.gateways.by_id)})
        await stop.wait()
