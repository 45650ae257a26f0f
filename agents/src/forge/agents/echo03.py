"""`python -m forge.agents.echo03`: an A2A 0.3 echo agent in plain JSON-RPC, with no SDK.

It stands in for agents written before A2A 1.0, so the bridge's 0.3 side is tested against a
peer that shares no code with a2a-sdk. JSON-RPC on `/`: `message/send`, `tasks/get`,
`tasks/cancel`; its card (protocolVersion 0.3.0) at `/.well-known/agent-card.json`. Answers
have the shapes of forge.agents.echo (`task`, `file`, `fail`, `ask` as the first word; anything
else a Message `[text, data]`). `POST /garbage` answers an HTML page: a peer that is not an
A2A agent at all, for tests of what Forge says then; with `--broken` the card names `/garbage`
as the agent's endpoint; with `--show-auth` the data part also holds the `Authorization` header
and the query string it got (a test aid: it shows what credentials reached it), and
`--refuse-first` answers the first request 401 (a credential refused once).
"""

from __future__ import annotations

import argparse
import base64
import uuid
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from forge.agents.serving import run

Json = dict[str, Any]
TASK_NOT_FOUND = -32001  # A2A 0.3's TaskNotFoundError
TERMINAL = {"completed", "failed", "canceled", "rejected"}


def card(base_url: str, endpoint: str | None = None) -> Json:
    return {
        "protocolVersion": "0.3.0",
        "name": "Forge echo agent (A2A 0.3)",
        "description": "Answers every message with the text and data it got; no SDK.",
        "url": endpoint or base_url,
        "preferredTransport": "JSONRPC",
        "version": "0.3.0",
        "capabilities": {"streaming": False},
        "defaultInputModes": ["text/plain", "application/json"],
        "defaultOutputModes": ["text/plain", "application/json"],
        "skills": [
            {"id": "echo", "name": "Echo", "description": "Echoes text and data.", "tags": ["echo"]}
        ],
    }


def _text_and_data(message: Json) -> tuple[str, Any]:
    texts, data = [], None
    for part in message.get("parts") or ():
        if not isinstance(part, dict):
            continue
        if part.get("kind") == "text" and isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif part.get("kind") == "data" and data is None:
            data = part.get("data")
    return "\n".join(texts), data


def _agent_message(text: str, context_id: str, task_id: str | None = None) -> Json:
    message = {
        "kind": "message",
        "messageId": uuid.uuid4().hex,
        "role": "agent",
        "parts": [{"kind": "text", "text": text}],
        "contextId": context_id,
    }
    if task_id is not None:
        message["taskId"] = task_id
    return message


