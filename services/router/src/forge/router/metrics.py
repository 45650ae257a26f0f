"""Per-entity call metrics (tools, resources, prompts, virtual servers, gateways, agents),
counted in memory and published as one batch per kind each flush."""

from __future__ import annotations

import re
import time

import msgspec

from forge.core import subjects
from forge.core.bus import Bus
from forge.proto.metrics import KINDS, EntityStats, Kind, bucket_of

# A tool result that reports its failure (`"isError": true`) is a failed call. Inside a JSON
# string quotes are escaped, so this can only match a member name (at any depth: a nested
# object's own `isError` member counts too, which results do not use).
_IS_ERROR = re.compile(rb'"isError"\s*:\s*true')
_ENC = msgspec.json.Encoder()


def failed(result: bytes) -> bool:
    """Whether a tools/call result says the tool failed."""
    return b'"isError"' in result and _IS_ERROR.search(result) is not None


class Metrics:
    """Counts in memory; `flush` publishes one batch per kind and starts new ones. A replica
    that stops loses at most the batch it was counting."""

    def __init__(self) -> None:
        self.batches: dict[Kind, dict[str, EntityStats]] = {kind: {} for kind in KINDS}

    @property
    def batch(self) -> dict[str, EntityStats]:
        """The tools' batch (the one kind counted at first)."""
        return self.batches["tools"]

    def record(self, tool_id: str, elapsed_s: float, ok: bool) -> None:
        """One tool call."""
        self.count("tools", tool_id, elapsed_s, ok)

    def count(
        self,
        kind: Kind,
        entity_id: str,
        elapsed_s: float,
        ok: bool,
        now: float | None = None,
        index: int | None = None,
    ) -> None:
        """One call of an entity; `now` (the call's end) and `index` (its duration's bucket)
        when the caller already has them, as `call` has for its two or three entities."""
        batch = self.batches[kind]
        stats = batch.get(entity_id)
        if stats is None:
            stats = batch[entity_id] = EntityStats(min_s=elapsed_s)
        stats.calls += 1
        stats.failures += not ok
        stats.total_s += elapsed_s
        if elapsed_s > stats.max_s:
            stats.max_s = elapsed_s
        if stats.min_s is None or elapsed_s < stats.min_s:
            stats.min_s = elapsed_s
        stats.last_at = time.time() if now is None else now
        if index is None:
            index = bucket_of(elapsed_s)
        stats.buckets[index] = stats.buckets.get(index, 0) + 1

    def call(
        self,
        kind: Kind,
        entity_id: str,
        server_id: str | None,
        gateway_id: str,
        elapsed_s: float,
        ok: bool,
        *,
        agent: bool = False,
    ) -> None:
        """One call of an entity, counted for it, the virtual server it came through (if any)
        and the gateway that served it (an A2A agent's tool: the agent, `agent`)."""
        now, index = time.time(), bucket_of(elapsed_s)
        self.count(kind, entity_id, elapsed_s, ok, now, index)
        if server_id is not None:
            self.count("servers", server_id, elapsed_s, ok, now, index)
        self.count("agents" if agent else "gateways", gateway_id, elapsed_s, ok, now, index)

    async def flush(self, bus: Bus) -> None:
        for kind in KINDS:
            batch = self.batches[kind]
            if not batch:
                continue
            self.batches[kind] = {}
            await bus.publish(subjects.metrics(kind), _ENC.encode(batch))
