"""Masking findings out of a text, the pure-Python twin of forge-filters-core's `masking.rs`:
`redact` (`[REDACTED:KIND]`), `partial` (keep a few edge characters, star the other letters and
digits) and `hash` (`[KIND:` + 8 hex digits of the SHA-256 of the value + `]`)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

from forge.core.errors import InvalidParamsError
from forge.plugins.scanners.text import ALNUM

MODES = ("redact", "partial", "hash")
Span = tuple[str, int, int]

# letters and digits kept at the (start, end) of a value in partial mode; never more than half
_KEEP = {
    "CREDIT_CARD": (0, 4),
    "US_SSN": (0, 4),
    "IN_AADHAAR": (0, 4),
    "IBAN": (2, 4),
    "PHONE": (0, 2),
    "DE_TAX_ID": (0, 2),
    "IPV4": (3, 0),
    "IPV6": (4, 0),
    "DATE_OF_BIRTH": (0, 0),
    "UK_NINO": (2, 1),
    "FR_INSEE": (1, 0),
    "EMAIL": (1, 0),
}
_DEFAULT_KEEP = (4, 0)


def spans(text: str, findings: Iterable[Sequence[Any]], mode: str) -> list[Span]:
    """(kind, start, end) of each finding (or tuple), checked against the text and the mode."""
    if mode not in MODES:
        raise InvalidParamsError(f"unknown masking mode {mode!r}; use one of {', '.join(MODES)}")
    total = len(text)
    out: list[Span] = []
    for f in findings:
        kind, start, end = f[0], f[1], f[2]
        if not (isinstance(kind, str) and isinstance(start, int) and isinstance(end, int)):
            raise InvalidParamsError("a finding is (kind, start, end, ...)")
        if not 0 <= start < end <= total:
            raise InvalidParamsError(
                f"span {start}..{end} is not inside a text of {total} characters"
            )
        out.append((kind, start, end))
    return out


def _partial(kind: str, value: str) -> str:
    head, tail = value, ""
    if kind == "EMAIL" and "@" in value:
        at = value.index("@")
        head, tail = value[:at], value[at:]
    keep_start, keep_end = _KEEP.get(kind, _DEFAULT_KEEP)
    n = sum(1 for c in head if c in ALNUM)
    budget = n // 2
    keep_end = min(keep_end, budget)
    keep_start = min(keep_start, budget - keep_end)
    out: list[str] = []
    i = 0
    for c in head:
        if c in ALNUM:
            out.append(c if i < keep_start or i >= n - keep_end else "*")
            i += 1
        else:
            out.append(c)
    return "".join(out) + tail


def _replacement(kind: str, value: str, mode: str) -> str:
    if mode == "redact":
        return f"[REDACTED:{kind}]"
    if mode == "partial":
        return _partial(kind, value)
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return f"[{kind}:{digest[:8]}]"


def mask(text: str, findings: Iterable[Sequence[Any]], mode: str = "redact") -> str:
    """`text` with each finding's span replaced; spans are taken in order of start, and one
    that overlaps an earlier span is left out."""
    order = sorted(spans(text, findings, mode), key=lambda s: (s[1], s[2], s[0]))
    out: list[str] = []
    done = 0
    for kind, start, end in order:
        if start < done:
            continue
        out.append(text[done:start])
        out.append(_replacement(kind, text[start:end], mode))
        done = end
    out.append(text[done:])
    return "".join(out)
