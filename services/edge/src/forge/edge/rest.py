"""The REST admin API: ContextForge-compatible paths, answered by the catalog registry."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.core import rpc, subjects
from forge.core.errors import ForgeError, InvalidRequestError
from forge.edge.http import read_body
from forge.edge.mcp_http import Edge
from forge.proto.envelope import Envelope, Principal

_ENC = msgspec.json.Encoder()
_ANY = msgspec.json.Decoder()
REDACTED = "********"
REST_TIMEOUT_S = 30.0


def json_response(status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type="application/json")


def error_response(exc: ForgeError, extra: dict[str, str] | None = None) -> Response:
    body = {"detail": exc.message, "code": exc.code}
    if exc.data is not None:
        body["data"] = exc.data
    return Response(_ENC.encode(body), exc.http_status, extra, media_type="application/json")


def gateway_view(record: dict[str, Any]) -> dict[str, Any]:
    """A gateway with the values of its stdio environment hidden: they may be credentials."""
    env = record.get("env")
    if isinstance(env, dict) and env:
        return {**record, "env": dict.fromkeys(env, REDACTED)}
    return record


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
    }


def _entry_view(record: dict[str, Any], definition: dict[str, Any]) -> dict[str, Any]:
    return {
        "gatewayId": record["gateway_id"],
        "enabled": record.get("enabled", True),
        "createdAt": record.get("created_at"),
        "updatedAt": record.get("updated_at"),
        "annotations": definition.get("annotations") or {},
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


class Admin:
    """One handler per REST route; each becomes one registry request."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    async def _principal(self, request: Request) -> Principal:
        return self.edge.auth.authenticate(request.headers.get("authorization"))

    async def _body(self, request: Request) -> Any:
        raw = await read_body(request.scope, request.receive, self.edge.config.max_body_bytes)
        try:
            body = _ANY.decode(raw)
        except msgspec.DecodeError as exc:
            raise InvalidRequestError("the request body is not valid JSON") from exc
        if not isinstance(body, dict):
            raise InvalidRequestError("the request body must be a JSON object")
        return body

    async def _call(self, principal: Principal, entity: str, op: str, params: Any) -> bytes:
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method=f"catalog.{entity}.{op}",
            params=msgspec.Raw(_ENC.encode(params)),
            principal=principal,
            deadline=time.time() + REST_TIMEOUT_S,
        )
        return await rpc.call(
            self.edge.bus, subjects.registry(subjects.CATALOG, entity, op), envelope
        )

    def route(
        self,
        entity: str,
        op: str,
        *,
        body: bool = False,
        status: int = 200,
        view: View | None = None,
    ) -> Any:
        async def endpoint(request: Request) -> Response:
            try:
                principal = await self._principal(request)
                params: dict[str, Any] = dict(request.path_params)
                if body:
                    params = {**(await self._body(request)), **params}
                result = await self._call(principal, entity, op, params)
            except ForgeError as exc:
                extra = (
                    {"www-authenticate": 'Bearer realm="forge"'} if exc.http_status == 401 else None
                )
                return error_response(exc, extra)
            if view is not None:
                decoded = _ANY.decode(result)
                shaped = [view(t) for t in decoded] if isinstance(decoded, list) else view(decoded)
                result = _ENC.encode(shaped)
            return json_response(status, result)

        return endpoint

    def routes(self) -> list[BaseRoute]:
        table: list[tuple[str, str, str, list[str], bool, int, View | None]] = [
            ("/gateways", "gateways", "create", ["POST"], True, 201, gateway_view),
            ("/gateways", "gateways", "list", ["GET"], False, 200, gateway_view),
            ("/gateways/{id}", "gateways", "get", ["GET"], False, 200, gateway_view),
            ("/gateways/{id}", "gateways", "delete", ["DELETE"], False, 200, None),
            ("/gateways/{id}/tools/refresh", "gateways", "refresh", ["POST"], False, 200, None),
            ("/tools", "tools", "list", ["GET"], False, 200, tool_view),
            ("/tools/{id}", "tools", "get", ["GET"], False, 200, tool_view),
            # Before /resources/{id}, which would take "templates" for an id.
            (
                "/resources/templates/list",
                "resource_templates",
                "list",
                ["GET"],
                False,
                200,
                template_view,
            ),
            ("/resources", "resources", "list", ["GET"], False, 200, resource_view),
            ("/resources/{id}", "resources", "get", ["GET"], False, 200, resource_view),
            ("/prompts", "prompts", "list", ["GET"], False, 200, prompt_view),
            ("/prompts/{id}", "prompts", "get", ["GET"], False, 200, prompt_view),
            ("/servers", "servers", "create", ["POST"], True, 201, None),
            ("/servers", "servers", "list", ["GET"], False, 200, None),
            ("/servers/{id}", "servers", "get", ["GET"], False, 200, None),
            ("/servers/{id}", "servers", "delete", ["DELETE"], False, 200, None),
        ]
        out: list[BaseRoute] = []
        for prefix in ("", "/v1"):
            for path, entity, op, methods, body, status, view in table:
                endpoint = self.route(entity, op, body=body, status=status, view=view)
                out.append(
                    Route(prefix + path, endpoint, methods=methods, name=f"{prefix}{entity}.{op}")
                )
        return out
