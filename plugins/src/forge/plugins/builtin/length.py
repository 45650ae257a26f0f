"""Output length guard: results whose text is too long (or too short) are cut or refused."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from forge.plugins.builtin import walk
from forge.plugins.builtin.content import ResultPlugin
from forge.plugins.context import HookContext
from forge.plugins.result import PluginResult, block, modify


class OutputLengthConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    max_chars: int | None = 10_000  # the total of every text in the result
    min_chars: int = 0
    # "truncate" cuts each text past the budget and appends the marker; "block" refuses.
    action: Literal["truncate", "block"] = "truncate"
    marker: str = "…"


class OutputLengthGuard(ResultPlugin):
    inline_safe = True
    Config = OutputLengthConfig

    def inspect(self, payload: Any, context: HookContext) -> PluginResult | None:
        total = sum(len(text) for text in walk.texts(context.hook, payload))
        limit = self.settings.max_chars
        if total < self.settings.min_chars:
            return block("output_too_short", "the result is shorter than allowed", chars=total)
        if limit is None or total <= limit:
            return None
        if self.settings.action == "block":
            return block("output_too_long", "the result is longer than allowed", chars=total)
        budget = [limit]

        def cut(text: str) -> str:
            keep = min(len(text), budget[0])
            budget[0] -= keep
            return text if keep == len(text) else text[:keep] + self.settings.marker

        return modify(walk.apply(context.hook, payload, cut))
