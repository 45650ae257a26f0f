"""The Rust implementation (`forge_filters_native`, built by `make install` when cargo is
present) behind the same signatures as the Python twin. Importing this module raises
ImportError when the extension is not built."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar, cast

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

_Config = TypeVar("_Config", PiiConfig, SecretsConfig, ExfilConfig)


def _scan(
    text: str,
    config: _Config,
    twin: Callable[[str, _Config], list[Finding]],
    native: Callable[..., list[tuple[str, int, int, float, str]]],
    *settings: float,
) -> list[Finding]:
    """`native`'s findings with the config's kinds and `settings`. Texts holding lone surrogates
    (possible in a Python str, impossible in UTF-8) cannot cross into Rust; the Python twin,
    which gives the same answers, takes those."""
    try:
        rows = native(text, list(config.kinds), *settings)
    except UnicodeEncodeError:
        return twin(text, config)
    # the extension builds the Finding tuples itself (no Python-level call per finding)
    return cast(list[Finding], rows)


def scan_pii(text: str, config: PiiConfig = DEFAULT_PII) -> list[Finding]:
    return _scan(text, config, pii.scan, _native.scan_pii, config.dob_window)


def scan_secrets(text: str, config: SecretsConfig = DEFAULT_SECRETS) -> list[Finding]:
    settings = (config.entropy_threshold, config.min_generic_length)
    return _scan(text, config, secrets.scan, _native.scan_secrets, *settings)


def scan_exfil(text: str, config: ExfilConfig = DEFAULT_EXFIL) -> list[Finding]:
    settings = (config.score_threshold, config.min_decoded_bytes)
    return _scan(text, config, exfil.scan, _native.scan_exfil, *settings)


def mask(text: str, findings: Iterable[Sequence[Any]], mode: str = "redact") -> str:
    checked = masking.spans(text, findings, mode)
    try:
        return _native.mask(text, checked, mode)
    except UnicodeEncodeError:
        return masking.mask(text, checked, mode)


def patterns() -> list[tuple[str, str, str]]:
    """(scanner, name, pattern) of every regular expression the Rust core compiles."""
    return _native.patterns()
