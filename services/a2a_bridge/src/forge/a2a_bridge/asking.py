"""An agent's question asked of the MCP client, for clients that declared elicitation.

A task in `input-required` becomes, for a legacy client, an `elicitation/create` request
mid-call (on `forge.stream.<request id>`, which the edge relays), its answer the next message of
that task; for a modern client (2026-07-28), an `input_required` result whose `requestState`
names the agent, task and context, so that the client's retry (`inputResponses`) continues the
task from any bridge replica: A2A tasks live in the agent, the bridge holds nothing. Clients
without elicitation get the question as the tool's result (with the task id to continue).

The question is the agent's words shown to the client outside the tool's result, so it passes
the post hooks the result would first (`checker`: `tool_post_invoke` where it runs inline, then
`agent_post_invoke`, as a progress message's text does): a refusal ends the call with its error
(-32013) and nothing is asked; a question the tool's hooks cannot check here is not asked, and
becomes the tool's result (which passes them in the router).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from forge.a2a_bridge.hooks import TOOL_POST, AgentHooks
from forge.a2a_bridge.parts import Answer
from forge.core import subjects
from forge.core.bus import Bus
from forge.core.errors import DeadlineExceededError, InvalidParamsError, ServiceUnavailableError
from forge.proto.agents import Agent
from forge.proto.envelope import Envelope

# A question as the client may see it; None: it cannot be checked here (not asked). A block
# raises PluginViolationError.
Check = Callable[[str], Awaitable[str | None]]

# At most this many questions in one tool call: an agent that keeps asking ends as a result.
MAX_ROUNDS = 5
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"message": {"type": "string", "description": "Your answer to the agent"}},
    "required": ["message"],
}
_ANY = msgspec.json.Decoder()
_ENC = msgspec.json.Encoder()


KEY = "a2a"  # the one input request of a round
STATE_PREFIX = "a2a1."


class _State(msgspec.Struct, frozen=True):
    a: str  # agent id
    t: str  # task id
    c: str | None = None  # context id


_STATE = msgspec.json.Decoder(_State)


def can_elicit(envelope: Envelope, era: str = "legacy") -> bool:
    """Whether the caller is a client of `era` that declared the elicitation capability."""
    protocol = envelope.protocol
    if protocol is None or protocol.era != era:
        return False
    try:
        declared = _ANY.decode(bytes(protocol.capabilities) or b"{}")
    except msgspec.DecodeError:
        return False
    return isinstance(declared, dict) and isinstance(declared.get("elicitation"), dict)


def question(answer: Answer) -> str:
    said = [p.text for p in answer.status if p.kind == "text" and p.text]
    return "\n".join(said) or "The agent needs more input to go on."


def checker(
    hooks: AgentHooks, envelope: Envelope, agent: Agent, arguments: dict[str, Any]
) -> Check:
    """The post hooks an agent's question passes before the client sees it."""

    async def check(said: str) -> str | None:
        result: Any = {"content": [{"type": "text", "text": said}], "isError": False}
        if hooks.serves(TOOL_POST):
            if TOOL_POST not in hooks.inline:  # a stateful chain sees the tool's one result
                return None
            call = {"name": f"a2a-{agent.slug}", "arguments": arguments}
            sent = msgspec.structs.replace(envelope, params=msgspec.Raw(_ENC.encode(call)))
            checked = await hooks.post(TOOL_POST, sent, _ENC.encode(result), agent.team_id)
            result = _ANY.decode(checked)
        result = await hooks.post_answer(envelope, agent, arguments, result)
        content = result.get("content") if isinstance(result, dict) else None
        texts = [c.get("text") for c in content or () if isinstance(c, dict)]
        shown = "\n".join(t for t in texts if isinstance(t, str))
        return shown or None

    return check


async def ask(
    bus: Bus, envelope: Envelope, answer: Answer, deadline: float, check: Check | None = None
) -> str | None:
    """The client's answer to the agent's question, or None (declined, cancelled, the client
    could not be asked, or the question could not be checked): then the question is the
    tool's result. A question a post hook refuses raises its PluginViolationError."""
    said = question(answer)
    if check is not None:
        shown = await check(said)
        if shown is None:
            return None
        said = shown
    params = {"message": said, "requestedSchema": SCHEMA}
    request: dict[str, Any] = {"jsonrpc": "2.0", "id": "a2a-input", "method": "elicitation/create"}
    request["params"] = params
    try:
        subject = subjects.stream(envelope.id)
        data = await bus.request(subject, _ENC.encode(request), deadline=deadline)
    except (ServiceUnavailableError, DeadlineExceededError):
        return None
    try:
        reply = _ANY.decode(data)
    except msgspec.DecodeError:
        return None
    result = reply.get("result") if isinstance(reply, dict) else None
    if not isinstance(result, dict) or result.get("action") != "accept":
        return None
    content = result.get("content")
    text = content.get("message") if isinstance(content, dict) else None
    return text if isinstance(text, str) else None


def input_required(agent_id: str, task_id: str, answer: Answer) -> dict[str, Any]:
    """A modern client's input_required round for the agent's question on task `task_id`."""
    state = _State(agent_id, task_id, answer.context_id)
    token = base64.urlsafe_b64encode(_ENC.encode(state)).decode().rstrip("=")
    params = {"message": question(answer), "requestedSchema": SCHEMA}
    return {
        "resultType": "input_required",
        "inputRequests": {KEY: {"method": "elicitation/create", "params": params}},
        "requestState": STATE_PREFIX + token,
    }


def read_state(agent_id: str, state: str) -> tuple[str, str | None]:
    """(task id, context id) a retry continues; -32602 for a state that is not this agent's."""
    if not state.startswith(STATE_PREFIX):
        raise InvalidParamsError("requestState is not one this agent's tool gave")
    token = state[len(STATE_PREFIX) :]
    try:
        found = _STATE.decode(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError, msgspec.ValidationError):
        raise InvalidParamsError("requestState is not one this agent's tool gave") from None
    if found.a != agent_id:
        raise InvalidParamsError("requestState is not one this agent's tool gave")
    return found.t, found.c


def accepted(responses: dict[str, Any] | None) -> str | None:
    """The client's answer in a retry's inputResponses, if it accepted; else None."""
    response = (responses or {}).get(KEY)
    if not isinstance(response, dict) or response.get("action") != "accept":
        return None
    content = response.get("content")
    text = content.get("message") if isinstance(content, dict) else None
    return text if isinstance(text, str) else None
