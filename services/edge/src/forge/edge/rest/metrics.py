"""ContextForge's metrics routes: `GET /metrics` (a summary per entity kind), `POST /metrics/reset`,
and the `metrics` object of each entity's view (`/tools/{id}` and the others), answered by the
catalog registry's `metrics.*` operations (docs/decisions/0020-entity-metrics.md).

This is the JSON API of the main port; the Prometheus text of each service is on its ops port."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.core import subjects
from forge.core.errors import ServiceUnavailableError
from forge.edge.auth import guard
from forge.edge.registry_calls import registry_call
from forge.edge.state import Edge
from forge.proto.envelope import Principal

_ENC = msgspec.json.Encoder()
_ANY = msgspec.json.Decoder()
RESET = "admin.config"
REST_TIMEOUT_S = 30.0
# Catalog entity (the registry's name, as in rest/admin's OPS) → metrics kind.
KINDS = {
    "tools": "tools",
    "resources": "resources",
    "prompts": "prompts",
    "servers": "servers",
    "gateways": "gateways",
    "agents": "agents",
}


def json_response(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def entity_view(metrics: dict[str, Any]) -> dict[str, Any]:
    """One entity's metrics as ContextForge's entity views carry them (camelCase)."""
    return {camel(k): v for k, v in metrics.items()}


async def _call(edge: Edge, principal: Principal, op: str, params: Any) -> bytes:
    return await registry_call(
        edge.bus, subjects.CATALOG, "metrics", op, params, principal, REST_TIMEOUT_S
    )


async def with_metrics(
    edge: Edge, principal: Principal, entity: str, entity_id: str, view: Any
) -> Any:
    """An entity's view with its `metrics` object (the view of a kind not counted: as it is)."""
    kind = KINDS.get(entity)
    if kind is None or not isinstance(view, dict):
        return view
    try:
        found = await _call(edge, principal, "get", {"kind": kind, "id": entity_id})
    except ServiceUnavailableError:
        # The entity came from the registry just now: no one serving metrics.get is a registry
        # from before them (a rolling upgrade). The view stands without its metrics.
        return {**view, "metrics": None}
    return {**view, "metrics": entity_view(_ANY.decode(found))}


class Metrics:
    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    async def summary(self, request: Request) -> Response:
        """Every kind's metrics over the entries the caller can see."""
        principal = await guard.rest_principal(self.edge, request, None)
        return json_response(200, await _call(self.edge, principal, "summary", {}))

    async def reset(self, request: Request) -> Response:
        """ContextForge's `?entity=tool&entity_id=...`: all, one kind, or one entity."""
        principal = await guard.rest_principal(self.edge, request, RESET)
        params = {k: request.query_params.get(k) for k in ("entity", "entity_id")}
        return json_response(200, await _call(self.edge, principal, "reset", params))

    def routes(self) -> list[BaseRoute]:
        return [
            route
            for prefix in ("", "/v1")
            for route in (
                Route(f"{prefix}/metrics", self.summary, methods=["GET"]),
                Route(f"{prefix}/metrics/reset", self.reset, methods=["POST"]),
            )
        ]


def routes(edge: Edge) -> list[BaseRoute]:
    return Metrics(edge).routes()
