# ruff: noqa: RUF001  (the Japanese carriers use full-width colons, as Japanese text does)
"""PII cases of the generated corpus: values from faker in ten locales, checked with
phonenumbers and python-stdnum, in CSV, JSON, log and prose carriers; and hard negatives.

Only the carriers (templates below) are written here; every value comes from the generators.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Callable, Iterator
from typing import Any

import phonenumbers
from corpus_types import Case
from faker import Faker
from stdnum import iban as std_iban
from stdnum import luhn as std_luhn
from stdnum import verhoeff as std_verhoeff
from stdnum.de import idnr as std_idnr
from stdnum.fr import nir as std_nir
from stdnum.in_ import aadhaar as std_aadhaar
from stdnum.iso7064 import mod_11_10
from stdnum.us import ssn as std_ssn

LOCALES = (
    "en_US", "en_GB", "en_IN", "de_DE", "fr_FR", "es_ES", "it_IT", "pt_BR", "ja_JP", "nl_NL",
)  # fmt: skip
REGION = {
    "en_US": "US", "en_GB": "GB", "en_IN": "IN", "de_DE": "DE", "fr_FR": "FR", "es_ES": "ES",
    "it_IT": "IT", "pt_BR": "BR", "ja_JP": "JP", "nl_NL": "NL",
}  # fmt: skip
IBAN_LOCALES = ("en_GB", "de_DE", "fr_FR", "es_ES", "it_IT", "nl_NL", "pt_BR")

# Prose carriers in each locale's language: {v} is the value.
PROSE: dict[str, dict[str, list[str]]] = {
    "en": {
        "PHONE": ["Please call me on {v} after 5pm.", "You can reach our office at {v}.",
                  "Mobile: {v}", "Tel: {v} .", "Contact number {v} (ask for the desk)."],
        "EMAIL": ["Send the signed copy to {v} by Friday.", "My email is {v}, thanks."],
        "DATE_OF_BIRTH": ["Patient DOB: {v}", "She was born on {v} in a small town.",
                          "Date of birth: {v}", "Birthday {v}"],
        "CREDIT_CARD": ["Card number {v}, expiry 08/29.", "Please charge {v} for the order."],
        "IBAN": ["Please transfer the deposit to IBAN {v}."],
    },
    "de": {
        "PHONE": ["Rufen Sie mich bitte unter {v} an.", "Telefon: {v}", "Tel.: {v}",
                  "Erreichbar unter {v} (Mo-Fr)."],
        "EMAIL": ["Bitte schicken Sie die Unterlagen an {v}.", "E-Mail: {v}"],
        "DATE_OF_BIRTH": ["Geburtsdatum: {v}", "geb. {v} in Hamburg", "Er ist am {v} geboren.",
                          "Frau Weber, geboren am {v}, wohnhaft in Köln."],
        "CREDIT_CARD": ["Kreditkarte: {v}", "Bitte belasten Sie die Karte {v}."],
        "IBAN": ["Bitte überweisen Sie den Betrag auf IBAN {v}.", "Kontoverbindung: {v}"],
    },
    "fr": {
        "PHONE": ["Appelez-moi au {v} demain matin.", "Téléphone : {v}", "Tél. {v}"],
        "EMAIL": ["Merci d'écrire à {v} avant vendredi.", "Courriel : {v}"],
        "DATE_OF_BIRTH": ["Né le {v} à Lyon.", "Date de naissance : {v}",
                          "Mme Martin, née le {v}, demeurant à Paris."],
        "CREDIT_CARD": ["Numéro de carte : {v}", "Veuillez débiter la carte {v}."],
        "IBAN": ["Virement sur l'IBAN {v} s'il vous plaît."],
    },
    "es": {
        "PHONE": ["Llámame al {v} por la tarde.", "Teléfono: {v}", "Móvil: {v}"],
        "EMAIL": ["Envíe el contrato a {v}, por favor.", "Correo: {v}"],
        "DATE_OF_BIRTH": ["Nacido el {v} en Sevilla.", "Fecha de nacimiento: {v}",
                          "La paciente, nacida el {v}, acude a consulta."],
        "CREDIT_CARD": ["Número de tarjeta: {v}", "Cargue el pedido a la tarjeta {v}."],
        "IBAN": ["Transfiera el importe a la cuenta IBAN {v}."],
    },
    "it": {
        "PHONE": ["Chiamami al numero {v} domani.", "Telefono: {v}", "Cellulare: {v}"],
        "EMAIL": ["Invia il documento a {v} entro venerdì.", "Email: {v}"],
        "DATE_OF_BIRTH": ["Nato il {v} a Torino.", "Data di nascita: {v}",
                          "La signora Rossi, nata il {v}, residente a Milano."],
        "CREDIT_CARD": ["Carta di credito: {v}", "Addebitare sulla carta {v}."],
        "IBAN": ["Effettuare il bonifico sull'IBAN {v}."],
    },
    "pt": {
        "PHONE": ["Me liga no {v} depois das 18h.", "Telefone: {v}", "Celular: {v}",
                  "WhatsApp {v}"],
        "EMAIL": ["Mande o contrato para {v}, por favor.", "E-mail: {v}"],
        "DATE_OF_BIRTH": ["Nascido em {v} em Recife.", "Data de nascimento: {v}",
                          "A paciente, nascida em {v}, foi atendida hoje."],
        "CREDIT_CARD": ["Número do cartão: {v}", "Cobrar no cartão {v}."],
        "IBAN": ["Transferir para o IBAN {v}."],
    },
    "ja": {
        "PHONE": ["お電話は{v}までお願いします。", "電話番号：{v}", "携帯: {v}"],
        "EMAIL": ["資料は{v}までお送りください。", "メール: {v}"],
        "DATE_OF_BIRTH": ["生年月日：{v}", "生年月日 {v} 東京都出身"],
        "CREDIT_CARD": ["カード番号：{v}", "クレジットカード {v} で決済"],
        "IBAN": ["振込先 IBAN {v}"],
    },
    "nl": {
        "PHONE": ["Bel me op {v} na vijf uur.", "Telefoon: {v}", "Mobiel: {v}"],
        "EMAIL": ["Stuur het contract naar {v} alstublieft.", "E-mail: {v}"],
        "DATE_OF_BIRTH": ["Geboren op {v} in Utrecht.", "Geboortedatum: {v}"],
        "CREDIT_CARD": ["Kaartnummer: {v}", "Belast de creditcard {v}."],
        "IBAN": ["Maak het bedrag over naar IBAN {v}."],
    },
}  # fmt: skip

DOB_HEADERS = ["date_of_birth", "dob", "DateOfBirth", "birth_date", "Birthdate", "DOB"]
DOB_KEYS = ["date_of_birth", "dateOfBirth", "dob", "birthDate", "birth_date"]
PHONE_HEADERS = ["phone", "Phone", "phone_number", "mobile", "tel", "Telephone"]
PHONE_KEYS = ["phone", "phoneNumber", "phone_number", "mobile", "tel"]


class Text:
    """A text built piece by piece, with the spans of its labelled values."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.labels: list[list[str | int]] = []
        self.n = 0

    def s(self, text: str) -> Text:
        self.parts.append(text)
        self.n += len(text)
        return self

    def v(self, kind: str, value: str) -> Text:
        self.labels.append([kind, self.n, self.n + len(value)])
        return self.s(value)

    def fill(self, template: str, kind: str, value: str) -> Text:
        a, b = template.split("{v}")
        return self.s(a).v(kind, value).s(b)

    def text(self) -> str:
        return "".join(self.parts)


