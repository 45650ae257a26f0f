"""Edge wiring: the Starlette app, the bus, the identity cache, session revocations, and the
HTTP server (uvicorn or hypercorn) serving it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute

from forge.core import metrics, ops, service
from forge.core.bus import Bus, NatsBus
from forge.core.config import ConfigError
from forge.core.errors import ForgeError, InternalError
from forge.core.sealing import derive_key
from forge.edge import health, http_hooks, http_metrics, inputs, timeouts, workers
from forge.edge.auth import metadata, proxies
from forge.edge.auth.bearer import Authenticator
from forge.edge.auth.identity_cache import IdentityCache
from forge.edge.config import EdgeConfig
from forge.edge.http import Receive, Scope, Send
from forge.edge.rest import a2a_server, errors, openapi, plugins, rbac, sso, upstream_oauth
from forge.edge.rest import agents as agent_routes
from forge.edge.rest import identity as identity_routes
from forge.edge.rest import metrics as metrics_routes
from forge.edge.rest.admin import Admin
from forge.edge.rest.identity import Identity
from forge.edge.state import Edge
from forge.edge.transports.legacy_sse import Asgi, SseTransport
from forge.edge.transports.mcp_http import McpEndpoint, bounded
from forge.edge.transports.sessions import Sessions
from forge.edge.transports.ws import WsEndpoint

log = logging.getLogger("forge.edge")
_MCP_PATHS = frozenset({"/mcp", "/mcp/"})
_SERVER_MCP = "/servers/{server_id}/mcp"
_SERVER_MCP_METHODS = ["GET", "POST", "DELETE"]
_SERVER_MCP_TAKES = frozenset({*_SERVER_MCP_METHODS, "HEAD"})  # Starlette adds HEAD to a GET


def _server_mcp(scope: Scope) -> str | None:
    """The server id of a request Starlette's `/servers/{server_id}/mcp` route would take (one
    non-empty path segment, one of the route's methods); None for any other."""
    path: str = scope["path"]
    if path.startswith("/servers/") and path.endswith("/mcp"):
        server_id = path[9:-4]
        if server_id and "/" not in server_id and scope["method"] in _SERVER_MCP_TAKES:
            return server_id
    return None


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
    identity = IdentityCache(
        bus, timeout_s=config.identity_timeout_s, resync_s=config.identity_resync_s
    )
    return Edge(
        config=config,
        bus=bus,
        auth=Authenticator(config, identity),
        sessions=Sessions(derive_key(secret, b"forge legacy session v1"), config.session_ttl_s),
        identity=identity,
    )


def build_app(edge: Edge) -> Starlette:
    endpoint = McpEndpoint(edge)
    sse = SseTransport(edge)
    ws = WsEndpoint(edge)
    identity = Identity(edge)
    routes = [
        Route("/health", health.health, methods=["GET"]),
        Route("/ready", health.make_ready(edge), methods=["GET"]),  # type: ignore[arg-type]
        Route("/mcp", endpoint, methods=["GET", "POST", "DELETE"]),
        Route("/mcp/", endpoint, methods=["GET", "POST", "DELETE"]),
        Route(_SERVER_MCP, endpoint, methods=_SERVER_MCP_METHODS),
        Route("/sse", Asgi(sse.stream), methods=["GET"]),
        Route("/message", Asgi(sse.message), methods=["POST"]),
        Route("/servers/{server_id}/sse", Asgi(sse.stream), methods=["GET"]),
        Route("/servers/{server_id}/message", Asgi(sse.message), methods=["POST"]),
        WebSocketRoute("/ws", ws),
        WebSocketRoute("/servers/{server_id}/ws", ws),
        *metadata.routes(edge.urls),
        *rbac.routes(identity),
        *sso.routes(identity),
        *identity_routes.routes(identity),
        *plugins.routes(edge),
        *upstream_oauth.routes(edge),
        *Admin(edge).routes(),
        *agent_routes.routes(edge),
        *a2a_server.routes(edge),  # /a2a/{agent}/: Forge as an A2A server
        *metrics_routes.routes(edge),  # ContextForge's JSON /metrics, /metrics/reset
    ]
    routes.append(openapi.route(edge, routes))  # GET /openapi.json, generated from `routes`
    return Starlette(
        routes=routes,
        # Every REST route raises its ForgeErrors; this one handler answers them all.
        exception_handlers={
            404: _not_found,
            405: _method_not_allowed,
            ForgeError: errors.handler(edge),
        },
    )


