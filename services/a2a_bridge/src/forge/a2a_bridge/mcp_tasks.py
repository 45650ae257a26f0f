"""An agent's tool call as an MCP task (decision 0025): A2A tasks seen through the MCP tasks of
either era.

A client that asks for a task (a legacy `params.task`; a modern client that declared the
`io.modelcontextprotocol/tasks` extension) has its message sent without waiting (A2A 1.0
`configuration.returnImmediately`, 0.3 `blocking: false`) and gets a task handle at once; an
agent that answers a Message or a finished Task right away gets the usual CallToolResult. The
handle's id is the agent's task id (the router tags it with the agent and the caller); the
caller is recorded as the task's owner in `forge_a2a_tasks` as for Forge's A2A endpoint, and
every later request is checked against it. The bridge holds nothing else: `tasks/get` is A2A
`GetTask`, `tasks/cancel` `CancelTask`, `tasks/update` a message on the task, legacy
`tasks/list` `ListTasks` filtered to the caller's tasks.

States: submitted and working are `working`; input-required (and auth-required) is
`input_required` (modern: the question as one `inputRequests` elicitation, answered by
`tasks/update`; legacy: the question as `statusMessage`, and `tasks/result` answers it as the
tool's result, which names the task to continue with the `task_id` argument); completed is
`completed` (the CallToolResult inlined, modern, or by `tasks/result`, legacy); failed and
rejected are `failed` for a legacy client, and `completed` with an `isError` result for a
modern one (SEP-2663 keeps `failed` for JSON-RPC errors); canceled is `cancelled`.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import msgspec

from forge.a2a_bridge import asking, dial, results
from forge.a2a_bridge.credentials import Access
from forge.a2a_bridge.parts import INTERRUPTED, Answer, NotA2AError, read_result, read_task
from forge.a2a_bridge.tasks import TTL_S, Owners
from forge.a2a_bridge.wire import AgentClient, AgentRpcError, Outgoing, message_of
from forge.core import operations
from forge.core.errors import (
    DeadlineExceededError,
    InvalidParamsError,
    UpstreamBadResponseError,
)
from forge.proto.agents import Agent, AgentTaskParams
from forge.proto.envelope import Envelope

TERMINAL = frozenset({"completed", "failed", "rejected", "canceled"})
POLL_S = 0.25  # tasks/result asks the agent this often until the task ends
POLL_MS = 1000  # what a client is told to poll at
TTL_MS = int(TTL_S * 1000)  # as long as the owner record lives
LIST_SIZE = 100  # legacy tasks/list looks among the agent's latest this many (A2A's maximum)
_ENC = msgspec.json.Encoder()


def _status(state: str | None, era: str) -> str:
    if state in ("failed", "rejected"):
        return "failed" if era == "legacy" else "completed"
    if state == "canceled":
        return "cancelled"
    if state == "completed":
        return "completed"
    if state in INTERRUPTED:
        return "input_required"
    return "working"  # submitted, working, unknown


def _timestamp(task: Any) -> str:
    status = task.get("status") if isinstance(task, dict) else None
    stamp = status.get("timestamp") if isinstance(status, dict) else None
    if isinstance(stamp, str) and stamp:
        return stamp
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _raw_task(result: Any) -> dict[str, Any]:
    """The Task inside a SendMessage result (`{"task"}`) or a GetTask/CancelTask one (bare)."""
    if isinstance(result, dict) and isinstance(result.get("task"), dict):
        task: dict[str, Any] = result["task"]
        return task
    return result if isinstance(result, dict) else {}


def handle(agent_id: str, task: dict[str, Any], answer: Answer, era: str) -> dict[str, Any]:
    """The MCP Task of an A2A task: its id (the agent's; the router tags it), status, times.

    A2A keeps no creation time: both times are the task's last status change."""
    found: dict[str, Any] = {
        "taskId": answer.task_id,
        "status": _status(answer.state, era),
        "createdAt": _timestamp(task),
        "lastUpdatedAt": _timestamp(task),
    }
    said = " ".join(p.text for p in answer.status if p.kind == "text" and p.text)
    if said:
        found["statusMessage"] = said
    if era == "legacy":
        found["ttl"], found["pollInterval"] = TTL_MS, POLL_MS
    else:
        found["ttlMs"], found["pollIntervalMs"] = TTL_MS, POLL_MS
    return found


def detailed(agent: Agent, task: dict[str, Any], answer: Answer, era: str) -> dict[str, Any]:
    """tasks/get's answer: a legacy Task; a modern DetailedTask, its result or question inlined."""
    found = handle(agent.id, task, answer, era)
    if era == "legacy":
        return found
    found = {"resultType": "complete", **found}
    if found["status"] == "completed":
        found["result"] = results.call_result(agent.id, agent.slug, answer)
    elif found["status"] == "input_required":
        params = {"message": asking.question(answer), "requestedSchema": asking.SCHEMA}
        found["inputRequests"] = {asking.KEY: {"method": "elicitation/create", "params": params}}
    return found


class Follower:
    """Creates an agent's task for an MCP client and follows it (GetTask, CancelTask)."""

    def __init__(self, client: AgentClient, owners: Owners) -> None:
        self.client = client
        self.owners = owners

    async def create(
        self,
        envelope: Envelope,
        agent: Agent,
        access: Access,
        sent: Outgoing,
        era: str,
        deadline: float,
    ) -> dict[str, Any]:
        """Send the message without waiting for the task to end: a task handle (legacy
        CreateTaskResult, modern `resultType: task`), or the CallToolResult when the agent
        answered a Message or a finished task at once."""
        try:
            result = await self._send(agent, access, sent, deadline)
        except AgentRpcError as exc:
            return results.error_result(agent.id, exc.code, exc.message)
        answer = _read(agent, result)
        if answer.kind == "message" or answer.task_id is None or answer.state in TERMINAL:
            return results.call_result(agent.id, agent.slug, answer)
        await self.owners.claim(agent.id, answer.task_id, envelope.principal.subject)
        task = handle(agent.id, _raw_task(result), answer, era)
        # The agent's words reach the client by tasks/get, through the router's post hooks
        # (router.agent_tasks); a handle says only that the task runs.
        task.pop("statusMessage", None)
        return {"task": task} if era == "legacy" else {"resultType": "task", **task}

    async def follow(
        self, envelope: Envelope, agent: Agent, access: Access, deadline: float
    ) -> dict[str, Any]:
        """tasks/get, tasks/result, tasks/cancel or tasks/update of a task this caller owns; a
        legacy tasks/list of the caller's tasks of this agent."""
        params = operations.decode(AgentTaskParams, envelope.params)
        if params.method == "tasks/list":
            return {"tasks": await self._mine(envelope, agent, access, deadline)}
        if not await self.owners.owns(agent.id, params.task_id, envelope.principal.subject):
            raise InvalidParamsError(f"unknown task {params.handle!r}", {"taskId": params.handle})
        era = params.era
        if params.method == "tasks/cancel":
            task, answer = await self._ask(agent, access, "CancelTask", params, deadline)
            if era == "legacy":
                return handle(agent.id, task, answer, era)
            return {"resultType": "complete"}
        task, answer = await self._ask(agent, access, "GetTask", params, deadline)
        if params.method == "tasks/get":
            return detailed(agent, task, answer, era)
        if params.method == "tasks/result":
            while answer.state not in TERMINAL and answer.state not in INTERRUPTED:
                if time.time() + POLL_S >= deadline:
                    raise DeadlineExceededError(f"task {params.handle!r} is still working")
                await asyncio.sleep(POLL_S)
                task, answer = await self._ask(agent, access, "GetTask", params, deadline)
            return results.call_result(agent.id, agent.slug, answer)
        if params.method == "tasks/update":
            text = asking.accepted(params.input_responses)
            if text is not None and answer.state in INTERRUPTED:
                sent = Outgoing(text, None, answer.context_id, answer.task_id)
                try:
                    await self._send(agent, access, sent, deadline)
                except AgentRpcError as exc:
                    refused = f"the agent refused the answer: {exc.message}"
                    raise InvalidParamsError(refused) from None
            return {"resultType": "complete"}
        raise InvalidParamsError(f"{params.method} is not a tasks request")

    async def _mine(
        self, envelope: Envelope, agent: Agent, access: Access, deadline: float
    ) -> list[dict[str, Any]]:
        """Legacy tasks/list: the caller's tasks among the agent's latest `LIST_SIZE` (A2A
        ListTasks lists everyone's: Forge reaches the agent with one set of credentials). An
        agent without ListTasks (A2A 0.3 has none) lists nothing."""
        try:
            result = await dial.request(
                self.client, agent, access, "ListTasks", {"pageSize": LIST_SIZE}, deadline
            )
        except AgentRpcError:
            return []
        listed = result.get("tasks") if isinstance(result, dict) else None
        subject = envelope.principal.subject
        mine = []
        for task in listed if isinstance(listed, list) else ():
            if not isinstance(task, dict) or not isinstance(task.get("id"), str):
                continue
            if not await self.owners.owns(agent.id, task["id"], subject):
                continue
            try:
                mine.append(handle(agent.id, task, read_task(task), "legacy"))
            except NotA2AError:
                continue
        return mine

    async def _send(self, agent: Agent, access: Access, sent: Outgoing, deadline: float) -> Any:
        """SendMessage without waiting for the task to end (dial takes 1.0's form and turns it
        into 0.3's `blocking: false` for a 0.3 agent)."""
        message = message_of(msgspec.structs.replace(agent, protocol_version="1.0"), sent)
        params = {"message": message, "configuration": {"returnImmediately": True}}
        return await dial.request(self.client, agent, access, "SendMessage", params, deadline)

    async def _ask(
        self, agent: Agent, access: Access, method: str, params: AgentTaskParams, deadline: float
    ) -> tuple[dict[str, Any], Answer]:
        try:
            result = await dial.request(
                self.client, agent, access, method, {"id": params.task_id}, deadline
            )
        except AgentRpcError as exc:
            # The agent no longer knows the task (expired, restarted), or cannot cancel it.
            if method == "GetTask":
                raise InvalidParamsError(
                    f"unknown task {params.handle!r}", {"taskId": params.handle}
                ) from None
            raise InvalidParamsError(f"the agent refused {method}: {exc.message}") from None
        task = _raw_task(result)
        try:
            return task, read_task(task)
        except NotA2AError as exc:
            raise UpstreamBadResponseError(
                f"agent {agent.name!r} did not answer {method} with a Task: {exc}"
            ) from None


def _read(agent: Agent, result: Any) -> Answer:
    try:
        return read_result(result)
    except NotA2AError as exc:
        raise UpstreamBadResponseError(
            f"agent {agent.name!r} did not answer as an A2A agent: {exc}"
        ) from None
