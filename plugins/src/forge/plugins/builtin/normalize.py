"""Argument normalizer: Unicode NFC (or NFKC), trimmed and collapsed whitespace, no control
characters, in the arguments of calls, before any other plugin looks at them."""

from __future__ import annotations

import re
import unicodedata
from typing import Any, Literal

import msgspec

from forge.plugins.builtin import walk
from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.plugin import Plugin
from forge.plugins.result import PluginResult, modify

_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")
# Zero-width characters and bidirectional controls: invisible, and used to hide text.
_INVISIBLE = re.compile(r"[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


class NormalizerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    unicode_form: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = "NFC"
    strip: bool = True
    collapse_spaces: bool = True
    remove_invisible: bool = True
    remove_control: bool = True  # C0/C1 controls except tab, newline and carriage return
    lowercase_fields: tuple[str, ...] = ()  # arguments to lowercase (e.g. emails)


def _no_controls(text: str) -> str:
    return "".join(c for c in text if c in "\t\n\r" or unicodedata.category(c) != "Cc")


class ArgumentNormalizer(Plugin):
    inline_safe = True
    Config = NormalizerConfig

    def normal(self, text: str) -> str:
        s = self.settings
        out = unicodedata.normalize(s.unicode_form, text) if s.unicode_form else text
        if s.remove_invisible:
            out = _INVISIBLE.sub("", out)
        if s.remove_control:
            out = _no_controls(out)
        if s.collapse_spaces:
            out = _SPACES.sub(" ", out)
        if s.strip:
            out = out.strip()
        return text if out == text else out

    def check(self, payload: Any, context: HookContext) -> PluginResult | None:
        new = walk.apply(context.hook, payload, self.normal)
        arguments = walk.arguments(new)
        lowered = {
            name: arguments[name].lower()
            for name in self.settings.lowercase_fields
            if isinstance(arguments.get(name), str) and arguments[name] != arguments[name].lower()
        }
        if lowered:
            new = {**new, "arguments": {**arguments, **lowered}}
        return None if new is payload else modify(new)

    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.check(payload, context)

    @hookimpl
    def prompt_pre_fetch(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.check(payload, context)

    @hookimpl
    def agent_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        return self.check(payload, context)