class Echo03:
    """The agent's state: its tasks, kept in memory."""

    def __init__(self, show_auth: bool = False, refuse_first: bool = False) -> None:
        self.tasks: dict[str, Json] = {}
        self.show_auth = show_auth
        self.refusals = 1 if refuse_first else 0

    def send(self, params: Json, authorization: str | None = None, query: str = "") -> Json:
        message = params.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("parts"), list):
            raise RpcError(-32602, "params.message with parts is required")
        text, data = _text_and_data(message)
        task_id = message.get("taskId")
        task = self.tasks.get(task_id) if isinstance(task_id, str) else None
        if isinstance(task_id, str) and task is None:
            raise RpcError(TASK_NOT_FOUND, f"task {task_id} not found")
        context_id = str(message.get("contextId") or (task or {}).get("contextId") or uuid.uuid4())
        echoed = {"echo": text, "data": data, "context_id": context_id}
        if self.show_auth:
            echoed["authorization"] = authorization
            echoed["query"] = query
        word = text.split(" ", 1)[0]
        if task is None and word not in ("task", "file", "fail", "ask"):
            reply = _agent_message(text, context_id)
            reply["parts"].append({"kind": "data", "data": echoed})
            return reply
        if task is not None and task["status"]["state"] in TERMINAL:
            raise RpcError(-32004, f"task {task['id']} is {task['status']['state']}")
        if task is None:
            task = {"kind": "task", "id": uuid.uuid4().hex, "contextId": context_id, "history": []}
            self.tasks[task["id"]] = task
        task["history"].append({**message, "taskId": task["id"], "contextId": context_id})
        if word == "fail":
            failure = _agent_message(f"the echo agent was asked to fail: {text}", context_id)
            task["status"] = {"state": "failed", "message": failure}
        elif word == "ask" and task_id is None:
            question = _agent_message("what else should I echo?", context_id, task["id"])
            task["status"] = {"state": "input-required", "message": question}
        elif word == "file":
            raw = base64.b64encode(text.encode()).decode()
            file = {"bytes": raw, "mimeType": "text/plain", "name": "echo.txt"}
            task["artifacts"] = [
                {"artifactId": uuid.uuid4().hex, "parts": [{"kind": "file", "file": file}]}
            ]
            task["status"] = {"state": "completed"}
        else:
            parts = [{"kind": "text", "text": text}, {"kind": "data", "data": echoed}]
            task["artifacts"] = [{"artifactId": uuid.uuid4().hex, "name": "echo", "parts": parts}]
            task["status"] = {"state": "completed"}
        return task

    def get(self, params: Json) -> Json:
        task = self.tasks.get(str(params.get("id")))
        if task is None:
            raise RpcError(TASK_NOT_FOUND, "task not found")
        return task

    def cancel(self, params: Json) -> Json:
        task = self.get(params)
        if task["status"]["state"] in TERMINAL:
            raise RpcError(-32002, "task cannot be canceled")  # TaskNotCancelableError
        task["status"] = {"state": "canceled"}
        return task


class RpcError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def app(
    base_url: str, broken: bool = False, show_auth: bool = False, refuse_first: bool = False
) -> Starlette:
    agent = Echo03(show_auth, refuse_first)
    methods = {"message/send": agent.send, "tasks/get": agent.get, "tasks/cancel": agent.cancel}

    async def rpc(request: Request) -> Response:
        if agent.refusals > 0:
            agent.refusals -= 1
            return JSONResponse({"error": "unauthorized"}, status_code=401)
        try:
            body = await request.json()
        except ValueError:
            return _error(None, -32700, "invalid JSON")
        if not isinstance(body, dict) or body.get("jsonrpc") != "2.0":
            return _error(None, -32600, "not a JSON-RPC 2.0 request")
        rid = body.get("id")
        method = methods.get(str(body.get("method")))
        if method is None:
            return _error(rid, -32601, f"method {body.get('method')!r} not found")
        params = body.get("params")
        try:
            params = params if isinstance(params, dict) else {}
            if method == agent.send:
                result = agent.send(params, request.headers.get("authorization"), request.url.query)
            else:
                result = method(params)
        except RpcError as exc:
            return _error(rid, exc.code, exc.message)
        return JSONResponse({"jsonrpc": "2.0", "id": rid, "result": result})

    async def agent_card(request: Request) -> Response:
        return JSONResponse(card(base_url, f"{base_url}garbage" if broken else None))

    async def garbage(request: Request) -> Response:
        return HTMLResponse("<html><body>not an agent</body></html>")

    return Starlette(
        routes=[
            Route("/", rpc, methods=["POST"]),
            Route("/.well-known/agent-card.json", agent_card, methods=["GET"]),
            Route("/.well-known/agent.json", agent_card, methods=["GET"]),
            Route("/garbage", garbage, methods=["POST", "GET"]),
        ]
    )


def _error(rid: object, code: int, message: str) -> Response:
    error = {"code": code, "message": message}
    return JSONResponse({"jsonrpc": "2.0", "id": rid, "error": error})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broken", action="store_true", help="the card names /garbage")
    parser.add_argument(
        "--show-auth", action="store_true", help="echo the Authorization header and the query"
    )
    parser.add_argument("--refuse-first", action="store_true", help="answer the first POST 401")

    def make(url: str, args: argparse.Namespace) -> Starlette:
        return app(url, args.broken, args.show_auth, args.refuse_first)

    run(parser.description or "", 9103, make, parser)


if __name__ == "__main__":
    main()
