"""The REST admin API: ContextForge-compatible paths, answered by the catalog registry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.core import subjects
from forge.edge import inputs
from forge.edge.auth import guard
from forge.edge.registry_calls import registry_call
from forge.edge.rest import metrics as entity_metrics
from forge.edge.state import Edge
from forge.proto import access
from forge.proto.catalog import canonical_transport
from forge.proto.envelope import Principal

_ENC = msgspec.json.Encoder()
_ANY = msgspec.json.Decoder()
REDACTED = "********"
REST_TIMEOUT_S = 30.0


def json_response(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def gateway_view(record: dict[str, Any]) -> dict[str, Any]:
    """A gateway without its sealed credentials (`auth_type` says which kind it has), and with
    the values of its stdio environment hidden: they may be credentials too."""
    view = {k: v for k, v in record.items() if k != "auth"}
    env = view.get("env")
    if isinstance(env, dict) and env:
        view["env"] = dict.fromkeys(env, REDACTED)
    return view


def _ownership(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "owner": record.get("owner"),
        "teamId": record.get("team_id"),
        "visibility": record.get("visibility"),
    }


def tool_view(record: dict[str, Any]) -> dict[str, Any]:
    """A catalog tool flattened the way ContextForge clients read it."""
    tool = record.get("tool", {})
    return {
        "id": record["id"],
        "name": record["name"],
        "originalName": record["original_name"],
        "title": tool.get("title"),
        "description": tool.get("description"),
        "inputSchema": tool.get("inputSchema", {"type": "object"}),
        "outputSchema": tool.get("outputSchema"),
        "annotations": tool.get("annotations") or {},
        "gatewayId": record["gateway_id"],
        "enabled": record.get("enabled", True),
        "createdAt": record.get("created_at"),
        "updatedAt": record.get("updated_at"),
        **_ownership(record),
    }


def _entry_view(record: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "gatewayId": record["gateway_id"],
        "enabled": record.get("enabled", True),
        "createdAt": record.get("created_at"),
        "updatedAt": record.get("updated_at"),
        "annotations": definition.get("annotations") or {},
        **_ownership(record),
    }


def resource_view(record: dict[str, Any]) -> dict[str, Any]:
    """A catalog resource flattened the way ContextForge clients read it."""
    resource = record.get("resource", {})
    return {
        "id": record["id"],
        "uri": record["uri"],
        "name": resource.get("name", ""),
        "title": resource.get("title"),
        "description": resource.get("description"),
        "mimeType": resource.get("mimeType"),
        "size": resource.get("size"),
        **_entry_view(record, resource),
    }


def template_view(record: dict[str, Any]) -> dict[str, Any]:
    """A catalog resource template, ContextForge-style."""
    template = record.get("template", {})
    return {
        "id": record["id"],
        "uriTemplate": record["uri_template"],
        "name": template.get("name", ""),
        "title": template.get("title"),
        "description": template.get("description"),
        "mimeType": template.get("mimeType"),
        **_entry_view(record, template),
    }


def prompt_view(record: dict[str, Any]) -> dict[str, Any]:
    """A catalog prompt, ContextForge-style: exposed and original name, arguments."""
    prompt = record.get("prompt", {})
    return {
        "id": record["id"],
        "name": record["name"],
        "originalName": record["original_name"],
        "title": prompt.get("title"),
        "description": prompt.get("description"),
        "arguments": prompt.get("arguments") or [],
        **_entry_view(record, prompt),
    }


View = Callable[[dict[str, Any]], dict[str, Any]]


class Op(NamedTuple):
    """One REST route: which registry operation answers it, and who may call it."""

    path: str
    methods: list[str]
    entity: str
    op: str
    permission: str
    body: bool = False  # the JSON body becomes the params (path parameters win)
    status: int = 200
    view: View | None = None
    optional_body: bool = False  # an empty body stands for {}


# Before /resources/{id}, which would take "templates" for an id.
OPS: tuple[Op, ...] = (
    Op("/gateways", ["POST"], "gateways", "create", "gateways.create", True, 201, gateway_view),
    Op("/gateways", ["GET"], "gateways", "list", "gateways.read", view=gateway_view),
    Op("/gateways/{id}", ["GET"], "gateways", "get", "gateways.read", view=gateway_view),
    Op("/gateways/{id}", ["PUT"], "gateways", "update", "gateways.update", True, view=gateway_view),
    Op("/gateways/{id}", ["DELETE"], "gateways", "delete", "gateways.delete"),
    Op("/gateways/{id}/tools/refresh", ["POST"], "gateways", "refresh", "gateways.update"),
    Op("/tools", ["GET"], "tools", "list", "tools.read", view=tool_view),
    Op("/tools/{id}", ["GET"], "tools", "get", "tools.read", view=tool_view),
    Op(
        "/resources/templates/list",
        ["GET"],
        "resource_templates",
        "list",
        "resources.read",
        view=template_view,
    ),
    Op("/resources", ["GET"], "resources", "list", "resources.read", view=resource_view),
    Op("/resources/{id}", ["GET"], "resources", "get", "resources.read", view=resource_view),
    Op("/prompts", ["GET"], "prompts", "list", "prompts.read", view=prompt_view),
    Op("/prompts/{id}", ["GET"], "prompts", "get", "prompts.read", view=prompt_view),
    Op("/servers", ["POST"], "servers", "create", "servers.create", True, 201),
    Op("/servers", ["GET"], "servers", "list", "servers.read"),
    Op("/servers/{id}", ["GET"], "servers", "get", "servers.read"),
    Op("/servers/{id}", ["PUT"], "servers", "update", "servers.update", True),
    Op("/servers/{id}", ["DELETE"], "servers", "delete", "servers.delete"),
    Op(
        "/admin/secrets/reseal",
        ["POST"],
        "secrets",
        "reseal",
        "admin.config",
        True,
        optional_body=True,
    ),
)


def _launches(body: dict[str, Any]) -> bool:
    """Whether a gateway body asks Forge to start a process: a stdio transport (any spelling the
    registry accepts) or a command. The registry checks again, on the stored gateway too."""
    transport = body.get("transport")
    stdio = isinstance(transport, str) and canonical_transport(transport) == "stdio"
    return stdio or body.get("command") is not None


def _require_launch(principal: Principal) -> None:
    if not access.may_launch(principal):
        raise guard.forbidden(access.LAUNCH)


class Admin:
    """One handler per REST route; each becomes one registry request."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    async def _body(self, request: Request, optional: bool = False) -> Any:
        return await inputs.read_object(self.edge.config, request.scope, request.receive, optional)

    async def _call(self, principal: Principal, entity: str, op: str, params: Any) -> bytes:
        return await registry_call(
            self.edge.bus, subjects.CATALOG, entity, op, params, principal, REST_TIMEOUT_S
        )

    async def _refuse(self, principal: Principal, spec: Op, entity_id: Any) -> None:
        """Raise the 403 of a missing permission, or the registry's 404 if the entity is one the
        caller cannot see: it does not exist for them, and a 403 would say that it does."""
        if entity_id is not None:
            await self._call(principal, spec.entity, "get", {"id": entity_id})
        raise guard.forbidden(spec.permission)

    def route(self, spec: Op) -> Any:
        async def endpoint(request: Request) -> Response:
            principal = await guard.rest_principal(self.edge, request, None)
            entity_id = request.path_params.get("id")
            if not await guard.permitted(
                self.edge, principal, spec.permission, spec.entity, entity_id
            ):
                await self._refuse(principal, spec, entity_id)
            params: dict[str, Any] = dict(request.path_params)
            if spec.body:
                params = {**(await self._body(request, spec.optional_body)), **params}
            if spec.entity == "gateways" and _launches(params):
                _require_launch(principal)
            result = await self._call(principal, spec.entity, spec.op, params)
            if spec.view is not None:
                view = spec.view
                decoded = _ANY.decode(result)
                shaped = [view(t) for t in decoded] if isinstance(decoded, list) else view(decoded)
                result = _ENC.encode(shaped)
            if spec.op == "get" and spec.entity in entity_metrics.KINDS:  # ContextForge's `metrics`
                view = await entity_metrics.with_metrics(
                    self.edge, principal, spec.entity, str(entity_id), _ANY.decode(result)
                )
                result = _ENC.encode(view)
            return json_response(spec.status, result)

        return endpoint

    def routes(self) -> list[BaseRoute]:
        out: list[BaseRoute] = []
        for prefix in ("", "/v1"):
            for spec in OPS:
                out.append(
                    Route(
                        prefix + spec.path,
                        self.route(spec),
                        methods=spec.methods,
                        name=f"{prefix}{spec.entity}.{spec.op}",
                    )
                )
        return out