class Gen:
    def __init__(self, rng: random.Random, faker_for: Callable[[str], Faker]) -> None:
        self.rng = rng
        self.faker_for = faker_for
        self.n = 0

    def case(self, tag: str, locale: str, t: Text) -> Case:
        self.n += 1
        return Case(
            id=f"pii-{tag}-{self.n:05d}", scanner="pii", locale=locale, labels=t.labels,
            text=t.text(),
        )  # fmt: skip

    # --- values ------------------------------------------------------------------------

    def phone(self, locale: str, compact_ok: bool = True) -> str:
        f, region = self.faker_for(locale), REGION[locale]
        for _ in range(50):
            raw = f.phone_number()
            try:
                num = phonenumbers.parse(raw, region)
            except phonenumbers.NumberParseException:
                continue
            if not phonenumbers.is_valid_number(num):
                continue
            r = self.rng.random()
            if r < 0.55:
                out = raw
            elif r < 0.75:
                out = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.NATIONAL)
            elif r < 0.92:
                out = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            else:
                out = phonenumbers.format_number(num, phonenumbers.PhoneNumberFormat.E164)
            if not compact_ok and out.isdigit():
                continue
            return out
        raise RuntimeError(f"no valid phone number for {locale}")

    def dob(self, locale: str) -> str:
        f = self.faker_for(locale)
        d: dt.date = f.date_between_dates(_BORN_FROM, _BORN_TO)
        lang = locale[:2]
        month = _month_name(f, d.month)
        choices: dict[str, list[str]] = {
            "en_US": [f"{d:%m/%d/%Y}", f"{d:%B} {d.day}, {d.year}", d.isoformat(),
                      f"{d:%b} {d.day}, {d.year}"],
            "en_GB": [f"{d:%d/%m/%Y}", f"{d.day} {d:%B} {d.year}", d.isoformat()],
            "en_IN": [f"{d:%d-%m-%Y}", f"{d:%d/%m/%Y}", f"{d.day} {d:%b} {d.year}"],
            "de_DE": [f"{d:%d.%m.%Y}", f"{d.day}. {month} {d.year}"],
            "fr_FR": [f"{d:%d/%m/%Y}", f"{d.day} {month.lower()} {d.year}"],
            "es_ES": [f"{d:%d/%m/%Y}", f"{d.day} de {month.lower()} de {d.year}"],
            "it_IT": [f"{d:%d/%m/%Y}", f"{d.day} {month.lower()} {d.year}"],
            "pt_BR": [f"{d:%d/%m/%Y}", f"{d.day} de {month.lower()} de {d.year}"],
            "ja_JP": [f"{d.year}年{d.month}月{d.day}日", f"{d:%Y/%m/%d}"],
            "nl_NL": [f"{d:%d-%m-%Y}", f"{d.day} {month.lower()} {d.year}"],
        }  # fmt: skip
        del lang
        return self.rng.choice(choices[locale])

    def card(self, locale: str) -> str:
        f = self.faker_for(locale)
        kind = self.rng.choice(
            ["visa16", "visa16", "mastercard", "mastercard", "amex", "discover", "jcb16",
             "diners", "maestro", "visa13", "visa19"]
        )  # fmt: skip
        while True:
            num = f.credit_card_number(kind)
            if std_luhn.is_valid(num) and not num.startswith("0"):
                break
        r = self.rng.random()
        if r < 0.5 or len(num) not in (15, 16):
            return num
        sep = " " if r < 0.85 else "-"
        if len(num) == 15:
            return sep.join([num[:4], num[4:10], num[10:]])
        return sep.join(num[i : i + 4] for i in range(0, 16, 4))

    def iban(self, locale: str) -> str:
        f = self.faker_for(locale)
        while True:
            v = f.iban()
            if std_iban.is_valid(v) and len(v) in _IBAN_OK:
                break
        return std_iban.format(v) if self.rng.random() < 0.5 else v

    def email(self, locale: str) -> str:
        f = self.faker_for(locale)
        return self.rng.choice([f.email, f.free_email, f.company_email, f.ascii_email])()

    def ssn(self) -> str:
        f = self.faker_for("en_US")
        while True:
            v = f.ssn()
            if std_ssn.is_valid(v):
                return v

    def aadhaar(self) -> str:
        f = self.faker_for("en_IN")
        while True:
            v = f.aadhaar_id()
            if std_aadhaar.is_valid(v):
                return v

    def nino(self) -> str:
        # faker's NINOs use the reserved ZZ prefix and suffix T: give them a prefix and suffix
        # HMRC allows (the prefix rules are HMRC's published ones)
        f = self.faker_for("en_GB")
        raw = f.ssn().replace(" ", "")
        first = f.random_element("ABCEGHJKLMNOPRSTWXYZ")
        while True:
            second = f.random_element("ABCEGHJKLMNPRSTWXYZ")
            if first + second not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ"):
                break
        body = raw[2:8]
        suffix = f.random_element("ABCD")
        if self.rng.random() < 0.5:
            return f"{first}{second} {body[:2]} {body[2:4]} {body[4:]} {suffix}"
        return f"{first}{second}{body}{suffix}"

    def insee(self) -> str:
        f = self.faker_for("fr_FR")
        while True:
            v = f.ssn()
            if std_nir.is_valid(v):
                return std_nir.format(v) if self.rng.random() < 0.5 else v

    def de_tax_id(self) -> str:
        f = self.faker_for("de_DE")
        while True:
            body = f.numerify("%#########")
            v = body + mod_11_10.calc_check_digit(body)
            if std_idnr.is_valid(v):
                return std_idnr.format(v) if self.rng.random() < 0.4 else v


