"""Running one hook's chain: priority order, conditions, modes, error policies, awaiting each.

pluggy holds the registrations and checks them against the hook specification; it cannot
await coroutine hooks, so the chain takes the implementations from it and awaits each itself.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pluggy

from forge.core import metrics, tracing
from forge.core.errors import InternalError, PluginViolationError
from forge.plugins.conditions import matches
from forge.plugins.config import BLOCKING, PluginEntry, PluginsConfig, specificity
from forge.plugins.context import HookContext
from forge.plugins.hookspec import HOOKS, PRE_HOOKS
from forge.plugins.plugin import Plugin
from forge.plugins.result import KEEP, PluginResult, Violation

log = logging.getLogger("forge.plugins.chain")


@dataclass(frozen=True)
class Link:
    """One plugin's implementation of one hook."""

    entry: PluginEntry
    plugin: Any
    function: Callable[..., Any]


@dataclass
class Outcome:
    """What a chain made of a payload. `result` is KEEP unless a pre hook answered instead of
    the call; `violations` are those that did not block (permissive and audit modes)."""

    payload: Any
    modified: bool = False
    result: Any = KEEP
    violations: list[tuple[str, Violation]] = field(default_factory=list)


def _copy(value: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(value))


class PluginSet:
    """The plugins one configuration made, ready to run; replaced whole on reload."""

    def __init__(
        self, config: PluginsConfig, pm: pluggy.PluginManager, plugins: dict[str, Any]
    ) -> None:
        self.config = config
        self.pm = pm
        self.plugins = plugins
        self.disabled: set[str] = set()  # by on_error: disable, until the next reload
        self.on_change: Callable[[], None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        entries = {entry.name: entry for entry in config.plugins}
        self.links: dict[str, list[Link]] = {}
        for hook in HOOKS:
            links = [
                Link(entries[impl.plugin_name], impl.plugin, impl.function)
                for impl in getattr(pm.hook, hook).get_hookimpls()
                if not entries[impl.plugin_name].hooks or hook in entries[impl.plugin_name].hooks
            ]
            links.sort(key=lambda link: (link.entry.priority, link.entry.name))
            if links:
                self.links[hook] = links

    def served(self) -> list[str]:
        """The hooks at least one active plugin implements, in specification order."""
        return [
            hook
            for hook in HOOKS
            if any(link.entry.name not in self.disabled for link in self.links.get(hook, ()))
        ]

    def select(self, hook: str, ctx: HookContext) -> list[Link]:
        """The links that run for this call, in order; an overriding entry that matches
        replaces the one it overrides (the most specific one wins)."""
        chosen = [
            link
            for link in self.links.get(hook, ())
            if link.entry.name not in self.disabled and matches(link.entry.conditions, ctx)
        ]
        overriding = [link for link in chosen if link.entry.overrides is not None]
        if not overriding:
            return chosen
        winners: dict[str, Link] = {}
        for link in sorted(overriding, key=lambda link: -specificity(link.entry)):
            winners.setdefault(link.entry.overrides or "", link)
        kept = {id(link) for link in winners.values()}
        return [
            link
            for link in chosen
            if link.entry.name not in winners and (link.entry.overrides is None or id(link) in kept)
        ]

    async def run(self, hook: str, payload: Any, ctx: HookContext) -> Outcome:
        """Run the chain; raise PluginViolationError when an enforcing plugin blocks."""
        self._inflight += 1
        self._idle.clear()
        try:
            return await self._run(hook, payload, ctx)
        finally:
            self._inflight -= 1
            if not self._inflight:
                self._idle.set()

    async def _run(self, hook: str, payload: Any, ctx: HookContext) -> Outcome:
        outcome = Outcome(payload)
        for link in self.select(hook, ctx):
            entry = link.entry
            audit = entry.mode == "audit"
            given = _copy(outcome.payload) if audit else outcome.payload
            started = time.perf_counter()
            if tracing.enabled():
                with tracing.span(f"plugin {entry.name}", tracing.INTERNAL, _traced(entry, hook)):
                    answer = await self._call(link, given, ctx)
            else:
                answer = await self._call(link, given, ctx)
            metrics.plugin_timed(entry.name, hook, started)
            if answer is None:
                continue
            if answer.violation is not None:
                self._violated(entry, answer.violation, ctx)
                if entry.mode in BLOCKING:
                    v = answer.violation
                    data: dict[str, Any] = {
                        "plugin": entry.name,
                        "code": v.code,
                        "reason": v.reason,
                    }
                    if v.details:
                        data["details"] = v.details
                    raise PluginViolationError(f"blocked by plugin {entry.name}: {v.reason}", data)
                outcome.violations.append((entry.name, answer.violation))
                if audit:
                    continue
            if audit:
                if answer.modified or answer.result is not KEEP:
                    log.info("audit: plugin would change the payload", extra=_fields(entry, ctx))
                continue
            if answer.modified:
                outcome.payload = answer.payload
                outcome.modified = True
            if answer.result is not KEEP:
                if hook in PRE_HOOKS:
                    outcome.result = answer.result
                    break
                outcome.payload = answer.result  # a post hook's payload is the result
                outcome.modified = True
        return outcome

    async def _call(self, link: Link, payload: Any, ctx: HookContext) -> PluginResult | None:
        entry = link.entry
        limit = entry.timeout_s or self.config.defaults.timeout_s
        if ctx.deadline is not None:
            limit = max(0.001, min(limit, ctx.deadline - time.time()))
        try:
            answer = link.function(payload, ctx)
            # Only an awaitable can be interrupted: a sync hook has run to its end already (and
            # a timeout context per sync hook costs tens of microseconds).
            if inspect.isawaitable(answer):
                async with asyncio.timeout(limit):
                    answer = await answer
            if answer is not None and not isinstance(answer, PluginResult):
                raise TypeError(f"hook returned {type(answer).__name__}, not a PluginResult")
            return answer
        except PluginViolationError:
            raise
        # The plugin boundary: whatever a plugin raises is its own failure, handled by policy.
        except Exception as exc:
            self._failed(entry, exc, ctx, timed_out=isinstance(exc, TimeoutError), limit=limit)
            return None

    def _failed(
        self, entry: PluginEntry, exc: Exception, ctx: HookContext, *, timed_out: bool, limit: float
    ) -> None:
        policy = entry.on_error
        if policy == "fail" and entry.mode in ("enforce_ignore_error", "audit"):
            policy = "ignore"  # these modes never fail a request for a plugin's crash
        error_id = uuid.uuid4().hex[:12]
        what = f"did not answer within {limit:g} s" if timed_out else "failed"
        log.error(
            "plugin %s %s (error id %s, on_error %s)",
            entry.name,
            what,
            error_id,
            policy,
            exc_info=None if timed_out else exc,
            extra=_fields(entry, ctx),
        )
        if policy == "disable":
            self.disabled.add(entry.name)
            log.warning("plugin %s disabled until the next reload", entry.name)
            if self.on_change is not None:
                self.on_change()
        elif policy == "fail":
            raise InternalError(f"plugin {entry.name} {what} (error id {error_id})")

    def _violated(self, entry: PluginEntry, violation: Violation, ctx: HookContext) -> None:
        blocked = entry.mode in BLOCKING
        log.warning(
            "plugin violation",
            extra={**_fields(entry, ctx), "code": violation.code, "blocked": blocked},
        )
        for name, plugin in self.plugins.items():
            observer = self.config.entry(name)
            notify = getattr(plugin, "on_violation", None)
            if observer is None or notify is None or name in self.disabled:
                continue
            if getattr(type(plugin), "on_violation", None) is Plugin.on_violation:
                continue  # the base class's no-op: not listening
            if observer.mode == "disabled" or not matches(observer.conditions, ctx):
                continue
            task = asyncio.create_task(self._notify(name, notify, entry.name, violation, ctx))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _notify(
        self, name: str, notify: Any, plugin: str, violation: Violation, ctx: HookContext
    ) -> None:
        try:
            noticed = notify(plugin, violation, ctx)
            if inspect.isawaitable(noticed):
                await noticed
        except Exception:  # the plugin boundary: an observer's failure only gets logged
            log.exception("plugin %s failed to take a violation notice", name)

    async def close(self, grace_s: float = 10.0) -> None:
        """Wait (a while) for calls in flight, then stop every plugin."""
        try:
            async with asyncio.timeout(grace_s):
                await self._idle.wait()
                if self._tasks:
                    await asyncio.wait(set(self._tasks))
        except TimeoutError:
            log.warning("closing plugins with calls still in flight")
        for name, plugin in self.plugins.items():
            stop = getattr(plugin, "stop", None)
            if stop is None:
                continue
            try:
                stopped = stop()
                if inspect.isawaitable(stopped):
                    await stopped
            except Exception:  # the plugin boundary: one plugin's failure must not stop the rest
                log.exception("plugin %s failed to stop", name)


def _fields(entry: PluginEntry, ctx: HookContext) -> dict[str, Any]:
    return {
        "plugin": entry.name,
        "mode": entry.mode,
        "hook": ctx.hook,
        "request_id": ctx.request_id,
        "target": ctx.target or "",
    }


def _traced(entry: PluginEntry, hook: str) -> dict[str, str]:
    """A plugin run's span attributes (docs/observability.md, Spans)."""
    return {
        "forge.plugin.name": entry.name,
        "forge.plugin.hook": hook,
        "forge.plugin.mode": entry.mode,
    }
