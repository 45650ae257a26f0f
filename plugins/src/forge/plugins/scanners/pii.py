"""PII detection, the pure-Python twin of forge-filters-core's `pii.rs`: emails, phone numbers,
payment cards (Luhn), IBANs (mod-97), national ids (US SSN, UK NINO, French INSEE, German
Steuer-ID, Indian Aadhaar), IP addresses, and dates of birth (a date shortly after a birth cue).

Patterns are the Rust ones verbatim; they use only what `re` and the `regex` crate read the same
way (ASCII classes, repetition, alternation, no lookaround), and every further check is code
that mirrors the Rust line by line.
"""

from __future__ import annotations

import re
from itertools import pairwise

from forge.plugins.scanners import checks, dob
from forge.plugins.scanners.config import DEFAULT_PII, PII_KINDS, PiiConfig
from forge.plugins.scanners.findings import Candidate, Finding, resolve
from forge.plugins.scanners.text import after_ok, before_ok, ci, digits

_SCORES = (0.95, 0.95, 0.95, 0.85, 0.85, 0.9, 0.8, 0.85, 0.9, 0.9, 0.8, 0.7)
(
    EMAIL,
    CREDIT_CARD,
    IBAN,
    US_SSN,
    UK_NINO,
    FR_INSEE,
    DE_TAX_ID,
    IN_AADHAAR,
    IPV6,
    IPV4,
    DATE_OF_BIRTH,
    PHONE,
) = range(12)

