"""`agent_pre_invoke` / `agent_post_invoke` around the A2A endpoint's requests, and per-agent
call metrics.

The router runs the agent hooks around an agent's MCP tool call; a request to Forge's A2A
endpoint does not pass the router, so the bridge asks the plugin-runner itself (the wrapped
call of forge.core.plugin_hooks, fail closed as everywhere). The payload is the router's
shape: `name` (the agent's tool, `a2a-<slug>`), `agent` (its name) and `arguments` (the A2A
request's params, 1.0 form); a plugin's change to `arguments` is what is sent, a block is the
A2A error -32013. Inline chains are not run here: every hook goes to the plugin-runner.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from forge.core import subjects
from forge.core.bus import Bus
from forge.core.errors import ServiceUnavailableError
from forge.core.plugin_hooks import PluginManifests
from forge.proto.agents import Agent
from forge.proto.envelope import Envelope
from forge.proto.metrics import ToolStats, bucket_of
from forge.proto.plugins import HOOK_REPLY_DECODER

_ENC = msgspec.json.Encoder()
_ANY = msgspec.json.Decoder()
PRE = "agent_pre_invoke"
POST = "agent_post_invoke"


def _team(agent: Agent) -> bytes:
    return b',"team":' + _ENC.encode(agent.team_id) if agent.team_id is not None else b""


class AgentHooks(PluginManifests):
    """The served hooks (from the plugin-runners' manifests) and the two agent hooks."""

    async def start(self) -> None:
        await self.bus.subscribe(subjects.PLUGINS_MANIFEST, self._on_manifest)
        await self.fetch_manifest()

    async def _on_manifest(self, subject: str, data: bytes) -> None:
        self.on_manifest(data)

    async def _wrapped(self, hook: str, envelope: Envelope, call: bytes) -> Any:
        sent = msgspec.structs.replace(envelope, params=msgspec.Raw(call))
        data = await self.call_wrapped(hook, sent)
        if data is None:
            return None
        try:
            return HOOK_REPLY_DECODER.decode(data)
        except msgspec.DecodeError as exc:
            raise ServiceUnavailableError(f"malformed {hook} reply from the plugin-runner") from exc

    async def pre(self, envelope: Envelope, agent: Agent, params: dict[str, Any]) -> dict[str, Any]:
        """The params as the plugins left them (a block raises PluginViolationError)."""
        if not self.serves(PRE):
            return params
        payload = {"name": f"a2a-{agent.slug}", "agent": agent.name, "arguments": params}
        reply = await self._wrapped(
            PRE, envelope, b'{"payload":' + _ENC.encode(payload) + _team(agent) + b"}"
        )
        if reply is None or not reply.modified or not len(reply.payload):
            return params
        changed = _ANY.decode(reply.payload)
        arguments = changed.get("arguments") if isinstance(changed, dict) else None
        return arguments if isinstance(arguments, dict) else params

    async def post(
        self, envelope: Envelope, agent: Agent, params: dict[str, Any], result: Any
    ) -> Any:
        if not self.serves(POST):
            return result
        request = {"name": f"a2a-{agent.slug}", "agent": agent.name, "arguments": params}
        call = b'{"payload":' + _ENC.encode(result) + b',"request":' + _ENC.encode(request)
        reply = await self._wrapped(POST, envelope, call + _team(agent) + b"}")
        if reply is None or not reply.modified or not len(reply.payload):
            return result
        return _ANY.decode(reply.payload)


class AgentMetrics:
    """Calls, failures and latency per agent, published in batches on
    `forge.events.metrics.agents` (`{agent_id: ToolStats}`), as the router does for tools."""

    def __init__(self) -> None:
        self.batch: dict[str, ToolStats] = {}

    def record(self, agent_id: str, started: float, ok: bool) -> None:
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
