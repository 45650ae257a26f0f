"""Encoded-exfiltration detection, the pure-Python twin of forge-filters-core's `exfil.rs`:
base64, base64url, hex (also split into DNS labels), percent-encoded and escaped (`\\xNN`,
`\\uNNNN`) payloads, scored by the entropy of the encoding and by what they decode to (printable
text, secret-looking words, a URL with data, and a secret or personal data that the secrets and
PII scanners find in it, or in a payload encoded inside it, decoded once more; the detail names
the inner kind, e.g. "text,pii:EMAIL").

The score is a sum of fixed terms added in the Rust order, so both compute the same float."""

from __future__ import annotations

import re
from collections.abc import Iterator

from forge.plugins.scanners import decode, pii
from forge.plugins.scanners import secrets as secret_scan
from forge.plugins.scanners.config import (
    DEFAULT_EXFIL,
    EXFIL_KINDS,
    PII_KINDS,
    ExfilConfig,
    PiiConfig,
)
from forge.plugins.scanners.findings import Candidate, Finding, resolve
from forge.plugins.scanners.text import ALNUM, entropy

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
_MIN_ESCAPES = 1
# what decoded text is searched for: addresses are left out (configs name hosts all the time),
# and phones (any run of digits in decoded data, a timestamp or an id, may look like one)
_INNER_PII = PiiConfig(kinds=tuple(k for k in PII_KINDS if k not in ("IPV4", "IPV6", "PHONE")))
_MIN_HEX_LABELS = 16

# (name, pattern) of the candidate finders; which base64 alphabet a run uses is decided in code.
PATTERNS: tuple[tuple[str, str], ...] = (
    ("ESCAPED", r"(?:\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}){4,}"),
    ("PERCENT_ENCODED", r"(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9._~+-]){12,}"),
    ("HEX", r"[0-9A-Fa-f]{16,}"),
    ("BASE64", r"[A-Za-z0-9+/_-]{16,}={0,2}"),
    ("HEX", r"[0-9A-Fa-f]{8,63}(?:\.[0-9A-Fa-f]{1,63})+\.[A-Za-z0-9-]*[G-Zg-z-][A-Za-z0-9-]*"),
)
_RES = tuple(re.compile(p) for _, p in PATTERNS)
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


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
        if (b"http://" in lower or b"https://" in lower) and not _bare_link(text):
            total += 0.3
            hints.append("url")
        inner = _inner(text, nested=True)
        if inner:
            total += 0.5
            hints.append(inner)
    return min(total, 1.0), ",".join(hints)


def _bare_link(text: str) -> bool:
    """A link without a query and nothing else (an OAuth `redirect_uri`, a `next=` target): no
    data travels in it."""
    return text.startswith(("http://", "https://")) and not any(c in "? \t\n\r" for c in text)


def _inner(text: str, *, nested: bool) -> str:
    """The first secret or PII kind in decoded text ("secret:JWT", "pii:EMAIL"); with `nested`,
    also in the payloads encoded inside it, decoded once more. "" when there is none."""
    if text.endswith("/aws4_request"):
        return ""  # a SigV4 credential scope: signed URLs carry the key id by design
    found = secret_scan.scan(text)
    if found:
        return "secret:" + found[0].kind
    found = pii.scan(text, _INNER_PII)
    if found:
        return "pii:" + found[0].kind
    if nested:
        for _, _, _, _, decoded in _payloads(text, frozenset(EXFIL_KINDS)):
            inner_text = None if decoded is None else decode.as_text(decoded)
            if inner_text is not None:
                inner = _inner(inner_text, nested=False)
                if inner:
                    return inner
    return ""


def _base64_kind(text: str, s: int, e: int, core: str) -> int | None:
    """BASE64 or BASE64URL by the alphabet, then by the padding (base64url drops it); None for
    a mixed alphabet or a JWT's segment (the secrets scanner reports JWTs)."""
    std_chars = "+" in core or "/" in core
    url_chars = "-" in core or "_" in core
    if std_chars and url_chars:
        return None
    if core.startswith("eyJ") and (
        (e < len(text) and text[e] == ".") or (s > 0 and text[s - 1] == ".")
    ):
        return None
    if url_chars or (not std_chars and e - s == len(core) and len(core) % 4):
        return BASE64URL
    return BASE64


def _payloads(
    text: str, enabled: frozenset[str]
) -> Iterator[tuple[int, int, int, str, bytes | None]]:
    """(kind, start, end, encoded, decoded) of every candidate run, finder by finder."""
    if "ESCAPED" in enabled:
        for m in _RES[0].finditer(text):
            enc = m.group()
            yield ESCAPED, m.start(), m.end(), enc, decode.escapes(enc)
    if "PERCENT_ENCODED" in enabled:
        for m in _RES[1].finditer(text):
            enc = m.group()
            if enc.count("%") >= _MIN_ESCAPES:
                yield PERCENT_ENCODED, m.start(), m.end(), enc, decode.percent(enc)
    if "HEX" in enabled:
        # hex split into DNS labels (`6a6f686e20446f65.40.1.evil.example`): the labels, joined; the
        # first holds 8 digits at least (tunnels send long labels; shorter runs are words)
        for m in _RES[4].finditer(text):
            if m.start() > 0 and text[m.start() - 1] in ALNUM:
                continue  # the end of a longer run
            labels = m.group().split(".")
            while labels and not all(c in _HEX_DIGITS for c in labels[-1]):
                labels.pop()
            decoded = decode.hex_bytes("".join(labels))
            if (decoded is None or decode.as_text(decoded) is None) and len(labels) > 2:
                labels.pop()  # a counter or nonce label after the data
                decoded = decode.hex_bytes("".join(labels))
            joined = "".join(labels)
            if len(joined) >= _MIN_HEX_LABELS:
                e = m.start() + len(".".join(labels))
                yield HEX, m.start(), e, joined, decoded
        for m in _RES[2].finditer(text):
            enc = m.group()
            yield HEX, m.start(), m.end(), enc, decode.hex_bytes(enc)
    if "BASE64" in enabled or "BASE64URL" in enabled:
        for m in _RES[3].finditer(text):
            enc = m.group()
            core = enc.split("=", 1)[0]
            kind = _base64_kind(text, m.start(), m.end(), core)
            if kind is not None and EXFIL_KINDS[kind] in enabled:
                decoded = decode.base64(core, url=kind == BASE64URL)
                yield kind, m.start(), m.end(), enc, decoded


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
    out: list[Candidate] = []
    for kind, s, e, enc, decoded in _payloads(text, frozenset(config.kinds)):
        _consider(out, kind, s, e, enc, decoded, config)
    return resolve(out, by_score=True)
