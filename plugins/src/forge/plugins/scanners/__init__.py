"""Guardrail scanners: PII (detect and mask), secrets, and encoded exfiltration.

Each runs in Rust (`forge_filters_native`, built by `make install` when cargo is present) or as
its pure-Python twin, which gives identical findings. `IMPLEMENTATION` says which one is active;
`FORGE_SCANNERS_IMPL=python` (or `rust`) forces one, read once at import.
"""

from __future__ import annotations

import os

from forge.plugins.scanners.config import (
    EXFIL_KINDS,
    PII_KINDS,
    SECRET_KINDS,
    ExfilConfig,
    PiiConfig,
    SecretsConfig,
)
from forge.plugins.scanners.findings import Finding
from forge.plugins.scanners.implementation import Scanners, choose
from forge.plugins.scanners.masking import MODES

_active = choose(os.environ.get("FORGE_SCANNERS_IMPL"))

IMPLEMENTATION: str = _active.name
scan_pii = _active.scan_pii
scan_secrets = _active.scan_secrets
scan_exfil = _active.scan_exfil
mask = _active.mask

__all__ = [
    "EXFIL_KINDS",
    "IMPLEMENTATION",
    "MODES",
    "PII_KINDS",
    "SECRET_KINDS",
    "ExfilConfig",
    "Finding",
    "PiiConfig",
    "Scanners",
    "SecretsConfig",
    "mask",
    "scan_exfil",
    "scan_pii",
    "scan_secrets",
]
