"""Forge as an A2A server: the edge's `/a2a/{agent}/` requests, served on
`forge.a2a.<agent>.<op>` (`card`, `send`, `stream`, `task`, `invoke`).

Each request names the agent (id, slug or name) as the path did; an agent the caller cannot
see is NotFoundError (404), as one that does not exist. Then the permission on the agent's
team (`a2a.read` for the card and reading tasks, `a2a.invoke` for the rest), the request in
1.0's form (a 0.3 client's read up, versions.py), Forge's task ids turned back into the
agent's (tasks.py: another user's is TaskNotFound), the agent hooks around sends, the request
to the agent (dial.py), and the answer in the client's version with Forge's task ids. A
streamed answer's events go to `forge.stream.<request id>` one by one as they arrive.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec

from forge.a2a_bridge import cards, dial, push, tasks, versions
from forge.a2a_bridge.agents import Agents
from forge.a2a_bridge.credentials import Credentials
from forge.a2a_bridge.hooks import AgentHooks, AgentMetrics, answer_message
from forge.a2a_bridge.inflight import Calls
from forge.a2a_bridge.wire import AgentClient, AgentRpcError
from forge.core import operations, rpc, subjects
from forge.core.bus import SUBJECT, Bus
from forge.core.errors import (
    INTERNAL_ERROR,
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    A2aCode,
    ForbiddenError,
    NotFoundError,
    PluginViolationError,
    UpstreamUnavailableError,
)
from forge.proto import access
from forge.proto.agents import A2aReply, A2aRequestParams, Agent
from forge.proto.envelope import Envelope, Principal

OPS = ("card", "send", "stream", "task", "invoke")
READ = "a2a.read"
INVOKE = "a2a.invoke"
_READS = frozenset(
    {
        "GetTask",
        "ListTasks",
        "GetTaskPushNotificationConfig",
        "ListTaskPushNotificationConfigs",
        "GetExtendedAgentCard",
    }
)
# Which op carries which methods (the edge picks the op from the method; checked again here).
_OP_OF = {"SendMessage": "send", "SendStreamingMessage": "stream", "SubscribeToTask": "stream"}
# The answers carrying what the agent said, which agent_post_invoke sees (a task read back
# holds the history and artifacts a send's post hook saw): streamed events too (_stream).
_ANSWERS = frozenset({"SendMessage", "GetTask", "CancelTask", "ListTasks"})
REPLY_MARGIN_S = 0.1
METRICS_FLUSH_S = 5.0
_ENC = msgspec.json.Encoder()


class A2aError(Exception):
    """An A2A error answered as it is: `{code, message}` in the reply."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def op_of(method: str) -> str:
    return _OP_OF.get(method, "task")


@dataclass
class Request:
    """One request, decoded and checked: the agent, the 1.0 method, the client's version, the
    params in 1.0 form with the agent's task ids."""

    envelope: Envelope
    agent: Agent
    method: str
    version: str
    params: dict[str, Any]
    base_url: str = ""

    def answer(self, result: Any) -> Any:
        """A 1.0-form result as the client reads it: Forge's task ids, its version."""
        result = tasks.tag_result(result, self.agent.id)
        return versions.result_down(self.method, result) if self.version == "0.3" else result


