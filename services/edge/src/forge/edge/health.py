"""`/health` (the process is up) and `/ready` (NATS and every service answer, and the identity
snapshot is loaded: before that, the edge cannot tell who anyone is; with the router in the
edge's process, its catalog is loaded)."""

from __future__ import annotations

import asyncio
import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from forge.core import subjects
from forge.core.errors import ForgeError
from forge.edge.state import Edge

_ENC = msgspec.json.Encoder()
SERVICES = {
    "router": subjects.ROUTER_HEALTH,
    "registry": subjects.registry_health(subjects.CATALOG),
    "upstream_proxy": subjects.UPSTREAM_HEALTH,
    "a2a_bridge": subjects.A2A_HEALTH,
}


async def health(request: Request) -> Response:
    return Response(b'{"status":"healthy"}', media_type="application/json")


def make_ready(edge: Edge) -> object:
    async def probe(subject: str) -> str:
        deadline = time.time() + edge.config.ready_timeout_s
        try:
            await edge.bus.request(subject, b"{}", deadline=deadline)
        except ForgeError as exc:
            return exc.message
        return "ok"

    async def ready(request: Request) -> Response:
        probed = SERVICES
        loaded = edge.router_loaded
        if loaded is not None:  # the router runs in this process (FORGE_EDGE_ROUTER=local)
            probed = {name: subject for name, subject in SERVICES.items() if name != "router"}
        results = await asyncio.gather(*(probe(s) for s in probed.values()))
        services = dict(zip(probed, results, strict=True))
        if loaded is not None:
            services["router"] = "ok" if loaded() else "catalog not loaded (in process)"
        services["identity"] = "ok" if edge.identity.loaded.is_set() else "snapshot not loaded"
        ok = all(r == "ok" for r in services.values())
        body = {"status": "ready" if ok else "not ready", "services": services}
        return Response(_ENC.encode(body), 200 if ok else 503, media_type="application/json")

    return ready
