"""SQL of sign-in throttling: consecutive failures per key, decayed as they are counted."""

from __future__ import annotations

from collections.abc import Sequence

from forge.registry.identity import records
from forge.registry.identity.store import Tx

# Each decay interval since the last failure halves the count; 30 halvings leave nothing.
# Never a negative shift: the stored time is rounded to microseconds, maybe just past `now`.
_DECAYED = (
    "(t.failures >> GREATEST(0, LEAST(30, floor(($2 - extract(epoch FROM t.last_failure))"
    " / GREATEST($3, 0.001))))::int)"
)
MAX_FAILURES = 1000  # the count stops here: enough for the longest backoff, and never overflows


async def states(tx: Tx, keys: Sequence[str]) -> dict[str, tuple[int, float]]:
    """Each known key's (failures, UNIX time of the last failure)."""
    found = await tx.fetch(
        "SELECT key, failures, last_failure FROM login_throttle WHERE key = any($1::text[])",
        list(keys),
    )
    return {r["key"]: (r["failures"], records.unix(r["last_failure"]) or 0.0) for r in found}


async def failed(tx: Tx, keys: Sequence[str], now: float, decay_s: float) -> None:
    """Count one failure on each key (after the decay since its last one); forget keys that
    have decayed to nothing, so keys of made-up emails do not pile up."""
    await tx.execute(
        "INSERT INTO login_throttle AS t (key, failures, last_failure)"
        " SELECT k, 1, to_timestamp($2) FROM unnest($1::text[]) AS k"
        " ON CONFLICT (key) DO UPDATE SET"
        f" failures = LEAST($4, {_DECAYED} + 1), last_failure = to_timestamp($2)",
        sorted(set(keys)),
        now,
        decay_s,
        MAX_FAILURES,
    )
    await tx.execute(
        "DELETE FROM login_throttle WHERE last_failure < to_timestamp($1)", now - 30 * decay_s
    )


async def clear(tx: Tx, key: str) -> None:
    await tx.execute("DELETE FROM login_throttle WHERE key = $1", key)
