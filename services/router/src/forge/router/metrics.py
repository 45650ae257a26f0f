"""Per-tool call metrics, batched and published as events."""

from __future__ import annotations

import msgspec

from forge.core import subjects
from forge.core.bus import Bus
from forge.proto.metrics import ToolStats


class Metrics:
    """Counts in memory; `flush` publishes one batch and starts a new one."""

    def __init__(self) -> None:
        self.batch: dict[str, ToolStats] = {}

    def record(self, tool_id: str, elapsed_s: float, ok: bool) -> None:
        stats = self.batch.get(tool_id)
        if stats is None:
            stats = self.batch[tool_id] = ToolStats()
        stats.calls += 1
        stats.failures += not ok
        stats.total_s += elapsed_s
        stats.max_s = max(stats.max_s, elapsed_s)

    async def flush(self, bus: Bus) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, {}
        await bus.publish(subjects.metrics("tools"), msgspec.json.encode(batch))
