"""Edge wiring: the Starlette app, the bus, session revocations, and hypercorn serving it."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hypercorn.asyncio import serve
from hypercorn.config import Config as HypercornConfig
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from forge.core.bus import Bus, NatsBus
from forge.core.config import ConfigError
from forge.edge import health
from forge.edge.auth import Authenticator
from forge.edge.config import EdgeConfig
from forge.edge.mcp_http import Edge, McpEndpoint
from forge.edge.rest import Admin
from forge.edge.sessions import Sessions, derive_key

log = logging.getLogger("forge.edge")


async def _not_found(request: Request, exc: Exception) -> Response:
    return Response(b'{"detail":"not found"}', 404, media_type="application/json")


async def _method_not_allowed(request: Request, exc: Exception) -> Response:
    return Response(b'{"detail":"method not allowed"}', 405, media_type="application/json")


def build_edge(config: EdgeConfig, bus: Bus) -> Edge:
    if len(config.jwt_secret) < 32:
        raise ConfigError(
            "FORGE_JWT_SECRET must be set to at least 32 characters: the edge never runs without"
            " authentication"
        )
    secret = config.session_secret or config.jwt_secret
    return Edge(
        config=config,
        bus=bus,
        auth=Authenticator(config.jwt_secret, config.jwt_audience, config.jwt_issuer),
        sessions=Sessions(derive_key(secret, b"forge legacy session v1"), config.session_ttl_s),
    )


def build_app(edge: Edge) -> Starlette:
    endpoint = McpEndpoint(edge)
    routes = [
        Route("/health", health.health, methods=["GET"]),
        Route("/ready", health.make_ready(edge), methods=["GET"]),  # type: ignore[arg-type]
        Route("/mcp", endpoint, methods=["GET", "POST", "DELETE"]),
        Route("/mcp/", endpoint, methods=["GET", "POST", "DELETE"]),
        Route("/servers/{server_id}/mcp", endpoint, methods=["GET", "POST", "DELETE"]),
        *Admin(edge).routes(),
    ]
    return Starlette(
        routes=routes,
        exception_handlers={404: _not_found, 405: _method_not_allowed},
    )


async def main(stop: asyncio.Event, config: EdgeConfig) -> None:
    async with contextlib.AsyncExitStack() as stack:
        bus = await NatsBus.connect(config.nats_url, "forge-edge")
        stack.push_async_callback(bus.close)
        edge = build_edge(config, bus)
        await edge.sessions.watch(bus)
        hyper = HypercornConfig()
        hyper.bind = [f"{config.host}:{config.port}"]
        hyper.accesslog = None
        hyper.errorlog = logging.getLogger("hypercorn.error")
        hyper.keep_alive_timeout = 75
        hyper.graceful_timeout = 10
        log.info("edge listening", extra={"url": f"http://{config.host}:{config.port}"})
        await serve(build_app(edge), hyper, shutdown_trigger=stop.wait)  # type: ignore[arg-type]
