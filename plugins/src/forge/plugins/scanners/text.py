"""Text helpers every scanner shares: ASCII case-insensitive patterns, word boundaries, entropy."""

from __future__ import annotations

import math
import string
from collections import Counter

ALNUM = frozenset(string.ascii_letters + string.digits)
DIGITS = frozenset(string.digits)


def ci(pattern: str) -> str:
    """Every ASCII letter outside a `[...]` class and not escaped, as `[Xx]`.

    Both regex engines then agree on case-insensitivity: no Unicode case folding (where `re`
    and Rust's `regex` differ, e.g. on the Kelvin sign) is ever involved.
    """
    out: list[str] = []
    in_class = escaped = False
    for c in pattern:
        if escaped:
            out.append(c)
            escaped = False
        elif c == "\\":
            out.append(c)
            escaped = True
        elif c == "[" and not in_class:
            in_class = True
            out.append(c)
        elif c == "]" and in_class:
            in_class = False
            out.append(c)
        elif c.isascii() and c.isalpha() and not in_class:
            out.append(f"[{c.upper()}{c.lower()}]")
        else:
            out.append(c)
    return "".join(out)


def before_ok(text: str, start: int) -> bool:
    """No ASCII letter or digit right before `start`."""
    return start == 0 or text[start - 1] not in ALNUM


def after_ok(text: str, end: int) -> bool:
    """No ASCII letter or digit right at `end`."""
    return end >= len(text) or text[end] not in ALNUM


def digits(s: str) -> list[int]:
    return [ord(c) - 48 for c in s if c in DIGITS]


def entropy(s: str) -> float:
    """Shannon entropy in bits per character, summed in code-point order (as the Rust core)."""
    n = len(s)
    h = 0.0
    for _, count in sorted(Counter(s).items()):
        p = count / n
        h -= p * math.log2(p)
    return h