class A2aServer:
    """The A2A endpoint's ops on one bridge replica."""

    def __init__(
        self,
        bus: Bus,
        agents: Agents,
        credentials: Credentials,
        client: AgentClient,
        calls: Calls,
    ) -> None:
        self.bus = bus
        self.agents = agents
        self.credentials = credentials
        self.client = client
        self.calls = calls
        self.owners = tasks.Owners(bus)
        self.hooks = AgentHooks(bus)
        self.metrics = AgentMetrics()
        self.push = push.Pushes(bus, client, agents, credentials, self.hooks)
        self._flusher: asyncio.Task[None] | None = None

    async def start(self, queue: str) -> None:
        await self.hooks.start()
        for op in OPS:
            await rpc.serve_envelopes(self.bus, subjects.a2a_any(op), self._serve, queue=queue)
        await self.push.start()  # carries on the watches other replicas left
        self._flusher = asyncio.create_task(self._flush())

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
        await self.push.close()
        await self.metrics.flush(self.bus)
        await self.hooks.close()

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(METRICS_FLUSH_S)
            await self.metrics.flush(self.bus)

    # -- the agent, the caller

    def resolve(self, name: str, principal: Principal) -> Agent:
        """The agent the path names, if the caller may see it (else 404, as if absent)."""
        agent = self.agents.get(name)
        if agent is None:
            found = [a for a in self.agents.by_id.values() if name in (a.slug, a.name)]
            agent = found[0] if found else None
        if (
            agent is None
            or principal.server_scope is not None
            or not access.can_see(principal, agent.owner, agent.team_id, agent.visibility)
        ):
            raise NotFoundError(f"agent {name!r} not found")
        return agent

    @staticmethod
    def check(principal: Principal, agent: Agent, permission: str) -> None:
        if not access.permits(principal, permission, agent.team_id):
            raise ForbiddenError(
                f"permission denied: this needs '{permission}' on the agent's team",
                {"permission": permission},
            )

    # -- serving

    async def _serve(self, envelope: Envelope) -> bytes:
        op = SUBJECT.get().rsplit(".", 1)[-1]
        p = operations.decode(A2aRequestParams, envelope.params)
        agent = self.resolve(p.agent, envelope.principal)
        if op == "card":
            self.check(envelope.principal, agent, READ)
            version = "1.0" if p.params.get("version") == "1.0" else "0.3"
            return _ENC.encode(A2aReply(result=cards.card_of(agent, p.base_url, version)))
        started, ok = time.perf_counter(), False
        try:
            reply = await self._request(envelope, op, p, agent)
            ok = reply.error is None
            return _ENC.encode(reply)
        finally:
            if op in ("send", "stream", "invoke"):
                self.metrics.record(agent.id, started, ok, envelope.id)

    async def _request(
        self, envelope: Envelope, op: str, p: A2aRequestParams, agent: Agent
    ) -> A2aReply:
        if op == "invoke":
            try:
                p = _invoke_params(p)
            except A2aError as exc:
                return _error(exc.code, exc.message)
        known = versions.canonical(p.method)
        if known is None:
            return _error(METHOD_NOT_FOUND, f"method {p.method!r} not found")
        method, version = known
        if op_of(method) != ("send" if op == "invoke" else op):
            return _error(INVALID_PARAMS, f"{p.method} is not served on the {op} op")
        self.check(envelope.principal, agent, READ if method in _READS else INVOKE)
        if not agent.enabled:
            raise UpstreamUnavailableError(f"agent {agent.name!r} is disabled")
        params = versions.request_up(method, p.params) if version == "0.3" else dict(p.params)
        request = Request(envelope, agent, method, version, params, p.base_url)
        try:
            await self._untag(request)
            if op == "stream":
                return A2aReply(events=await self._stream(request))
            result = await self._once(request)
        except tasks.TaskNotFoundError as exc:
            return _error(tasks.TASK_NOT_FOUND, exc.message)
        except (A2aError, push.PushError) as exc:
            return _error(exc.code, exc.message)
        except AgentRpcError as exc:
            return _error(code_of(exc.code, method), exc.message)
        return A2aReply(result=request.answer(result))

    async def _untag(self, r: Request) -> None:
        """Forge's task ids in the params turned into the agent's, each checked as the caller's."""
        subject = r.envelope.principal.subject
        agent_id = r.agent.id

        async def own(task_id: object) -> str:
            upstream = tasks.untag(agent_id, task_id)
            if not await self.owners.owns(agent_id, upstream, subject):
                raise tasks.TaskNotFoundError(task_id)
            return upstream

        if r.method in ("SendMessage", "SendStreamingMessage"):
            message = r.params.get("message")
            if not isinstance(message, dict):
                raise A2aError(INVALID_PARAMS, f"{r.method} needs params.message, an object")
            message = dict(message)
            if message.get("taskId") is not None:
                message["taskId"] = await own(message["taskId"])
            refs = message.get("referenceTaskIds")
            if isinstance(refs, list):
                message["referenceTaskIds"] = [await own(t) for t in refs]
            r.params["message"] = message
        elif r.method in ("GetTask", "CancelTask", "SubscribeToTask"):
            r.params["id"] = await own(r.params.get("id"))
        elif "PushNotificationConfig" in r.method:
            r.params["taskId"] = await own(r.params.get("taskId"))

    async def _claim(self, r: Request, result: Any) -> None:
        for upstream in tasks.task_ids(result):
            if not await self.owners.claim(r.agent.id, upstream, r.envelope.principal.subject):
                raise tasks.TaskNotFoundError(tasks.tag(r.agent.id, upstream))

    def _deadline(self, r: Request) -> float:
        deadline = r.envelope.deadline - REPLY_MARGIN_S
        if r.agent.timeout_s is not None and r.method != "SubscribeToTask":
            deadline = min(deadline, time.time() + r.agent.timeout_s)
        return deadline

    async def _once(self, r: Request) -> Any:
        if "PushNotificationConfig" in r.method:
            return await self.push.handle(
                r.agent, r.method, r.params, r.version, r.envelope.principal
            )
        if r.method == "GetExtendedAgentCard":
            return cards.card_of(r.agent, r.base_url, r.version)
        if r.method == "SendMessage":
            answered = await self._pre(r)
            if answered is not None:  # a plugin answered in the agent's place
                return await self.hooks.post_answer(r.envelope, r.agent, r.params, answered)
        access_ = self.credentials.access(r.agent)
        result = await self.calls.race(
            r.envelope.id,
            dial.request(self.client, r.agent, access_, r.method, r.params, self._deadline(r)),
        )
        if r.method == "ListTasks":
            result = await self._mine(r, result)
        else:
            await self._claim(r, result)
        if r.method in _ANSWERS:
            result = await self.hooks.post_answer(r.envelope, r.agent, r.params, result)
        return result

    async def _pre(self, r: Request) -> Any:
        """agent_pre_invoke on a send: r.params as the plugins left them, and a plugin's
        answer in the agent's place as SendMessage's result (a Message), or None."""
        r.params, answered = await self.hooks.pre_answer(r.envelope, r.agent, r.params)
        if answered is None:
            return None
        self.metrics.pre_answered(r.envelope.id)  # not a call of the agent
        message = r.params.get("message")
        context_id = message.get("contextId") if isinstance(message, dict) else None
        return {"message": answer_message(answered, context_id)}

    async def _mine(self, r: Request, result: Any) -> Any:
        """ListTasks: only the caller's tasks of the agent's answer."""
        if not isinstance(result, dict) or not isinstance(result.get("tasks"), list):
            return result
        subject = r.envelope.principal.subject
        mine = [
            t
            for t in result["tasks"]
            if isinstance(t, dict)
            and isinstance(t.get("id"), str)
            and await self.owners.owns(r.agent.id, t["id"], subject)
        ]
        return {**result, "tasks": mine, "totalSize": len(mine)}

    async def _stream(self, r: Request) -> int:
        where = subjects.stream(r.envelope.id)
        count = 0

        async def relay(event: Any) -> None:
            nonlocal count
            await self._claim(r, event)
            # Every event passes the post hook before it leaves: a redaction is what is sent,
            # a block ends the stream here (below), nothing of the blocked event sent.
            event = await self.hooks.post_answer(r.envelope, r.agent, r.params, event)
            count += 1
            await self.bus.publish(where, _ENC.encode(A2aReply(result=r.answer(event))))

        try:
            answered = await self._pre(r) if r.method == "SendStreamingMessage" else None
            if answered is not None:  # a plugin answered in the agent's place: one event
                await relay(answered)
                return count
            access_ = self.credentials.access(r.agent)
            if r.agent.streaming:
                streamed = dial.stream(
                    self.client, r.agent, access_, r.method, r.params, self._deadline(r), relay
                )
                await self.calls.race(r.envelope.id, streamed)
            else:  # the agent does not stream: its one answer is the one event
                method = "SendMessage" if r.method == "SendStreamingMessage" else "GetTask"
                once = dial.request(
                    self.client, r.agent, access_, method, r.params, self._deadline(r)
                )
                answer = await self.calls.race(r.envelope.id, once)
                await relay(answer if method == "SendMessage" else {"task": answer})
        except AgentRpcError as exc:
            code = code_of(exc.code, r.method)
            count += 1
            await self.bus.publish(where, _ENC.encode(_error(code, exc.message)))
        except PluginViolationError as exc:
            if not count:  # before any event: the request's error, as for a blocking send
                raise
            # Mid-stream: the error the blocking send answers (-32013, the plugin's data) is
            # the stream's last event; the agent's stream was closed by the raise.
            count += 1
            error = {"code": exc.code, "message": exc.message, "data": exc.data}
            await self.bus.publish(where, _ENC.encode(A2aReply(error=error)))
        return count