# fixed dates, never today's: the corpus must not change with the day it is written
_BORN_FROM, _BORN_TO = dt.date(1935, 1, 1), dt.date(2007, 12, 31)
_NOW = dt.datetime(2026, 11, 1, 12, 0, 0)
_IBAN_OK = {15, 16, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 31}


def _month_name(f: Faker, month: int) -> str:
    """The locale's month name, from faker's date_time provider of that locale."""
    for provider in f.get_providers():
        names = getattr(provider, "MONTH_NAMES", None)
        if isinstance(names, dict):
            return str(names[f"{month:02d}"])
    return dt.date(2000, month, 1).strftime("%B")


def _prose(g: Gen, locale: str, kind: str, value: str) -> Text:
    lang = locale[:2]
    t = Text()
    if g.rng.random() < 0.4:
        t.s(g.faker_for(locale).sentence(nb_words=8) + " ")
    t.fill(g.rng.choice(PROSE[lang][kind]), kind, value)
    if g.rng.random() < 0.4:
        t.s(" " + g.faker_for(locale).sentence(nb_words=6))
    return t


def _csv(g: Gen, locale: str) -> Text:
    f = g.faker_for(locale)
    sep = g.rng.choice([",", ",", ";", "\t", "|"])
    dob_h, phone_h = g.rng.choice(DOB_HEADERS), g.rng.choice(PHONE_HEADERS)
    t = Text().s(sep.join(["id", "name", "email", phone_h, dob_h, "company"]) + "\n")
    for i in range(g.rng.randint(2, 4)):
        t.s(f"{i + 1}{sep}{f.name()}{sep}")
        t.v("EMAIL", g.email(locale)).s(sep)
        t.v("PHONE", g.phone(locale)).s(sep)
        t.v("DATE_OF_BIRTH", g.dob(locale)).s(f"{sep}{f.company()}\n")
    return t


