"""An agent's question asked of the MCP client, for clients that declared elicitation.

A task in `input-required` becomes, for a legacy client, an `elicitation/create` request
mid-call (on `forge.stream.<request id>`, which the edge relays), its answer the next message of
that task; for a modern client (2026-07-28), an `input_required` result whose `requestState`
names the agent, task and context, so that the client's retry (`inputResponses`) continues the
task from any bridge replica: A2A tasks live in the agent, the bridge holds nothing. Clients
without elicitation get the question as the tool's result (with the task id to continue).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec

from forge.a2a_bridge.parts import Answer
from forge.core import subjects
from forge.core.bus import Bus
from forge.core.errors import DeadlineExceededError, InvalidParamsError, ServiceUnavailableError
from forge.proto.envelope import Envelope

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


async def ask(bus: Bus, envelope: Envelope, answer: Answer, deadline: float) -> str | None:
    """The client's answer to the agent's question, or None (declined, cancelled, or the
    client could not be asked): then the question is the tool's result."""
    params = {"message": question(answer), "requestedSchema": SCHEMA}
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
