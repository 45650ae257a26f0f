"""Check digits and structural validators: Luhn, IBAN mod-97, Verhoeff, ISO 7064 MOD 11,10,
INSEE key, SSN and NINO rules, IP addresses, calendar dates."""

from __future__ import annotations

from forge.plugins.scanners.text import DIGITS

HEX = frozenset("0123456789abcdefABCDEF")


def luhn(d: list[int]) -> bool:
    total = 0
    for i, x in enumerate(reversed(d)):
        if i % 2 == 1:
            x *= 2
            if x > 9:
                x -= 9
        total += x
    return total % 10 == 0


def _prefix(d: list[int], n: int) -> int:
    acc = 0
    for x in d[:n]:
        acc = acc * 10 + x
    return acc


def card_brand(d: list[int]) -> str | None:
    n = len(d)
    p1, p2, p3, p4 = _prefix(d, 1), _prefix(d, 2), _prefix(d, 3), _prefix(d, 4)
    if p2 in (34, 37):
        return "amex" if n == 15 else None
    if p1 == 4:
        return "visa" if n in (13, 16, 19) else None
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return "mastercard" if n == 16 else None
    if p4 == 6011 or p2 == 65 or 644 <= p3 <= 649:
        return "discover" if 16 <= n <= 19 else None
    if 3528 <= p4 <= 3589:
        return "jcb" if 16 <= n <= 19 else None
    if 300 <= p3 <= 305 or p2 in (36, 38, 39):
        return "diners" if 14 <= n <= 19 else None
    if p2 == 62:
        return "unionpay" if 16 <= n <= 19 else None
    if p4 in _MAESTRO or 56 <= p2 <= 58:
        return "maestro" if 12 <= n <= 19 else None
    return None


_MAESTRO = (5018, 5020, 5038, 5893, 6304, 6390, 6759, 6761, 6762, 6763)


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AT": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29, "CH": 21, "CY": 28,
    "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27, "GB": 22, "GR": 27,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20,
    "LV": 21, "MC": 27, "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SA": 24,
    "SE": 24, "SI": 19, "SK": 24, "SM": 27, "TR": 26, "UA": 29,
}  # fmt: skip


def iban_mod97(iban: str) -> bool:
    """ISO 13616 mod-97 on a compact upper-case IBAN."""
    r = 0
    for c in iban[4:] + iban[:4]:
        if c in DIGITS:
            r = (r * 10 + ord(c) - 48) % 97
        else:
            r = (r * 100 + ord(c) - 65 + 10) % 97
    return r == 1


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 2, 3, 4, 0, 6, 7, 8, 9, 5),
    (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7),
    (4, 0, 1, 2, 3, 9, 5, 6, 7, 8),
    (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2),
    (7, 6, 5, 9, 8, 2, 1, 0, 4, 3),
    (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9),
    (1, 5, 7, 6, 2, 8, 3, 0, 9, 4),
    (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7),
    (9, 4, 5, 3, 1, 2, 6, 8, 7, 0),
    (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5),
    (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)


def verhoeff(d: list[int]) -> bool:
    c = 0
    for i, x in enumerate(reversed(d)):
        c = _VERHOEFF_D[c][_VERHOEFF_P[i % 8][x]]
    return c == 0


def de_tax_id(d: list[int]) -> bool:
    """German Steuer-ID: one digit twice or thrice (never three in a row) in the first ten, the
    rest at most once, and the ISO 7064 MOD 11,10 check digit."""
    if len(d) != 11 or d[0] == 0:
        return False
    head = d[:10]
    repeated = [c for c in (head.count(x) for x in range(10)) if c > 1]
    if len(repeated) != 1 or repeated[0] > 3:
        return False
    if repeated[0] == 3 and any(head[i] == head[i + 1] == head[i + 2] for i in range(8)):
        return False
    product = 10
    for x in head:
        s = (x + product) % 10
        if s == 0:
            s = 10
        product = (s * 2) % 11
    check = 11 - product
    if check == 10:
        check = 0
    return check == d[10]


def insee(compact: str) -> bool:
    """French NIR: key = 97 - (first 13 digits mod 97), Corsica's 2A/2B read as 19/18."""
    if len(compact) != 15:
        return False
    body = compact[:5] + {"2A": "19", "2B": "18"}.get(compact[5:7], compact[5:7]) + compact[7:13]
    if not all(c in DIGITS for c in body + compact[13:]):
        return False
    return int(compact[13:]) == 97 - int(body) % 97


def us_ssn(d: list[int]) -> bool:
    if len(d) != 9:
        return False
    area, group, serial = _prefix(d, 3), _prefix(d[3:], 2), _prefix(d[5:], 4)
    return area not in (0, 666) and area < 900 and group != 0 and serial != 0


def nino_prefix_ok(p: str) -> bool:
    return p not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")


def ipv4(s: str) -> bool:
    parts = s.split(".")
    return len(parts) == 4 and all(
        0 < len(p) <= 3
        and all(c in DIGITS for c in p)
        and not (len(p) > 1 and p[0] == "0")
        and int(p) <= 255
        for p in parts
    )


def _groups(s: str) -> int | None:
    if not s:
        return 0
    parts = s.split(":")
    if all(0 < len(g) <= 4 and all(c in HEX for c in g) for g in parts):
        return len(parts)
    return None


def ipv6(s: str) -> bool:
    """RFC 4291 text form: eight groups, or fewer around one `::`, optionally ending in a dotted
    IPv4 address (counted as two groups)."""
    if not any(c in HEX for c in s):
        return False
    head, extra = s, 0
    if "." in s:
        colon = s.rfind(":")
        if colon < 0 or not ipv4(s[colon + 1 :]):
            return False
        head = s[: colon + 1] if colon > 0 and s[colon - 1] == ":" else s[:colon]
        extra = 2
    if ":::" in head:
        return False
    doubles = head.count("::")
    if doubles == 0:
        n = _groups(head)
        return n is not None and n + extra == 8
    if doubles == 1:
        left, right = head.split("::")
        nl, nr = _groups(left), _groups(right)
        return nl is not None and nr is not None and nl + nr + extra <= 7
    return False


def days_in_month(year: int, month: int) -> int:
    if month in (1, 3, 5, 7, 8, 10, 12):
        return 31
    if month in (4, 6, 9, 11):
        return 30
    if month == 2:
        return 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28
    return 0


def valid_date(year: int, month: int, day: int) -> bool:
    return 1 <= month <= 12 and 1 <= day <= days_in_month(year, month)
