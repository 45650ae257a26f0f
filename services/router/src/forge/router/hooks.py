"""The router's plugin hooks: forge.plugins.inline_hooks (inline chains where the
plugin-runner allows them, the plugin-runner otherwise), under the router's name, with the
earlier call names some tools and tests still use."""

from __future__ import annotations

import time
from collections.abc import Callable

from forge.core.bus import Bus
from forge.core.plugin_hooks import DEFAULT_STALE_S, MANIFEST_GET_S
from forge.plugins.inline_hooks import DRAIN_S, InlineHooks
from forge.proto.envelope import Envelope

__all__ = ["DEFAULT_STALE_S", "DRAIN_S", "MANIFEST_GET_S", "Hooks"]


class Hooks(InlineHooks):
    """The served hooks, the inline chains, and the calls to the plugin-runner."""

    def __init__(
        self,
        bus: Bus,
        stale_s: float = DEFAULT_STALE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(bus, stale_s, clock, replica="router")

    # -- the earlier names (tools and tests written against them; no target team)

    async def run(self, hook: str, envelope: Envelope) -> Envelope:
        """A pre hook, ignoring an answer in the call's place."""
        return (await self.pre(hook, envelope))[0]

    async def run_post(self, hook: str, envelope: Envelope, result: bytes) -> bytes:
        return await self.post(hook, envelope, result)
