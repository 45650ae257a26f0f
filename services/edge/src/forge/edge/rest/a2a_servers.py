"""A virtual server served as an A2A agent: `/servers/{id}/a2a` (JSON-RPC binding, A2A 1.0 and
0.3) and its card at `/servers/{id}/a2a/.well-known/agent-card.json`.

The card's skills are the tools the server holds as the caller sees them (an A2A agent's tool,
`a2a-<slug>`, among them): the router's `tools/list` on the server. A message names the skill
it wants, in its `metadata` (`{"skill": "<tool>", "arguments": {...}}`) or in a data part
(`{"skill": "<tool>", "arguments": {...}}`); without arguments a message's text becomes
`{"message": <text>}` (what an agent's tool takes). Forge routes it as the router's `tools/call`
on the server (so the tool hooks, permissions, metrics and, for an agent's tool, the bridge all
apply) and answers a Message (text parts, structured content as a data part) or, when the
tool's result is an error, a failed Task. A missing or unknown skill is A2A's -32602 naming the
server's skills. The server keeps no tasks: `GetTask` and the like are TaskNotFound (-32001).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.core import subjects
from forge.core.errors import (
    A2A_RANGE,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    A2aCode,
    ForgeError,
    InvalidRequestError,
    ParseError,
    PluginViolationError,
)
from forge.edge import inputs
from forge.edge.auth import guard
from forge.edge.registry_calls import registry_call
from forge.edge.state import Edge
from forge.proto.envelope import Envelope, Principal, Protocol

_ENC = msgspec.json.Encoder()
_ANY = msgspec.json.Decoder()
LEGACY = Protocol(version="2025-11-25", era="legacy")
SENDS = {"SendMessage": "1.0", "message/send": "0.3"}
STREAMS = {"SendStreamingMessage": "1.0", "message/stream": "0.3"}
TASK_METHODS = frozenset(
    {"GetTask", "CancelTask", "SubscribeToTask", "tasks/get", "tasks/cancel", "tasks/resubscribe"}
)
MAX_PAGES = 50
TASK_NOT_FOUND = A2aCode.TASK_NOT_FOUND


class SkillError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _rpc(rid: Any, result: Any = None, error: dict[str, Any] | None = None) -> dict[str, Any]:
    if error is not None:
        return {"jsonrpc": "2.0", "id": rid, "error": error}
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def _json(status: int, body: Any, exc: ForgeError | None = None) -> Response:
    headers = {"WWW-Authenticate": exc.challenge} if isinstance(exc, guard.ChallengeError) else None
    return Response(_ENC.encode(body), status, headers, media_type="application/json")


def skill_of(tool: dict[str, Any]) -> dict[str, Any]:
    name = str(tool.get("name"))
    agent = name.startswith("a2a-")
    return {
        "id": name,
        "name": tool.get("title") or name,
        "description": tool.get("description") or f"The tool {name}",
        "tags": ["agent" if agent else "tool"],
        "inputModes": ["application/json", "text/plain"],
        "outputModes": ["application/json", "text/plain"],
    }


def _texts_and_data(message: dict[str, Any]) -> tuple[str, list[Any]]:
    texts, data = [], []
    for part in message.get("parts") or ():
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif "data" in part:
            data.append(part["data"])
    return "\n".join(texts), data


def wanted(params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(skill, arguments) a send names; SkillError when it names none."""
    message = params.get("message")
    if not isinstance(message, dict):
        raise SkillError(INVALID_PARAMS, "a send needs params.message, an object")
    text, data = _texts_and_data(message)
    named: dict[str, Any] = {}
    for holder in (message.get("metadata"), params.get("metadata"), *data):
        if isinstance(holder, dict) and isinstance(holder.get("skill"), str):
            named = holder
            break
    skill = named.get("skill")
    if not isinstance(skill, str) or not skill:
        raise SkillError(
            INVALID_PARAMS,
            'name a skill: message metadata {"skill", "arguments"} or a data part '
            '{"skill", "arguments"}',
        )
    arguments = named.get("arguments")
    if arguments is None:
        arguments = {"message": text} if text else {}
    if not isinstance(arguments, dict):
        raise SkillError(INVALID_PARAMS, "a skill's arguments must be an object")
    return skill, arguments