def _json(g: Gen, locale: str) -> Text:
    f = g.faker_for(locale)
    t = Text().s("{")
    t.s(json.dumps("name") + ": " + json.dumps(f.name(), ensure_ascii=False) + ", ")
    fields: list[tuple[str, str, str]] = [
        (g.rng.choice(DOB_KEYS), "DATE_OF_BIRTH", g.dob(locale)),
        (g.rng.choice(PHONE_KEYS), "PHONE", g.phone(locale)),
        ("email", "EMAIL", g.email(locale)),
    ]
    if locale == "en_US" and g.rng.random() < 0.6:
        ssn = g.ssn()
        fields.append(("ssn", "US_SSN", ssn.replace("-", "") if g.rng.random() < 0.5 else ssn))
    if locale == "en_IN" and g.rng.random() < 0.6:
        fields.append(("aadhaar", "IN_AADHAAR", g.aadhaar()))
    g.rng.shuffle(fields)
    for i, (key, kind, value) in enumerate(fields):
        t.s(("" if i == 0 else ", ") + json.dumps(key) + ': "').v(kind, value).s('"')
    return t.s(', "company": ' + json.dumps(f.company(), ensure_ascii=False) + "}")


def _log(g: Gen, locale: str) -> Text:
    f = g.faker_for(locale)
    when = f.date_time_between_dates(_NOW - dt.timedelta(days=730), _NOW)
    ts = when.strftime("%Y-%m-%dT%H:%M:%SZ")
    t = Text().s(f"{ts} INFO auth.login user=")
    t.v("EMAIL", g.email(locale)).s(" ip=")
    if g.rng.random() < 0.75:
        t.v("IPV4", f.ipv4_public())
    else:
        t.v("IPV6", f.ipv6())
    ms = g.rng.randint(2, 900)
    return t.s(f" status=200 latency_ms={ms} request_id={f.uuid4()}")


