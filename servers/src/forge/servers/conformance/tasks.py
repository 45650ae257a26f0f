"""The tasks extension (`io.modelcontextprotocol/tasks`, SEP-2663) and the tools the tasks-*
scenarios call: `greet` (sync only), `slow_compute`, `failing_job`, `protocol_error_job`,
`confirm_delete`, `multi_input` and `test_tool_with_task` (task-supporting).

A client that declared the extension (at initialize, or per request in
`_meta.io.modelcontextprotocol/clientCapabilities`) gets a `CreateTaskResult` from a
task-supporting tool and follows the task with `tasks/get`, `tasks/update` and `tasks/cancel`;
any other client gets the tool's result synchronously, or -32021 from a tool that needs a task.
Tasks live in this process's memory for their `ttlMs`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding, ToolBinding
from mcp.shared.exceptions import MCPError
from mcp.types import CallToolRequestParams, RequestParams
from mcp_types import INVALID_PARAMS, MISSING_REQUIRED_CLIENT_CAPABILITY
from pydantic import BaseModel, Field
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

EXTENSION = "io.modelcontextprotocol/tasks"
CLIENT_CAPABILITIES = "io.modelcontextprotocol/clientCapabilities"
TTL_MS = 300_000  # how long a task stays readable after it was created
POLL_MS = 200
HEADER_MISMATCH = -32020
TERMINAL = frozenset({"completed", "failed", "cancelled"})
Status = Literal["working", "input_required", "completed", "failed", "cancelled"]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _text(text: str, is_error: bool = False) -> dict[str, Any]:
    return {"content": [{"type": "text", "text": text}], "isError": is_error}


def _elicit(message: str, field_name: str, kind: str = "string") -> dict[str, Any]:
    schema = {"type": "object", "properties": {field_name: {"type": kind}}}
    params = {"message": message, "requestedSchema": schema}
    return {"method": "elicitation/create", "params": params}


class ProtocolFailure(Exception):
    """A job's protocol-level failure: the task ends `failed` with this JSON-RPC error."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass
class Task:
    """One task: its status, what it waits for, and how it ended."""

    id: str
    created: str = field(default_factory=_now)
    updated: str = field(default_factory=_now)
    expires: float = field(default_factory=lambda: time.monotonic() + TTL_MS / 1000)
    status: Status = "working"
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    runner: asyncio.Task[None] | None = None

    def move(self, status: Status) -> None:
        self.status = status
        self.updated = _now()

    async def ask(self, requests: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """Park the task in input_required until every request is answered (tasks/update)."""
        self.pending = dict(requests)
        self.move("input_required")
        while self.pending:
            self.changed.clear()
            await self.changed.wait()
        self.move("working")
        return {key: self.answers.pop(key) for key in requests}

    def handle(self) -> dict[str, Any]:
        """The fields of the Task every task answer carries."""
        return {
            "taskId": self.id,
            "status": self.status,
            "createdAt": self.created,
            "lastUpdatedAt": self.updated,
            "ttlMs": TTL_MS,
            "pollIntervalMs": POLL_MS,
        }

    def detailed(self) -> dict[str, Any]:
        """tasks/get's DetailedTask: the result, error or input requests inlined."""
        wire = {"resultType": "complete", **self.handle()}
        if self.status == "completed" and self.result is not None:
            wire["result"] = self.result
        elif self.status == "failed" and self.error is not None:
            wire["error"] = self.error
        elif self.status == "input_required":
            wire["inputRequests"] = self.pending
        return wire


Job = Callable[[Task, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _slow_compute(task: Task, arguments: dict[str, Any]) -> dict[str, Any]:
    seconds = float(arguments.get("seconds", 1))
    await asyncio.sleep(seconds)
    return _text(f"Computed {arguments.get('label', 'result')} after {seconds:g}s")


async def _failing_job(task: Task, arguments: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(1)
    return _text("The job failed", is_error=True)


async def _protocol_error_job(task: Task, arguments: dict[str, Any]) -> dict[str, Any]:
    await asyncio.sleep(0.1)
    raise ProtocolFailure(-32603, "The job crashed")


def _accepted(answer: Any) -> dict[str, Any] | None:
    if isinstance(answer, BaseModel):
        answer = answer.model_dump(by_alias=True, mode="json")
    if isinstance(answer, dict) and answer.get("action") == "accept":
        content = answer.get("content")
        return content if isinstance(content, dict) else {}
    return None


async def _confirm_delete(task: Task, arguments: dict[str, Any]) -> dict[str, Any]:
    filename = arguments.get("filename", "the file")
    request = _elicit(f"Delete {filename}?", "confirm", "boolean")
    answers = await task.ask({"confirm": request})
    content = _accepted(answers["confirm"])
    if content is not None and content.get("confirm") is not False:
        return _text(f"Deleted {filename}")
    return _text(f"Kept {filename}")


async def _multi_input(task: Task, arguments: dict[str, Any]) -> dict[str, Any]:
    answers = await task.ask(
        {
            "name": _elicit("What is your name?", "name"),
            "confirm": _elicit("Shall I go on?", "confirm", "boolean"),
        }
    )
    name = (_accepted(answers["name"]) or {}).get("name")
    return _text(f"Received both inputs (name={name})")


def _greeting(name: str) -> Job:
    async def job(task: Task, arguments: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(0.1)
        return _text(f"Hello, {name}! (from a task)")

    return job


@dataclass(frozen=True)
class TaskTool:
    """A task-supporting tool: its job, and whether it can run without a task."""

    job: Job
    required: bool


TASK_TOOLS: dict[str, TaskTool] = {
    "slow_compute": TaskTool(_slow_compute, required=False),
    "protocol_error_job": TaskTool(_protocol_error_job, required=False),
    "failing_job": TaskTool(_failing_job, required=True),
    "confirm_delete": TaskTool(_confirm_delete, required=True),
    "multi_input": TaskTool(_multi_input, required=True),
    "test_tool_with_task": TaskTool(_slow_compute, required=True),  # MRTR first: see below
}


class TaskParams(RequestParams):
    task_id: str = Field(alias="taskId")


class UpdateParams(TaskParams):
    input_responses: dict[str, Any] = Field(default_factory=dict, alias="inputResponses")


def _declared(ctx: ServerRequestContext[Any, Any], meta: Any = None) -> bool:
    """Whether the client declared the extension: for the session, or on this request."""
    capabilities = ctx.session.client_capabilities
    if capabilities is not None and EXTENSION in (capabilities.extensions or {}):
        return True
    per_request = (meta or {}).get(CLIENT_CAPABILITIES) if isinstance(meta, dict) else None
    return isinstance(per_request, dict) and EXTENSION in (per_request.get("extensions") or {})


def _missing_capability() -> MCPError:
    return MCPError(
        code=MISSING_REQUIRED_CLIENT_CAPABILITY,
        message=f"This needs the {EXTENSION} extension, which the client did not declare",
        data={"requiredCapabilities": {"extensions": {EXTENSION: {}}}},
    )


class TasksExtension(Extension):
    """Tasks in memory, run by asyncio; the tools above create them."""

    identifier = EXTENSION

    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}

    def tools(self) -> Sequence[ToolBinding]:
        return [ToolBinding(fn) for fn in FIXTURES]

    def methods(self) -> Sequence[MethodBinding]:
        return [
            MethodBinding("tasks/get", TaskParams, self._get),
            MethodBinding("tasks/update", UpdateParams, self._update),
            MethodBinding("tasks/cancel", TaskParams, self._cancel),
        ]

    def _find(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> Task:
        if not _declared(ctx, params.meta):
            raise _missing_capability()
        now = time.monotonic()
        for stale in [t for t in self._tasks.values() if t.expires < now]:
            del self._tasks[stale.id]
        task = self._tasks.get(params.task_id)
        if task is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown task {params.task_id!r}")
        return task

    async def _get(self, ctx: ServerRequestContext[Any, Any], params: TaskParams) -> HandlerResult:
        return self._find(ctx, params).detailed()

    async def _update(
        self, ctx: ServerRequestContext[Any, Any], params: UpdateParams
    ) -> HandlerResult:
        task = self._find(ctx, params)
        for key, answer in params.input_responses.items():
            if key in task.pending:  # an answer to nothing asked is ignored
                del task.pending[key]
                task.answers[key] = answer
        task.changed.set()
        return {"resultType": "complete"}

    async def _cancel(
        self, ctx: ServerRequestContext[Any, Any], params: TaskParams
    ) -> HandlerResult:
        task = self._find(ctx, params)
        if task.status not in TERMINAL and task.runner is not None:
            task.runner.cancel()
            task.move("cancelled")
        return {"resultType": "complete"}

    def _start(self, job: Job, arguments: dict[str, Any]) -> Task:
        task = Task(id=uuid.uuid4().hex)
        self._tasks[task.id] = task  # readable before the CreateTaskResult leaves (durable)
        task.runner = asyncio.create_task(self._run(task, job, arguments))
        return task

    async def _run(self, task: Task, job: Job, arguments: dict[str, Any]) -> None:
        try:
            task.result = await job(task, arguments)
            task.move("completed")
        except asyncio.CancelledError:
            task.move("cancelled")
        except ProtocolFailure as exc:
            task.error = {"code": exc.code, "message": str(exc)}
            task.move("failed")
        except Exception as exc:  # a crash is the task's protocol error, not the server's
            task.error = {"code": -32603, "message": f"Internal error: {exc}"}
            task.move("failed")

    async def intercept_tool_call(
        self,
        params: CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        tool = TASK_TOOLS.get(params.name)
        if tool is None:
            return await call_next(ctx)
        declared = _declared(ctx, params.meta)
        if not declared and tool.required:
            raise _missing_capability()
        arguments = dict(params.arguments or {})
        job = tool.job
        if params.name == "test_tool_with_task":
            # MRTR first (SEP-2322): ask for a name, then hand the work to a task.
            answer = _accepted((params.input_responses or {}).get("user_name"))
            if answer is None or not isinstance(answer.get("name"), str):
                return {
                    "resultType": "input_required",
                    "inputRequests": {"user_name": _elicit("What is your name?", "name")},
                }
            job = _greeting(answer["name"])
        if not declared:
            return await call_next(ctx)  # a task-supporting tool, run synchronously
        return {"resultType": "task", **self._start(job, arguments).handle()}


# The tools as tools/list shows them. A declaring client's call never reaches these bodies
# (the extension runs the job as a task); anyone else's does.


def greet(name: str) -> str:
    """Says hello (sync only)."""
    return f"Hello, {name}!"


async def slow_compute(seconds: float = 1, label: str = "result") -> str:
    """Sleeps `seconds`, then answers (task-supporting)."""
    await asyncio.sleep(seconds)
    return f"Computed {label} after {seconds:g}s"


async def protocol_error_job() -> str:
    """Fails with a protocol error (task-supporting)."""
    raise MCPError(code=-32603, message="The job crashed")


def failing_job() -> str:
    """Reports a tool error after about a second (needs a task)."""
    raise RuntimeError("The job failed")


def confirm_delete(filename: str) -> str:
    """Asks to confirm, then deletes (needs a task)."""
    raise RuntimeError("confirm_delete runs as a task only")


def multi_input() -> str:
    """Asks two questions at once (needs a task)."""
    raise RuntimeError("multi_input runs as a task only")


def test_tool_with_task() -> str:
    """Asks for a name (input_required), then greets from a task (needs a task)."""
    raise RuntimeError("test_tool_with_task runs as a task only")


FIXTURES: list[Callable[..., Any]] = [
    greet,
    slow_compute,
    protocol_error_job,
    failing_job,
    confirm_delete,
    multi_input,
    test_tool_with_task,
]


# --- Mcp-Name on tasks/* (SEP-2663 §Routing Headers): the SDK checks it for tools, prompts
# and resources only ---

TASK_METHODS = frozenset({"tasks/get", "tasks/update", "tasks/cancel"})


def _name_mismatch(body: bytes, header: str) -> dict[str, Any] | None:
    """The -32020 error for a tasks/* request whose Mcp-Name is not its taskId, else None."""
    try:
        message = json.loads(body)
    except ValueError:
        return None
    if not isinstance(message, dict) or message.get("method") not in TASK_METHODS:
        return None
    params = message.get("params")
    task_id = params.get("taskId") if isinstance(params, dict) else None
    if not isinstance(task_id, str) or header.strip() == task_id:
        return None
    error = {"code": HEADER_MISMATCH, "message": "Mcp-Name header does not match params.taskId"}
    return {"jsonrpc": "2.0", "id": message.get("id"), "error": error}


def check_task_names(app: ASGIApp) -> ASGIApp:
    """`app`, refusing (400, -32020) a tasks/* request whose Mcp-Name header is not its taskId."""

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await app(scope, receive, send)
        header = next((v for k, v in scope["headers"] if k == b"mcp-name"), None)
        if header is None:
            return await app(scope, receive, send)
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        refusal = _name_mismatch(body, header.decode("latin-1"))
        if refusal is not None:
            return await JSONResponse(refusal, status_code=400)(scope, receive, send)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await app(scope, replay, send)

    return checked
