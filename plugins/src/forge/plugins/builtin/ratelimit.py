"""Rate limiter: calls per user, team, tool (or user and tool) per window, counted in a NATS
key-value bucket so that every plugin-runner replica shares the counts."""

from __future__ import annotations

import hashlib
import re
import time
from collections import defaultdict
from typing import Any

import msgspec

from forge.plugins.config import PluginConfigError
from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.plugin import Host, Plugin
from forge.plugins.result import PluginResult, block

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(s|sec|second|m|min|minute|h|hour|d|day)s?\s*$")
_UNIT_S = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600}
_UNIT_S |= {"hour": 3600, "d": 86400, "day": 86400}


def parse_rate(text: str) -> tuple[int, int]:
    """ "60/m", "10/s", "1000/h", "5/10s" -> (count, window seconds)."""
    match = _RATE.match(text)
    if match is None:
        raise ValueError(f"bad rate {text!r}: write it as count/unit, e.g. 60/m or 5/10s")
    count, times, unit = int(match.group(1)), int(match.group(2) or 1), match.group(3)
    return count, times * _UNIT_S[unit]


def _current(at: tuple[str, int, int], now: float) -> bool:
    _, window, index = at
    return (index + 1) * window > now


class RateLimiterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    by_user: str | None = None  # e.g. "60/m"
    by_team: str | None = None  # each team of the caller but the personal one (if any other)
    by_tool: str | None = None  # every caller of one tool together
    by_user_tool: str | None = None
    bucket_prefix: str = "forge_ratelimit"


class RateLimiter(Plugin):
    """Fixed windows. Each allowed call claims the next free slot `<key>.<window>.<n>` with a
    create-if-absent in the bucket; when slot `limit` would be needed the call is refused.
    Without a bus (unit use) it counts in memory."""

    Config = RateLimiterConfig

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        super().__init__(name, config, host)
        self.rates: dict[str, tuple[int, int]] = {}
        for dimension in ("user", "team", "tool", "user_tool"):
            text = getattr(self.settings, f"by_{dimension}")
            if text is not None:
                try:
                    self.rates[dimension] = parse_rate(text)
                except ValueError as exc:
                    raise PluginConfigError(f"plugin {name!r}: {exc}") from exc
        # Per (key, window, window index): the first slot this replica has not seen taken.
        self.next_slot: dict[tuple[str, int, int], int] = {}
        self.local: defaultdict[tuple[str, int, int], int] = defaultdict(int)

    def _keys(self, dimension: str, ctx: HookContext) -> list[str]:
        teams = list(ctx.principal.teams[1:] or ctx.principal.teams[:1])
        values = {
            "user": [ctx.user],
            "team": teams,
            "tool": [ctx.target] if ctx.target else [],
            "user_tool": [f"{ctx.user}\n{ctx.target}"] if ctx.target else [],
        }[dimension]
        return [f"{dimension}." + hashlib.sha256(v.encode()).hexdigest()[:32] for v in values]

    async def _claim(self, key: str, limit: int, window: int) -> bool:
        now = time.time()
        index = int(now // window)
        at = (key, window, index)
        if len(self.next_slot) + len(self.local) > 10_000:  # forget windows long gone
            self.next_slot = {k: v for k, v in self.next_slot.items() if _current(k, now)}
            self.local = defaultdict(int, {k: v for k, v in self.local.items() if _current(k, now)})
        bus = self.host.bus
        if bus is None:
            if self.local[at] >= limit:
                return False
            self.local[at] += 1
            return True
        bucket = f"{self.settings.bucket_prefix}_{window}s"
        slot = self.next_slot.get(at, 0)
        while slot < limit:
            claimed = await bus.kv_create(bucket, f"{key}.{index}.{slot}", b"1", ttl_s=2 * window)
            slot += 1
            if claimed:
                break
        else:
            self.next_slot[at] = limit
            return False
        self.next_slot[at] = slot
        return True

    async def check(self, context: HookContext) -> PluginResult | None:
        for dimension, (limit, window) in self.rates.items():
            for key in self._keys(dimension, context):
                if not await self._claim(key, limit, window):
                    retry = window - time.time() % window
                    return block(
                        "rate_limited",
                        f"too many requests: at most {limit} per {window} s by {dimension}",
                        dimension=dimension,
                        limit=limit,
                        window_s=window,
                        retry_after_s=round(retry, 1),
                    )
        return None

    @hookimpl
    async def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return await self.check(context)

    @hookimpl
    async def prompt_pre_fetch(self, payload: Any, context: HookContext) -> PluginResult | None:
        return await self.check(context)

    @hookimpl
    async def resource_pre_fetch(self, payload: Any, context: HookContext) -> PluginResult | None:
        return await self.check(context)

    @hookimpl
    async def agent_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return await self.check(context)
