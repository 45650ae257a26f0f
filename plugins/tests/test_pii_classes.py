"""The PII classes issue 17 found missed or flagged wrongly on text we did not write: one
positive and one negative per class, in both implementations, and the twins identical on noise
built from the pieces these rules look at (cues, table rows, separators, month names)."""

from __future__ import annotations

import random

import pytest
from rust_scanners import BOTH, RUST

from forge.plugins.scanners import config, implementation

Impl = implementation.Scanners


def _found(impl: Impl, text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in impl.scan_pii(text, config.DEFAULT_PII)]


# (class, text, the (kind, value) findings expected)
CASES: list[tuple[str, str, list[tuple[str, str]]]] = [
    # phones
    ("bare digits after a cue", "Mobile: 9727816644", [("PHONE", "9727816644")]),
    ("bare digits without a cue", "Ref 9727816644 closed", []),
    ("bare digits in a phone column", "name,phone\nAnn,331166219\n", [("PHONE", "331166219")]),
    ("bare digits in another column", "name,qty\nAnn,331166219\n", []),
    ("bracketed area code", "Call (0116) 496 0682 today", [("PHONE", "(0116) 496 0682")]),
    ("bracketed area code, compact", "Tel (0191)4960111", [("PHONE", "(0191)4960111")]),
    ("bracketed non-number", "see (0116) and 496", []),
    ("extension", "Call 564.205.6585x95214 now", [("PHONE", "564.205.6585")]),
    ("extension, international", "+1-382-651-7801x0090", [("PHONE", "+1-382-651-7801")]),
    ("letters after a number", "564.205.6585abc", []),
    ("pt_BR local", "Celular: (19) 3893-5268", [("PHONE", "(19) 3893-5268")]),
    ("pt_BR local, no brackets", "ligue 21 4160-4865 hoje", [("PHONE", "21 4160-4865")]),
    ("en_IN 5+5", "Call 91417 77631", [("PHONE", "91417 77631")]),
    ("en_IN 5+5 without a cue", "Lot 91417 77631", []),
    ("11-digit national, 4+7", "Tel: 0151 4960842 .", [("PHONE", "0151 4960842")]),
    ("11-digit national, compact", "Phone 01514960842", [("PHONE", "01514960842")]),
    ("national, too long", "Tel: 0151 4960842 123", [("PHONE", "0151 4960842")]),
    ("compact national without a cue", "Order 01514960842 shipped", []),
    ("compact national after Tél.", "Tél. 0256859229 merci", [("PHONE", "0256859229")]),
    ("compact 00 number without a cue", "ref 0044207946095 ok", []),
    ("es_ES 3-2-2-2", "Teléfono: 824 49 54 21", [("PHONE", "824 49 54 21")]),
    ("NANP with a bad area code", "(see 162-623-1336)", []),
    ("timestamp", "at 2024-03-15 10:30:00 UTC", []),
    ("12-digit E.164", "WhatsApp +919141777631", [("PHONE", "+919141777631")]),
    ("dotted quad", "build 27.19.172.184 released", []),
    ("ISBN-10", "ISBN 0-582-39731-6", []),
    ("ISBN-10 ending in X", "ISBN 84-505-4324-X", []),
    ("ISBN-10, Spanish", "ISBN 84-612-4906-2", []),
    # dates of birth
    (
        "CSV header cue",
        "id,name,DOB\n1,Ann,1985-03-15\n2,Bob,15/04/1990\n",
        [("DATE_OF_BIRTH", "1985-03-15"), ("DATE_OF_BIRTH", "15/04/1990")],
    ),
    ("CSV other date column", "id,name,created\n1,Ann,1985-03-15\n", []),
    ("JSON date_of_birth", '{"date_of_birth": "1985-03-15"}', [("DATE_OF_BIRTH", "1985-03-15")]),
    ("JSON dateOfBirth", '{"dateOfBirth": "1985-03-15"}', [("DATE_OF_BIRTH", "1985-03-15")]),
    ("JSON other date", '{"createdAt": "1985-03-15"}', []),
    ("French cue and month", "Né le 15 mars 1985 à Lyon", [("DATE_OF_BIRTH", "15 mars 1985")]),
    ("French month, no cue", "Réunion le 15 mars 1985", []),
    ("German cue", "geb. 15. März 1985", [("DATE_OF_BIRTH", "15. März 1985")]),
    ("German cue after", "Er ist am 02.01.1970 geboren.", [("DATE_OF_BIRTH", "02.01.1970")]),
    ("Spanish", "nacido el 15 de marzo de 1985", [("DATE_OF_BIRTH", "15 de marzo de 1985")]),
    ("Japanese", "生年月日\uff1a1985年3月15日", [("DATE_OF_BIRTH", "1985年3月15日")]),
    ("Japanese date, no cue", "発売日 1985年3月15日", []),
    ("Portuguese", "nascido em 15 de março de 1985", [("DATE_OF_BIRTH", "15 de março de 1985")]),
    ("Portuguese cue", "Data de nascimento: 15/03/1985", [("DATE_OF_BIRTH", "15/03/1985")]),
    ("invalid date after a cue", "DOB: 31 février 1985", []),
    # other PII
    ("Maestro", "Card number 501872731382", [("CREDIT_CARD", "501872731382")]),
    ("Maestro-like id without a cue", "AWS account 501872731382", []),
    ("bare SSN under an ssn key", '{"ssn": "343417174"}', [("US_SSN", "343417174")]),
    ("bare nine digits", '{"id": "343417174"}', []),
    ("dashed Aadhaar", "Aadhaar: 2927-5537-9909", [("IN_AADHAAR", "2927-5537-9909")]),
    ("Aadhaar, mixed separators", "id 2927-5537 9909", []),
    (
        "compact Aadhaar after a cue",
        "aadhaar_number=230327798867",
        [("IN_AADHAAR", "230327798867")],
    ),
    # false positives
    ("Sentry DSN", "SENTRY_DSN=https://abc123@o42.ingest.sentry.io/7", []),
    ("URL userinfo", "git clone https://user:token@github.com/x/y", []),
    ("mailto is an address", "mailto:ann@example.com", [("EMAIL", "ann@example.com")]),
    ("12-digit id with a Verhoeff digit", "arn:aws:iam::259857008426:role/x", []),
    ("Google client id", "259857008426-abc.apps.googleusercontent.com", []),
    ("EAN-13 barcode", "EAN 4048764771510", []),
    ("13 bare digits", "msisdn 4176737993307", []),
    ("Visa 13 after a card cue", "Visa card 4048764771510", [("CREDIT_CARD", "4048764771510")]),
    ("card in odd groups", "order 659-8570084-2611797", []),
    ("version string", "Microsoft Windows [Version 10.0.19041.1]", []),
    ("version word", "firmware 4.18.0.55 installed", []),
    ("IPv4 after a word ending in ver", "Server 192.168.1.20 down", [("IPV4", "192.168.1.20")]),
    ("version-like file name", "foo-1.2.3.4.tar.gz", []),
    ("user agent", "Mozilla/5.0 (X11; rv:1.9.2.20) Chrome/120.0.6099.109", []),
    ("URL with an address", "http://10.20.30.40/status", [("IPV4", "10.20.30.40")]),
]


