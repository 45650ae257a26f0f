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
from forge.plugins.scanners.text import (
    ALNUM,
    DIGITS,
    after_ok,
    ascii_lower,
    before_ok,
    ci,
    cue_before,
    digits,
    header_cell,
)

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
    ("CREDIT_CARD", r"[0-9](?:[ -]?[0-9]){11,18}"),
    ("IBAN", r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?"),
    ("US_SSN", r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{9}"),
    ("UK_NINO", r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]"),
    (
        "FR_INSEE",
        r"[12] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?"
        r"[0-9]{2}",
    ),
    ("DE_TAX_ID", r"[1-9][0-9] ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}"),
    ("IN_AADHAAR", r"[2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}"),
    ("IPV6", r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}"),
    ("IPV4", r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}"),
    ("DATE_OF_BIRTH", dob.date_pattern()),
    ("PHONE", r"\+?\(?[0-9][0-9 ()./-]{5,24}[0-9]"),
    ("BIRTH_CUE", ci(dob.CUES)),
)
_RES = tuple(re.compile(p) for _, p in PATTERNS)
_CUE_RE = _RES[12]
_PHONE_SEPS = frozenset(" ./-")
# cue words (lowercase) just before a value, or in its table column's header
PHONE_CUES = (
    "phone", "tel", "mobil", "cell", "fax", "handy", "celular", "móvil", "movil", "whatsapp",
    "tél", "call", "contact", "reach", "chiam", "llam", "llám", "appel", "ligue", "liga", "anruf",
    "rufen", "erreichbar", "bel me", "電話", "携帯",
)  # fmt: skip
CARD_CUES = (
    "card", "karte", "carte", "tarjeta", "cartão", "cartao", "carta", "kaart", "visa", "maestro",
    "mastercard", "amex", "credit", "カード",
)  # fmt: skip
SSN_CUES = ("ssn", "social security", "social_security", "socialsecurity")
AADHAAR_CUES = ("aadhaar", "aadhar", "uid", "आधार")
VERSION_WORDS = (
    "version", "ver", "ver.", "build", "release", "rev", "rv", "firmware", "kernel",
)  # fmt: skip
_URL_STOP = frozenset(" \t\r\n\"'<>()[]{},;")


def _cued(text: str, s: int, cues: tuple[str, ...]) -> bool:
    """A cue word just before `s` on its line, or in the header of its table column."""
    if cue_before(text, s, cues):
        return True
    cell = header_cell(text, s)
    return cell is not None and any(c in cell for c in cues)


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
    # the userinfo of a URL (`https://user:token@host`, a Sentry DSN) is no address
    i = s
    while i > 0 and text[i - 1] not in _URL_STOP:
        i -= 1
    if "://" in text[i:s]:
        return
    _push(out, EMAIL, s, e, "")


def _card_groups(p: str) -> bool:
    """Grouped the way cards are printed: 4 digits first, then groups of 4 (or 6, Amex and
    Diners), the last one 1 to 6 digits."""
    lens = [len(g) for g in p.replace("-", " ").split(" ")]
    return lens[0] == 4 and all(n in (4, 6) for n in lens[1:-1]) and 1 <= lens[-1] <= 6


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
        if len(d) < 12:
            break
        if len(d) > 19 or not checks.luhn(d):
            continue
        brand = checks.card_brand(d)
        if brand is None:
            continue
        if len(p) != len(d) and not _card_groups(p):
            continue
        # 12 digits (Maestro) and a compact 13 (EAN-13 barcodes, msisdns; the 13-digit Visa is
        # long gone) only after a card cue
        if (len(d) == 12 or len(p) == 13) and not cue_before(text, s, CARD_CUES):
            continue
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
    if text[e : e + 1] == "." and text[e + 1 : e + 2] in ALNUM:
        return
    if not after_ok(text, e) or not checks.ipv4(text[s:e]):
        return
    # a four-part version number (`version 10.0.19041.1`, `Build 4.18.0.553`) is no address,
    # nor is a product's (`Chrome/120.0.6099.109`)
    if s > 1 and text[s - 1] == "/" and text[s - 2].isascii() and text[s - 2].isalpha():
        return
    line = text.rfind("\n", 0, s) + 1
    before = ascii_lower(text[max(line, s - 24) : s]).rstrip(" \t:=[(#")
    for word in VERSION_WORDS:
        if before.endswith(word) and before[-len(word) - 1 : -len(word)] not in ALNUM:
            return
    _push(out, IPV4, s, e, "")


def _phone_shape(p: str) -> tuple[str, bool] | None:
    """(detail, needs a cue) of a phone-number candidate, or None when it is none."""
    if any(a in _PHONE_SEPS and b in _PHONE_SEPS for a, b in pairwise(p)):
        return None
    opens, closes = p.count("("), p.count(")")
    if opens > 1 or opens != closes:
        return None
    if opens:
        o, c = p.index("("), p.index(")")
        inner = p[o + 1 : c]
        if o > c or not 1 <= len(inner) <= 5 or any(x not in DIGITS for x in inner):
            return None
    groups = [g for g in _PHONE_SPLIT.split(p) if g]
    ds = "".join(groups)
    n = len(ds)
    if n < 8:
        return None
    if p[0] == "+":
        if "(0)" in p:
            n -= 1
        return ("international", False) if 8 <= n <= 15 and ds[0] != "0" else None
    if len(groups) > 1 and len(groups[-1]) == 1:
        return None  # no national number ends in a one-digit group (ISBN-10s do)
    if ds[0] == "0":
        compact = len(groups) == 1  # bare digits: a phone number only after a cue
        if ds[1] == "0":  # an international call prefix, then a country code
            if p[:2] != "00" or not 10 <= n <= 17 or ds[2] == "0":
                return None
            return ("international", compact)
        if not 9 <= n <= 12 or (len(groups) > 1 and len(groups[0]) == 1):
            return None  # the trunk 0 is written with its area code (`0-582-...` is an ISBN)
        return ("national", compact)
    lens = [len(g) for g in groups]
    if len(groups) >= 3 and (lens[:3] in _DATE_SHAPES):
        return None
    if len(groups) == 4 and max(lens) <= 3 and p.count(".") == 3:
        return None  # a dotted quad: an address or a version, never a phone number
    if not 9 <= n <= 11:
        return None
    if lens == [1, 3, 3, 4] and ds[0] == "1":
        return ("nanp", False)
    if lens == [3, 3, 4]:  # NANP: area code and exchange start with 2-9
        return ("nanp", False) if ds[0] not in "01" and ds[3] not in "01" else None
    if len(groups) >= 3 and min(lens) >= 2 and lens[0] <= 5 and lens != [3, 2, 4]:
        return ("local", False)
    return ("local", True)


_PHONE_SPLIT = re.compile(r"[+ ./()-]+")
_DATE_SHAPES = ([4, 2, 2], [2, 2, 4], [1, 2, 4], [2, 1, 4], [1, 1, 4])


def _phone(text: str, s: int, e: int, out: list[Candidate]) -> None:
    m = text[s:e]
    # the whole match first, then shorter prefixes cut before a space (a run joined by - . /
    # is one token: `84-612-4906-2` is an ISBN, not a phone number and a digit)
    cuts = [len(m)] + [i for i in range(len(m) - 1, 0, -1) if m[i] == " " and m[i - 1] in DIGITS]
    cued: bool | None = None
    # a token that goes on past the match (`84-505-4324-X`, an ISBN) is no phone number
    if e + 1 < len(text) and text[e] in "-./" and text[e + 1] in ALNUM:
        cuts = cuts[1:]
    for cut in cuts:
        if cut == len(m) and not after_ok(text, e):
            # an extension right after the number (`555-0100x123`)
            if not (text[e] in "xX" and e + 1 < len(text) and text[e + 1] in DIGITS):
                continue
        shape = _phone_shape(m[:cut])
        if shape is None:
            continue
        if shape[1]:
            if cued is None:
                cued = _cued(text, s, PHONE_CUES)
            if not cued:
                continue
        _push(out, PHONE, s, s + cut, shape[0])
        return


_SIMPLE = {US_SSN: "US", UK_NINO: "GB", FR_INSEE: "FR", DE_TAX_ID: "DE", IN_AADHAAR: "IN"}


def _simple_ok(text: str, s: int, kind: int, m: str) -> bool:
    if kind == US_SSN:
        # nine bare digits only after a cue (`"ssn": "123456789"`)
        if len(m) == 9 and not _cued(text, s, SSN_CUES):
            return False
        return checks.us_ssn(digits(m))
    if kind == UK_NINO:
        return checks.nino_prefix_ok(m[:2])
    if kind == FR_INSEE:
        return checks.insee(m.replace(" ", ""))
    if kind == DE_TAX_ID:
        return checks.de_tax_id(digits(m))
    # Aadhaar: grouped 4-4-4 (one separator), or twelve bare digits after a cue; never the
    # tail of a longer number or an E.164 phone number
    if len(m) == 12:
        if not _cued(text, s, AADHAAR_CUES):
            return False
    elif len(m) != 14 or m[4] != m[9]:
        return False
    if s > 0 and text[s - 1] == "+":
        return False
    if s > 1 and text[s - 1] in " -" and text[s - 2] in DIGITS:
        return False
    e = s + len(m)
    if e + 1 < len(text) and text[e] in " -" and text[e + 1] in DIGITS:
        return False
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
            elif _simple_ok(text, s, kind, m.group()):
                _push(out, kind, s, e, _SIMPLE[kind])
    return resolve(out, by_score=False)
