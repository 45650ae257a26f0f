"""Circuit breaker (stop calling a failing tool for a while) and watchdog (withhold results
of calls that ran too long). State is per plugin-runner replica."""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import msgspec

from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.plugin import Host, Plugin
from forge.plugins.result import PluginResult, block

_MAX_TRACKED = 10_000  # requests remembered between their pre and post hook


class CircuitBreakerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    failure_threshold: int = 5  # consecutive failed results that open the circuit
    cooldown_s: float = 30.0  # how long it stays open before one trial call goes through
    per_server: bool = False  # one circuit per (virtual server, tool) instead of per tool


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    trial: bool = False  # half-open: one call is testing the tool


class CircuitBreaker(Plugin):
    """A tool whose results fail (`isError: true`) `failure_threshold` times in a row is not
    called for `cooldown_s`; then one call tries it and its result closes or reopens it."""

    Config = CircuitBreakerConfig

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        super().__init__(name, config, host)
        self.circuits: dict[str, _Circuit] = {}

    def _key(self, ctx: HookContext) -> str | None:
        if ctx.target is None:
            return None
        return f"{ctx.server_id or ''}/{ctx.target}" if self.settings.per_server else ctx.target

    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        key = self._key(context)
        circuit = self.circuits.get(key) if key is not None else None
        if circuit is None or circuit.opened_at is None:
            return None
        waited = time.monotonic() - circuit.opened_at
        if waited < self.settings.cooldown_s or circuit.trial:
            retry = max(0.0, self.settings.cooldown_s - waited)
            return block(
                "circuit_open",
                "the tool failed repeatedly and is paused",
                retry_after_s=round(retry, 1),
            )
        circuit.trial = True
        return None

    @hookimpl
    def tool_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        key = self._key(context)
        if key is None:
            return None
        circuit = self.circuits.setdefault(key, _Circuit())
        failed = isinstance(payload, dict) and payload.get("isError") is True
        if not failed:
            self.circuits.pop(key, None)
            return None
        circuit.failures += 1
        if circuit.trial or circuit.failures >= self.settings.failure_threshold:
            circuit.opened_at = time.monotonic()
            circuit.trial = False
        return None


class WatchdogConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_runtime_s: float = 30.0


class Watchdog(Plugin):
    """A call whose result comes back later than `max_runtime_s` after its pre hook is
    answered with a violation instead (its pre and post hooks must reach the same replica)."""

    Config = WatchdogConfig

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        super().__init__(name, config, host)
        self.started: OrderedDict[str, float] = OrderedDict()

    def _start(self, context: HookContext) -> None:
        if context.request_id:
            self.started[context.request_id] = time.monotonic()
            while len(self.started) > _MAX_TRACKED:
                self.started.popitem(last=False)

    def _finish(self, context: HookContext) -> PluginResult | None:
        started = self.started.pop(context.request_id, None)
        if started is None:
            return None
        took = time.monotonic() - started
        if took <= self.settings.max_runtime_s:
            return None
        return block(
            "runtime_exceeded",
            "the call ran longer than allowed",
            runtime_s=round(took, 3),
            limit_s=self.settings.max_runtime_s,
        )

    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        self._start(context)
        return None

    @hookimpl
    def tool_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self._finish(context)

    @hookimpl
    def agent_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        self._start(context)
        return None

    @hookimpl
    def agent_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self._finish(context)