def answer_of(result: dict[str, Any], context_id: str, version: str) -> dict[str, Any]:
    """A tool's CallToolResult as an A2A answer: a Message, or a failed Task on an error."""
    parts: list[dict[str, Any]] = []
    for item in result.get("content") or ():
        if isinstance(item, dict) and item.get("type") == "text":
            parts.append({"text": item.get("text", "")})
        elif isinstance(item, dict):
            parts.append({"data": item})
    structured = result.get("structuredContent")
    if structured is not None:
        parts.append({"data": structured})
    message = {
        "messageId": uuid.uuid4().hex,
        "role": "ROLE_AGENT",
        "contextId": context_id,
        "parts": parts,
    }
    if not result.get("isError"):
        return {"message": message} if version == "1.0" else _message_03(message)
    task_id = uuid.uuid4().hex
    said = {**message, "taskId": task_id}
    status = {"state": "TASK_STATE_FAILED", "message": said}
    task = {"id": task_id, "contextId": context_id, "status": status}
    if version == "1.0":
        return {"task": task}
    failed = {"state": "failed", "message": _message_03(said)}
    return {"kind": "task", "id": task_id, "contextId": context_id, "status": failed}


def _message_03(message: dict[str, Any]) -> dict[str, Any]:
    parts = [
        {"kind": "text", "text": p["text"]}
        if "text" in p
        else {
            "kind": "data",
            "data": p["data"] if isinstance(p["data"], dict) else {"value": p["data"]},
        }
        for p in message["parts"]
    ]
    return {**message, "kind": "message", "role": "agent", "parts": parts}


def _part_of(part: Any) -> Any:
    """A 0.3 part (kind-tagged) read as 1.0's."""
    if isinstance(part, dict) and part.get("kind") in ("text", "data"):
        return {k: v for k, v in part.items() if k != "kind"}
    return part


