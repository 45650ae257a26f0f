"""Secrets cases of the generated corpus: tokens in the shapes their issuers use (AWS, GitHub,
Slack, Stripe, Google, JWTs, PEM keys) and passwords from faker, inside the carriers they
travel in (.env, YAML, JSON, INI, .netrc, docker-compose, URLs with userinfo, logs, shell
history, prose) under the key names real configs use (camelCase and SCREAMING_SNAKE); and hard
negatives (placeholders, code that names a secret without holding it, lockfile hashes, UUIDs,
prose about passwords).

Only the carriers are written here: passwords, hosts, names and hashes come from faker, token
bodies from the seeded `rng` in each issuer's alphabet and length.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
import string
from collections.abc import Callable, Iterator

from corpus_types import Case
from faker import Faker

UPPER, LOWER, DIGITS = string.ascii_uppercase, string.ascii_lowercase, string.digits
ALNUM = UPPER + LOWER + DIGITS
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"
HEXDIGITS = "0123456789abcdef"
START, END = dt.datetime(2020, 1, 1), dt.datetime(2025, 12, 31)
TOKEN_KINDS = ("AWS_ACCESS_KEY_ID", "GITHUB_TOKEN", "SLACK_TOKEN", "STRIPE_KEY", "GCP_API_KEY",
               "JWT", "GITHUB_TOKEN", "AWS_ACCESS_KEY_ID")  # fmt: skip
PEM_LABELS = ("RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY")
SCHEMES = ("postgres", "postgresql", "mysql", "redis", "amqp", "mongodb+srv", "https", "ftp")
PROSE = ("The password is {} and it expires on Monday.",
         "FYI the wifi password for the office is {} now.",
         "Your new password is {} (please change it at first login).",
         "I set the root password to {} on the staging box.")  # fmt: skip


class _Text:
    """A text built piece by piece, with the labels of the pieces that are findings."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.labels: list[list[str | int]] = []
        self.n = 0

    def s(self, text: str) -> _Text:
        self.parts.append(text)
        self.n += len(text)
        return self

    def v(self, kind: str, value: str) -> _Text:
        self.labels.append([kind, self.n, self.n + len(value)])
        return self.s(value)

    @property
    def text(self) -> str:
        return "".join(self.parts)