def _national_ids(g: Gen) -> Iterator[tuple[str, Text]]:
    yield "en_US", Text().s("SSN: ").v("US_SSN", g.ssn()).s(" (on file)")
    yield "en_US", Text().s('{"ssn": "').v("US_SSN", g.ssn().replace("-", "")).s('"}')
    yield "en_GB", Text().s("National Insurance number ").v("UK_NINO", g.nino()).s(".")
    yield "fr_FR", Text().s("Numéro de sécurité sociale : ").v("FR_INSEE", g.insee())
    yield "de_DE", Text().s("Steuer-ID: ").v("DE_TAX_ID", g.de_tax_id())
    a = g.aadhaar()
    r = g.rng.random()
    if r < 0.35:
        a = f"{a[:4]} {a[4:8]} {a[8:]}"
    elif r < 0.7:
        a = f"{a[:4]}-{a[4:8]}-{a[8:]}"
    yield (
        "en_IN",
        Text().s(g.rng.choice(["Aadhaar: ", "Aadhaar No. ", "aadhaar_number="])).v("IN_AADHAAR", a),
    )


def _negatives(g: Gen) -> Iterator[tuple[str, Text]]:
    """Hard negatives: numbers shaped like PII that are not."""
    f = g.faker_for("en_US")
    rng = g.rng
    # 12-digit ids with a valid Verhoeff digit (what an Aadhaar check alone would accept)
    while True:
        acct = f.numerify("%###########")
        if std_verhoeff.is_valid(acct):
            break
    yield "-", Text().s(rng.choice([
        f"arn:aws:iam::{acct}:role/deploy-{f.word()}",
        f"AWS account {acct} (prod)",
        f'{{"AccountId": "{acct}", "Region": "eu-west-1"}}',
    ]))  # fmt: skip
    yield (
        "-",
        Text().s(
            f"client_id={acct}-{f.pystr_format('????????????????????????????????').lower()}"
            ".apps.googleusercontent.com"
        ),
    )
    while True:
        track = f.numerify("%###########")
        if std_verhoeff.is_valid(track) or std_luhn.is_valid(track):
            break
    yield "-", Text().s(rng.choice([
        f"FedEx tracking number {track}",
        f"Tracking: 1Z{f.bothify('???######????##').upper()} shipped",
        f"USPS tracking {f.numerify('9400 1### #### #### #### ##')}",
    ]))  # fmt: skip
    while True:
        ean = f.ean13()
        if std_luhn.is_valid(ean):
            break
    yield "-", Text().s(rng.choice([f"EAN {ean}", f"barcode: {ean}", f"GTIN {ean} x 3 pcs"]))
    a, b, c, d = (rng.randint(0, 30), rng.randint(0, 30), rng.randint(0, 255), rng.randint(0, 255))
    yield "-", Text().s(rng.choice([
        f"Upgraded to v{a}.{b}.{c}.{d} last night.",
        f"version {a}.{b}.{c}.{d}",
        f"Build {a}.{b}.{c}.{d} (release)",
        f"Microsoft Windows [Version {a}.{b}.{c}.{d}]",
        f"Package foo-{a}.{b}.{c}.{d}.tar.gz",
    ]))  # fmt: skip
    yield "-", Text().s(rng.choice([
        f"Order #{f.numerify('########')} has shipped.",
        f"Invoice INV-{f.year()}-{f.numerify('######')} is due.",
        f"Your order number is {f.numerify('%##-#######-#######')}.",
    ]))  # fmt: skip
    ts = f.date_time_between_dates(_NOW - dt.timedelta(days=1095), _NOW)
    yield "-", Text().s(rng.choice([
        f"created_at={int(ts.timestamp())}",
        f'"ts": {int(ts.timestamp() * 1000)}',
        f"{ts:%Y-%m-%d %H:%M:%S} job finished",
        f"Last modified: {ts:%a, %d %b %Y %H:%M:%S} GMT",
        f"Invoice date: {ts:%d/%m/%Y}, due {ts:%B %d, %Y}.",
    ]))  # fmt: skip
    yield "-", Text().s(rng.choice([
        f"ISBN {f.isbn13()}",
        f"commit {f.sha1()[:12]} merged",
        f"session {f.uuid4()}",
        f"Total: {f.pydecimal(left_digits=5, right_digits=2, positive=True)} EUR",
    ]))  # fmt: skip


