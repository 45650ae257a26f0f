"""The Rust implementation (`forge_filters_native`, built by `make install` when cargo is
present) behind the same signatures as the Python twin. Importing this module raises
ImportError when the extension is not built."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import forge_filters_native as _native

from forge.plugins.scanners import exfil, masking, pii, secrets
from forge.plugins.scanners.config import (
    DEFAULT_EXFIL,
    DEFAULT_PII,
    DEFAULT_SECRETS,
    ExfilConfig,
    PiiConfig,
    SecretsConfig,
)
from forge.plugins.scanners.findings import Finding

# Texts holding lone surrogates (possible in a Python str, impossible in UTF-8) cannot cross
# into Rust; the Python twin, which gives the same answers, takes those.


def scan_pii(text: str, config: PiiConfig = DEFAULT_PII) -> list[Finding]:
    try:
        rows = _native.scan_pii(text, list(config.kinds), config.dob_window)
    except UnicodeEncodeError:
        return pii.scan(text, config)
    return [Finding(*row) for row in rows]


def scan_secrets(text: str, config: SecretsConfig = DEFAULT_SECRETS) -> list[Finding]:
    try:
        rows = _native.scan_secrets(
            text, list(config.kinds), config.entropy_threshold, config.min_generic_length
        )
    except UnicodeEncodeError:
        return secrets.scan(text, config)
    return [Finding(*row) for row in rows]


def scan_exfil(text: str, config: ExfilConfig = DEFAULT_EXFIL) -> list[Finding]:
    try:
        rows = _native.scan_exfil(
            text, list(config.kinds), config.score_threshold, config.min_decoded_bytes
        )
    except UnicodeEncodeError:
        return exfil.scan(text, config)
    return [Finding(*row) for row in rows]


def mask(text: str, findings: Iterable[Sequence[Any]], mode: str = "redact") -> str:
    checked = masking.spans(text, findings, mode)
    try:
        return _native.mask(text, checked, mode)
    except UnicodeEncodeError:
        return masking.mask(text, checked, mode)


def patterns() -> list[tuple[str, str, str]]:
    """(scanner, name, pattern) of every regular expression the Rust core compiles."""
    return _native.patterns()
