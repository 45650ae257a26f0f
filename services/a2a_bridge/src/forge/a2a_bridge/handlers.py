"""Handlers: one MCP tools/call of an agent's tool, sent to the agent and answered as MCP."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from forge.a2a_bridge import asking, results
from forge.a2a_bridge.agents import Agents
from forge.a2a_bridge.credentials import Access, Credentials
from forge.a2a_bridge.hooks import AgentHooks
from forge.a2a_bridge.inflight import Calls
from forge.a2a_bridge.mcp_tasks import Follower
from forge.a2a_bridge.parts import Answer
from forge.a2a_bridge.wire import AgentClient, AgentRpcError, Outgoing
from forge.core import operations, subjects
from forge.core.bus import Bus
from forge.core.errors import DeadlineExceededError, InvalidParamsError, UpstreamUnavailableError
from forge.proto.agents import Agent, AgentCallParams
from forge.proto.envelope import Envelope

# Answer this long before the envelope's deadline: the router stops waiting 0.05 s before it,
# and the reply still has to cross NATS to get there.
REPLY_MARGIN_S = 0.1
_ENC = msgspec.json.Encoder()


@dataclass
class Context:
    bus: Bus
    agents: Agents
    credentials: Credentials
    client: AgentClient
    calls: Calls
    follower: Follower  # MCP tasks of agents' tools (mcp_tasks)
    hooks: AgentHooks | None = None  # what a progress message's text passes (hooks.progress)


def outgoing(arguments: dict[str, Any]) -> Outgoing:
    """The tool's arguments as the message to send; -32602 when they do not fit its schema."""
    text = arguments.get("message")
    if not isinstance(text, str):
        raise InvalidParamsError("an agent's tool takes a string argument `message`")
    ids = {}
    for key in ("context_id", "task_id"):
        value = arguments.get(key)
        if value is not None and not isinstance(value, str):
            raise InvalidParamsError(f"the argument `{key}` must be a string")
        ids[key] = value or None
    return Outgoing(text, arguments.get("data"), ids["context_id"], ids["task_id"])


async def call(envelope: Envelope, agent_id: str, ctx: Context) -> bytes:
    """`forge.a2a.<agent_id>.call`: send the message, answer a CallToolResult."""
    params = operations.decode(AgentCallParams, envelope.params)
    if params.request_state is not None:  # a modern client's retry: its answer, on the task
        task_id, context_id = asking.read_state(agent_id, params.request_state)
        text = asking.accepted(params.input_responses)
        if text is None:
            return _ENC.encode(results.declined(agent_id, task_id, context_id))
        sent = Outgoing(text, None, context_id, task_id)
    else:
        sent = outgoing(params.arguments)
    deadline = envelope.deadline - REPLY_MARGIN_S
    if deadline <= time.time():
        raise DeadlineExceededError("no time left to call the agent")
    agent = ctx.agents.get(agent_id) or await ctx.agents.fetch(agent_id, envelope.deadline)
    if not agent.enabled:
        raise UpstreamUnavailableError(f"agent {agent.name!r} is disabled")
    if agent.timeout_s is not None:
        deadline = min(deadline, time.time() + agent.timeout_s)
    access = ctx.credentials.access(agent)
    if params.task and params.request_state is None:  # the client follows it as an MCP task
        created = await ctx.calls.race(
            envelope.id, ctx.follower.create(envelope, agent, access, sent, params.era, deadline)
        )
        return _ENC.encode(created)
    on_event = None
    if agent.streaming and params.progress_token is not None:
        # The client asked for progress and the agent streams: each event is a progress
        # notification on the request's stream (the edge relays it), the answer as before.
        on_event = _progress(ctx, envelope, agent, params.arguments, params.progress_token)
    try:
        answer = await ctx.calls.race(
            envelope.id, _converse(ctx, envelope, agent, access, sent, deadline, on_event)
        )
    except AgentRpcError as exc:
        return _ENC.encode(results.error_result(agent.id, exc.code, exc.message))
    if answer.state == "input-required" and answer.task_id is not None:
        if asking.can_elicit(envelope, "modern"):
            return _ENC.encode(asking.input_required(agent.id, answer.task_id, answer))
    return _ENC.encode(results.call_result(agent.id, agent.slug, answer))


async def task(envelope: Envelope, agent_id: str, ctx: Context) -> bytes:
    """`forge.a2a.<agent_id>.call`, method `a2a.task`: an MCP tasks/* request on a task of the
    agent's tool (`AgentTaskParams`), answered in the client's era's shape (mcp_tasks)."""
    deadline = envelope.deadline - REPLY_MARGIN_S
    if deadline <= time.time():
        raise DeadlineExceededError("no time left to ask the agent")
    agent = ctx.agents.get(agent_id) or await ctx.agents.fetch(agent_id, envelope.deadline)
    if not agent.enabled:
        raise UpstreamUnavailableError(f"agent {agent.name!r} is disabled")
    access = ctx.credentials.access(agent)
    followed = await ctx.calls.race(
        envelope.id, ctx.follower.follow(envelope, agent, access, deadline)
    )
    return _ENC.encode(followed)


async def _converse(
    ctx: Context,
    envelope: Envelope,
    agent: Agent,
    access: Access,
    sent: Outgoing,
    deadline: float,
    on_event: Callable[[str], Awaitable[None]] | None,
) -> Answer:
    """Send the message; while the agent asks for input and the client can be asked
    (elicitation, legacy clients), ask it and send its answer on the same task."""
    answer = await ctx.client.send(agent, access, sent, deadline, on_event)
    elicit = asking.can_elicit(envelope)
    check = None if ctx.hooks is None else asking.checker(ctx.hooks, envelope, agent, {})
    for _ in range(asking.MAX_ROUNDS if elicit else 0):
        if answer.state != "input-required" or answer.task_id is None:
            break
        reply = await asking.ask(ctx.bus, envelope, answer, deadline, check)
        if reply is None:
            break
        sent = Outgoing(reply, None, answer.context_id, answer.task_id)
        answer = await ctx.client.send(agent, access, sent, deadline, on_event)
    return answer


def _progress(
    ctx: Context, envelope: Envelope, agent: Agent, arguments: dict[str, Any], token: str | int
) -> Callable[[str], Awaitable[None]]:
    count = 0

    async def notify(said: str) -> None:
        nonlocal count
        count += 1
        params: dict[str, Any] = {"progressToken": token, "progress": count}
        # The agent's words as the post hooks let them through (none where they cannot check).
        shown = (
            said
            if ctx.hooks is None
            else await ctx.hooks.progress(envelope, agent, arguments, said)
        )
        if shown is not None:
            params["message"] = shown
        notification = {"jsonrpc": "2.0", "method": "notifications/progress", "params": params}
        await ctx.bus.publish(subjects.stream(envelope.id), _ENC.encode(notification))

    return notify
