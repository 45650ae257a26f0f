"""Choosing between the Rust scanners and their pure-Python twins."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from forge.core.errors import InvalidParamsError
from forge.plugins.scanners import exfil, masking, pii, secrets
from forge.plugins.scanners.config import ExfilConfig, PiiConfig, SecretsConfig
from forge.plugins.scanners.findings import Finding

CHOICES = ("auto", "rust", "python")


@dataclass(frozen=True)
class Scanners:
    """One implementation of the four scanner functions; `name` is "rust" or "python"."""

    name: str
    scan_pii: Callable[[str, PiiConfig], list[Finding]]
    scan_secrets: Callable[[str, SecretsConfig], list[Finding]]
    scan_exfil: Callable[[str, ExfilConfig], list[Finding]]
    mask: Callable[[str, Iterable[Sequence[Any]], str], str]


def python() -> Scanners:
    return Scanners("python", pii.scan, secrets.scan, exfil.scan, masking.mask)


def rust() -> Scanners:
    """The Rust extension's scanners; ImportError when it is not built (`make install`)."""
    from forge.plugins.scanners import native

    return Scanners("rust", native.scan_pii, native.scan_secrets, native.scan_exfil, native.mask)


def choose(choice: str | None) -> Scanners:
    """ "rust" or "python" force one; "auto" (or nothing) takes Rust when it is built."""
    choice = (choice or "auto").strip().lower() or "auto"
    if choice not in CHOICES:
        raise InvalidParamsError(
            f"FORGE_SCANNERS_IMPL must be one of {', '.join(CHOICES)}, not {choice!r}"
        )
    if choice == "python":
        return python()
    if choice == "rust":
        return rust()
    try:
        return rust()
    except ImportError:
        return python()
