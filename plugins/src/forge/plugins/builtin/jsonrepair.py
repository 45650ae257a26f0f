"""JSON repair: near-JSON (as language models write it) made valid in arguments and results."""

from __future__ import annotations

import json
import re
from typing import Any

import msgspec

from forge.plugins.builtin import walk
from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.plugin import Plugin
from forge.plugins.result import PluginResult, modify

_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n?(.*?)\n?\s*```\s*$", re.DOTALL)
_WORDS = {"True": "true", "False": "false", "None": "null", "undefined": "null"}
_CLOSE = {"{": "}", "[": "]"}


def _rewrite(text: str) -> str:
    """One pass: quotes, bare keys and words, comments, trailing commas; then close brackets."""
    out: list[str] = []
    stack: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":
            j, buf = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j : j + 2])
                    j += 2
                    continue
                buf.append('\\"' if text[j] == '"' else text[j])
                j += 1
            body = "".join(buf)
            if c == "'":
                body = body.replace("\\'", "'")
            out.append(f'"{body}"')
            i = j + 1
        elif text.startswith("//", i):
            i = text.find("\n", i) if "\n" in text[i:] else n
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif c in "{[":
            stack.append(_CLOSE[c])
            out.append(c)
            i += 1
        elif c in "}]":
            while out and out[-1].strip() == "":
                out.pop()
            if out and out[-1] == ",":
                out.pop()
            if stack:
                stack.pop()
            out.append(c)
            i += 1
        elif c.isalpha() or c == "_" or c == "$":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_$-"):
                j += 1
            word = text[i:j]
            rest = text[j:].lstrip()
            if rest.startswith(":"):
                out.append(json.dumps(word))
            else:
                out.append(_WORDS.get(word, word))
            i = j
        else:
            out.append(c)
            i += 1
    while out and out[-1].strip() in ("", ","):
        out.pop()
    out.extend(reversed(stack))
    return "".join(out)


def repair(text: str) -> Any:
    """The JSON value `text` means, or raise ValueError when it cannot be made out."""
    fenced = _FENCE.match(text)
    body = fenced.group(1) if fenced else text
    try:
        return json.loads(body)
    except ValueError:
        return json.loads(_rewrite(body.strip()))


def _looks_like_json(text: str) -> bool:
    body = text.strip()
    if body.startswith("```"):
        return True
    return body[:1] in ("{", "[")


class JsonRepairConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Arguments that carry JSON as a string: repaired in place (still a string).
    fields: tuple[str, ...] = ()
    repair_results: bool = True  # text contents of results that look like broken JSON


class JsonRepair(Plugin):
    inline_safe = True
    Config = JsonRepairConfig

    @hookimpl
    def tool_pre_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        if not isinstance(payload, dict):
            return None
        raw = payload.get("arguments")
        if isinstance(raw, str):  # arguments sent as a JSON string: made an object
            try:
                value = repair(raw)
            except ValueError:
                return None
            return modify({**payload, "arguments": value}) if isinstance(value, dict) else None
        arguments = walk.arguments(payload)
        fixed = {}
        for name in self.settings.fields:
            text = arguments.get(name)
            if isinstance(text, str):
                try:
                    repaired = json.dumps(repair(text))
                except ValueError:
                    continue
                if repaired != text:
                    fixed[name] = repaired
        return modify({**payload, "arguments": {**arguments, **fixed}}) if fixed else None

    @hookimpl
    def tool_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        if not self.settings.repair_results or not isinstance(payload, dict):
            return None
        content = payload.get("content")
        if not isinstance(content, list):
            return None
        changed = False
        items = []
        for item in content:
            text = item.get("text") if isinstance(item, dict) else None
            if isinstance(text, str) and _looks_like_json(text):
                try:
                    json.loads(text)
                except ValueError:
                    try:
                        item = {**item, "text": json.dumps(repair(text))}
                        changed = True
                    except ValueError:
                        pass
            items.append(item)
        return modify({**payload, "content": items}) if changed else None