@pytest.mark.parametrize("impl", BOTH)
@pytest.mark.parametrize(("name", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_class(impl: Impl, name: str, text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(impl, text) == expected, name


_PIECES = [
    "\n", "\n\n", ",", ";", "|", "\t", " ", ": ", '"', "=", "+", "(", ")", "-", ".", "/", "x",
    "phone", "Tel", "mobile", "dob", "DOB", "date_of_birth", "dateOfBirth", "ssn", "aadhaar",
    "card", "version", "Build", "né le", "geb.", "nacido el", "生年月日", "nascido em", " geboren",
    "15 mars 1985", "15. März 1985", "1985年3月15日", "15 de março de 1985", "1985-03-15",
    "02.01.1970", "(0116) 496 0682", "0151 4960842", "9727816644", "564.205.6585", "x95214",
    "(19) 3893-5268", "91417 77631", "824 49 54 21", "+919141777631", "343417174",
    "2927-5537-9909", "230327798867", "501872731382", "4048764771510", "10.0.19041.1",
    "192.168.1.20", "0-582-39731-6", "84-505-4324-X", "rv:", "Chrome/",
    "https://", "user:token@github.com", "ann@example.com", "é", "文字", "🙂",
]  # fmt: skip


@pytest.mark.skipif(RUST is None, reason="the Rust scanners are not built")
def test_the_twins_agree_on_noise_made_of_these_pieces() -> None:
    assert RUST is not None
    python = implementation.python()
    rng = random.Random(17)
    for i in range(1500):
        text = "".join(rng.choice(_PIECES) for _ in range(rng.randrange(1, 30)))
        assert RUST.scan_pii(text, config.DEFAULT_PII) == python.scan_pii(
            text, config.DEFAULT_PII
        ), (i, text)
