"""A2A 1.0's HTTP+JSON binding on Forge's A2A endpoint: `/a2a/{agent}/message:send`,
`/message:stream`, `/tasks`, `/tasks/{id}`, `/tasks/{id}:cancel`, `/tasks/{id}:subscribe`,
`/tasks/{id}/pushNotificationConfigs[/{config}]`, `/extendedAgentCard`.

Each path is the 1.0 method it names, forwarded to the a2a-bridge as the JSON-RPC binding's
requests are (rest/a2a_server.py); answers are the result itself, errors A2A's REST shape
(`{"error": {code, status, message, details: [google.rpc.ErrorInfo with the A2A reason]}}`)
with its HTTP status, streamed events `data: <StreamResponse>` and an error as `event: error`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.core.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    A2aCode,
    ForgeError,
    InvalidRequestError,
)
from forge.edge import inputs
from forge.edge.auth import guard
from forge.edge.state import Edge
from forge.proto.agents import A2aReply, A2aRequestParams
from forge.proto.envelope import Principal

_ENC = msgspec.json.Encoder()
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
DOMAIN = "a2a-protocol.org"
# An A2A (JSON-RPC) error code as the HTTP+JSON binding says it: HTTP status, gRPC status, reason.
REASONS: dict[int, tuple[int, str, str]] = {
    A2aCode.TASK_NOT_FOUND: (404, "NOT_FOUND", "TASK_NOT_FOUND"),
    A2aCode.TASK_NOT_CANCELABLE: (400, "FAILED_PRECONDITION", "TASK_NOT_CANCELABLE"),
    A2aCode.PUSH_NOTIFICATION_NOT_SUPPORTED: (
        400,
        "FAILED_PRECONDITION",
        "PUSH_NOTIFICATION_NOT_SUPPORTED",
    ),
    A2aCode.UNSUPPORTED_OPERATION: (400, "FAILED_PRECONDITION", "UNSUPPORTED_OPERATION"),
    A2aCode.CONTENT_TYPE_NOT_SUPPORTED: (400, "INVALID_ARGUMENT", "CONTENT_TYPE_NOT_SUPPORTED"),
    A2aCode.INVALID_AGENT_RESPONSE: (500, "INTERNAL", "INVALID_AGENT_RESPONSE"),
    A2aCode.EXTENDED_AGENT_CARD_NOT_CONFIGURED: (
        400,
        "FAILED_PRECONDITION",
        "EXTENDED_AGENT_CARD_NOT_CONFIGURED",
    ),
    A2aCode.EXTENSION_SUPPORT_REQUIRED: (400, "FAILED_PRECONDITION", "EXTENSION_SUPPORT_REQUIRED"),
    A2aCode.VERSION_NOT_SUPPORTED: (400, "FAILED_PRECONDITION", "VERSION_NOT_SUPPORTED"),
    PARSE_ERROR: (400, "INVALID_ARGUMENT", "INVALID_REQUEST"),
    INVALID_REQUEST: (400, "INVALID_ARGUMENT", "INVALID_REQUEST"),
    METHOD_NOT_FOUND: (404, "NOT_FOUND", "METHOD_NOT_FOUND"),
    INVALID_PARAMS: (400, "INVALID_ARGUMENT", "INVALID_PARAMS"),
    INTERNAL_ERROR: (500, "INTERNAL", "INTERNAL_ERROR"),
}
_GRPC = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_INTS = ("pageSize", "historyLength")
VERSIONS = ("1.0", "0.3")
VERSION_NOT_SUPPORTED = A2aCode.VERSION_NOT_SUPPORTED


def unsupported_version(request: Request) -> str | None:
    """What to say when the request's `A2A-Version` names a version Forge does not speak."""
    said = request.headers.get("a2a-version")
    if said is None or not said.strip():
        return None
    major_minor = ".".join(said.strip().split(".")[:2])
    if major_minor in VERSIONS or major_minor == "1":
        return None
    return f"A2A version {said.strip()!r} is not supported: Forge speaks {', '.join(VERSIONS)}"


def _payload(status: int, grpc: str, message: str, reason: str, meta: dict[str, str]) -> Any:
    info = {"@type": ERROR_INFO, "reason": reason, "domain": DOMAIN, "metadata": meta}
    return {"error": {"code": status, "status": grpc, "message": message, "details": [info]}}


def a2a_error(error: dict[str, Any]) -> tuple[int, Any]:
    """An A2A error (`{code, message}`, the agent's or the bridge's) in the REST shape."""
    code = error.get("code")
    status, grpc, reason = REASONS.get(
        code if isinstance(code, int) else 0, REASONS[INTERNAL_ERROR]
    )
    return status, _payload(status, grpc, str(error.get("message")), reason, {})


def forge_error(exc: ForgeError) -> tuple[int, Any]:
    """A Forge error in the REST shape: its HTTP status, its code in the metadata."""
    status = exc.http_status
    grpc = _GRPC.get(status, "INTERNAL" if status < 502 else "UNAVAILABLE")
    meta = {"forgeCode": str(exc.code)}
    return status, _payload(status, grpc, exc.message, "FORGE_ERROR", meta)


