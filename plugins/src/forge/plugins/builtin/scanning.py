"""PII filter, secrets detection and encoded-exfiltration detection: the guardrail scanners
(forge.plugins.scanners, Rust or its Python twin) applied to the text of calls and results.

Settings are the scanner's own (`kinds`, thresholds: see forge.plugins.scanners.config) plus
`action` ("mask" rewrites each finding, "block" refuses) and `mask_mode` (redact, partial,
hash). A violation names the kinds found and how many, never the values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, Literal

import msgspec

from forge.core.errors import ForgeError
from forge.plugins import scanners
from forge.plugins.builtin import walk
from forge.plugins.builtin.content import ContentPlugin
from forge.plugins.config import PluginConfigError
from forge.plugins.context import HookContext
from forge.plugins.plugin import Host
from forge.plugins.result import PluginResult, block, modify
from forge.plugins.scanners import Finding

Action = Literal["mask", "block"]


class ScanPolicy(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    action: Action = "mask"
    mask_mode: Literal["redact", "partial", "hash"] = "redact"


class ScannerPlugin(ContentPlugin):
    """One scanner over every call and result hook."""

    inline_safe = True

    Scanner: ClassVar[type[msgspec.Struct]]
    # the active implementation's scan function for `Scanner` (forge.plugins.scanners)
    find: ClassVar[staticmethod[[str, Any], list[Finding]]]
    default_action: ClassVar[Action] = "mask"
    violation_code: ClassVar[str] = ""
    reason: ClassVar[str] = ""

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        policy = {k: config[k] for k in ("action", "mask_mode") if k in config}
        rest = {k: v for k, v in config.items() if k not in ("action", "mask_mode")}
        super().__init__(name, {}, host)
        try:
            self.policy = msgspec.convert(
                {"action": self.default_action, **policy}, ScanPolicy, strict=False
            )
            self.scanner_config: Any = msgspec.convert(rest, self.Scanner, strict=False)
        except (msgspec.ValidationError, ForgeError) as exc:
            raise PluginConfigError(f"plugin {name!r}: bad config: {exc}") from exc

    def scan(self, text: str) -> list[Finding]:
        return self.find(text, self.scanner_config)

    def inspect(self, payload: Any, context: HookContext) -> PluginResult | None:
        if self.policy.action == "block":
            kinds: dict[str, int] = {}
            for text in walk.texts(context.hook, payload):
                for finding in self.scan(text):
                    kinds[finding.kind] = kinds.get(finding.kind, 0) + 1
            if kinds:
                return block(
                    self.violation_code, self.reason, kinds=sorted(kinds), count=sum(kinds.values())
                )
            return None
        new = walk.apply(context.hook, payload, self._masker())
        return None if new is payload else modify(new)

    def _masker(self) -> Callable[[str], str]:
        def mask(text: str) -> str:
            findings = self.scan(text)
            if not findings:
                return text
            return scanners.mask(text, findings, self.policy.mask_mode)

        return mask


class PiiFilter(ScannerPlugin):
    Scanner = scanners.PiiConfig
    find = staticmethod(scanners.scan_pii)
    violation_code = "pii_detected"
    reason = "the request contains personal data"


class SecretsDetection(ScannerPlugin):
    Scanner = scanners.SecretsConfig
    find = staticmethod(scanners.scan_secrets)
    default_action = "block"
    violation_code = "secret_detected"
    reason = "the request contains a secret"


class ExfilDetection(ScannerPlugin):
    Scanner = scanners.ExfilConfig
    find = staticmethod(scanners.scan_exfil)
    default_action = "block"
    violation_code = "encoded_exfiltration"
    reason = "the request carries an encoded payload"
