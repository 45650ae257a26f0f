"""Writes scanners.jsonl, the labelled corpus of the scanner tests (`python make.py`).

Deterministic (seeded): the same script always writes the same file. Part of it is generated
from templates (valid values built with their own check digits, computed here independently of
the scanners, and near-misses that break exactly one rule); the rest is written by hand below
in a small markup, `⟦KIND|value⟧`, that marks each expected finding.

Each line: {"id", "scanner", "text", "labels": [[kind, start, end], ...],
"masked": {mode: text}, "pad": null | {"unit", "before", "after"}}. With "pad", the full text
is unit*before + text + unit*after (labels are already shifted; masked outputs are given for
the unpadded text). Expected masks come from the Python twin's `mask` on the labels.
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from forge.plugins.scanners import masking

OUT = Path(__file__).with_name("scanners.jsonl")
rng = random.Random(20261125)
UPPER, LOWER, DIG = string.ascii_uppercase, string.ascii_lowercase, string.digits
ALNUM = UPPER + LOWER + DIG


def pick(seq: Any) -> Any:
    return seq[rng.randrange(len(seq))]


def rand(alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


# --- check digits, written independently of forge.plugins.scanners.checks -----------------


def luhn_complete(body: str) -> str:
    total = 0
    for i, c in enumerate(reversed(body)):
        x = int(c) * (2 if i % 2 == 0 else 1)
        total += x - 9 if x > 9 else x
    return body + str((10 - total % 10) % 10)


def iban(country: str, bban: str) -> str:
    moved = bban + country + "00"
    n = int("".join(str(int(c, 36)) for c in moved))
    return f"{country}{98 - n % 97:02d}{bban}"


_D = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
]
_P = [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4]]
for _ in range(6):
    _P.append([_P[1][_P[-1][i]] for i in range(10)])
_INV = [0, 4, 3, 2, 1, 5, 6, 7, 8, 9]


def verhoeff_complete(body: str) -> str:
    c = 0
    for i, ch in enumerate(reversed(body)):
        c = _D[c][_P[(i + 1) % 8][int(ch)]]
    return body + str(_INV[c])


def steuer_id() -> str:
    while True:
        digits = rng.sample(range(10), 9)
        if digits[0] == 0:
            continue
        twice = pick(digits)
        head = [*digits, twice]
        rng.shuffle(head)
        if head[0] == 0:
            continue
        product = 10
        for x in head:
            s = (x + product) % 10 or 10
            product = s * 2 % 11
        check = (11 - product) % 10
        return "".join(map(str, head)) + str(check)


def insee() -> str:
    sex, yy, mm = pick("12"), f"{rng.randrange(100):02d}", f"{rng.randrange(1, 13):02d}"
    dept = pick(["75", "13", "69", "2A", "2B", "33", "59", "06"])
    body = sex + yy + mm + dept + f"{rng.randrange(1, 1000):03d}" + f"{rng.randrange(1, 1000):03d}"
    n = int(body.replace("2A", "19").replace("2B", "18"))
    return body + f"{97 - n % 97:02d}"


# --- value generators: (valid, near-miss) ---------------------------------------------------

FIRST = ["john", "maria", "li", "olga", "ahmed", "sofia", "kenji", "amara", "lukas", "zoe"]
LAST = ["doe", "garcia", "wei", "ivanova", "hassan", "rossi", "tanaka", "okafor", "becker"]
DOMAINS = ["example.com", "mail.example.org", "corp.example.co.uk", "example.de", "uni.example.edu"]


def email() -> str:
    style = rng.randrange(4)
    f, l_ = pick(FIRST), pick(LAST)
    local = [f"{f}.{l_}", f"{f}{rng.randrange(100)}", f"{f}+{pick(['news', 'tag'])}", f"{f}_{l_}"]
    return f"{local[style]}@{pick(DOMAINS)}"


def bad_email() -> str:
    f, l_ = pick(FIRST), pick(LAST)
    return pick([f"{f}..{l_}@example.com", f"{f}@localhost", f".{f}@example.com", f"{f}@-x.com"])


def phone() -> str:
    return pick(
        [
            f"+44 20 {rng.randrange(7000, 7999)} {rng.randrange(1000, 9999)}",
            f"+1 ({rng.randrange(200, 999)}) {rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
            f"({rng.randrange(200, 999)}) {rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
            f"{rng.randrange(200, 999)}-{rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
            f"+49 30 {rng.randrange(1000000, 9999999)}",
            f"+33 6 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}"
            f" {rng.randrange(10, 99)}",
            f"020 {rng.randrange(7000, 7999)} {rng.randrange(1000, 9999)}",
            f"06 {rng.randrange(10, 99)} {rng.randrange(10, 99)} {rng.randrange(10, 99)}"
            f" {rng.randrange(10, 99)}",
        ]
    )


def bad_phone() -> str:
    return pick(
        [
            f"{rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
            f"+1 {rng.randrange(10, 99)}",
            f"ext. {rng.randrange(100, 9999)}",
            f"{rng.randrange(100, 199)}-{rng.randrange(200, 999)}-{rng.randrange(1000, 9999)}",
        ]
    )


CARD_PREFIXES = [("4", 16), ("4", 13), ("51", 16), ("55", 16), ("2221", 16), ("34", 15),
                 ("37", 15), ("6011", 16), ("65", 16), ("3530", 16), ("36", 14),
                 ("62", 16)]  # fmt: skip


def card_digits() -> str:
    prefix, n = pick(CARD_PREFIXES)
    return luhn_complete(prefix + rand(DIG, n - len(prefix) - 1))


def fmt_card(d: str) -> str:
    sep = pick([" ", "-", ""])
    if len(d) == 15:
        return sep.join([d[:4], d[4:10], d[10:]])
    return sep.join(d[i : i + 4] for i in range(0, len(d), 4))


def bad_card() -> str:
    d = card_digits()
    return fmt_card(d[:-1] + str((int(d[-1]) + 1 + rng.randrange(9)) % 10))


IBAN_SHAPES = {"DE": "8n10n", "GB": "4a14n", "FR": "10n11c2n", "NL": "4a10n", "ES": "20n",
               "IT": "1a10n12c", "CH": "5n12c", "BE": "12n"}  # fmt: skip


def bban(shape: str) -> str:
    out = ""
    for n, t in re.findall(r"(\d+)([anc])", shape):
        out += rand({"a": UPPER, "n": DIG, "c": UPPER + DIG}[t], int(n))
    return out


def iban_value(valid: bool = True) -> str:
    country = pick(sorted(IBAN_SHAPES))
    value = iban(country, bban(IBAN_SHAPES[country]))
    if not valid:
        value = value[:2] + f"{(int(value[2:4]) + 1 + rng.randrange(90)) % 100:02d}" + value[4:]
    if rng.random() < 0.5:
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    return value


def ssn(valid: bool = True) -> str:
    area = pick([rng.randrange(1, 666), rng.randrange(667, 900)])
    if not valid:
        area = pick([0, 666, rng.randrange(900, 1000)])
    return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


NINO_FIRST, NINO_SECOND = "ABCEGHJKLMNOPRSTWXYZ", "ABCEGHJKLMNPRSTWXYZ"


def nino(valid: bool = True) -> str:
    while True:
        p = pick(NINO_FIRST) + pick(NINO_SECOND)
        if p not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
            break
    if not valid:
        p = pick(["GB", "BG", "ZZ", "NT"])
    d = rand(DIG, 6)
    if rng.random() < 0.5:
        return f"{p} {d[:2]} {d[2:4]} {d[4:]} {pick('ABCD')}"
    return f"{p}{d}{pick('ABCD')}"


def aadhaar(valid: bool = True) -> str:
    v = verhoeff_complete(pick("23456789") + rand(DIG, 10))
    if not valid:
        v = v[:-1] + str((int(v[-1]) + 1 + rng.randrange(9)) % 10)
    # grouped 4-4-4: twelve bare digits are an Aadhaar only after a cue (issue 17)
    return f"{v[:4]} {v[4:8]} {v[8:]}" if rng.random() < 0.7 else f"{v[:4]}-{v[4:8]}-{v[8:]}"


def bad_steuer_id() -> str:
    v = steuer_id()
    return v[:-1] + str((int(v[-1]) + 1 + rng.randrange(9)) % 10)


def bad_insee() -> str:
    v = insee()
    return v[:-2] + f"{(int(v[-2:]) + 1 + rng.randrange(90)) % 100:02d}"


def ipv4() -> str:
    return ".".join(str(pick([rng.randrange(1, 256), rng.randrange(0, 10)])) for _ in range(4))


def ipv6() -> str:
    groups = [f"{rng.randrange(65536):x}" for _ in range(8)]
    return pick(
        [
            ":".join(groups),
            "2001:db8::" + groups[7],
            "fe80::" + ":".join(groups[4:]),
            "::1",
            "::ffff:" + ipv4(),
            ":".join(g.zfill(4) for g in groups),
        ]
    )


MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]  # fmt: skip


def date() -> str:
    y, m, d = rng.randrange(1930, 2010), rng.randrange(1, 13), rng.randrange(1, 29)
    return pick(
        [
            f"{y}-{m:02d}-{d:02d}",
            f"{d:02d}/{m:02d}/{y}",
            f"{m}/{d}/{y}",
            f"{d:02d}.{m:02d}.{y}",
            f"{d} {MONTHS[m - 1]} {y}",
            f"{MONTHS[m - 1]} {d}, {y}",
            f"{MONTHS[m - 1][:3]} {d} {y}",
        ]
    )


DOB_CUES = ["DOB:", "Date of birth:", "born on", "Birthday -", "geboren am", "Geburtsdatum:",
            "date de naissance :", "fecha de nacimiento", "d.o.b.", "Birth date"]  # fmt: skip

# --- contexts: where values sit, with unicode, RTL, combining marks and emoji -------------

CONTEXTS = [
    "Please contact {} for details.",
    "Kontakt: {} — danke! 🙏",
    "راسلني على {} شكرا",
    "请联系 {} 谢谢",
    "Ségolène (Se\u0301golene) wrote: {}",
    "👩\u200d💻 dev note → {} 🎉",
    "\u200fשלום {} תודה",  # noqa: RUF001
    "नमस्ते, मेरा विवरण {} है।",
    "{}",
    "Line one\nLine two: {}\n\tend",
    "«{}»",
    "(see {})",
    "value='{}';",
    "Ünïcødé ñame: {}.",
]


def place(value_markup: str) -> str:
    return pick(CONTEXTS).replace("{}", value_markup, 1)


def mark(kind: str, value: str) -> str:
    return f"⟦{kind}|{value}⟧"


# --- hand-written cases -----------------------------------------------------------------

HAND_PII = [
    "Mail ⟦EMAIL|anna.k@example.com⟧, or ⟦EMAIL|bob+ops@corp.example.co.uk⟧ 📨",
    "ID card: ⟦IN_AADHAAR|2363 5678 9011⟧ (Aadhaar)",
    "Card ⟦CREDIT_CARD|4111 1111 1111 1111⟧ and invalid 4111 1111 1111 1112.",
    "Amex ⟦CREDIT_CARD|3782 822463 10005⟧ exp 12/29",
    "Order 12345678901234 is not a card.",
    "IBAN ⟦IBAN|DE89 3704 0044 0532 0130 00⟧ and ⟦IBAN|GB82WEST12345698765432⟧.",
    "IBAN DE89 3704 0044 0532 0130 01 has a bad check.",
    "SSN ⟦US_SSN|078-05-1120⟧; not 000-12-3456 nor 666-12-3456 nor 912-34-5678.",
    "NINO ⟦UK_NINO|AB 12 34 56 C⟧ vs GB123456A and QQ123456C.",
    "Steuer-ID ⟦DE_TAX_ID|65929970489⟧ bitte prüfen.",
    "NIR ⟦FR_INSEE|2 69 05 49 588 157 80⟧ (Sécu).",
    "Server ⟦IPV4|192.168.1.20⟧, gateway ⟦IPV6|fe80::1ff:fe23:4567:890a⟧.",
    "Versions 1.2.3.4.5 and 256.1.1.1 and 01.02.03.04 are not addresses.",
    "Times 12:30:45 and C++ std::vector and a::b are not IPv6.",
    "Ruby Foo::Bar and the bare :: token are not addresses either.",
    "Loopback ⟦IPV6|::1⟧ and mapped ⟦IPV6|::ffff:10.0.0.1⟧.",
    "DOB: ⟦DATE_OF_BIRTH|1984-07-31⟧, joined 2019-01-15.",
    "Meeting on 2024-03-05 at 10:00 (no birth cue).",
    "Geburtsdatum: ⟦DATE_OF_BIRTH|31.12.1979⟧ — Ort: Köln",
    "She was born on ⟦DATE_OF_BIRTH|March 3rd, 1991⟧ in Lyon.",
    "Invalid date of birth: 1990-02-30 should not count.",
    "Call ⟦PHONE|+1 (415) 555-0132⟧ or ⟦PHONE|020 7946 0958⟧, not 555-0132.",
    "WhatsApp ⟦PHONE|+33 6 12 34 56 78⟧ 📱",
    "電話\uff1a⟦PHONE|+81 3 1234 5678⟧。メール\uff1a⟦EMAIL|kenji@example.jp⟧",
    "مرحبا ⟦EMAIL|ahmed.hassan@example.com⟧ رقم ⟦PHONE|+971 4 123 4567⟧",
    "Zero width\u200b⟦EMAIL|zw@example.com⟧\u200bjoined",
    "ñ\u0301⟦EMAIL|combining@example.com⟧\u0301ü (combining marks around)",
    "Emoji 👨\u200d👩\u200d👧\u200d👦⟦IPV4|10.20.30.40⟧👨\u200d👩\u200d👧\u200d👦",
    "Near misses: 4111-1111 1111-1111 mixes separators; user@localhost; john..doe@example.com",
    "Two cards: ⟦CREDIT_CARD|5555 5555 5555 4444⟧, ⟦CREDIT_CARD|4012888888881881⟧.",
    "Card then year: ⟦CREDIT_CARD|4111 1111 1111 1111⟧ 2025",
    "Account (CH) ⟦IBAN|CH93 0076 2011 6238 5295 7⟧.",
    "UUID 123e4567-e89b-12d3-a456-426614174000 and hash 9f86d081884c7d659a2feaa0c55ad015.",
    "Dates 31/04/1990 and 99/99/1999 after DOB: are invalid.",
    "Unicode mailbox ⟦EMAIL|josé@example.com⟧ (not found: ASCII local parts only).",
    "UK style ⟦PHONE|+44 (0)20 7946 0958⟧ and dotted ⟦PHONE|415.555.0132⟧.",
    "URL http://⟦IPV4|10.0.0.1⟧:8080/health and [⟦IPV6|2001:db8::1⟧]:443",
    "Steuer-ID mit Leerzeichen ⟦DE_TAX_ID|65 929 970 489⟧.",
    "Corsica NIR ⟦FR_INSEE|1 85 05 2A 004 017 65⟧.",
    'Card in JSON {"pan":"⟦CREDIT_CARD|6011000990139424⟧"}',
    "DOB ⟦DATE_OF_BIRTH|1990-04-12⟧ and later 2001-09-09 (only the first date after a cue).",
    "d.o.b. ⟦DATE_OF_BIRTH|5 Jan 1970⟧. Unrelated: the newborn ward opened in town on 2020-01-01.",
]

HAND_SECRETS = [
    "export AWS_ACCESS_KEY_ID=⟦AWS_ACCESS_KEY_ID|AKIAIOSFODNN7EXAMPLE⟧",
    "aws_secret_access_key = ⟦AWS_SECRET_ACCESS_KEY|wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY⟧",
    "AKIA1234 is too short, and AKIAIOSFODNN7EXAMPLEX is too long.",
    "password=changeme and password: ******** and token=${TOKEN} are placeholders.",
    "password = aaaaaaaaaaaa has no entropy.",
    "tokenizer=bert-base-uncased is a setting, not a token.",
    "The password must be at least 12 characters long.",
    'DB_PASSWORD="⟦GENERIC_SECRET|Xk9#mP2$vL8qW!z⟧"',
    '{"client_secret": "⟦GENERIC_SECRET|f8Jq-3LzP0_vW9tYb2Rk⟧", "name": "demo"}',
    (
        "Authorization header uses ⟦JWT|eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIx"
        "MjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT"
        "4fwpMeJf36POk6yJV_adQssw5c⟧"
    ),
    "Not a JWT: eyJub3QiOiJqd3QifQ.eyJhIjoxfQ.sig (no alg).",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 is a hash.",
    "git commit 3f2a9c1d8e7b6a5f4c3d2e1f0a9b8c7d6e5f4a3b",
    "🔑 ⟦GITHUB_TOKEN|ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8⟧ 🔑",
    "ghp_short is not a token",
    (
        "Stripe test ⟦STRIPE_KEY|sk_test_4eC39HqLyjWDarjtT1zdp7dc⟧; publishable pk_test_T"
        "YooMQauvdEDq54NiTphI7jx is fine."
    ),
    "Слак: ⟦SLACK_TOKEN|xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx⟧",
    (
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----E"
        "ND PUBLIC KEY----- is public."
    ),
    "UUID 550e8400-e29b-41d4-a716-446655440000 is an id.",
    "api_key: ⟦GENERIC_SECRET|Zx8Pq2Lm9Rt4Vw7Ny3Bc⟧.",
    "x-api-key: ⟦GENERIC_SECRET|c2VjcmV0LWtleS0xMjM0NTY3⟧",
    "Truncated key ⟦PRIVATE_KEY|-----BEGIN RSA PRIVATE KEY-----⟧\nMIIEowIBAAKCAQEA...",
    "passwd: ⟦GENERIC_SECRET|hunter2⟧ (short passwords are missed: 8 characters at least).",
    "https://api.example.com/v1?key=⟦AWS_ACCESS_KEY_ID|AKIAJ7Q3Z5XK2M4N6P8R⟧&x=1",
    (
        "Bearer token in header: Authorization: Bearer ⟦GITHUB_TOKEN|gho_16C7e42F292c6912"
        "E7710c838347Ae178B4a⟧"
    ),
    (
        "npm config: //registry.npmjs.org/:_authToken=⟦NPM_TOKEN|npm_AbCdEfGhIjKlMnOpQrSt"
        "UvWxYz0123456789⟧"
    ),
]

HAND_EXFIL = [
    "plain text with no payload at all, just words.",
    "The identifier ThisIsAVeryLongCamelCaseIdentifierName is code, not data.",
    "URL https://example.com/search?q=hello%20world is ordinary.",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08 is a hash.",
    "UUID 550e8400-e29b-41d4-a716-446655440000 is an id.",
    "path /usr/local/lib/python3.11/site-packages/forge is a path.",
]


def parse(markup: str) -> tuple[str, list[list[Any]]]:
    text, labels = "", []
    pos = 0
    for m in re.finditer(r"⟦([A-Z0-9_]+)\|(.*?)⟧", markup, re.S):
        text += markup[pos : m.start()]
        start = len(text)
        text += m.group(2)
        labels.append([m.group(1), start, len(text)])
        pos = m.end()
    return text + markup[pos:], labels


# --- secrets and payload generators ----------------------------------------------------

B64 = UPPER + LOWER + DIG + "+/"
URLSAFE = ALNUM + "-_"


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def jwt() -> str:
    header = b64url(json.dumps({"alg": pick(["HS256", "RS256", "ES256"]), "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": rand(DIG, 8), "name": pick(FIRST)}).encode())
    return f"{header}.{payload}.{rand(URLSAFE, 43)}"


def pem() -> str:
    label = pick(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY"])
    body = "\n".join(rand(B64, 64) for _ in range(rng.randrange(3, 8)))
    return f"-----BEGIN {label}-----\n{body}\n-----END {label}-----"


SECRET_VALUES: dict[str, Any] = {
    "AWS_ACCESS_KEY_ID": lambda: pick(["AKIA", "ASIA"]) + rand(UPPER + DIG, 16),
    "GITHUB_TOKEN": lambda: pick(["ghp_", "gho_", "ghs_"]) + rand(ALNUM, 36),
    "GITLAB_TOKEN": lambda: "glpat-" + rand(URLSAFE, 20),
    "SLACK_TOKEN": lambda: f"xoxb-{rand(DIG, 12)}-{rand(DIG, 13)}-{rand(ALNUM, 24)}",
    "SLACK_WEBHOOK": lambda: (
        "https://hooks.slack.com/services/T"
        + rand(UPPER + DIG, 8)
        + "/B"
        + rand(UPPER + DIG, 10)
        + "/"
        + rand(ALNUM, 24)
    ),
    "STRIPE_KEY": lambda: pick(["sk_live_", "rk_live_", "sk_test_"]) + rand(ALNUM, 24),
    "ANTHROPIC_API_KEY": lambda: "sk-ant-api03-" + rand(URLSAFE, 93) + "AA",
    "OPENAI_API_KEY": lambda: "sk-proj-" + rand(URLSAFE, 64) + "T3BlbkFJ" + rand(URLSAFE, 64),
    "GCP_API_KEY": lambda: "AIza" + rand(URLSAFE, 35),
    "GOOGLE_OAUTH_SECRET": lambda: "GOCSPX-" + rand(URLSAFE, 28),
    "GOOGLE_OAUTH_TOKEN": lambda: "ya29." + rand(URLSAFE, 120),
    "TWILIO_API_KEY": lambda: "SK" + rand("0123456789abcdef", 32),
    "SENDGRID_API_KEY": lambda: f"SG.{rand(URLSAFE, 22)}.{rand(URLSAFE, 43)}",
    "NPM_TOKEN": lambda: "npm_" + rand(ALNUM, 36),
    "PYPI_TOKEN": lambda: "pypi-AgEIcHlwaS5vcmc" + rand(URLSAFE, 70),
    "HUGGINGFACE_TOKEN": lambda: "hf_" + rand(ALNUM, 34),
    "JWT": jwt,
    "PRIVATE_KEY": pem,
}
SECRET_NEAR_MISSES = [
    lambda: "AKIA" + rand(UPPER + DIG, 12),
    lambda: "ghp_" + rand(ALNUM, 20),
    lambda: "sk_live_" + rand(ALNUM, 10),
    lambda: "hf_" + rand(ALNUM, 20),
    lambda: rand("0123456789abcdef", 64),
    lambda: rand("0123456789abcdef", 40),
    lambda: "password=" + pick(["changeme", "example", "********", "${DB_PASS}"]),
    lambda: "secret: " + "x" * 12,
    lambda: "eyJhbGciOi.not-a-jwt",
    lambda: "the token is in the vault",
]
GENERIC_CUES = ["password=", "PASSWORD: ", 'api_key = "', "client_secret=", "DB_PASSWORD=",
                "auth_token: ", "SECRET_KEY=", "access_token=", "passphrase: "]  # fmt: skip
PROSE = ["Quarterly numbers look fine.", "Deploy finished without errors.", "Lunch at noon?",
         "The cat sat on the mat.", "Ship it on Friday.", "Nothing sensitive here."]  # fmt: skip


def generic_secret() -> str:
    while True:
        v = rand(ALNUM + "!@#%^*_-", rng.randrange(12, 28))
        if v[-1] != "." and v[0] != "$":
            return v


def payload_text() -> bytes:
    return pick(
        [
            f"password={generic_secret()}&user={pick(FIRST)}",
            f"api_key: {rand(ALNUM, 24)}",
            f"https://collector.example.net/c?d={rand(ALNUM, 16)}",
            f"user={pick(FIRST)} token={rand(ALNUM, 20)}",
            f"-----BEGIN PRIVATE KEY-----\n{rand(B64, 40)}",
            f"creds AKIA{rand(UPPER + DIG, 16)} ok",
            f"ssh-rsa {rand(B64, 60)} {pick(FIRST)}@host",
            f"Authorization: Bearer {rand(ALNUM, 32)}",
        ]
    ).encode()


def innocuous_text() -> bytes:
    return " ".join(pick(PROSE) for _ in range(rng.randrange(1, 4))).encode()


def escaped(raw: bytes, style: str) -> str:
    if style == "x":
        return "".join(f"\\x{b:02x}" for b in raw)
    return "".join(f"\\u{ord(c):04x}" for c in raw.decode())


# --- assembling -------------------------------------------------------------------------

FILLER = "Lorem ipsum dolor sit amet, consectetur adipiscing elit; ünïcødé 文字 🙂 — "


def entry(scanner: str, ident: str, markup: str, pad: int = 0) -> dict[str, Any]:
    text, labels = parse(markup)
    findings = [(k, s, e) for k, s, e in labels]
    masked = {mode: masking.mask(text, findings, mode) for mode in masking.MODES}
    out: dict[str, Any] = {"id": ident, "scanner": scanner, "text": text}
    if pad:
        shift = len(FILLER) * pad
        labels = [[k, s + shift, e + shift] for k, s, e in labels]
        out["pad"] = {"unit": FILLER, "before": pad, "after": pad}
    else:
        out["pad"] = None
    out["labels"] = labels
    out["masked"] = masked
    return out


def pii_cases() -> list[dict[str, Any]]:
    makers: dict[str, Any] = {
        "EMAIL": (email, bad_email),
        "PHONE": (phone, bad_phone),
        "CREDIT_CARD": (lambda: fmt_card(card_digits()), bad_card),
        "IBAN": (iban_value, lambda: iban_value(valid=False)),
        "US_SSN": (ssn, lambda: ssn(valid=False)),
        "UK_NINO": (nino, lambda: nino(valid=False)),
        "DE_TAX_ID": (steuer_id, bad_steuer_id),
        "FR_INSEE": (insee, bad_insee),
        "IN_AADHAAR": (aadhaar, lambda: aadhaar(valid=False)),
        "IPV4": (ipv4, lambda: pick(["1.2.3.4.5", "300.1.2.3", "10.01.2.3", "1.2.3"])),
        "IPV6": (ipv6, lambda: pick(["12:34:56", "1::2::3", "abcd:12345::1", "a:b:c:d"])),
    }
    cases = []
    for kind, (good, bad) in makers.items():
        for i in range(16):
            cases.append(entry("pii", f"pii-{kind.lower()}-{i:02d}", place(mark(kind, good()))))
        for i in range(6):
            cases.append(entry("pii", f"pii-{kind.lower()}-miss-{i:02d}", place(bad())))
    for i in range(16):
        markup = f"{pick(DOB_CUES)} {mark('DATE_OF_BIRTH', date())}"
        cases.append(entry("pii", f"pii-dob-{i:02d}", place(markup)))
    for i in range(6):
        cases.append(entry("pii", f"pii-dob-miss-{i:02d}", place(f"Invoice date {date()}")))
    for i in range(12):
        kinds = rng.sample(sorted(makers), 3)
        markup = " | ".join(place(mark(k, makers[k][0]())) for k in kinds)
        cases.append(entry("pii", f"pii-mixed-{i:02d}", markup))
    for i, markup in enumerate(HAND_PII):
        cases.append(entry("pii", f"pii-hand-{i:02d}", markup))
    return cases


def secrets_cases() -> list[dict[str, Any]]:
    cases = []
    for kind, make in SECRET_VALUES.items():
        for i in range(6):
            ctx = pick(["{}", "key: {}", "export TOKEN={}", "config = '{}'", "«{}» 🔐",
                        "ключ {} конец", "see\n{}\nend"])  # fmt: skip
            cases.append(
                entry(
                    "secrets",
                    f"sec-{kind.lower()}-{i:02d}",
                    ctx.replace("{}", mark(kind, make()), 1),
                )
            )
    for i in range(16):
        cue = pick(GENERIC_CUES)
        close = '"' if cue.endswith('"') else ""
        markup = (
            f"{pick(PROSE)} {cue}{mark('GENERIC_SECRET', generic_secret())}{close} {pick(PROSE)}"
        )
        cases.append(entry("secrets", f"sec-generic-{i:02d}", markup))
    for i in range(6):
        secret = rand(B64, 40)
        markup = f"AWS_SECRET_ACCESS_KEY={mark('AWS_SECRET_ACCESS_KEY', secret)}"
        cases.append(entry("secrets", f"sec-aws-secret-{i:02d}", markup))
    for i in range(4):
        key = rand(B64, 86) + "=="
        name = rand(LOWER + DIG, 12)
        conn = (
            f"DefaultEndpointsProtocol=https;AccountName={name};AccountKey={key}"
            ";EndpointSuffix=core.windows.net"
        )
        cases.append(
            entry(
                "secrets",
                f"sec-azure-conn-{i:02d}",
                f"conn: {mark('AZURE_CONNECTION_STRING', conn)}",
            )
        )
        cases.append(
            entry(
                "secrets", f"sec-azure-key-{i:02d}", f"AccountKey={mark('AZURE_STORAGE_KEY', key)}"
            )
        )
    for i in range(4):
        key_id = rand("0123456789abcdef", 40)
        body = "\\n".join(rand(B64, 64) for _ in range(4))
        markup = (
            '{"type": "service_account", '
            + mark("GCP_SERVICE_ACCOUNT_KEY", f'"private_key_id": "{key_id}"')
            + ', "private_key": "'
            + mark(
                "PRIVATE_KEY", f"-----BEGIN PRIVATE KEY-----\\n{body}\\n-----END PRIVATE KEY-----"
            )
            + '\\n"}'
        )
        cases.append(entry("secrets", f"sec-gcp-sa-{i:02d}", markup))
    for i in range(30):
        cases.append(
            entry("secrets", f"sec-miss-{i:02d}", f"{pick(PROSE)} {pick(SECRET_NEAR_MISSES)()}")
        )
    for i, markup in enumerate(HAND_SECRETS):
        cases.append(entry("secrets", f"sec-hand-{i:02d}", markup))
    return cases


def exfil_cases() -> list[dict[str, Any]]:
    cases = []
    encoders: dict[str, Callable[[bytes], str]] = {
        "BASE64": lambda raw: base64.b64encode(raw).decode(),
        "BASE64URL": lambda raw: base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "HEX": lambda raw: raw.hex(),
        "PERCENT_ENCODED": lambda raw: quote(raw, safe=""),
        "ESCAPED": lambda raw: escaped(raw, pick(["x", "u"])),
    }
    for kind, enc in encoders.items():
        for i in range(14):
            raw = payload_text()
            value = enc(raw)
            # unpadded base64url whose length is a multiple of four, without `-` or `_`, cannot
            # be told from base64; shorter by its dropped padding it is base64url (issue 17)
            plain = "-" not in value and "_" not in value
            if kind == "BASE64URL" and plain and len(value) % 4 == 0:
                kind_here = "BASE64"
            elif kind == "BASE64" and ("-" in value or "_" in value):
                kind_here = "BASE64URL"
            else:
                kind_here = kind
            ctx = pick(
                ['data="{}"', "GET /x?p={} HTTP/1.1", "payload: {} 🚀", "{}", "ملف {} انتهى"]
            )
            cases.append(
                entry(
                    "exfil",
                    f"exf-{kind.lower()}-{i:02d}",
                    ctx.replace("{}", mark(kind_here, value), 1),
                )
            )
        for i in range(6):
            raw = innocuous_text()
            cases.append(
                entry("exfil", f"exf-{kind.lower()}-benign-{i:02d}", f"blob {enc(raw)} end")
            )
    for i in range(10):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(16, 64)))
        cases.append(
            entry("exfil", f"exf-binary-{i:02d}", f"bin {base64.b64encode(raw).decode()} .")
        )
    for i in range(10):
        cases.append(
            entry(
                "exfil",
                f"exf-hash-{i:02d}",
                f"digest {rand('0123456789abcdef', pick([32, 40, 64]))}",
            )
        )
    for i, markup in enumerate(HAND_EXFIL):
        cases.append(entry("exfil", f"exf-hand-{i:02d}", markup))
    return cases


def long_cases() -> list[dict[str, Any]]:
    """About 1 MB each: a few findings inside unicode filler."""
    pad = 1_048_576 // (2 * len(FILLER.encode())) + 1
    return [
        entry(
            "pii",
            "long-pii",
            f"start {mark('EMAIL', 'far@example.com')}"
            f" and {mark('CREDIT_CARD', '4111 1111 1111 1111')} end",
            pad,
        ),
        entry(
            "secrets", "long-secrets", f"x {mark('GITHUB_TOKEN', 'ghp_' + rand(ALNUM, 36))} y", pad
        ),
        entry(
            "exfil",
            "long-exfil",
            f"p {mark('BASE64', base64.b64encode(b'password=hunter2hunter2&user=root').decode())}"
            " q",
            pad,
        ),
        entry("pii", "long-nothing", "no findings at all here", pad),
    ]


def main(argv: list[str] | None = None) -> int:
    out = Path(argv[0]) if argv else OUT
    cases = pii_cases() + secrets_cases() + exfil_cases() + long_cases()
    with out.open("w", encoding="utf-8") as f:
        for case in cases:
            f.write(json.dumps(case, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["scanner"]] = counts.get(case["scanner"], 0) + 1
    print(f"wrote {len(cases)} cases to {out.name}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
