"""Forge guardrail scanners in Rust; use them through forge.plugins.scanners."""

from typing import TypeAlias

__all__ = ["ScannerError", "mask", "patterns", "scan_exfil", "scan_pii", "scan_secrets"]

# (kind, start, end, score, detail); start and end are code-point offsets. The scans return
# them as forge.plugins.scanners.findings.Finding (a NamedTuple of these), imported on first use.
_Row: TypeAlias = tuple[str, int, int, float, str]

class ScannerError(ValueError):
    """A scanner was called with arguments it cannot use."""

def scan_pii(text: str, kinds: list[str], dob_window: int) -> list[_Row]: ...
def scan_secrets(
    text: str, kinds: list[str], entropy_threshold: float, min_generic_length: int
) -> list[_Row]: ...
def scan_exfil(
    text: str, kinds: list[str], score_threshold: float, min_decoded_bytes: int
) -> list[_Row]: ...
def mask(text: str, spans: list[tuple[str, int, int]], mode: str) -> str: ...
def patterns() -> list[tuple[str, str, str]]: ...
