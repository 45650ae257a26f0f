"""Router wiring: catalog cache, event subscriptions, the RPC subject, metric flushing.

The router runs as its own service (`main`), or inside an edge process (`embedded`,
FORGE_EDGE_ROUTER=local; docs/decisions/0033-edge-local-routing.md): the same machinery, the
edge's requests handed to `Router.call` instead of sent on `forge.router.rpc`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import msgspec

from forge.core import metrics, ops, rpc, service, subjects
from forge.core.bus import Bus, Headers, NatsBus, overloaded
from forge.core.snapshot import load_snapshot
from forge.proto.catalog import LeanSnapshot
from forge.proto.envelope import Envelope
from forge.router.catalog import Catalog
from forge.router.config import RouterConfig
from forge.router.handlers import Context, dispatch
from forge.router.hooks import Hooks
from forge.router.metrics import Metrics
from forge.router.tool_pages import ToolPages

log = logging.getLogger("forge.router")
_INVALIDATED = metrics.invalidated("router_catalog")


class Router:
    """One router replica; `start` returns once it serves requests with a loaded catalog."""

    def __init__(self, bus: Bus, config: RouterConfig) -> None:
        self.bus = bus
        self.config = config
        self.ctx = Context(
            bus=bus,
            catalog=Catalog(config.list_memo_size),
            hooks=Hooks(bus, config.plugin_manifest_ttl_s),
            metrics=Metrics(),
            page_size=config.page_size,
        )
        self._pending: list[tuple[str, bytes]] | None = []  # events seen while loading
        # A large gateway's tools, read from the registry after its paged event.
        self.pages = ToolPages(
            bus, self.ctx.catalog, config.snapshot_timeout_s, applied=_INVALIDATED
        )
        # Requests answered in process (`call`), bounded by FORGE_MAX_INFLIGHT as the served
        # ones are by the bus.
        self.admitted = 0
        self.refused = 0

    async def start(self) -> None:
        await self.follow()
        await rpc.serve_envelopes(self.bus, subjects.ROUTER_RPC, self._handle, queue="router")
        await self.bus.serve(subjects.ROUTER_HEALTH, self._health, queue="router")

    async def follow(self) -> None:
        """Keep the catalog and the plugin manifests current (events, announcements), and load
        the catalog's snapshot; returns once it is loaded."""
        await self.bus.subscribe(subjects.events_all(subjects.CATALOG), self._on_event)
        await self.bus.subscribe(subjects.PLUGINS_MANIFEST, self._on_manifest)
        await self.ctx.hooks.fetch_manifest()  # announcements come every few seconds only
        await self.load_catalog()

    async def _handle(self, envelope: Envelope) -> bytes:
        return await dispatch(envelope, self.ctx)

    async def call(self, envelope: Envelope) -> bytes:
        """`rpc.call(bus, ROUTER_RPC, envelope)` answered by this router in this process: the
        result JSON, or the ForgeError its reply would carry. Past FORGE_MAX_INFLIGHT requests
        in flight, refused at once with OverloadedError (-32015), as the bus refuses."""
        if self.admitted >= self.config.max_inflight:
            self.refused += 1
            metrics.overload_refused(subjects.ROUTER_RPC)
            raise overloaded(self.config.max_inflight)
        self.admitted += 1
        return await rpc.call_in_process(
            self._handle, envelope, subjects.ROUTER_RPC, finished=self._release
        )

    def _release(self) -> None:
        self.admitted -= 1

    async def _health(self, data: bytes, headers: Headers) -> bytes:
        return b'{"result":{"status":"ok"}}'

    async def _on_event(self, subject: str, data: bytes) -> None:
        if self._pending is not None:
            self._pending.append((subject, data))
            return
        try:
            self._apply(subject, data)
        except msgspec.DecodeError:
            log.warning("ignored a malformed catalog event on %s", subject)

    def _apply(self, subject: str, data: bytes) -> None:
        fetch = self.ctx.catalog.apply(subject, data)
        _INVALIDATED()
        if fetch is not None:
            self.pages.follow(fetch)
        self.pages.compact_soon()

    async def _on_manifest(self, subject: str, data: bytes) -> None:
        self.ctx.hooks.on_manifest(data)

    async def load_catalog(self) -> None:
        """Ask the registry for the whole catalog, retrying until it answers."""
        snapshot = await load_snapshot(
            self.bus, "forge-router", self.config.snapshot_timeout_s, LeanSnapshot
        )
        self.ctx.catalog.load(snapshot)
        self.pages.compact_soon()
        _INVALIDATED()
        pending, self._pending = self._pending or [], None
        for subject, data in pending:
            await self._on_event(subject, data)
        log.info(
            "catalog loaded",
            extra={
                "tools": len(self.ctx.catalog.tools_by_id),
                "resources": len(self.ctx.catalog.resources_by_id),
                "prompts": len(self.ctx.catalog.prompts_by_id),
                "servers": len(self.ctx.catalog.servers),
            },
        )

    async def flush_metrics(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.metrics_flush_s)
            await self.ctx.metrics.flush(self.bus)


async def embedded(stack: contextlib.AsyncExitStack, router: Router, stop: asyncio.Event) -> None:
    """Run `router` inside another process (the edge's, FORGE_EDGE_ROUTER=local) on that
    process's bus: the catalog followed and loaded, the plugin hooks and the metric flushing
    running until `stop` (or the stack closes); requests go to `Router.call`, nothing is served
    on the bus. Returns once the catalog is loaded."""
    metrics.cache_sizes("router_catalog", router.ctx.catalog.sizes)
    stack.push_async_callback(router.ctx.hooks.close)
    stack.push_async_callback(router.pages.close)
    await router.follow()
    flusher = asyncio.create_task(router.flush_metrics(stop))
    stack.push_async_callback(_finish, flusher, stop)
    log.info("router ready (in process)")


async def _finish(flusher: asyncio.Task[None], stop: asyncio.Event) -> None:
    stop.set()  # the last metrics are published before the bus closes
    await flusher


async def main(stop: asyncio.Event, config: RouterConfig) -> None:
    async with contextlib.AsyncExitStack() as stack:
        bus = await NatsBus.connect(
            config.nats_url, "forge-router", max_inflight=config.max_inflight
        )
        stack.push_async_callback(bus.close)
        router = Router(bus, config)
        catalog = router.ctx.catalog
        metrics.cache_sizes("router_catalog", catalog.sizes)
        loaded = ops.flag("catalog not loaded", lambda: catalog.loaded)
        ready = ops.all_of(ops.nats(bus), loaded, service.draining(stop))
        await ops.serve(stack, "router", config.ops_host, config.ops_port, ready)
        # Pushed after the bus so it runs first: inline plugins stop before the bus drains.
        stack.push_async_callback(router.ctx.hooks.close)
        stack.push_async_callback(router.pages.close)
        await router.start()
        flusher = asyncio.create_task(router.flush_metrics(stop))
        log.info("router ready")
        await stop.wait()
        await bus.stop_serving(config.drain_timeout_s)  # in-flight requests finish first
        await flusher