class HttpJson:
    """The binding's framing: results as they are, REST errors."""

    def answer(self, reply: A2aReply) -> tuple[int, Any]:
        if reply.error is not None:
            return a2a_error(reply.error)
        return 200, reply.result if reply.result is not None else {}

    def event(self, reply: A2aReply) -> bytes:
        if reply.error is not None:
            return b"event: error\ndata: " + _ENC.encode(a2a_error(reply.error)[1]) + b"\n\n"
        return b"data: " + _ENC.encode(reply.result) + b"\n\n"

    def failure(self, exc: ForgeError) -> tuple[int, Any]:
        return forge_error(exc)

    def failed(self, exc: ForgeError) -> bytes:
        return b"event: error\ndata: " + _ENC.encode(forge_error(exc)[1]) + b"\n\n"


def _query(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, value in request.query_params.items():
        if key in _INTS:
            try:
                params[key] = int(value)
            except ValueError:
                raise InvalidRequestError(f"{key} must be an integer") from None
        elif key == "includeArtifacts":
            params[key] = value.lower() in ("true", "1")
        else:
            params[key] = value
    return params


Reader = Callable[[Request], Awaitable[dict[str, Any]]]


class Forwarder(Protocol):
    """What forwards a request to the a2a-bridge (rest/a2a_server.A2aServer)."""

    edge: Edge

    def base_url(self, agent: str) -> str: ...

    async def ask(
        self, principal: Principal, agent: str, op: str, p: A2aRequestParams
    ) -> A2aReply: ...

    async def stream(
        self, principal: Principal, agent: str, p: A2aRequestParams, frame: HttpJson
    ) -> Response: ...


def routes(server: Forwarder, prefix: str) -> list[BaseRoute]:
    """The binding's routes under `prefix` (`/a2a/{agent}`)."""
    edge = server.edge
    frame = HttpJson()

    async def body(request: Request) -> dict[str, Any]:
        return await inputs.read_object(edge.config, request.scope, request.receive, True)

    def handler(method: str, read: Reader) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            agent = request.path_params["agent"]
            try:
                principal = await guard.rest_principal(edge, request, None)
                refused = unsupported_version(request)
                if refused is not None:
                    status, answer = a2a_error({"code": VERSION_NOT_SUPPORTED, "message": refused})
                    return Response(_ENC.encode(answer), status, media_type="application/json")
                params = await read(request)
                base = server.base_url(agent)
                p = A2aRequestParams(agent=agent, method=method, params=params, base_url=base)
                if method in ("SendStreamingMessage", "SubscribeToTask"):
                    return await server.stream(principal, agent, p, frame)
                op = "send" if method == "SendMessage" else "task"
                status, answer = frame.answer(await server.ask(principal, agent, op, p))
            except ForgeError as exc:
                status, answer = frame.failure(exc)
                headers = (
                    {"WWW-Authenticate": exc.challenge}
                    if isinstance(exc, guard.ChallengeError)
                    else None
                )
                return Response(_ENC.encode(answer), status, headers, "application/json")
            return Response(_ENC.encode(answer), status, media_type="application/json")

        return endpoint

    async def task(request: Request) -> dict[str, Any]:
        return {**_query(request), "id": request.path_params["task"]}

    async def cancel(request: Request) -> dict[str, Any]:
        return {**(await body(request)), "id": request.path_params["task"]}

    async def config(request: Request) -> dict[str, Any]:
        return {**(await body(request)), "taskId": request.path_params["task"]}

    async def config_id(request: Request) -> dict[str, Any]:
        return {"taskId": request.path_params["task"], "id": request.path_params["config"]}

    async def of_task(request: Request) -> dict[str, Any]:
        return {**_query(request), "taskId": request.path_params["task"]}

    async def query(request: Request) -> dict[str, Any]:
        return _query(request)

    configs = prefix + "/tasks/{task}/pushNotificationConfigs"
    return [
        Route(prefix + "/message:send", handler("SendMessage", body), methods=["POST"]),
        Route(prefix + "/message:stream", handler("SendStreamingMessage", body), methods=["POST"]),
        Route(
            prefix + "/tasks/{task}:subscribe",
            handler("SubscribeToTask", task),
            methods=["GET", "POST"],
        ),
        Route(prefix + "/tasks/{task}:cancel", handler("CancelTask", cancel), methods=["POST"]),
        Route(
            configs + "/{config}",
            handler("GetTaskPushNotificationConfig", config_id),
            methods=["GET"],
        ),
        Route(
            configs + "/{config}",
            handler("DeleteTaskPushNotificationConfig", config_id),
            methods=["DELETE"],
        ),
        Route(configs, handler("CreateTaskPushNotificationConfig", config), methods=["POST"]),
        Route(configs, handler("ListTaskPushNotificationConfigs", of_task), methods=["GET"]),
        Route(prefix + "/tasks/{task}", handler("GetTask", task), methods=["GET"]),
        Route(prefix + "/tasks", handler("ListTasks", query), methods=["GET"]),
        Route(
            prefix + "/extendedAgentCard", handler("GetExtendedAgentCard", query), methods=["GET"]
        ),
    ]
