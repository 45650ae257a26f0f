"""URL reputation: URLs in calls and results checked against allow / deny domains and patterns."""

from __future__ import annotations

import ipaddress
import re
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

from forge.plugins.builtin import walk
from forge.plugins.builtin.content import ContentPlugin
from forge.plugins.context import HookContext
from forge.plugins.patterns import compile_pattern
from forge.plugins.plugin import Host
from forge.plugins.result import PluginResult, block, modify

_URL = re.compile(r"\b(?:https?|ftp|wss?)://[^\s<>\"'`)\]]+", re.IGNORECASE)


class UrlReputationConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    # Domains match themselves and their subdomains; patterns are regexes on the whole URL.
    allow_domains: tuple[str, ...] = ()  # when set (or allow_patterns), nothing else passes
    allow_patterns: tuple[str, ...] = ()
    deny_domains: tuple[str, ...] = ()
    deny_patterns: tuple[str, ...] = ()
    block_ip_hosts: bool = False  # URLs to a literal IP address
    require_https: bool = False
    action: Literal["block", "redact"] = "block"
    replacement: str = "[blocked url]"


def _on(host: str, domains: tuple[str, ...]) -> bool:
    return any(host == d or host.endswith("." + d) for d in domains)


class UrlReputation(ContentPlugin):
    inline_safe = True
    Config = UrlReputationConfig

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        super().__init__(name, config, host)
        s = self.settings
        self.allow = [
            compile_pattern(name, p, field=f"config.allow_patterns[{i}]")
            for i, p in enumerate(s.allow_patterns)
        ]
        self.deny = [
            compile_pattern(name, p, field=f"config.deny_patterns[{i}]")
            for i, p in enumerate(s.deny_patterns)
        ]
        self.allow_domains = tuple(d.lower().strip(".") for d in s.allow_domains)
        self.deny_domains = tuple(d.lower().strip(".") for d in s.deny_domains)

    def verdict(self, url: str) -> str | None:
        """Why the URL is refused, or None."""
        s = self.settings
        try:
            parts = urlsplit(url)
            host = (parts.hostname or "").lower().rstrip(".")
        except ValueError:
            return "malformed"
        if s.require_https and parts.scheme.lower() not in ("https", "wss"):
            return "insecure_scheme"
        if s.block_ip_hosts:
            try:
                ipaddress.ip_address(host)
                return "ip_host"
            except ValueError:
                pass
        if _on(host, self.deny_domains) or any(p.search(url) for p in self.deny):
            return "denied"
        if (self.allow_domains or self.allow) and not (
            _on(host, self.allow_domains) or any(p.search(url) for p in self.allow)
        ):
            return "not_allowed"
        return None

    def inspect(self, payload: Any, context: HookContext) -> PluginResult | None:
        if self.settings.action == "block":
            for text in walk.texts(context.hook, payload):
                for match in _URL.finditer(text):
                    reason = self.verdict(match.group(0))
                    if reason is not None:
                        host = urlsplit(match.group(0)).hostname or ""
                        return block("url_blocked", "a URL is not allowed", host=host, why=reason)
            return None

        def redact(text: str) -> str:
            def one(match: re.Match[str]) -> str:
                bad = self.verdict(match.group(0)) is not None
                return self.settings.replacement if bad else match.group(0)

            out = _URL.sub(one, text)
            return text if out == text else out

        new = walk.apply(context.hook, payload, redact)
        return None if new is payload else modify(new)
