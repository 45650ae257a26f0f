"""A2A 0.3's HTTP+JSON binding on Forge's A2A endpoint, under `/a2a/{agent}/v1`:
`POST message:send`, `POST message:stream` (SSE), `GET tasks/{id}`, `POST tasks/{id}:cancel`,
`GET|POST tasks/{id}:subscribe` (SSE), `POST|GET tasks/{id}/pushNotificationConfigs`,
`GET|DELETE tasks/{id}/pushNotificationConfigs/{config}`, `GET card`.

Each route is the 0.3 JSON-RPC method it stands for (`message/send`, ...), its body read from
0.3's protobuf JSON (a2a_shapes03.py) and forwarded to the a2a-bridge as the JSON-RPC
binding's requests are (rest/a2a_server.py): the bridge serves it as for any 0.3 client
(translation to the agent's version, Forge's task ids, push configs delivered in 0.3's form).
Answers are the method's protobuf JSON (a Task; `{task}` or `{message}` for a send; streamed
events `data: <StreamResponse>`). Errors: the HTTP status of the A2A error (404 for an unknown
task, 400 for a bad request, as A2A 1.0's binding maps them: rest/a2a_rest.py) with the body
`{code, message, type[, data]}`: the JSON-RPC code, and the error's name as a2a-sdk's 0.3
client reads it (`TaskNotFoundError`); a stream's error is an `event: error`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.core.errors import (
    A2A_RANGE,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    A2aCode,
    ForgeError,
    InvalidRequestError,
)
from forge.edge import a2a_shapes03 as shapes
from forge.edge import inputs
from forge.edge.auth import guard
from forge.edge.rest.a2a_rest import REASONS, VERSION_NOT_SUPPORTED, unsupported_version
from forge.edge.state import Edge
from forge.proto.agents import A2aReply, A2aRequestParams
from forge.proto.envelope import Principal

_ENC = msgspec.json.Encoder()
# The name a2a-sdk's 0.3 REST client reads in an error's `type` to raise its own error class.
NAMES = {
    A2aCode.TASK_NOT_FOUND: "TaskNotFoundError",
    A2aCode.TASK_NOT_CANCELABLE: "TaskNotCancelableError",
    A2aCode.PUSH_NOTIFICATION_NOT_SUPPORTED: "PushNotificationNotSupportedError",
    A2aCode.UNSUPPORTED_OPERATION: "UnsupportedOperationError",
    A2aCode.CONTENT_TYPE_NOT_SUPPORTED: "ContentTypeNotSupportedError",
    A2aCode.INVALID_AGENT_RESPONSE: "InvalidAgentResponseError",
    A2aCode.VERSION_NOT_SUPPORTED: "VersionNotSupportedError",
    PARSE_ERROR: "JSONParseError",
    INVALID_REQUEST: "InvalidRequestError",
    METHOD_NOT_FOUND: "MethodNotFoundError",
    INVALID_PARAMS: "InvalidParamsError",
    INTERNAL_ERROR: "InternalError",
}
_STREAMS = frozenset({"message/stream", "tasks/resubscribe"})


def _body(code: int, message: str, data: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if code in NAMES:
        body["type"] = NAMES[code]
    if data is not None:
        body["data"] = data
    return body


def a2a_error(error: dict[str, Any]) -> tuple[int, Any]:
    """An A2A error (`{code, message, data}`, the agent's or the bridge's): status and body."""
    code = error.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else INTERNAL_ERROR
    status = REASONS.get(code, REASONS[INTERNAL_ERROR])[0]
    return status, _body(code, str(error.get("message")), error.get("data"))


def forge_error(exc: ForgeError) -> tuple[int, Any]:
    """A Forge error: its HTTP status; a code A2A gives another meaning as -32603 with
    `data.forgeCode` (as on the JSON-RPC binding)."""
    code = int(exc.code)
    if code in A2A_RANGE:
        return exc.http_status, _body(INTERNAL_ERROR, exc.message, {"forgeCode": code})
    return exc.http_status, _body(code, exc.message, exc.data)


def _sse(body: Any, error: bool = False) -> bytes:
    return (b"event: error\n" if error else b"") + b"data: " + _ENC.encode(body) + b"\n\n"


class Rest03:
    """The binding's framing of one method's answers (a2a_server.Framing)."""

    def __init__(self, method: str) -> None:
        self.method = method

    def result(self, result: Any) -> Any:
        if self.method in ("message/send", *_STREAMS):
            return shapes.event_out(result)
        if self.method in ("tasks/get", "tasks/cancel"):
            return shapes.task_out(result)
        if self.method == "tasks/pushNotificationConfig/list":
            return {"configs": [shapes.config_out(c) for c in result or ()]}
        if self.method.startswith("tasks/pushNotificationConfig/"):
            return shapes.config_out(result) if isinstance(result, dict) else {}
        return result if result is not None else {}

    def answer(self, reply: A2aReply) -> tuple[int, Any]:
        if reply.error is not None:
            return a2a_error(reply.error)
        return 200, self.result(reply.result)

    def event(self, reply: A2aReply) -> bytes:
        if reply.error is not None:
            return _sse(a2a_error(reply.error)[1], error=True)
        return _sse(self.result(reply.result))

    def failure(self, exc: ForgeError) -> tuple[int, Any]:
        return forge_error(exc)

    def failed(self, exc: ForgeError) -> bytes:
        return _sse(forge_error(exc)[1], error=True)


Reader = Callable[[Request], Awaitable[dict[str, Any]]]


class Forwarder(Protocol):
    """What forwards a request to the a2a-bridge (rest/a2a_server.A2aServer)."""

    edge: Edge

    def base_url(self, agent: str) -> str: ...

    async def ask(
        self, principal: Principal, agent: str, op: str, p: A2aRequestParams
    ) -> A2aReply: ...

    async def stream(
        self, principal: Principal, agent: str, p: A2aRequestParams, frame: Rest03
    ) -> Response: ...


def routes(server: Forwarder, prefix: str) -> list[BaseRoute]:
    """The binding's routes under `prefix` (`/a2a/{agent}`): the 0.3 paths below its `/v1`."""
    edge = server.edge

    async def body(request: Request) -> dict[str, Any]:
        return await inputs.read_object(edge.config, request.scope, request.receive, True)

    def handler(method: str, read: Reader) -> Callable[[Request], Awaitable[Response]]:
        frame = Rest03(method)

        async def endpoint(request: Request) -> Response:
            agent = request.path_params["agent"]
            headers = None
            try:
                principal = await guard.rest_principal(edge, request, None)
                refused = unsupported_version(request)
                if refused is not None:
                    error = {"code": VERSION_NOT_SUPPORTED, "message": refused}
                    status, answer = a2a_error(error)
                else:
                    params = await read(request)
                    base = server.base_url(agent)
                    p = A2aRequestParams(agent=agent, method=method, params=params, base_url=base)
                    if method in _STREAMS:
                        return await server.stream(principal, agent, p, frame)
                    op = "send" if method == "message/send" else "task"
                    status, answer = frame.answer(await server.ask(principal, agent, op, p))
            except ForgeError as exc:
                status, answer = frame.failure(exc)
                if isinstance(exc, guard.ChallengeError):
                    headers = {"WWW-Authenticate": exc.challenge}
            return Response(_ENC.encode(answer), status, headers, "application/json")

        return endpoint

    async def send(request: Request) -> dict[str, Any]:
        return shapes.send_in(await body(request))

    async def task(request: Request) -> dict[str, Any]:
        params: dict[str, Any] = {"id": request.path_params["task"]}
        length = request.query_params.get("historyLength")
        if length is not None:
            try:
                params["historyLength"] = int(length)
            except ValueError:
                raise InvalidRequestError("historyLength must be an integer") from None
        return params

    async def task_id(request: Request) -> dict[str, Any]:
        await body(request)  # read (and bounded) though nothing in it is used
        return {"id": request.path_params["task"]}

    async def create(request: Request) -> dict[str, Any]:
        return shapes.create_config_in(request.path_params["task"], await body(request))

    async def config(request: Request) -> dict[str, Any]:
        task_, config_ = request.path_params["task"], request.path_params["config"]
        return {"id": task_, "pushNotificationConfigId": config_}

    async def nothing(request: Request) -> dict[str, Any]:
        return {}

    v1 = prefix + "/v1"
    configs = v1 + "/tasks/{task}/pushNotificationConfigs"
    return [
        Route(v1 + "/message:send", handler("message/send", send), methods=["POST"]),
        Route(v1 + "/message:stream", handler("message/stream", send), methods=["POST"]),
        Route(
            v1 + "/tasks/{task}:subscribe",
            handler("tasks/resubscribe", task_id),
            methods=["GET", "POST"],
        ),
        Route(v1 + "/tasks/{task}:cancel", handler("tasks/cancel", task_id), methods=["POST"]),
        Route(
            configs + "/{config}",
            handler("tasks/pushNotificationConfig/get", config),
            methods=["GET"],
        ),
        Route(
            configs + "/{config}",
            handler("tasks/pushNotificationConfig/delete", config),
            methods=["DELETE"],
        ),
        Route(configs, handler("tasks/pushNotificationConfig/set", create), methods=["POST"]),
        Route(configs, handler("tasks/pushNotificationConfig/list", task), methods=["GET"]),
        Route(v1 + "/tasks/{task}", handler("tasks/get", task), methods=["GET"]),
        Route(
            v1 + "/card", handler("agent/getAuthenticatedExtendedCard", nothing), methods=["GET"]
        ),
    ]
