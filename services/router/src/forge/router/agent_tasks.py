"""MCP tasks of A2A agents' tools (decision 0028): `tasks/*` on an agent's task id go to the
a2a-bridge, inside the agent's guardrails.

A task id whose first part is an agent (`forge.core.tasks`) reaches the bridge on
`forge.a2a.<agent>.call` with method `a2a.task` (`AgentTaskParams`), when the caller sees the
agent and may call it; else it is an unknown task, as another user's id is. A team's guardrail
on its agent holds here as on a blocking call (decision 0023): an answer `tasks/update` sends
the agent passes the pre hooks (`tool_pre_invoke`, `agent_pre_invoke`) in the shape of a
tools/call retry (`inputResponses`), and what the agent said reaches the client through the post
hooks (`agent_post_invoke`, `tool_post_invoke`): the tool's result (modern `tasks/get`'s
inlined `result`, legacy `tasks/result`) as a blocking call's would, the task's status message
(and the question it asks) as a result of that one text, left out when a hook refuses it
(`task_hooks`, which a gateway's tasks pass too).
"""

from __future__ import annotations

from typing import Any

import msgspec

from forge.core import tasks
from forge.core.errors import InvalidParamsError
from forge.proto.agents import Agent, AgentTaskParams
from forge.proto.envelope import Envelope
from forge.router import task_hooks
from forge.router.catalog import can_see, may
from forge.router.routing import Context, ask_bridge, modern, with_params

EXECUTE = "tools.execute"
_ENC = msgspec.json.Encoder()
_ANY = msgspec.json.Decoder(dict[str, Any])


def offered(envelope: Envelope, ctx: Context) -> bool:
    """Whether the server's tools (without a server: the agents the caller sees) include an A2A
    agent's, whose calls can be tasks."""
    catalog = ctx.catalog
    if envelope.server_id is None:
        return any(a.enabled and can_see(envelope.principal, a) for a in catalog.agents.values())
    server = catalog.servers.get(envelope.server_id)
    for tool_id in server.associated_tools if server is not None else ():
        tool = catalog.tools_by_id.get(tool_id)
        agent = None if tool is None else catalog.agent(tool.gateway_id)
        if agent is not None and agent.enabled:
            return True
    return False


def callable_agents(envelope: Envelope, ctx: Context) -> list[str]:
    """The agents whose tasks legacy tasks/list asks for: those the caller may call."""
    principal = envelope.principal
    return [a.id for a in ctx.catalog.agents.values() if a.enabled and may(principal, a, EXECUTE)]


async def request(
    envelope: Envelope,
    ctx: Context,
    agent: Agent,
    task_id: str,
    agent_task_id: str,
    members: dict[str, msgspec.Raw],
) -> bytes:
    """tasks/get, tasks/result, tasks/update or tasks/cancel of an agent's task, answered in
    MCP's shape of the caller's era, its id tagged again."""
    principal = envelope.principal
    if not agent.enabled or not may(principal, agent, EXECUTE):
        raise InvalidParamsError(f"unknown task {task_id!r}", {"taskId": task_id})
    responses = None
    if "inputResponses" in members:
        try:
            responses = _ANY.decode(members["inputResponses"])
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise InvalidParamsError("inputResponses must be a JSON object") from exc
        responses = await _checked_answer(envelope, ctx, agent, responses)
    params = AgentTaskParams(
        method=envelope.method,
        task_id=agent_task_id,
        handle=task_id,
        era="modern" if modern(envelope) else "legacy",
        input_responses=responses,
    )
    answer = await ask_bridge(envelope, ctx, agent.id, "a2a.task", params)
    answer = await _checked_said(envelope, ctx, agent, answer)
    return tasks.tag(answer, agent.id, principal.subject)


def _call(agent: Agent, extra: dict[str, Any]) -> dict[str, Any]:
    """A tools/call's params of the agent's tool (`a2a-<slug>`, the name the hooks match)."""
    return {"name": f"a2a-{agent.slug}", "arguments": {}, **extra}


async def _checked_answer(
    envelope: Envelope, ctx: Context, agent: Agent, responses: dict[str, Any]
) -> dict[str, Any]:
    """The client's answers as the pre hooks leave them (a refusal is the hooks' error)."""
    hooks = ctx.hooks
    call = _call(agent, {"inputResponses": responses})
    for hook, extra in (("tool_pre_invoke", {}), ("agent_pre_invoke", {"agent": agent.name})):
        if not hooks.serves(hook):
            continue
        changed, _ = await hooks.pre(
            hook, with_params(envelope, _ENC.encode({**call, **extra})), agent.team_id
        )
        call = _ANY.decode(changed.params)
        call.pop("agent", None)
    found = call.get("inputResponses")
    return found if isinstance(found, dict) else responses


async def _post(envelope: Envelope, ctx: Context, agent: Agent, result: bytes) -> bytes:
    """A result through the post hooks a blocking call's result passes (the agent's inside the
    tool's)."""
    hooks = ctx.hooks
    call = _call(agent, {})
    if hooks.serves("agent_post_invoke"):
        sent = with_params(envelope, _ENC.encode({**call, "agent": agent.name}))
        result = await hooks.post("agent_post_invoke", sent, result, agent.team_id)
    if hooks.serves("tool_post_invoke"):
        sent = with_params(envelope, _ENC.encode(call))
        result = await hooks.post("tool_post_invoke", sent, result, agent.team_id)
    return result


async def _checked_said(envelope: Envelope, ctx: Context, agent: Agent, answer: bytes) -> bytes:
    """A tasks/* answer with what the agent said through the post hooks (task_hooks)."""
    hooks = ctx.hooks
    if not (hooks.serves("agent_post_invoke") or hooks.serves("tool_post_invoke")):
        return answer

    async def post(result: bytes) -> bytes:
        return await _post(envelope, ctx, agent, result)

    return await task_hooks.checked(envelope.method, answer, post)
