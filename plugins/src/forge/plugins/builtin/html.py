"""HTML sanitizer: scripts, styles, embeds, event handlers and script URLs out of results."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

import msgspec

from forge.plugins.builtin import walk
from forge.plugins.builtin.content import ResultPlugin
from forge.plugins.context import HookContext
from forge.plugins.result import PluginResult, modify

# Dropped together with everything inside them.
_DROP = frozenset({"script", "style", "iframe", "object", "embed", "noscript", "template", "frame"})
_URL_ATTRS = frozenset({"href", "src", "action", "formaction", "xlink:href", "srcset", "poster"})
_BAD_SCHEMES = ("javascript:", "vbscript:", "data:text/html")
_TAG = re.compile(r"<[a-zA-Z!/?]")


class HtmlSanitizerConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Tags kept (their text stays either way); empty: every tag but the dangerous ones.
    allowed_tags: tuple[str, ...] = ()
    strip_all_tags: bool = False  # plain text only


class _Sanitizer(HTMLParser):
    def __init__(self, allowed: frozenset[str], strip_all: bool) -> None:
        super().__init__(convert_charrefs=False)
        self.allowed = allowed
        self.strip_all = strip_all
        self.out: list[str] = []
        self.dropping = 0

    def _keeps(self, tag: str) -> bool:
        return not self.strip_all and (not self.allowed or tag in self.allowed)

    def _open(self, tag: str, attrs: list[tuple[str, str | None]], end: str) -> None:
        kept = []
        for name, value in attrs:
            if name.startswith("on") or name == "style":
                continue
            if name in _URL_ATTRS and value is not None:
                squashed = "".join(value.split()).lower()
                if squashed.startswith(_BAD_SCHEMES):
                    continue
            kept.append(name if value is None else f'{name}="{html.escape(value)}"')
        self.out.append(f"<{' '.join([tag, *kept])}{end}>")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _DROP:
            self.dropping += 1
        elif not self.dropping and self._keeps(tag):
            self._open(tag, attrs, "")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in _DROP and not self.dropping and self._keeps(tag):
            self._open(tag, attrs, " /")

    def handle_endtag(self, tag: str) -> None:
        if tag in _DROP:
            self.dropping = max(0, self.dropping - 1)
        elif not self.dropping and self._keeps(tag):
            self.out.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        if not self.dropping:
            self.out.append(html.escape(data, quote=False))

    def handle_entityref(self, name: str) -> None:
        if not self.dropping:
            self.out.append(f"&{name};")

    def handle_charref(self, name: str) -> None:
        if not self.dropping:
            self.out.append(f"&#{name};")


def sanitize(text: str, allowed: frozenset[str] = frozenset(), strip_all: bool = False) -> str:
    if not _TAG.search(text):
        return text  # no markup: plain text (even with a lone `<` or `&`) is left as it is
    parser = _Sanitizer(allowed, strip_all)
    parser.feed(text)
    parser.close()
    out = "".join(parser.out)
    return text if out == text else out


class HtmlSanitizer(ResultPlugin):
    inline_safe = True
    Config = HtmlSanitizerConfig

    def inspect(self, payload: Any, context: HookContext) -> PluginResult | None:
        allowed = frozenset(tag.lower() for tag in self.settings.allowed_tags)

        def one(text: str) -> str:
            return sanitize(text, allowed, self.settings.strip_all_tags)

        new = walk.apply(context.hook, payload, one)
        return None if new is payload else modify(new)
