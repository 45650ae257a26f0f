"""FORGE_EDGE_ROUTER=local: the router's machinery in the edge's process, on the edge's bus.

The one module of the edge that imports the router (`SERVICE_IMPORTS` in forge.testing.
import_rules; docs/decisions/0033-edge-local-routing.md): the router's own wiring
(`forge.router.app.embedded`) follows the catalog and the plugin manifests and publishes the call
metrics; the edge's requests go to its `call` instead of `forge.router.rpc`.
"""

from __future__ import annotations

import asyncio
import contextlib

from forge.core import config
from forge.core.bus import Bus
from forge.edge.state import Edge
from forge.router.app import Router, embedded
from forge.router.config import RouterConfig
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.local import LocalUpstream


def build(bus: Bus) -> Router:
    """The local router, its settings as the router service reads them (FORGE_ROUTER_*, and the
    shared FORGE_*: FORGE_MAX_INFLIGHT bounds its requests in flight)."""
    return Router(bus, config.load(RouterConfig, "router"))


def loaded(router: Router) -> bool:
    return router.ctx.catalog.loaded


async def start(
    stack: contextlib.AsyncExitStack,
    edge: Edge,
    router: Router,
    stop: asyncio.Event,
    *,
    upstream: bool,
) -> None:
    """Start `router` and route `edge`'s requests to it; returns once its catalog is loaded.
    With `upstream` (FORGE_EDGE_UPSTREAM=local) the router calls credential-free network
    gateways from this process (settings as the upstream-proxy reads them)."""
    edge.router_loaded = lambda: loaded(router)
    if upstream:
        local = LocalUpstream(router.bus, config.load(UpstreamProxyConfig, "upstream_proxy"))
        stack.push_async_callback(local.close)  # after the router's own exits: calls end first
        await local.start()
        # Its calls' notifications reach this edge's own requests directly, so each comes
        # before the call's result, as it did on the bus.
        local.eras.local = edge.stream_here
        router.ctx.upstream = local.call
    await embedded(stack, router, stop)
    edge.route = router.call