def build_asgi(edge: Edge) -> Any:
    """The edge's ASGI app: `/mcp` and `/servers/{server_id}/mcp` go straight to their
    endpoint, everything else via Starlette.

    They are the hot path; skipping the router and middleware stack there saves per-call work.
    In front of everything: the bound on MCP POSTs in flight (`mcp_http.bounded`), the client
    address from trusted proxies only, then the request line and header checks (`inputs.gate`),
    before any plugin hook or route sees the request.
    """
    starlette = build_app(edge)
    endpoint = McpEndpoint(edge)
    hooks = edge.hooks
    # `/servers/{server_id}/mcp` skips Starlette too (~7 us per request, issue 16), as Starlette
    # would have routed it: its Route in the scope (the metrics' route label), the server id.
    server_route = next(r for r in starlette.routes if getattr(r, "path", None) == _SERVER_MCP)

    async def inner(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await starlette(scope, receive, send)
        elif scope["path"] in _MCP_PATHS:
            await endpoint(scope, receive, send)
        elif (server_id := _server_mcp(scope)) is not None:
            scope["route"] = server_route
            scope["path_params"] = {"server_id": server_id}
            await endpoint(scope, receive, send)
        else:
            await starlette(scope, receive, send)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if hooks.http and scope["type"] != "lifespan":  # only while a plugin serves them
            await http_hooks.around(edge, inner, scope, receive, send)
        else:
            await inner(scope, receive, send)

    trusted = proxies.TrustedProxies(proxies.parse_networks(edge.config.trusted_proxies))
    routed = http_metrics.routed(app, _MCP_PATHS)
    # Outermost, the bound on MCP POSTs in flight: a refusal costs no other layer.
    return bounded(edge, http_metrics.measured(trusted.wrap(inputs.gate(routed))))


# How far over FORGE_EDGE_MAX_BODY_BYTES a WebSocket frame is still read (to answer it).
WS_FRAME_SLACK = 1024 * 1024


async def _serve_uvicorn(
    app: Any, config: EdgeConfig, stop: asyncio.Event, sockets: list[socket.socket] | None
) -> None:
    """Serve until `stop`: on `sockets` when given (FORGE_EDGE_WORKERS > 1), else uvicorn binds
    `host:port` itself."""
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=config.host,
            port=config.port,
            http=timeouts.header_timeout_protocol(config.header_timeout_s),
            # Never believe X-Forwarded-For on uvicorn's terms (it trusts 127.0.0.1 by default):
            # `proxies` reads it, from FORGE_EDGE_TRUSTED_PROXIES only.
            proxy_headers=False,
            forwarded_allow_ips="",
            lifespan="off",
            access_log=False,
            log_config=None,
            timeout_keep_alive=75,
            # On SIGTERM: the listener closes, requests in flight finish within this.
            timeout_graceful_shutdown=math.ceil(config.drain_timeout_s),
            # The server drops far larger WebSocket frames itself (close 1009), unread; the
            # endpoint answers one a little over the body limit with a JSON-RPC error first.
            ws_max_size=config.max_body_bytes + WS_FRAME_SLACK,
            # A WebSocket client whose pong is late is closed: one stuck mid-frame (a slow body
            # on WebSocket) or gone. (hypercorn closes for no missing pong.)
            ws_ping_interval=config.ws_ping_interval_s,
            ws_ping_timeout=config.ws_ping_interval_s,
        )
    )
    serving = asyncio.create_task(server.serve(sockets))
    stopping = asyncio.create_task(stop.wait())
    await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    await serving
    stopping.cancel()


