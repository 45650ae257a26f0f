"""stdio leases: one replica per stdio gateway runs its child and serves its pinned subjects."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from forge.core import rpc, subjects
from forge.core.bus import Bus, Headers, Subscription
from forge.proto.envelope import Envelope

log = logging.getLogger("forge.upstream_proxy.leases")
BUCKET = "forge-upstream-leases"
PINNED_OPS = ("pinned-rpc", "pinned-discover")
# Serves one pinned op of one gateway: (envelope, gateway id, op) -> result bytes.
PinnedHandler = Callable[[Envelope, str, str], Awaitable[bytes]]
Hook = Callable[[str], Awaitable[None]]


class Leases:
    """Who runs which stdio gateway: a JetStream KV key per gateway, created by the winner.

    The holder renews its keys every `renew_s` (the bucket forgets them `ttl_s` after the last
    renewal, so a crashed holder's leases lapse) and deletes them on shutdown; the others retry
    on every renewal tick and at once when a key is deleted.
    """

    def __init__(
        self,
        bus: Bus,
        replica: str,
        *,
        ttl_s: float,
        renew_s: float,
        serve: PinnedHandler,
        acquired: Hook,
    ) -> None:
        self.bus = bus
        self.replica = replica.encode()
        self.ttl_s = ttl_s
        self.renew_s = renew_s
        self._serve = serve
        self._acquired = acquired
        self.wanted: set[str] = set()
        self.held: dict[str, list[Subscription]] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._ticker: asyncio.Task[None] | None = None
        self._watch: Subscription | None = None

    def holds(self, gateway_id: str) -> bool:
        return gateway_id in self.held

    async def start(self) -> None:
        self._watch = await self.bus.kv_watch(BUCKET, self._on_change)
        self._ticker = asyncio.create_task(self._tick())

    async def want(self, gateway_id: str) -> bool:
        """Try to become the gateway's holder; True if this replica holds it now."""
        self.wanted.add(gateway_id)
        async with self._lock:
            if gateway_id in self.held:
                return True
            try:
                won = await self.bus.kv_create(BUCKET, gateway_id, self.replica, ttl_s=self.ttl_s)
            except Exception as exc:  # the bus's driver errors too: the next tick tries again
                log.warning("lease of gateway %s not taken: %s", gateway_id, exc)
                return False
            if not won:
                return False
            self.held[gateway_id] = [
                await self.bus.serve(
                    subjects.upstream(gateway_id, op), self._server(gateway_id, op)
                )
                for op in PINNED_OPS
            ]
        log.info("holding the lease of stdio gateway %s", gateway_id)
        await self._acquired(gateway_id)
        return True

    async def give_up(self, gateway_id: str) -> None:
        """Stop wanting the gateway; release its lease if held."""
        self.wanted.discard(gateway_id)
        async with self._lock:
            subs = self.held.pop(gateway_id, None)
            if subs is None:
                return
            for sub in subs:
                await sub.unsubscribe()
            try:
                await self.bus.kv_delete(BUCKET, gateway_id)
            except Exception as exc:  # the lease lapses by itself after ttl_s
                log.info("lease of gateway %s not released: %s", gateway_id, exc)

    def _server(self, gateway_id: str, op: str) -> Callable[[bytes, Headers], Awaitable[bytes]]:
        async def handle(envelope: Envelope) -> bytes:
            return await self._serve(envelope, gateway_id, op)

        async def on_request(data: bytes, headers: Headers) -> bytes:
            return await rpc.answer(handle, data, subjects.upstream(gateway_id, op))

        return on_request

    def _on_change(self, key: str, value: bytes | None) -> None:
        if value is None and key in self.wanted and key not in self.held:
            self._spawn(self.want(key))  # the holder let go: take over now

    def _spawn(self, work: Awaitable[object]) -> None:
        async def run() -> None:
            await work

        task = asyncio.create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.renew_s)
            for gateway_id in list(self.held):
                try:
                    await self.bus.kv_put(BUCKET, gateway_id, self.replica)
                except Exception as exc:  # the bus's driver errors too: the ticker must go on
                    log.warning("lease of gateway %s not renewed: %s", gateway_id, exc)
            for gateway_id in self.wanted - set(self.held):
                await self.want(gateway_id)

    async def close(self) -> None:
        """Give every lease up (others take over at once), stop renewing."""
        ticker, watch = self._ticker, self._watch
        self._ticker, self._watch = None, None
        if ticker is not None:
            ticker.cancel()
            await asyncio.wait({ticker})
        if watch is not None:
            await watch.unsubscribe()
        for task in self._tasks:
            task.cancel()
        for gateway_id in list(self.held):
            await self.give_up(gateway_id)
