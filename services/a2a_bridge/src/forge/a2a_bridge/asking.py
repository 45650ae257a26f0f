"""An agent's question asked of the MCP client: a task in `input-required` becomes, for a
legacy client that declared elicitation, an `elicitation/create` request mid-call (on
`forge.stream.<request id>`, which the edge relays), and the client's answer the next message of
that task. Modern clients, and legacy ones without elicitation, get the question as the tool's
result instead (with the task id to continue): **not built yet** for them, the 2026-07-28
`input_required` round.
"""

from __future__ import annotations

from typing import Any

import msgspec

from forge.a2a_bridge.parts import Answer
from forge.core import subjects
from forge.core.bus import Bus
from forge.core.errors import DeadlineExceededError, ServiceUnavailableError
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


def can_elicit(envelope: Envelope) -> bool:
    """Whether the caller is a legacy client that declared the elicitation capability."""
    protocol = envelope.protocol
    if protocol is None or protocol.era != "legacy":
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
