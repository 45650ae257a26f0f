"""`http_pre_request` and `http_post_request` around every HTTP request and WebSocket upgrade.

Only while a plugin serves one of them (`EdgeHooks.http`); otherwise the edge's app runs bare.
The pre hook sees `{"method", "path", "headers", "client"}` before authentication: it may block
(403: a JSON-RPC error -32013 on MCP paths, a REST error elsewhere) or change the request's
headers. The post hook sees `{"status", "headers"}` of the response, with the pre payload as
its request, before anything is sent: it may change them, or block (the response is replaced).
Headers travel as one value per lower-case name; a changed set replaces all of them.
"""

from __future__ import annotations

import logging
from typing import Any

from forge.core.errors import ForgeError
from forge.edge.http import Receive, Scope, Send, respond
from forge.edge.rest import errors
from forge.edge.state import Edge
from forge.proto import jsonrpc
from forge.proto.envelope import ENCODER

log = logging.getLogger("forge.edge.http_hooks")
_MCP_ENDINGS = ("/mcp", "/mcp/", "/sse", "/message")


def _headers(raw: list[tuple[bytes, bytes]]) -> dict[str, str]:
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in raw}


def _raw(headers: Any) -> list[tuple[bytes, bytes]] | None:
    if not isinstance(headers, dict):
        return None
    return [
        (str(k).lower().encode("latin-1"), str(v).encode("latin-1"))
        for k, v in headers.items()
        if isinstance(v, str | int)
    ]


def error_body(path: str, exc: ForgeError) -> bytes:
    """A refusal as the endpoint's clients read errors: JSON-RPC on MCP paths, REST elsewhere."""
    if path.endswith(_MCP_ENDINGS):
        return jsonrpc.error_bytes(None, ENCODER.encode(exc.to_object()))
    return errors.body(exc)


async def _refuse(scope: Scope, send: Send, exc: ForgeError) -> None:
    if scope["type"] == "websocket":
        # Closing before accepting: the server answers the upgrade with 403.
        await send({"type": "websocket.close", "code": 1008})
        return
    await respond(send, exc.http_status, error_body(scope["path"], exc))


async def around(edge: Edge, app: Any, scope: Scope, receive: Receive, send: Send) -> None:
    """Run `app` with the served HTTP hooks around it."""
    hooks = edge.hooks
    client = scope.get("client")
    request: dict[str, Any] = {
        "method": scope.get("method", "GET"),
        "path": scope["path"],
        "headers": _headers(scope["headers"]),
        "client": str(client[0]) if client else None,
    }
    if "http_pre_request" in hooks.served:
        try:
            changed = await hooks.call("http_pre_request", request, method=request["method"])
        except ForgeError as exc:
            await _refuse(scope, send, exc)
            return
        if changed is not request and isinstance(changed, dict):
            raw = _raw(changed.get("headers"))
            if raw is not None:
                scope = {**scope, "headers": raw}
            request = changed
    if "http_post_request" not in hooks.served or scope["type"] != "http":
        await app(scope, receive, send)
        return
    replaced = False

    async def hooked_send(message: dict[str, Any]) -> None:
        nonlocal replaced
        if replaced:
            return  # the post hook refused this response: the rest of it is dropped
        if message["type"] != "http.response.start":
            await send(message)
            return
        response = {"status": message["status"], "headers": _headers(message.get("headers", []))}
        try:
            changed = await hooks.call(
                "http_post_request", response, method=request["method"], request=request
            )
        except ForgeError as exc:
            replaced = True
            await respond(send, exc.http_status, error_body(scope["path"], exc))
            return
        if changed is not response and isinstance(changed, dict):
            raw = _raw(changed.get("headers"))
            status = changed.get("status")
            message = {
                **message,
                "status": status if isinstance(status, int) else message["status"],
                "headers": raw if raw is not None else message.get("headers", []),
            }
        await send(message)

    await app(scope, receive, hooked_send)
