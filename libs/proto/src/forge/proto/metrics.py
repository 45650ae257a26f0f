"""Metrics events: what services publish about their work for others to aggregate."""

from __future__ import annotations

import msgspec


class ToolStats(msgspec.Struct):
    """One tool's calls since the last batch. Batches are `{tool id: ToolStats}`, published by
    each router on `forge.events.metrics.tools`. Mutable: the router counts into it."""

    calls: int = 0
    failures: int = 0
    total_s: float = 0.0
    max_s: float = 0.0
