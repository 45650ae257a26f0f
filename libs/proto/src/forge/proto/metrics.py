"""Metrics events: what services publish about their work for others to aggregate, and the
per-entity metrics the catalog registry answers with (docs/decisions/0020-entity-metrics.md)."""

from __future__ import annotations

from bisect import bisect_left
from typing import Literal

import msgspec

# The entity kinds counted: each is published on `forge.events.metrics.<kind>`.
Kind = Literal["tools", "resources", "prompts", "servers", "gateways", "agents"]
KINDS: tuple[Kind, ...] = ("tools", "resources", "prompts", "servers", "gateways", "agents")


def _bounds() -> tuple[float, ...]:
    """Upper bounds (seconds) of the latency histogram: 100 µs to about 2 minutes, each 25%
    wider than the one before, so a percentile read from it is within 25% of the true one."""
    bounds = [0.0001]
    while bounds[-1] < 120.0:
        bounds.append(round(bounds[-1] * 1.25, 7))
    return tuple(bounds)


# Part of the wire contract: `EntityStats.buckets[i]` counts calls of at most BOUNDS_S[i]
# seconds (and above the one before); the last bucket, index len(BOUNDS_S), the rest.
BOUNDS_S = _bounds()
BUCKETS = len(BOUNDS_S) + 1


def bucket_of(elapsed_s: float) -> int:
    return bisect_left(BOUNDS_S, elapsed_s)


class EntityStats(msgspec.Struct):
    """One entity's calls since the last batch. Batches are `{entity id: EntityStats}`, published
    by each router on `forge.events.metrics.<kind>`. Mutable: the router counts into it.

    `min_s`, `last_at` (Unix seconds of the last call's end) and `buckets` (sparse: bucket index
    → calls, see BOUNDS_S) came after the first four; a batch without them is still read."""

    calls: int = 0
    failures: int = 0
    total_s: float = 0.0
    max_s: float = 0.0
    min_s: float | None = None
    last_at: float | None = None
    buckets: dict[int, int] = msgspec.field(default_factory=dict)


# The first name of EntityStats, when only tools were counted.
ToolStats = EntityStats


class EntityMetrics(msgspec.Struct, kw_only=True):
    """Aggregated metrics of one entity or one kind, as the catalog registry answers them.

    Field names are ContextForge's (`GET /metrics`); times are in seconds. Counts, minimum,
    maximum, mean and the last execution time are exact; the percentiles are read from the
    histogram (the upper bound of the bucket holding the rank, kept within min..max)."""

    total_executions: int = 0
    successful_executions: int = 0
    failed_executions: int = 0
    failure_rate: float = 0.0
    min_response_time: float | None = None
    max_response_time: float | None = None
    avg_response_time: float | None = None
    p50_response_time: float | None = None
    p95_response_time: float | None = None
    p99_response_time: float | None = None
    last_execution_time: str | None = None  # ISO 8601, UTC


class EntityMetricsParams(msgspec.Struct):
    """`metrics.get`: one entity's metrics; the caller must see the entity."""

    kind: Kind
    id: str


class ResetMetricsParams(msgspec.Struct):
    """`metrics.reset`: every kind's metrics (no `entity`), one kind's, or one entity's.
    `entity` takes ContextForge's singular names too (`tool`, `resource`, ...)."""

    entity: str | None = None
    entity_id: str | None = None