class ServerAgent:
    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    async def _router(
        self, principal: Principal, server_id: str, method: str, params: Any
    ) -> dict[str, Any]:
        guard.check_method(principal, method)
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method=method,
            params=msgspec.Raw(_ENC.encode(params)),
            principal=principal,
            deadline=time.time() + self.edge.config.request_timeout_s,
            protocol=LEGACY,
            server_id=server_id,
        )
        answer = _ANY.decode(await self.edge.route(envelope))
        return answer if isinstance(answer, dict) else {}

    async def _principal(self, request: Request, server_id: str) -> Principal:
        return await guard.mcp_principal(self.edge, request.scope, request.headers, server_id)

    async def skills(self, principal: Principal, server_id: str) -> list[dict[str, Any]]:
        tools: list[dict[str, Any]] = []
        cursor = None
        for _ in range(MAX_PAGES):
            page = await self._router(
                principal, server_id, "tools/list", {"cursor": cursor} if cursor else {}
            )
            tools += [t for t in page.get("tools") or () if isinstance(t, dict)]
            cursor = page.get("nextCursor")
            if not cursor:
                break
        return [skill_of(t) for t in tools]

    def url(self, server_id: str) -> str:
        return f"{self.edge.urls.base}/servers/{server_id}/a2a"

    async def card(self, request: Request) -> Response:
        server_id = request.path_params["server_id"]
        try:
            principal = await self._principal(request, server_id)
            server = _ANY.decode(
                await registry_call(
                    self.edge.bus,
                    subjects.CATALOG,
                    "servers",
                    "get",
                    {"id": server_id},
                    principal,
                    self.edge.config.request_timeout_s,
                )
            )
            skills = await self.skills(principal, server_id)
        except ForgeError as exc:
            status = exc.http_status if exc.http_status in (401, 403, 404) else 502
            return _json(status, {"detail": exc.message}, exc)
        url = self.url(server_id)
        card: dict[str, Any] = {
            "name": server.get("name") or server_id,
            "description": server.get("description") or "A Forge virtual server",
            "version": "1.0.0",
            "capabilities": {"streaming": True, "pushNotifications": False},
            "defaultInputModes": ["application/json", "text/plain"],
            "defaultOutputModes": ["application/json", "text/plain"],
            "skills": skills,
        }
        if request.headers.get("a2a-version", "").strip().startswith("1"):
            card["supportedInterfaces"] = [
                {"url": url, "protocolBinding": "JSONRPC", "protocolVersion": v}
                for v in ("1.0", "0.3")
            ]
            bearer = {"scheme": "Bearer", "bearerFormat": "JWT"}
            card["securitySchemes"] = {"forge": {"httpAuthSecurityScheme": bearer}}
            card["securityRequirements"] = [{"schemes": {"forge": {"list": []}}}]
        else:
            card.update(url=url, protocolVersion="0.3.0", preferredTransport="JSONRPC")
            card["securitySchemes"] = {"forge": {"type": "http", "scheme": "bearer"}}
            card["security"] = [{"forge": []}]
        return _json(200, card)

    async def rpc(self, request: Request) -> Response:
        server_id = request.path_params["server_id"]
        rid: Any = None
        try:
            principal = await self._principal(request, server_id)
            raw = await inputs.read_json(self.edge.config, request.scope, request.receive)
            try:
                body = _ANY.decode(raw)
            except msgspec.DecodeError:
                raise ParseError("the request body is not valid JSON") from None
            if not isinstance(body, dict):
                raise InvalidRequestError("a JSON-RPC request must be an object")
            rid = body.get("id")
            method, params = body.get("method"), body.get("params", {})
            if body.get("jsonrpc") != "2.0" or not isinstance(method, str):
                raise InvalidRequestError("not a JSON-RPC 2.0 request with a method")
            if not isinstance(params, dict):
                raise InvalidRequestError("params must be an object")
            answer = await self._answer(principal, server_id, method, params)
        except SkillError as exc:
            return _json(200, _rpc(rid, error={"code": exc.code, "message": exc.message}))
        except ForgeError as exc:
            status = exc.http_status if exc.http_status in (401, 403, 404, 413) else 200
            if isinstance(exc, PluginViolationError):
                status = 200  # a guardrail's refusal answers the request, as on /a2a/{agent}/
            error: dict[str, Any] = {"code": int(exc.code), "message": exc.message}
            if error["code"] in A2A_RANGE:  # Forge's meaning, not A2A's: as on /a2a/{agent}/
                error = {**error, "code": INTERNAL_ERROR, "data": {"forgeCode": error["code"]}}
            return _json(status, _rpc(rid, error=error), exc)
        if method in STREAMS:  # one event: the answer
            frame = b"data: " + _ENC.encode(_rpc(rid, answer)) + b"\n\n"
            return Response(frame, 200, media_type="text/event-stream")
        return _json(200, _rpc(rid, answer))

    async def _answer(
        self, principal: Principal, server_id: str, method: str, params: dict[str, Any]
    ) -> Any:
        version = SENDS.get(method) or STREAMS.get(method)
        if version is None:
            if method in TASK_METHODS:
                raise SkillError(TASK_NOT_FOUND, "a virtual server keeps no tasks")
            raise SkillError(METHOD_NOT_FOUND, f"method {method!r} not found")
        message = params.get("message")
        if isinstance(message, dict) and isinstance(message.get("parts"), list):
            params = {
                **params,
                "message": {**message, "parts": [_part_of(p) for p in message["parts"]]},
            }
        # The server first: one the caller cannot see is a 404 whatever the message says.
        known = {s["id"] for s in await self.skills(principal, server_id)}
        skill, arguments = wanted(params)
        if skill not in known:
            raise SkillError(
                INVALID_PARAMS,
                f"unknown skill {skill!r}: this server's skills are {sorted(known)}",
            )
        result = await self._router(
            principal, server_id, "tools/call", {"name": skill, "arguments": arguments}
        )
        context = (params.get("message") or {}).get("contextId") or uuid.uuid4().hex
        return answer_of(result, str(context), version)

    def routes(self) -> list[BaseRoute]:
        base = "/servers/{server_id}/a2a"
        return [
            Route(base + "/.well-known/agent-card.json", self.card, methods=["GET"]),
            Route(base + "/.well-known/agent.json", self.card, methods=["GET"]),
            Route(base, self.rpc, methods=["POST"]),
            Route(base + "/", self.rpc, methods=["POST"]),
        ]
