"""Forge's A2A task ids: tagged with the agent, bound to the user who started the task.

A task an agent creates through Forge's A2A endpoint is known to the client as
`<agent_id>:<the agent's task id>` (decision 0022): any bridge replica serves `GetTask`,
`CancelTask`, `SubscribeToTask` on it, since the task lives in the agent and the id says which.
Forge reaches every agent with one set of credentials, so the agent cannot tell Forge's users
apart: the bridge records who started each task in JetStream KV (bucket `forge_a2a_tasks`, key
`<agent_id>.<sha256 of the agent's task id>`, value the user's subject, kept 7 days) and
answers a task id of another user as A2A's TaskNotFoundError, as one that does not exist.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from typing import Any

from forge.core.bus import Bus
from forge.core.errors import A2aCode

BUCKET = "forge_a2a_tasks"
TTL_S = 7 * 24 * 3600.0
SEPARATOR = ":"
TASK_NOT_FOUND = A2aCode.TASK_NOT_FOUND  # both versions
_REMEMBERED = 4096  # claims this replica has checked, kept to skip the KV round trip


class TaskNotFoundError(Exception):
    """A2A -32001: a task id that is not this agent's, not this user's, or not there."""

    def __init__(self, task_id: object) -> None:
        super().__init__(f"task {task_id!r} not found")
        self.message = f"task {task_id!r} not found"


def tag(agent_id: str, upstream: str) -> str:
    return f"{agent_id}{SEPARATOR}{upstream}"


def untag(agent_id: str, task_id: object) -> str:
    """The agent's own task id inside Forge's; TaskNotFoundError when it is not this agent's."""
    prefix = agent_id + SEPARATOR
    if not isinstance(task_id, str) or not task_id.startswith(prefix) or task_id == prefix:
        raise TaskNotFoundError(task_id)
    return task_id[len(prefix) :]


def _key(agent_id: str, upstream: str) -> str:
    return f"{agent_id}.{hashlib.sha256(upstream.encode()).hexdigest()}"


class Owners:
    """Who started which task (JetStream KV), with a small cache of checked claims."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.known: OrderedDict[str, str] = OrderedDict()

    def _remember(self, key: str, owner: str) -> None:
        self.known[key] = owner
        self.known.move_to_end(key)
        while len(self.known) > _REMEMBERED:
            self.known.popitem(last=False)

    async def claim(self, agent_id: str, upstream: str, subject: str) -> bool:
        """Record `subject` as the task's owner unless someone is already; whether it is theirs."""
        key = _key(agent_id, upstream)
        if self.known.get(key) == subject:
            return True
        if await self.bus.kv_create(BUCKET, key, subject.encode(), ttl_s=TTL_S):
            self._remember(key, subject)
            return True
        return await self.owns(agent_id, upstream, subject)

    async def owns(self, agent_id: str, upstream: str, subject: str) -> bool:
        key = _key(agent_id, upstream)
        if self.known.get(key) == subject:
            return True
        held = await self.bus.kv_get(BUCKET, key)
        if held is None:
            return False
        self._remember(key, held.decode())
        return held.decode() == subject


# -- ids inside 1.0-form payloads


def task_ids(result: Any) -> list[str]:
    """The agent's task ids an answer (1.0 form) names: a task's, an update's, a message's."""
    found: list[str] = []
    if not isinstance(result, dict):
        return found
    for key in ("task", "message", "statusUpdate", "artifactUpdate"):
        inner = result.get(key)
        if isinstance(inner, dict):
            value = inner.get("id") if key == "task" else inner.get("taskId")
            if isinstance(value, str):
                found.append(value)
    if "status" in result and isinstance(result.get("id"), str):  # a bare Task
        found.append(result["id"])
    return found


def _retag(holder: Any, key: str, agent_id: str) -> None:
    if isinstance(holder, dict) and isinstance(holder.get(key), str):
        holder[key] = tag(agent_id, holder[key])


def _tag_message(message: Any, agent_id: str) -> None:
    _retag(message, "taskId", agent_id)
    if isinstance(message, dict) and isinstance(message.get("referenceTaskIds"), list):
        message["referenceTaskIds"] = [
            tag(agent_id, t) if isinstance(t, str) else t for t in message["referenceTaskIds"]
        ]


def tag_task(task: Any, agent_id: str) -> Any:
    if not isinstance(task, dict):
        return task
    _retag(task, "id", agent_id)
    status = task.get("status")
    if isinstance(status, dict):
        _tag_message(status.get("message"), agent_id)
    for message in task.get("history") or ():
        _tag_message(message, agent_id)
    return task


def tag_result(result: Any, agent_id: str) -> Any:
    """A 1.0-form answer with every task id the agent gave turned into Forge's (in place)."""
    if not isinstance(result, dict):
        return result
    if "status" in result and "id" in result:
        return tag_task(result, agent_id)
    tag_task(result.get("task"), agent_id)
    _tag_message(result.get("message"), agent_id)
    for key in ("statusUpdate", "artifactUpdate"):
        update = result.get(key)
        _retag(update, "taskId", agent_id)
        if isinstance(update, dict) and isinstance(update.get("status"), dict):
            _tag_message(update["status"].get("message"), agent_id)
    for task in result.get("tasks") or ():
        tag_task(task, agent_id)
    return result
