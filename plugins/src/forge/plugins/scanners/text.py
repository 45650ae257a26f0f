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


_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)
_CELL_TRIM = " \t\r\"'"
CUE_WINDOW = 32  # code points before a value searched for a cue word


def ascii_lower(s: str) -> str:
    """A-Z lowered, nothing else touched (every offset stays where it was)."""
    return s.translate(_ASCII_LOWER)


def cue_before(text: str, start: int, cues: tuple[str, ...], window: int = CUE_WINDOW) -> bool:
    """A cue word (lowercase) in the `window` code points before `start` on the same line."""
    line = text.rfind("\n", 0, start) + 1
    near = ascii_lower(text[max(line, start - window) : start])
    return any(c in near for c in cues)


def header_cell(text: str, start: int) -> str | None:
    """The header of the table column `start` lies in, lowered, if it lies in a table.

    A table is a block of lines (a blank line or the text's start before it) whose first line
    (the header) holds a delimiter: the first of `,` `;` tab `|` found in both the header and
    the line of `start`; the column is the count of delimiters before `start` on its line.
    None outside a table, and on the first line.
    """
    line = text.rfind("\n", 0, start) + 1
    if line == 0:
        return None
    blank = text.rfind("\n\n", 0, line)
    top = 0 if blank < 0 else blank + 2
    if top >= line:
        return None
    header = text[top : text.find("\n", top)]
    nl = text.find("\n", start)
    row = text[line : len(text) if nl < 0 else nl]
    delim = next((d for d in ",;\t|" if d in header and d in row), None)
    if delim is None:
        return None
    cells = header.split(delim)
    col = text.count(delim, line, start)
    if col >= len(cells):
        return None
    return ascii_lower(cells[col].strip(_CELL_TRIM))
