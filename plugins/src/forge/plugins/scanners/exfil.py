"""Encoded-exfiltration detection, the pure-Python twin of forge-filters-core's `exfil.rs`:
base64, base64url, hex, percent-encoded and escaped (`\\xNN`, `\\uNNNN`) payloads, scored by the
entropy of the encoding and by what they decode to (printable text, secret-looking words, a URL,
a known secret pattern).

The score is a sum of fixed terms added in the Rust order, so both compute the same float."""

from __future__ import annotations

import re

from forge.plugins.scanners import decode
from forge.plugins.scanners import secrets as secret_scan
from forge.plugins.scanners.config import DEFAULT_EXFIL, EXFIL_KINDS, ExfilConfig
from forge.plugins.scanners.findings import Candidate, Finding, resolve
from forge.plugins.scanners.text import entropy

ESCAPED, PERCENT_ENCODED, HEX, BASE64URL, BASE64 = range(5)
# bits per character of each alphabet, to normalise the entropy term
_MAX_BITS = (4.0, 6.0, 4.0, 6.0, 6.0)
_KEYWORDS = (
    b"password",
    b"passwd",
    b"secret",
    b"token",
    b"api_key",
    b"apikey",
    b"private key",
    b"-----begin",
    b"ssh-rsa",
    b"authorization",
    b"bearer ",
    b"credential",
)
_MIN_ESCAPES = 2

# (name, pattern) of the candidate finders; which base64 alphabet a run uses is decided in code.
PATTERNS: tuple[tuple[str, str], ...] = (
    ("ESCAPED", r"(?:\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}){4,}"),
    ("PERCENT_ENCODED", r"(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9._~+-]){12,}"),
    ("HEX", r"[0-9A-Fa-f]{16,}"),
    ("BASE64", r"[A-Za-z0-9+/_-]{16,}={0,2}"),
)
_RES = tuple(re.compile(p) for _, p in PATTERNS)


def score(kind: int, encoded: str, decoded: bytes, config: ExfilConfig) -> tuple[float, str] | None:
    """The score and the hints of one decoded payload; None when it decodes to too little."""
    if len(decoded) < config.min_decoded_bytes:
        return None
    text = decode.as_text(decoded)
    hints: list[str] = []
    total = 0.0
    if text is not None:
        total += 0.25
        hints.append("text")
    total += 0.2 * min(entropy(encoded) / _MAX_BITS[kind], 1.0)
    if len(decoded) >= 48:
        total += 0.1
    if text is not None:
        lower = decoded.lower()
        if any(k in lower for k in _KEYWORDS):
            total += 0.35
            hints.append("keyword")
        if b"http://" in lower or b"https://" in lower:
            total += 0.3
            hints.append("url")
        if secret_scan.scan(text):
            total += 0.5
            hints.append("secret")
    return min(total, 1.0), ",".join(hints)


def _consider(
    out: list[Candidate],
    kind: int,
    s: int,
    e: int,
    encoded: str,
    decoded: bytes | None,
    config: ExfilConfig,
) -> None:
    if decoded is None:
        return
    scored = score(kind, encoded, decoded, config)
    if scored is not None and scored[0] >= config.score_threshold:
        out.append((kind, EXFIL_KINDS[kind], s, e, scored[0], scored[1]))


def scan(text: str, config: ExfilConfig = DEFAULT_EXFIL) -> list[Finding]:
    """Every encoded payload in `text` that scores at least the threshold; where payloads
    overlap the higher score wins."""
    enabled = set(config.kinds)
    out: list[Candidate] = []
    if "ESCAPED" in enabled:
        for m in _RES[0].finditer(text):
            enc = m.group()
            _consider(out, ESCAPED, m.start(), m.end(), enc, decode.escapes(enc), config)
    if "PERCENT_ENCODED" in enabled:
        for m in _RES[1].finditer(text):
            enc = m.group()
            if enc.count("%") >= _MIN_ESCAPES:
                _consider(
                    out, PERCENT_ENCODED, m.start(), m.end(), enc, decode.percent(enc), config
                )
    if "HEX" in enabled:
        for m in _RES[2].finditer(text):
            enc = m.group()
            _consider(out, HEX, m.start(), m.end(), enc, decode.hex_bytes(enc), config)
    if "BASE64" in enabled or "BASE64URL" in enabled:
        for m in _RES[3].finditer(text):
            enc = m.group()
            core = enc.split("=", 1)[0]
            std_chars = "+" in core or "/" in core
            url_chars = "-" in core or "_" in core
            if std_chars and url_chars:
                continue
            kind = BASE64URL if url_chars else BASE64
            if EXFIL_KINDS[kind] in enabled:
                decoded = decode.base64(core, url=kind == BASE64URL)
                _consider(out, kind, m.start(), m.end(), enc, decoded, config)
    return resolve(out, by_score=True)
