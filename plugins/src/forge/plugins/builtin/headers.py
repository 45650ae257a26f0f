"""Header filter: HTTP headers removed (or required) at the edge, on requests and responses."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

import msgspec

from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.plugin import Plugin
from forge.plugins.result import PluginResult, block, modify


class HeaderFilterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Shell-style patterns on lower-case header names.
    deny_request: tuple[str, ...] = ()  # removed from requests
    allow_request: tuple[str, ...] = ()  # when set, every other request header is removed
    deny_response: tuple[str, ...] = ("server", "x-powered-by")  # removed from responses
    require_request: tuple[str, ...] = ()  # a request without one of these is refused
    # Refuse (instead of quietly removing) a request carrying a denied header.
    block_denied: bool = False


def _hit(name: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatchcase(name, p.lower()) for p in patterns)


def _filtered(
    headers: dict[str, Any], deny: tuple[str, ...], allow: tuple[str, ...]
) -> dict[str, Any]:
    return {
        k: v
        for k, v in headers.items()
        if not _hit(k.lower(), deny) and (not allow or _hit(k.lower(), allow))
    }


class HeaderFilter(Plugin):
    inline_safe = True
    Config = HeaderFilterConfig

    @hookimpl
    def http_pre_request(self, payload: Any, context: HookContext) -> PluginResult | None:
        headers = payload.get("headers") if isinstance(payload, dict) else None
        if not isinstance(headers, dict):
            return None
        s = self.settings
        names = {k.lower() for k in headers}
        missing = [h for h in s.require_request if h.lower() not in names]
        if missing:
            return block("missing_header", "a required header is missing", headers=missing)
        if s.block_denied:
            denied = sorted(n for n in names if _hit(n, s.deny_request))
            if denied:
                return block("denied_header", "the request carries a denied header", headers=denied)
        kept = _filtered(headers, s.deny_request, s.allow_request)
        return None if len(kept) == len(headers) else modify({**payload, "headers": kept})

    @hookimpl
    def http_post_request(self, payload: Any, context: HookContext) -> PluginResult | None:
        headers = payload.get("headers") if isinstance(payload, dict) else None
        if not isinstance(headers, dict):
            return None
        kept = _filtered(headers, self.settings.deny_response, ())
        return None if len(kept) == len(headers) else modify({**payload, "headers": kept})
