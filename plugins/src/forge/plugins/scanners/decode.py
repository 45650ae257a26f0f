"""Decoders for encoded payloads (base64 and base64url, hex, percent-encoding, `\\xNN` and
`\\uNNNN` escapes) and the "is this printable text" test, shared by the JWT check and the
exfiltration scanner."""

from __future__ import annotations

import binascii
import re
from urllib.parse import unquote_to_bytes

_URL_TO_STD = str.maketrans("-_", "+/")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def base64(s: str, *, url: bool) -> bytes | None:
    """Unpadded base64 (`url` picks the `-_` alphabet) to bytes; None on a foreign character or
    a length no encoder produces. Callers pass only characters of the base64 alphabets."""
    if len(s) % 4 == 1:
        return None
    if url:
        if "+" in s or "/" in s:
            return None
        s = s.translate(_URL_TO_STD)
    elif "-" in s or "_" in s:
        return None
    return binascii.a2b_base64(s + "=" * (-len(s) % 4))


def hex_bytes(s: str) -> bytes | None:
    """Even-length hex digits to bytes; None on an odd length."""
    if len(s) % 2:
        return None
    return bytes.fromhex(s)


def percent(s: str) -> bytes:
    """`%XX` to its byte; every other character stays (no `+` to space)."""
    return unquote_to_bytes(s)


def escapes(s: str) -> bytes:
    """A run of `\\xNN` (one byte each) and `\\uNNNN` (one UTF-16 unit each: a surrogate pair
    makes one character, a lone surrogate becomes U+FFFD) escapes."""
    out = bytearray()
    i, n = 0, len(s)
    while i + 1 < n:
        if s[i + 1] == "x":
            out.append(int(s[i + 2 : i + 4], 16))
            i += 4
            continue
        u = int(s[i + 2 : i + 6], 16)
        i += 6
        if 0xD800 <= u < 0xDC00 and i + 1 < n and s[i + 1] == "u":
            low = int(s[i + 2 : i + 6], 16)
            if 0xDC00 <= low < 0xE000:
                out += chr(0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00)).encode()
                i += 6
                continue
        out += ("\ufffd" if 0xD800 <= u < 0xE000 else chr(u)).encode()
    return bytes(out)


def as_text(b: bytes) -> str | None:
    """The bytes as text when they are UTF-8 without control characters (tab, newline and
    carriage return allowed)."""
    try:
        s = b.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not s or _CONTROL.search(s):
        return None
    return s
