"""`agent_pre_invoke` / `agent_post_invoke` where the bridge runs them, and per-agent call
metrics.

The router runs the agent hooks around an agent's MCP tool call; a request to Forge's A2A
endpoint does not pass the router, so the bridge runs them itself with the router's machinery
(forge.plugins.inline_hooks: a pure built-in chain in-process, the plugin-runner otherwise,
fail closed as everywhere). The payload is the router's shape: `name` (the agent's tool,
`a2a-<slug>`), `agent` (its name) and `arguments` (the A2A request's params, 1.0 form); a
plugin's change to `arguments` is what is sent, its `result` answers in the agent's place
(`answer_message`), a block is -32013. The post hook sees every answer sent to the client: a
blocking send's result, and each event of a stream.

On the MCP path the router runs the post hooks on the tool's result, but a streaming agent's
progress notifications leave from the bridge: `progress` passes their text through the same
post hooks first (as the one text content of a CallToolResult, the router's payload shape),
and drops it where it cannot (a tool post hook that is not inline).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

from forge.core import subjects
from forge.core.bus import Bus
from forge.core.errors import PluginViolationError
from forge.plugins.inline_hooks import InlineHooks
from forge.proto.agents import Agent
from forge.proto.envelope import Envelope
from forge.proto.metrics import ToolStats, bucket_of

_ENC = msgspec.json.Encoder()
_ANY = msgspec.json.Decoder()
PRE = "agent_pre_invoke"
POST = "agent_post_invoke"
TOOL_POST = "tool_post_invoke"


def _request(agent: Agent, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"name": f"a2a-{agent.slug}", "agent": agent.name, "arguments": arguments}


def _with(envelope: Envelope, request: dict[str, Any]) -> Envelope:
    return msgspec.structs.replace(envelope, params=msgspec.Raw(_ENC.encode(request)))


class AgentHooks(InlineHooks):
    """The served hooks (from the plugin-runners' manifests), the inline chains, and the two
    agent hooks."""

    def __init__(self, bus: Bus) -> None:
        super().__init__(bus, replica="a2a-bridge")

    async def start(self) -> None:
        await self.bus.subscribe(subjects.PLUGINS_MANIFEST, self._on_manifest)
        await self.fetch_manifest()

    async def _on_manifest(self, subject: str, data: bytes) -> None:
        self.on_manifest(data)

    async def pre_answer(
        self, envelope: Envelope, agent: Agent, params: dict[str, Any]
    ) -> tuple[dict[str, Any], Any]:
        """The params as the plugins left them, and the answer a plugin gave in the agent's
        place (None: ask the agent). A block raises PluginViolationError."""
        if not self.serves(PRE):
            return params, None
        changed, answered = await super().pre(
            PRE, _with(envelope, _request(agent, params)), agent.team_id
        )
        request = _ANY.decode(changed.params)
        arguments = request.get("arguments") if isinstance(request, dict) else None
        params = arguments if isinstance(arguments, dict) else params
        return params, None if answered is None else _ANY.decode(answered)

    async def post_answer(
        self, envelope: Envelope, agent: Agent, params: dict[str, Any], result: Any
    ) -> Any:
        """The answer as the plugins left it (a block raises PluginViolationError)."""
        if not self.serves(POST):
            return result
        sent = _with(envelope, _request(agent, params))
        return _ANY.decode(await super().post(POST, sent, _ENC.encode(result), agent.team_id))

    async def progress(
        self, envelope: Envelope, agent: Agent, arguments: dict[str, Any], said: str
    ) -> str | None:
        """A progress message of an agent's MCP tool call as it may reach the client: through
        the post hooks its final result passes (`tool_post_invoke`, then `agent_post_invoke`,
        each where served); None (a progress without a message) when one blocks it. The tool
        hook runs here only inline (pure plugins): a stateful chain (a cache, a rate limiter)
        must see the tool's one result, so then the text is not sent at all."""
        result: Any = {"content": [{"type": "text", "text": said}]}
        try:
            if self.serves(TOOL_POST):
                if TOOL_POST not in self.inline:
                    return None
                call = _with(envelope, {"name": f"a2a-{agent.slug}", "arguments": arguments})
                result = _ANY.decode(
                    await super().post(TOOL_POST, call, _ENC.encode(result), agent.team_id)
                )
            result = await self.post_answer(envelope, agent, arguments, result)
        except PluginViolationError:
            return None
        return _text_of(result)


def _text_of(result: Any) -> str | None:
    """The text of a CallToolResult-shaped progress payload as a plugin left it."""
    content = result.get("content") if isinstance(result, dict) else None
    if not isinstance(content, list):
        return None
    texts = [c["text"] for c in content if isinstance(c, dict) and isinstance(c.get("text"), str)]
    return "\n".join(texts) if texts else None


def answer_message(answer: Any, context_id: object = None) -> dict[str, Any]:
    """A pre hook's answer in the agent's place as an A2A 1.0 Message (SendMessage's
    `message`): a CallToolResult's text contents become text parts and its structured content
    a data part (the router's answers are tool results), a string one text part, anything else
    one data part."""
    parts: list[dict[str, Any]] = []
    if isinstance(answer, str):
        parts.append({"text": answer})
    elif isinstance(answer, dict) and isinstance(answer.get("content"), list):
        for item in answer["content"]:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                parts.append({"text": item["text"]})
        if answer.get("structuredContent") is not None:
            parts.append({"data": answer["structuredContent"]})
    elif answer is not None:
        parts.append({"data": answer})
    message: dict[str, Any] = {"messageId": uuid.uuid4().hex, "role": "ROLE_AGENT", "parts": parts}
    if isinstance(context_id, str):
        message["contextId"] = context_id
    return message


class AgentMetrics:
    """Calls, failures and latency per agent, published in batches on
    `forge.events.metrics.agents` (`{agent_id: ToolStats}`), as the router does for tools.

    A send a plugin answered in the agent's place (`agent_pre_invoke` returning a result) is
    not a call of the agent and is not counted, as the router counts no call of a tool whose
    pre hook answered (nor of the agent, on the MCP path)."""

    def __init__(self) -> None:
        self.batch: dict[str, ToolStats] = {}
        self.answered: set[str] = set()  # requests (envelope ids) a plugin answered

    def pre_answered(self, request_id: str) -> None:
        """The request `request_id` was answered by a plugin: its `record` counts nothing."""
        self.answered.add(request_id)

    def record(
        self, agent_id: str, started: float, ok: bool, request_id: str | None = None
    ) -> None:
        if request_id is not None and request_id in self.answered:
            self.answered.discard(request_id)
            return
        elapsed = time.perf_counter() - started
        stats = self.batch.get(agent_id)
        if stats is None:
            stats = self.batch[agent_id] = ToolStats()
        stats.calls += 1
        stats.failures += not ok
        stats.total_s += elapsed
        stats.max_s = max(stats.max_s, elapsed)
        # What the catalog registry keeps besides (minimum, last call, latency histogram).
        stats.min_s = elapsed if stats.min_s is None else min(stats.min_s, elapsed)
        stats.last_at = time.time()
        index = bucket_of(elapsed)
        stats.buckets[index] = stats.buckets.get(index, 0) + 1

    async def flush(self, bus: Bus) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, {}
        await bus.publish(subjects.metrics("agents"), msgspec.json.encode(batch))