class _Gen:
    def __init__(self, rng: random.Random, faker_for: Callable[[str], Faker]) -> None:
        self.rng = rng
        self.fake = faker_for("en_US")
        self.count = 0

    def case(self, tag: str, t: _Text) -> Case:
        self.count += 1
        return Case(
            id=f"secrets-{tag}-{self.count:04d}",
            scanner="secrets",
            locale="-",
            labels=t.labels,
            text=t.text,
        )

    def when(self) -> str:
        """A timestamp of a fixed span (faker's own end at today: not reproducible)."""
        return self.fake.date_time_between(START, END).isoformat()

    def pick(self, seq: list[str] | tuple[str, ...]) -> str:
        return seq[self.rng.randrange(len(seq))]

    def rand(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    # --- values ---------------------------------------------------------------------------

    def password(self) -> str:
        return str(
            self.fake.password(
                length=self.rng.randrange(10, 25), special_chars=self.rng.random() < 0.7
            )
        )

    def generic(self) -> str:
        """A generic secret value as services issue them."""
        roll = self.rng.random()
        if roll < 0.35:
            return self.password()
        if roll < 0.55:
            return self.rand(HEXDIGITS, int(self.pick(("32", "40", "64"))))
        if roll < 0.75:
            raw = self.fake.binary(length=self.rng.randrange(18, 48))
            return base64.b64encode(raw).decode()
        if roll < 0.9:
            raw = self.fake.binary(length=self.rng.randrange(18, 40))
            return base64.urlsafe_b64encode(raw).decode().rstrip("=")
        return self.rand(ALNUM, self.rng.randrange(20, 41))

    def token(self) -> tuple[str, str]:
        """(kind, value) of a token in an issuer's shape."""
        kind = self.pick(TOKEN_KINDS)
        if kind == "AWS_ACCESS_KEY_ID":
            return kind, self.pick(("AKIA", "ASIA")) + self.rand(UPPER + "234567", 16)
        if kind == "GITHUB_TOKEN":
            if self.rng.random() < 0.2:
                return kind, f"github_pat_{self.rand(ALNUM, 22)}_{self.rand(ALNUM, 59)}"
            return kind, self.pick(("ghp_", "gho_", "ghs_", "ghu_")) + self.rand(ALNUM, 36)
        if kind == "SLACK_TOKEN":
            head = self.pick(("xoxb", "xoxp", "xoxa"))
            return kind, f"{head}-{self.rand(DIGITS, 12)}-{self.rand(DIGITS, 13)}-" + self.rand(
                ALNUM, 24
            )
        if kind == "STRIPE_KEY":
            return kind, self.pick(("sk_live_", "rk_live_", "sk_test_")) + self.rand(ALNUM, 24)
        if kind == "GCP_API_KEY":
            return kind, "AIza" + self.rand(URLSAFE, 35)
        return kind, self.jwt()

    def jwt(self) -> str:
        def enc(obj: object) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        header = {"alg": self.pick(("HS256", "RS256", "ES256")), "typ": "JWT"}
        claims = {
            "sub": self.fake.uuid4(),
            "name": self.fake.name(),
            "iat": self.rng.randrange(1_600_000_000, 1_750_000_000),
        }
        sig = base64.urlsafe_b64encode(self.fake.binary(length=32)).decode().rstrip("=")
        return f"{enc(header)}.{enc(claims)}.{sig}"

    def pem(self, escaped: bool = False) -> str:
        label = self.pick(PEM_LABELS)
        body = base64.b64encode(self.fake.binary(length=48 * self.rng.randrange(3, 8))).decode()
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        nl = "\\n" if escaped else "\n"
        return f"-----BEGIN {label}-----{nl}{nl.join(lines)}{nl}-----END {label}-----"

    def aws_secret(self) -> str:
        return base64.b64encode(self.fake.binary(length=30)).decode()

    # --- cases ----------------------------------------------------------------------------

    def configs(self) -> Iterator[Case]:
        keys = ["DB_PASSWORD", "SMTP_PASS", "ENCRYPTION_KEY", "SIGNING_KEY", "SECRET_KEY_BASE",
                "JWT_SECRET", "REDIS_PASSWORD", "MYSQL_ROOT_PASSWORD", "POSTGRES_PASSWORD",
                "API_KEY", "CLIENT_SECRET", "AUTH_TOKEN", "SESSION_SECRET", "WEBHOOK_SECRET",
                "APP_KEY", "MASTER_KEY", "ACCESS_TOKEN", "REFRESH_TOKEN", "DJANGO_SECRET_KEY",
                "SENTRY_AUTH_TOKEN", "PRIVATE_KEY_PASSPHRASE", "HMAC_KEY"]  # fmt: skip
        camel = ["sessionToken", "SessionToken", "clientSecret", "apiKey", "dbPassword",
                 "accessToken", "refreshToken", "signingKey", "encryptionKey", "smtpPassword",
                 "adminPassword", "authToken", "appSecret", "jwtSecret"]  # fmt: skip
        noise = ["DEBUG=false", "PORT=8080", "LOG_LEVEL=info", "TZ=UTC", "WORKERS=4",
                 f"APP_NAME={self.fake.slug()}", f"DB_HOST={self.fake.hostname()}",
                 f"ADMIN_EMAIL={self.fake.email()}",
                 f"DB_USER={self.fake.user_name()}"]  # fmt: skip
        for i in range(60):
            t = _Text()
            form = i % 6
            key = self.pick(keys)
            value = self.generic()
            if form == 0:  # .env
                t.s(f"{self.pick(noise)}\n{self.pick(noise)}\n{key}=").v("GENERIC_SECRET", value)
                t.s(f"\n{self.pick(noise)}\n")
            elif form == 1:  # YAML
                name = self.pick(camel) if self.rng.random() < 0.5 else key.lower()
                t.s(f'service:\n  name: {self.fake.slug()}\n  {name}: "').v("GENERIC_SECRET", value)
                t.s(f'"\n  port: {self.rng.randrange(1024, 65535)}\n')
            elif form == 2:  # JSON
                name = self.pick(camel)
                t.s(f'{{"user": "{self.fake.user_name()}", "{name}": "').v("GENERIC_SECRET", value)
                t.s(f'", "region": "{self.pick(("eu-west-1", "us-east-1"))}"}}')
            elif form == 3:  # INI
                t.s(f"[{self.pick(('database', 'smtp', 'auth'))}]\nhost = {self.fake.hostname()}\n")
                t.s(f"{key.lower()} = ").v("GENERIC_SECRET", value).s("\n")
            elif form == 4:  # docker-compose
                t.s(f"services:\n  db:\n    image: postgres:16\n    environment:\n      - {key}=")
                t.v("GENERIC_SECRET", value).s("\n      - POSTGRES_DB=app\n")
            else:  # camelCase in code
                name = self.pick(camel)
                t.s(f'const config = {{ host: "{self.fake.hostname()}", {name}: \'')
                t.v("GENERIC_SECRET", value).s("' };")
            yield self.case("config", t)

    def no_cue(self) -> Iterator[Case]:
        for i in range(80):
            t = _Text()
            form = i % 8
            pw = self.password()
            if form == 0:  # URL userinfo
                scheme = self.pick(SCHEMES)
                user = (
                    "" if scheme == "redis" and self.rng.random() < 0.5 else self.fake.user_name()
                )
                t.s(
                    f"{self.pick(('DATABASE_URL=', 'url: ', 'Connecting to ', ''))}{scheme}://{user}:"
                )
                t.v("GENERIC_SECRET", pw.replace("@", "%40"))  # as URLs must carry it
                t.s(f"@{self.fake.hostname()}:{self.rng.randrange(1024, 9999)}/{self.fake.slug()}")
            elif form == 1:  # Authorization headers
                if self.rng.random() < 0.5:
                    cred = f"{self.fake.user_name()}:{pw}".encode()
                    t.s(f"{self.pick(('Authorization', 'authorization'))}: Basic ")
                    t.v("GENERIC_SECRET", base64.b64encode(cred).decode())
                else:
                    t.s("curl -s -H 'Authorization: Bearer ")
                    t.v("GENERIC_SECRET", self.rand(ALNUM, self.rng.randrange(32, 48)))
                    t.s(f"' https://{self.fake.domain_name()}/api/v2/{self.fake.slug()}")
            elif form == 2:  # mysql -p
                t.s(f"$ mysql -h {self.fake.hostname()} -u {self.fake.user_name()} ")
                if self.rng.random() < 0.5:
                    t.s("-p'").v("GENERIC_SECRET", pw).s(f"' {self.fake.slug()}")
                else:
                    t.s("-p").v("GENERIC_SECRET", pw.replace("'", "")).s(f" {self.fake.slug()}")
            elif form == 3:  # .netrc
                t.s(f"machine {self.fake.hostname()}\n  login {self.fake.email()}\n  password ")
                t.v("GENERIC_SECRET", self.generic()).s("\n")
            elif form == 4:  # prose
                template = self.pick(PROSE)
                before, after = template.split("{}")
                t.s(before).v("GENERIC_SECRET", pw).s(after)
            elif form == 5:  # shell history with a CLI flag or sshpass
                if self.rng.random() < 0.5:
                    t.s("sshpass -p '").v("GENERIC_SECRET", pw).s(
                        f"' ssh {self.fake.user_name()}@{self.fake.hostname()}"
                    )
                else:
                    t.s("vault login --password ").v("GENERIC_SECRET", pw)
            elif form == 7:  # curl -u
                t.s(f"curl -fsS -u {self.fake.user_name()}:").v("GENERIC_SECRET", pw)
                t.s(f" https://{self.fake.domain_name()}/api/{self.fake.slug()}")
            else:  # a log line
                t.s(f"{self.when()} WARN retrying {self.fake.uri()} with token=")
                t.v("GENERIC_SECRET", self.rand(URLSAFE, self.rng.randrange(24, 40)))
                t.s(" after 503")
            yield self.case("nocue", t)

    def tokens(self) -> Iterator[Case]:
        carriers = ["export {k}={v}", "{k}: {v}", '"{k}": "{v}"', "{k} = '{v}'",
                    "curl -H 'Authorization: Bearer {v}' https://api.example.org/v1",
                    "token used: {v} (rotated)", "[{d}] auth ok key={v}",
                    "https://api.example.org/x?key=%3D{v}&y=1"]  # fmt: skip
        names = {"AWS_ACCESS_KEY_ID": "AWS_ACCESS_KEY_ID", "GITHUB_TOKEN": "GITHUB_TOKEN",
                 "SLACK_TOKEN": "SLACK_BOT_TOKEN", "STRIPE_KEY": "STRIPE_SECRET_KEY",
                 "GCP_API_KEY": "GOOGLE_API_KEY", "JWT": "ID_TOKEN"}  # fmt: skip
        for i in range(130):
            kind, value = self.token()
            carrier = carriers[i % len(carriers)]
            before, after = carrier.split("{v}")
            before = before.replace("{k}", names[kind]).replace("{d}", self.when())
            t = _Text().s(before).v(kind, value).s(after)
            yield self.case("token", t)
        for i in range(20):
            t = _Text()
            if i % 2:
                t.s("[default]\naws_access_key_id = ")
                t.v("AWS_ACCESS_KEY_ID", "AKIA" + self.rand(UPPER + "234567", 16))
                t.s("\naws_secret_access_key = ").v("AWS_SECRET_ACCESS_KEY", self.aws_secret())
                t.s("\n")
            else:
                t.s("AWS_SECRET_ACCESS_KEY=").v("AWS_SECRET_ACCESS_KEY", self.aws_secret())
            yield self.case("aws", t)
        for i in range(20):
            t = _Text()
            if i % 2:
                t.s('{"type": "service_account", "private_key": "')
                t.v("PRIVATE_KEY", self.pem(escaped=True)).s('\\n"}')
            else:
                t.s("tls:\n  key: |\n").v("PRIVATE_KEY", self.pem()).s("\n")
            yield self.case("pem", t)
        for _ in range(12):
            t = _Text().s("SLACK_WEBHOOK_URL=")
            url = (
                f"https://hooks.slack.com/services/T{self.rand(UPPER + DIGITS, 10)}"
                f"/B{self.rand(UPPER + DIGITS, 10)}/{self.rand(ALNUM, 24)}"
            )
            yield self.case("webhook", t.v("SLACK_WEBHOOK", url))

    def negatives(self) -> Iterator[Case]:
        x = "x" * 36
        shapes = [
            "API_KEY=your-api-key-here", "OPENAI_API_KEY=<your-openai-key>",
            f"GITHUB_TOKEN=ghp_{x}", "AWS_ACCESS_KEY_ID=AKIAXXXXXXXXXXXXXXXX",
            "aws_access_key_id = AKIAXXXXXXXXXEXAMPLE", "password: ${DB_PASSWORD}",
            'token: "{{ .Values.apiToken }}"', "SECRET_KEY=changeme", "password=********",
            'clientSecret: "REDACTED"', "STRIPE_KEY=sk_live_" + "x" * 24,
            "api_key = settings.OPENAI_API_KEY", 'String apiKey = System.getenv("API_KEY");',
            'password = os.environ["DB_PASSWORD"]', "const token = process.env.GITHUB_TOKEN;",
            'client_secret=os.getenv("CLIENT_SECRET")', "$password = getenv('DB_PASS');",
            "secret_key = config.get('jwt.secret')", "PASSWORD = env('DATABASE_PASSWORD')",
            "token = create_access_token(identity=user.id)", "secret = os.urandom(32)",
            "db.connect(host, password=db_password)",
            "The password must be at least 12 characters long.",
            "Passwords are stored as bcrypt hashes; the token is required on every call.",
            "Our API uses Bearer authentication over TLS.", "mysql -h db -P 3306 -u app -p",
            "DB_PASSWORD=", "token_type: Bearer", "pageToken: next", "max_tokens: 2048",
        ]  # fmt: skip
        for i, shape in enumerate(shapes):
            yield self.case("neg-shape", _Text().s(shape))
            if i % 3 == 0:
                yield self.case("neg-shape", _Text().s(f"# {self.fake.sentence()}\n{shape}\n"))
        for i in range(60):
            form = i % 6
            if form == 0:  # lockfile hashes
                text = (
                    f'[[package]]\nname = "{self.fake.slug()}"\nversion = "1.{i}.0"\n'
                    f'checksum = "{self.fake.sha256()}"\n'
                )
            elif form == 1:
                digest = base64.b64encode(self.fake.binary(length=64)).decode()
                text = (
                    f'"node_modules/{self.fake.slug()}": {{"version": "2.{i}.1", '
                    f'"integrity": "sha512-{digest}"}}'
                )
            elif form == 2:  # UUIDs and ids
                text = (
                    f"request_id={self.fake.uuid4()} trace_id={self.fake.sha1()[:32]} "
                    f"user={self.fake.user_name()}"
                )
            elif form == 3:  # URLs without a password
                text = (
                    f"git clone https://{self.fake.user_name()}@github.com/{self.fake.slug()}/"
                    f"{self.fake.slug()}.git && psql postgres://{self.fake.hostname()}:5432/app"
                )
            elif form == 4:  # commits and digests
                text = (
                    f"commit {self.fake.sha1()}\nAuthor: {self.fake.name()} <{self.fake.email()}>"
                )
            else:  # prose about secrets
                text = (
                    f"{self.fake.name()} reset the password for {self.fake.user_name()}; "
                    f"the token is rotated every {self.rng.randrange(2, 30)} days."
                )
            yield self.case("neg", _Text().s(text))


def cases(rng: random.Random, faker_for: Callable[[str], Faker]) -> Iterator[Case]:
    gen = _Gen(rng, faker_for)
    yield from gen.configs()
    yield from gen.no_cue()
    yield from gen.tokens()
    yield from gen.negatives()
