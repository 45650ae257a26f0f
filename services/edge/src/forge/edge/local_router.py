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


def build(bus: Bus) -> Router:
    """The local router, its settings as the router service reads them (FORGE_ROUTER_*, and the
    shared FORGE_*: FORGE_MAX_INFLIGHT bounds its requests in flight)."""
    return Router(bus, config.load(RouterConfig, "router"))


def loaded(router: Router) -> bool:
    return router.ctx.catalog.loaded


async def start(
    stack: contextlib.AsyncExitStack, edge: Edge, router: Router, stop: asyncio.Event
) -> None:
    """Start `router` and route `edge`'s requests to it; returns once its catalog is loaded."""
    edge.router_loaded = lambda: loaded(router)
    await embedded(stack, router, stop)
    edge.route = router.call
