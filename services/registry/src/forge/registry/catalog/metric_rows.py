"""The metric tables (migration 009): raw rows per router batch, period rows after the roll-up,
and the one statement that reads them together (docs/decisions/0020-entity-metrics.md)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from forge.proto.metrics import BOUNDS_S, EntityMetrics, EntityStats

_ENC = msgspec.json.Encoder()
_BUCKETS = msgspec.json.Decoder(dict[int, int])
US = 1_000_000
# Raw rows one roll-up transaction claims at most; the roll-up repeats until none are left.
CLAIM = 5000

# The period rows and the raw rows not rolled up yet, of one kind (and some ids, or all):
# together they hold every call once. One statement, one snapshot: a roll-up committing
# meanwhile cannot make a row count twice or not at all.
_READ = """
WITH counted AS (
    SELECT calls, failures, total_us, min_us, max_us, last_at, buckets FROM metric_rollups
     WHERE kind = $1 AND ($2::text[] IS NULL OR entity_id = ANY($2))
    UNION ALL
    SELECT calls, failures, total_us, min_us, max_us, last_at, buckets FROM metric_samples
     WHERE NOT rolled_up AND kind = $1 AND ($2::text[] IS NULL OR entity_id = ANY($2))
), histogram AS (
    SELECT b.key, sum(b.value::bigint) AS n FROM counted, jsonb_each_text(counted.buckets) b
     GROUP BY b.key
)
SELECT coalesce(sum(calls), 0)::bigint AS calls, coalesce(sum(failures), 0)::bigint AS failures,
       coalesce(sum(total_us), 0)::bigint AS total_us, min(min_us) AS min_us,
       max(max_us) AS max_us, max(last_at) AS last_at,
       (SELECT coalesce(jsonb_object_agg(key, n), '{}') FROM histogram)::text AS buckets
  FROM counted
"""
_INSERT = """
INSERT INTO metric_samples
    (kind, entity_id, calls, failures, total_us, min_us, max_us, last_at, buckets)
SELECT $1, e, c, f, t, mn, mx, to_timestamp(l), b::jsonb
  FROM unnest($2::text[], $3::bigint[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
              $8::float8[], $9::text[]) AS u(e, c, f, t, mn, mx, l, b)
"""
_CLAIM = """
UPDATE metric_samples SET rolled_up = true
 WHERE id IN (SELECT id FROM metric_samples WHERE NOT rolled_up AND last_at < $1
               ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED)
RETURNING kind, entity_id, calls, failures, total_us, min_us, max_us, last_at, buckets::text
"""
# Adds a period's share of claimed raw rows to its row: concurrent replicas add theirs in turn
# (the conflicting row is locked), so nothing is lost or counted twice.
_UPSERT = """
INSERT INTO metric_rollups
    (kind, entity_id, period_start, calls, failures, total_us, min_us, max_us, last_at, buckets)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)
ON CONFLICT (kind, entity_id, period_start) DO UPDATE SET
    calls = metric_rollups.calls + excluded.calls,
    failures = metric_rollups.failures + excluded.failures,
    total_us = metric_rollups.total_us + excluded.total_us,
    min_us = least(metric_rollups.min_us, excluded.min_us),
    max_us = greatest(metric_rollups.max_us, excluded.max_us),
    last_at = greatest(metric_rollups.last_at, excluded.last_at),
    buckets = (SELECT coalesce(jsonb_object_agg(key, n), '{}') FROM (
        SELECT key, sum(value::bigint) AS n FROM (
            SELECT * FROM jsonb_each_text(metric_rollups.buckets)
            UNION ALL SELECT * FROM jsonb_each_text(excluded.buckets)) both_ GROUP BY key) s)
"""


def _us(seconds: float) -> int:
    return max(0, round(seconds * US))


@dataclass
class Rollup:
    """One (kind, entity, period)'s share of the raw rows claimed by a roll-up."""

    calls: int
    failures: int
    total_us: int
    min_us: int
    max_us: int
    last_at: datetime
    buckets: dict[int, int]

    def add(self, other: Rollup) -> None:
        self.calls += other.calls
        self.failures += other.failures
        self.total_us += other.total_us
        self.min_us = min(self.min_us, other.min_us)
        self.max_us = max(self.max_us, other.max_us)
        self.last_at = max(self.last_at, other.last_at)
        for index, n in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + n


def period_start(at: datetime, period_s: float) -> datetime:
    epoch = at.timestamp()
    return datetime.fromtimestamp(math.floor(epoch / period_s) * period_s, UTC)


