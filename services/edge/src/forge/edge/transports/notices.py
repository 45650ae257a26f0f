"""Catalog change notices for long-lived streams: one bus subscription per edge, debounced."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from forge.core import subjects
from forge.core.bus import Bus, Subscription

# Bursts of catalog events (a gateway registration changes tools, then servers) become one notice.
DEBOUNCE_S = 0.1
TOOLS, RESOURCES, PROMPTS = "tools", "resources", "prompts"
ALL_KINDS = frozenset({TOOLS, RESOURCES, PROMPTS})
LIST_CHANGED = {
    TOOLS: "notifications/tools/list_changed",
    RESOURCES: "notifications/resources/list_changed",
    PROMPTS: "notifications/prompts/list_changed",
}
# Which client-visible lists an event of a catalog entity may change. Gateway events come with
# their own tools/resources/prompts events, so they add nothing (and health updates stay quiet).
_KINDS_OF_ENTITY = {
    "tools": frozenset({TOOLS}),
    "resources": frozenset({RESOURCES}),
    "resource_templates": frozenset({RESOURCES}),
    "templates": frozenset({RESOURCES}),
    "prompts": frozenset({PROMPTS}),
    "servers": ALL_KINDS,
}

Listener = Callable[[frozenset[str]], None]
# A chunk of a large gateway's tools.changed that is not its last (decision 0034): the caches
# swap the set in at the final chunk, so only that one changes a list. The field is written
# after the tools, just before `count`, so the message's tail says (nothing is decoded).
_NOT_FINAL = b'"final":false,'
_TAIL = 64


class Notices:
    """Tells every registered listener which lists changed, at most once per debounce window."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.listeners: set[Listener] = set()
        self._sub: Subscription | None = None
        self._lock = asyncio.Lock()
        self._pending: set[str] = set()
        self._timer: asyncio.TimerHandle | None = None

    async def add(self, listener: Listener) -> None:
        """Register a listener; the first one subscribes this edge to catalog events."""
        async with self._lock:
            if self._sub is None:
                self._sub = await self.bus.subscribe(subjects.CATALOG_EVENTS, self._on_event)
                await self.bus.flush()
        self.listeners.add(listener)

    def remove(self, listener: Listener) -> None:
        self.listeners.discard(listener)

    async def _on_event(self, subject: str, data: bytes) -> None:
        parts = subject.split(".")
        kinds = _KINDS_OF_ENTITY.get(parts[3]) if len(parts) > 3 else None
        if not kinds or not self.listeners:
            return
        if parts[3] == "tools" and _NOT_FINAL in data[-_TAIL:]:
            return
        self._pending |= kinds
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(DEBOUNCE_S, self._flush)

    def _flush(self) -> None:
        kinds = frozenset(self._pending)
        self._pending.clear()
        self._timer = None
        for listener in list(self.listeners):
            listener(kinds)