async def _serve_hypercorn(
    app: Any, config: EdgeConfig, stop: asyncio.Event, sockets: list[socket.socket] | None
) -> None:
    # Imported here, at start, only when chosen (FORGE_EDGE_HTTP_SERVER): a third of a second.
    from hypercorn.asyncio import serve
    from hypercorn.config import Config as HypercornConfig

    hyper = HypercornConfig()
    hyper.bind = [f"{config.host}:{config.port}"]
    if sockets is not None:  # hypercorn closes what it serves on: copies, ours stay ours
        hyper.bind = [f"fd://{os.dup(sock.fileno())}" for sock in sockets]
    hyper.accesslog = None
    hyper.errorlog = logging.getLogger("hypercorn.error")
    # hypercorn's keep-alive timer runs until a request's headers are complete: it is the
    # header timeout as well, so it may not exceed that (hypercorn reads no proxy headers).
    hyper.keep_alive_timeout = min(75, config.header_timeout_s)
    hyper.keep_alive_max_requests = 1_000_000_000  # clients reuse connections; never cut them
    hyper.graceful_timeout = config.drain_timeout_s  # on SIGTERM, for requests in flight
    hyper.websocket_max_message_size = config.max_body_bytes + WS_FRAME_SLACK
    await serve(app, hyper, shutdown_trigger=stop.wait)


async def main(
    stop: asyncio.Event, config: EdgeConfig, worker: workers.Inherited | None = None
) -> None:
    """Run the edge until `stop`. With FORGE_EDGE_WORKERS > 1 the first process (`worker`
    None) binds the port and starts the other workers (`forge.edge.workers`); raises once
    drained if one of them exited on its own."""
    if config.workers < 1:
        raise ConfigError("FORGE_EDGE_WORKERS must be at least 1")
    index = 0 if worker is None else worker.index
    config = workers.settings_of(config, index)
    pool: workers.Workers | None = None
    async with contextlib.AsyncExitStack() as stack:
        sockets: list[socket.socket] | None = None
        if worker is not None:
            workers.watch_parent(worker.parent, stop, config.drain_timeout_s)
            sockets = workers.adopt(worker.sockets)
        elif config.workers > 1:
            sockets = workers.bind(config.host, config.port)
        for sock in sockets or ():
            stack.callback(sock.close)
        if worker is None and sockets is not None:
            pool = workers.Workers(config, stop)
            stack.push_async_callback(pool.close)  # unwound once this process has drained
            await pool.start(sockets)
        bus = await NatsBus.connect(config.nats_url, "forge-edge")
        stack.push_async_callback(bus.close)
        edge = build_edge(config, bus)
        edge.closing = stop  # long-lived streams end when the edge stops
        await edge.sessions.watch(bus)
        await edge.hooks.start()  # which plugin hooks are served: manifests, then announcements
        await edge.identity.start()  # loads in the background; /ready waits for it
        edge.identity.listeners.append(metrics.invalidated("edge_identity"))
        metrics.cache_sizes("edge_identity", edge.identity.sizes)
        loaded = ops.flag("identity snapshot not loaded", edge.identity.loaded.is_set)
        checks = [ops.nats(bus), loaded, service.draining(stop)]
        router = None
        if config.router == "local":  # the router's machinery in this process
            # Imported only then: the router (and its inline plugins) load only when used.
            from forge.edge import local_router

            router = local_router.build(bus)
            catalog = router.ctx.catalog
            checks.append(ops.flag("router catalog not loaded", lambda: catalog.loaded))
        await ops.serve(stack, "edge", config.ops_host, config.ops_port, ops.all_of(*checks))
        stack.push_async_callback(edge.identity.close)
        edge.auth.start()
        stack.push_async_callback(edge.auth.close)  # the last usage batch, before the bus goes
        if router is not None:
            await local_router.start(stack, edge, router, stop, upstream=config.upstream == "local")
        if config.a2a_grpc_port:  # Forge as an A2A server over gRPC too
            # grpc and the A2A protobufs are imported only when the listener is on.
            from forge.edge import a2a_grpc

            grpc_server = await a2a_grpc.start(edge)
            stack.push_async_callback(grpc_server.stop, config.drain_timeout_s)
        log.info(
            "edge listening",
            extra={
                "url": f"http://{config.host}:{config.port}",
                "server": config.http_server,
                "worker": index,
            },
        )
        if config.http_server == "uvicorn":
            await _serve_uvicorn(build_asgi(edge), config, stop, sockets)
        else:
            await _serve_hypercorn(build_asgi(edge), config, stop, sockets)
    if pool is not None and pool.failed is not None:
        raise InternalError(f"{pool.failed}: the edge stopped")