def percentile(buckets: dict[int, int], calls: int, q: float, lo: float, hi: float) -> float:
    """The upper bound of the bucket holding the q-th call, kept within [lo, hi]."""
    rank = max(1, math.ceil(q * calls))
    seen = 0
    for index in sorted(buckets):
        seen += buckets[index]
        if seen >= rank:
            bound = BOUNDS_S[index] if index < len(BOUNDS_S) else hi
            return min(max(bound, lo), hi)
    return hi


def metrics_of(row: Any) -> EntityMetrics:
    """A read's sums as ContextForge's fields."""
    calls, failures = int(row["calls"]), int(row["failures"])
    if calls == 0:
        return EntityMetrics()
    lo, hi = row["min_us"] / US, row["max_us"] / US
    buckets = _BUCKETS.decode(row["buckets"])
    last: datetime = row["last_at"]
    return EntityMetrics(
        total_executions=calls,
        successful_executions=calls - failures,
        failed_executions=failures,
        failure_rate=failures / calls,
        min_response_time=lo,
        max_response_time=hi,
        avg_response_time=row["total_us"] / calls / US,
        p50_response_time=percentile(buckets, calls, 0.50, lo, hi),
        p95_response_time=percentile(buckets, calls, 0.95, lo, hi),
        p99_response_time=percentile(buckets, calls, 0.99, lo, hi),
        last_execution_time=last.astimezone(UTC).isoformat(),
    )


class MetricRows:
    """The metric tables behind the catalog's pool (one method per statement or transaction)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def insert_batch(self, kind: str, batch: dict[str, EntityStats]) -> int:
        """One router batch as raw rows, in one statement; returns the rows stored."""
        stats = [(entity_id, s) for entity_id, s in batch.items() if s.calls > 0]
        if not stats:
            return 0
        columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
        for entity_id, s in stats:
            mean = s.total_s / s.calls
            # An older router sends no minimum or last time: its mean and now stand for them.
            least = s.min_s if s.min_s is not None else mean
            values = (
                entity_id,
                s.calls,
                min(s.failures, s.calls),
                _us(s.total_s),
                _us(least),
                _us(max(s.max_s, least)),
                s.last_at if s.last_at is not None else datetime.now(UTC).timestamp(),
                _ENC.encode(s.buckets).decode(),
            )
            for column, value in zip(columns, values, strict=True):
                column.append(value)
        await self.pool.execute(_INSERT, kind, *columns)
        return len(stats)

    async def read(self, kind: str, ids: Sequence[str] | None) -> EntityMetrics:
        """The metrics of `ids` of `kind` summed (all of the kind: None)."""
        row = await self.pool.fetchrow(_READ, kind, None if ids is None else list(ids))
        return metrics_of(row)

    async def roll_up(self, period_s: float, now: datetime | None = None) -> int:
        """Add the raw rows of ended periods into their period rows; returns how many raw rows
        this call rolled up. Safe to run on every replica at once."""
        cutoff = period_start(now or datetime.now(UTC), period_s)
        done = 0
        while True:
            async with self.pool.acquire() as conn, conn.transaction():
                claimed = await conn.fetch(_CLAIM, cutoff, CLAIM)
                groups: dict[tuple[str, str, datetime], Rollup] = {}
                for r in claimed:
                    key = (r["kind"], r["entity_id"], period_start(r["last_at"], period_s))
                    share = Rollup(
                        r["calls"],
                        r["failures"],
                        r["total_us"],
                        r["min_us"],
                        r["max_us"],
                        r["last_at"],
                        _BUCKETS.decode(r["buckets"]),
                    )
                    if key in groups:
                        groups[key].add(share)
                    else:
                        groups[key] = share
                for (kind, entity_id, start), g in sorted(groups.items()):
                    await conn.execute(
                        _UPSERT,
                        kind,
                        entity_id,
                        start,
                        g.calls,
                        g.failures,
                        g.total_us,
                        g.min_us,
                        g.max_us,
                        g.last_at,
                        _ENC.encode(g.buckets).decode(),
                    )
            done += len(claimed)
            if len(claimed) < CLAIM:
                return done

    async def expire(self, retention_s: float) -> int:
        """Delete rolled-up raw rows received longer than `retention_s` ago."""
        status: str = await self.pool.execute(
            "DELETE FROM metric_samples WHERE rolled_up AND received_at < $1",
            datetime.now(UTC) - timedelta(seconds=retention_s),
        )
        return int(status.rsplit(" ", 1)[1])

    async def reset(self, kinds: Iterable[str], entity_id: str | None) -> None:
        """Forget the metrics of these kinds (of one entity of them: `entity_id`)."""
        async with self.pool.acquire() as conn, conn.transaction():
            for table in ("metric_samples", "metric_rollups"):
                await conn.execute(
                    f"DELETE FROM {table} WHERE kind = ANY($1) AND ($2::text IS NULL"
                    " OR entity_id = $2)",
                    list(kinds),
                    entity_id,
                )
