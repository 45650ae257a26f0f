"""Calls in flight on this replica, by envelope id, where `forge.cancel.<id>` finds them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from forge.core import subjects
from forge.core.bus import Bus
from forge.core.errors import RequestCancelledError

T = TypeVar("T")


class Calls:
    """A cancel interrupts the call's own task: no extra task or waiter per call."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.racing: dict[str, asyncio.Task[object]] = {}
        self.cancelled: set[str] = set()

    async def start(self) -> None:
        await self.bus.subscribe(subjects.CANCEL_ANY, self._on_cancel)

    async def race(self, request_id: str, work: Awaitable[T]) -> T:
        """Await `work`, unless the client cancels first (then RequestCancelledError, -32800:
        the HTTP request to the agent is closed with it)."""
        task = asyncio.current_task()
        if task is None:
            return await work
        self.racing[request_id] = task
        try:
            return await work
        except asyncio.CancelledError:
            if request_id in self.cancelled and task.uncancel() == 0:
                raise RequestCancelledError("the client cancelled the request") from None
            raise
        finally:
            self.racing.pop(request_id, None)
            self.cancelled.discard(request_id)

    async def _on_cancel(self, subject: str, data: bytes) -> None:
        request_id = subjects.request_of(subject)
        task = self.racing.get(request_id)
        if task is not None and request_id not in self.cancelled:
            self.cancelled.add(request_id)
            task.cancel()