def code_of(code: object, method: str) -> int:
    """The JSON-RPC code of an agent's error: as it is, or an HTTP+JSON agent's gRPC status
    (`NOT_FOUND`, ...) as the A2A error it stands for in that method."""
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if code == "NOT_FOUND" and ("Task" in method or method == "SendMessage"):
        return A2aCode.TASK_NOT_FOUND
    if code == "FAILED_PRECONDITION":
        if method == "CancelTask":
            return A2aCode.TASK_NOT_CANCELABLE
        return A2aCode.UNSUPPORTED_OPERATION
    if code == "UNIMPLEMENTED":
        return A2aCode.UNSUPPORTED_OPERATION
    if code == "INVALID_ARGUMENT":
        return INVALID_PARAMS
    return INTERNAL_ERROR


def _error(code: int, message: str) -> A2aReply:
    return A2aReply(error={"code": code, "message": message})


def _invoke_params(p: A2aRequestParams) -> A2aRequestParams:
    """ContextForge's `POST /a2a/{name}/invoke` body (`parameters` or `message`, optional
    `interaction_type`) as a 1.0 SendMessage."""
    body = p.params
    parameters = body.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    message = body.get("message", parameters.get("message", parameters.get("query")))
    parts: list[dict[str, Any]] = []
    if isinstance(message, str):
        parts.append({"text": message})
    elif isinstance(message, dict) and isinstance(message.get("parts"), list):
        return msgspec.structs.replace(
            p, method="SendMessage", params={"message": versions.message_up(message)}
        )
    rest = {k: v for k, v in parameters.items() if k not in ("message", "query")}
    if rest:
        parts.append({"data": rest})
    if not parts:
        raise A2aError(INVALID_PARAMS, "invoke needs `parameters` or a `message`")
    sent = {"messageId": _message_id(), "role": "ROLE_USER", "parts": parts}
    return msgspec.structs.replace(p, method="SendMessage", params={"message": sent})


def _message_id() -> str:
    return uuid.uuid4().hex