def _locale_negatives(g: Gen, locale: str) -> Iterator[Text]:
    """Hard negatives of a locale: addresses, postcodes, plates, ISBN-10s, user agents."""
    f = g.faker_for(locale)
    yield Text().s("Ship to:\n" + f.address())
    yield Text().s(g.rng.choice([f"Postcode {f.postcode()}", f"Kennzeichen {f.license_plate()}"]))
    yield Text().s(g.rng.choice([f"ISBN {f.isbn10()}", f"User-Agent: {f.user_agent()}"]))
    yield Text().s(
        g.rng.choice(
            [f"Ref {f.numerify('##########')}", f"msisdn {f.msisdn()}", f"EAN {f.ean13()}"]
        )
    )


def cases(rng: random.Random, faker_for: Callable[[str], Faker]) -> Iterator[Case]:
    g = Gen(rng, faker_for)
    for locale in LOCALES:
        lang = locale[:2]
        for _ in range(14):
            yield g.case("phone", locale, _prose(g, locale, "PHONE", g.phone(locale)))
        for _ in range(10):
            yield g.case("dob", locale, _prose(g, locale, "DATE_OF_BIRTH", g.dob(locale)))
        for _ in range(4):
            yield g.case("email", locale, _prose(g, locale, "EMAIL", g.email(locale)))
        for _ in range(5):
            yield g.case("card", locale, _prose(g, locale, "CREDIT_CARD", g.card(locale)))
        if locale in IBAN_LOCALES:
            for _ in range(4):
                yield g.case("iban", locale, _prose(g, locale, "IBAN", g.iban(locale)))
        for _ in range(5):
            yield g.case("csv", locale, _csv(g, locale))
        for _ in range(5):
            yield g.case("json", locale, _json(g, locale))
        for _ in range(3):
            yield g.case("log", locale, _log(g, locale))
        del lang
    for _ in range(12):
        for locale, t in _national_ids(g):
            yield g.case("id", locale, t)
    for _ in range(30):
        for locale, t in _negatives(g):
            yield g.case("neg", locale, t)
    for _ in range(4):
        for locale in LOCALES:
            for t in _locale_negatives(g, locale):
                yield g.case("neg", locale, t)


__all__: list[Any] = ["cases"]