# (name, pattern) in PII_KINDS order, then the birth cue.
PATTERNS: tuple[tuple[str, str], ...] = (
    (
        "EMAIL",
        r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}",
    ),
    ("CREDIT_CARD", r"[0-9](?:[ -]?[0-9]){12,18}"),
    ("IBAN", r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"),
    ("US_SSN", r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}"),
    ("UK_NINO", r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]"),
    (
        "FR_INSEE",
        r"[12] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?"
        r"[0-9]{2}",
    ),
    ("DE_TAX_ID", r"[1-9][0-9] ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}"),
    ("IN_AADHAAR", r"[2-9][0-9]{3} ?[0-9]{4} ?[0-9]{4}"),
    ("IPV6", r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}"),
    ("IPV4", r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"),
    ("DATE_OF_BIRTH", dob.date_pattern()),
    (
        "PHONE",
        r"\+[1-9][0-9 ().-]{6,20}[0-9]"
        r"|(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}"
        r"|0[1-9](?:[ .-]?[0-9]{2}){4}"
        r"|0[1-9][0-9]{1,3}[ /-]?[0-9]{3,4}[ -]?[0-9]{3,4}",
    ),
    ("BIRTH_CUE", ci(dob.CUES)),
)
_RES = tuple(re.compile(p) for _, p in PATTERNS)
_CUE_RE = _RES[12]
_PHONE_SEPS = frozenset(" .-")


def _push(out: list[Candidate], kind: int, s: int, e: int, detail: str) -> None:
    out.append((kind, PII_KINDS[kind], s, e, _SCORES[kind], detail))


def _email(text: str, s: int, e: int, out: list[Candidate]) -> None:
    m = text[s:e]
    at = m.index("@")
    local = m[:at]
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return
    if any(label.startswith("-") or label.endswith("-") for label in m[at + 1 :].split(".")):
        return
    _push(out, EMAIL, s, e, "")


def _card(text: str, s: int, e: int, out: list[Candidate]) -> None:
    m = text[s:e]
    # the whole match first, then shorter prefixes cut at a separator
    cuts = [len(m)] + [i for i in range(len(m) - 1, -1, -1) if m[i] in " -"]
    for cut in cuts:
        p = m[:cut]
        if cut == len(m) and not after_ok(text, e):
            continue
        if " " in p and "-" in p:
            continue
        d = digits(p)
        if len(d) < 13:
            break
        if len(d) > 19 or not checks.luhn(d):
            continue
        brand = checks.card_brand(d)
        if brand is not None:
            _push(out, CREDIT_CARD, s, s + cut, brand)
            return


def _iban(text: str, s: int, e: int, out: list[Candidate]) -> None:
    m = text[s:e]
    length = checks.IBAN_LENGTHS.get(m[:2])
    if length is None:
        return
    compact = m.replace(" ", "")
    if len(compact) < length or not checks.iban_mod97(compact[:length]):
        return
    # the end of the `length`-th non-space character
    seen, cut = 0, len(m)
    for i, c in enumerate(m):
        if c != " ":
            seen += 1
            if seen == length:
                cut = i + 1
                break
    if after_ok(text, s + cut):
        _push(out, IBAN, s, s + cut, m[:2])


def _ipv6(text: str, s: int, e: int, out: list[Candidate]) -> None:
    if text[e - 1] == ":" and text[e - 2] != ":":
        e -= 1
    if after_ok(text, e) and checks.ipv6(text[s:e]):
        _push(out, IPV6, s, e, "")


def _ipv4(text: str, s: int, e: int, out: list[Candidate]) -> None:
    if s > 0 and text[s - 1] == ".":
        return
    if text[e : e + 1] == "." and text[e + 1 : e + 2].isascii() and text[e + 1 : e + 2].isdigit():
        return
    if after_ok(text, e) and checks.ipv4(text[s:e]):
        _push(out, IPV4, s, e, "")


def _phone(text: str, s: int, e: int, out: list[Candidate]) -> None:
    if not after_ok(text, e):
        return
    m = text[s:e]
    if m[0] == "+":
        n = len(digits(m))
        if not 8 <= n <= 15 or any(a in _PHONE_SEPS and b in _PHONE_SEPS for a, b in pairwise(m)):
            return
        opens, closes = m.count("("), m.count(")")
        if opens > 1 or closes > 1 or opens != closes or m.find("(") > m.find(")"):
            return
        detail = "international"
    elif m[0] == "0":
        detail = "national"
    else:
        detail = "nanp"
    _push(out, PHONE, s, e, detail)


_SIMPLE = {US_SSN: "US", UK_NINO: "GB", FR_INSEE: "FR", DE_TAX_ID: "DE", IN_AADHAAR: "IN"}


def _simple_ok(kind: int, m: str) -> bool:
    if kind == US_SSN:
        return checks.us_ssn(digits(m))
    if kind == UK_NINO:
        return checks.nino_prefix_ok(m[:2])
    if kind == FR_INSEE:
        return checks.insee(m.replace(" ", ""))
    if kind == DE_TAX_ID:
        return checks.de_tax_id(digits(m))
    return checks.verhoeff(digits(m))


_SPECIAL = {
    CREDIT_CARD: _card,
    IBAN: _iban,
    IPV6: _ipv6,
    IPV4: _ipv4,
    PHONE: _phone,
}


def scan(text: str, config: PiiConfig = DEFAULT_PII) -> list[Finding]:
    """Every PII finding in `text`, overlaps settled, ordered by start then kind."""
    enabled = set(config.kinds)
    out: list[Candidate] = []
    for kind, name in enumerate(PII_KINDS):
        if name not in enabled:
            continue
        if kind == DATE_OF_BIRTH:
            for s, e in dob.find(text, _RES[DATE_OF_BIRTH], _CUE_RE, config.dob_window):
                _push(out, DATE_OF_BIRTH, s, e, "")
            continue
        special = _SPECIAL.get(kind)
        for m in _RES[kind].finditer(text):
            s, e = m.span()
            if not before_ok(text, s):
                continue
            if special is not None:
                special(text, s, e, out)
            elif not after_ok(text, e):
                continue
            elif kind == EMAIL:
                _email(text, s, e, out)
            elif _simple_ok(kind, m.group()):
                _push(out, kind, s, e, _SIMPLE[kind])
    return resolve(out, by_score=False)
