"""A2A agents: the catalog entity, and the messages the router and edge send the a2a-bridge.

An agent is registered by URL; the registry fetches its card (`/.well-known/agent-card.json`),
stores it, and exposes the agent as one catalog tool whose `gateway_id` is the agent's id (the
router sends calls of such a tool to `forge.a2a.<agent_id>.call` instead of the upstream-proxy).
The bridge opens the sealed credentials (`auth`, an `UpstreamAuth`, sealing context = agent id),
as the upstream-proxy does for gateways.
"""

from __future__ import annotations

from typing import Any

import msgspec

# A2A protocol versions Forge speaks on both sides, and the bindings an agent card may declare.
VERSIONS = ("1.0", "0.3")
BINDINGS = ("jsonrpc", "http+json", "grpc")


class Agent(msgspec.Struct, frozen=True):
    """A registered A2A agent."""

    id: str
    name: str
    slug: str
    url: str  # the agent's base URL (its card's endpoint for the chosen binding)
    description: str | None = None
    enabled: bool = True
    reachable: bool = True
    protocol_version: str = "1.0"  # one of VERSIONS, detected from the card
    binding: str = "jsonrpc"  # one of BINDINGS, the one Forge uses (detected from the card)
    card: dict[str, Any] = msgspec.field(default_factory=dict)  # the card as last fetched
    streaming: bool = False  # the card's capabilities.streaming
    timeout_s: float | None = None
    tags: list[str] = msgspec.field(default_factory=list)
    owner: str | None = None  # the creating user's email
    team_id: str | None = None
    visibility: str = "public"  # private | team | public (forge.proto.access.can_see)
    created_at: str | None = None
    updated_at: str | None = None
    auth_type: str = "none"  # UpstreamAuth.type; the only part of the credentials anyone sees
    auth: str | None = None  # sealed UpstreamAuth (JSON), context = agent id
    card_url: str | None = None  # where the card was fetched from (refresh fetches it again)


class AgentsChanged(msgspec.Struct, frozen=True):
    """Event body on `forge.events.catalog.agents.changed`: one agent as it now is."""

    agent: Agent


class AgentCallParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """`forge.a2a.<agent_id>.call`: an MCP tools/call of an agent's tool, as the bridge gets it.

    `arguments` are the tool's: `message` (text), optional `data` (structured), optional
    `context_id` (multi-turn) and `task_id` (continuing an input-required task).
    """

    arguments: dict[str, Any] = msgspec.field(default_factory=dict)
    era: str = "legacy"  # the calling client's MCP era: legacy | modern
    progress_token: str | int | None = None
    # A modern client's retry of an input_required round (2026-07-28): its answers and the
    # requestState the bridge gave it (which agent task the answers continue).
    input_responses: dict[str, Any] | None = None
    request_state: str | None = None
    # The client asked for a task (a legacy `params.task`, or a modern client that declared
    # the tasks extension): the message is sent without waiting, the answer a task handle.
    task: bool = False


class AgentTaskParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """`forge.a2a.<agent_id>.call` with method `a2a.task`: an MCP `tasks/get`, `tasks/result`,
    `tasks/update`, `tasks/cancel` or `tasks/list` of tasks an agent's tool calls created
    (decision 0028).

    `task_id` is the agent's own task id (the router took it out of the client's tagged id, and
    checked that the id is the caller's); `handle` is the id the client knows, for errors. A
    legacy `tasks/list` names no task: the caller's tasks of the agent."""

    method: str
    task_id: str = ""
    handle: str = ""
    era: str = "legacy"  # the calling client's MCP era: legacy | modern
    input_responses: dict[str, Any] | None = None  # tasks/update's


class A2aRequestParams(msgspec.Struct, frozen=True, omit_defaults=True):
    """`forge.a2a.<agent>.<op>` (`send`, `stream`, `task`, `card`, `invoke`): one request to
    Forge's A2A endpoint (`/a2a/{agent}/`), as the edge read it; the subject's agent token is
    the path's `agent` when it is a NATS token, else `_` (the bridge resolves `agent`: an id,
    a slug or a name). `method` is the client's JSON-RPC method (either version), `params` its
    params; `base_url` is Forge's URL of this agent, for its card."""

    agent: str
    method: str = ""
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    base_url: str = ""


class A2aReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The bridge's answer to an A2aRequestParams: the JSON-RPC `result` in the client's
    version, or the A2A `error` (`{code, message, data?}`: the agent's own, or A2A's such as
    TaskNotFound -32001) to send back as it is. A streamed op's events went to
    `forge.stream.<request id>` (each a reply of this shape); `events` counts them, so that
    the edge relays every one before it ends the stream."""

    result: Any = None
    error: dict[str, Any] | None = None
    events: int = 0


class PushWatchLease(msgspec.Struct):
    """One push-notification watch's record in JetStream KV (bucket `forge_a2a_push`, key
    `watch.<agent>.<task digest>`), written by the a2a-bridge replica holding the watch and read
    by every other to take it over (unknown fields tolerated: rolling upgrades)."""

    agent: str
    task: str
    until: float  # wall-clock end of the whole watch
    owner: str = ""  # "" once released
    expires: float = 0.0  # wall-clock end of the owner's lease
    last: str = ""  # digest of the last state delivered
