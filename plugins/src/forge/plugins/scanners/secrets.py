"""Secrets detection, the pure-Python twin of forge-filters-core's `secrets.rs`: cloud provider
keys (AWS, GCP, Azure), SaaS API tokens, PEM private keys, JWTs, and generic high-entropy values
after a cue such as `password=`, `sessionToken:` or `SMTP_PASS=`, or where a secret stands with no
key (URL userinfo, `Authorization: Basic/Bearer`, `.netrc`, `mysql -p…`, CLI flags, "the password
is …"). Placeholders (`your-api-key-here`, `ghp_xxxx…`) and code that names a secret without
holding it (`settings.API_KEY`, `os.environ[`) are not reported."""

from __future__ import annotations

import re
import string

from forge.plugins.scanners import decode
from forge.plugins.scanners.config import DEFAULT_SECRETS, SecretsConfig
from forge.plugins.scanners.findings import Candidate, Finding, resolve
from forge.plugins.scanners.text import ALNUM, DIGITS, after_ok, before_ok, ci, entropy

_AWS_CUE = "(?:aws[_ .-]?secret(?:[_ .-]?access)?(?:[_ .-]?key)?|secret[_ .-]?access[_ .-]?key)"
# key names that announce a secret value (`DB_PASSWORD=`, `"clientSecret":`, `SMTP_PASS:`)
_GENERIC_CUE = (
    "(?:pgpassword|pass(?:word|wd|phrase|code)?|pwd"
    "|(?:client[_-]?|api[_-]?|app[_-]?)?secret(?:[_-]?key(?:[_-]?base)?)?"
    "|(?:(?:access|auth|refresh|session|id|api)[_-]?)?token"
    "|(?:api|access|private|encryption|signing|master|hmac|jwt|session|app)[_-]?key)"
)
_SEPARATOR = r"""(?:["']?[ \t]{0,4}(?:=>|:=|[:=])[ \t]{0,4}["']?|>|\(["'])"""
_AWS_SEPARATOR = r"""["']?[ \t]{0,4}(?:=>|:=|[:=])?[ \t]{0,4}["']?"""
# a value: printable ASCII up to a space, quote, comma, semicolon, colon or backslash
_VALUE = r"([A-Za-z0-9+/=_.!@#$%^&*()?~\[\]{}<>|-]+)"
_URL_VALUE = r"([A-Za-z0-9._~!$&()*+=%#^-]+)"
_TOKEN_VALUE = r"([A-Za-z0-9._~+/-]+=*)"
# Secrets with no `key=value` cue: (context, the pattern before the value, after it); the
# context says how the value is checked (see _generic_ok).
_CONTEXTS: tuple[tuple[str, str, str], ...] = (
    # postgres://user:pw@host/db
    ("userinfo", "[A-Za-z][A-Za-z0-9+.-]{1,15}://[A-Za-z0-9._~%!$&()*+=-]{0,64}:", "@"),
    # Authorization: Basic dXNlcjpwdw== / Bearer <token>
    ("auth", r"""(?:authorization["']?[ \t]*[:=][ \t]*["']?)?(?:basic|bearer|token)[ \t]+""", ""),
    ("netrc", r"login[ \t]+[^ \t\r\n]+[ \t\r\n]+password[ \t]+", ""),
    ("mysql", r"""(?:mysql|mysqldump|mysqladmin|mariadb)[^\n]{0,80}? -p["']?""", ""),
    ("cli", r"""(?:sshpass -p|--password|--pass|--token|--api-key|--secret)[ \t]+["']?""", ""),
    # curl -u user:pw, wget --user=u --password=pw is a cue already
    ("curl", r"""curl[^\n]{0,80}? (?:-u|--user)[ =]["']?[A-Za-z0-9._@+-]{1,64}:""", ""),
    # "the password is Summer2024!"
    (
        "prose",
        r"(?:password|passphrase|passcode|pwd|token|secret|api key)"
        r"(?: for(?: [^ \t\r\n]{1,40}){1,3})?"
        r"""(?: is| was| to|:)(?: now| set to| still)?[ \t]+["'`]?""",
        "",
    ),
)
_CONTEXT_VALUES = {"userinfo": _URL_VALUE, "auth": _TOKEN_VALUE}


_PLACEHOLDERS = frozenset(
    (
        "changeme",
        "password",
        "example",
        "redacted",
        "placeholder",
        "undefined",
        "secret",
        "null",
        "none",
        "notasecret",
    )
)

# (kind, pattern, score, detail) in SECRET_KINDS order; the span is group 1 when there is one.
_SPECS: tuple[tuple[str, str, float, str], ...] = (
    (
        "PRIVATE_KEY",
        r"-----BEGIN (?:[A-Z0-9]{1,10} ){0,2}PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[A-Za-z0-9+/=\r\n\t :,.\\-]*?-----END (?:[A-Z0-9]{1,10} ){0,2}PRIVATE KEY"
        r"(?: BLOCK)?-----)?",
        1.0,
        "pem",
    ),
    ("GCP_SERVICE_ACCOUNT_KEY", r'"private_key_id" ?: ?"[0-9a-f]{40}"', 0.95, "gcp"),
    ("AWS_ACCESS_KEY_ID", r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}", 0.95, "aws"),
    (
        "AWS_SECRET_ACCESS_KEY",
        ci(_AWS_CUE) + _AWS_SEPARATOR + "([A-Za-z0-9/+]{40})",
        0.9,
        "aws",
    ),
    (
        "AZURE_CONNECTION_STRING",
        r"DefaultEndpointsProtocol=https?;AccountName=[A-Za-z0-9]{3,24};"
        r"AccountKey=[A-Za-z0-9+/]{86}==(?:;EndpointSuffix=[A-Za-z0-9.]{1,64})?",
        0.95,
        "azure",
    ),
    ("AZURE_STORAGE_KEY", r"AccountKey=([A-Za-z0-9+/]{86}==)", 0.9, "azure"),
    (
        "GITHUB_TOKEN",
        r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
        0.95,
        "github",
    ),
    ("GITLAB_TOKEN", r"glpat-[A-Za-z0-9_-]{20}", 0.95, "gitlab"),
    (
        "SLACK_WEBHOOK",
        r"https://hooks\.slack\.com/services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/[A-Za-z0-9]{24}",
        0.95,
        "slack",
    ),
    ("SLACK_TOKEN", r"xox[abposr]-[0-9]{6,15}-[A-Za-z0-9-]{10,}", 0.95, "slack"),
    ("STRIPE_KEY", r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{24,}", 0.95, "stripe"),
    ("ANTHROPIC_API_KEY", r"sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{80,}", 0.95, "anthropic"),
    (
        "OPENAI_API_KEY",
        r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}"
        r"|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}",
        0.95,
        "openai",
    ),
    ("GCP_API_KEY", r"AIza[0-9A-Za-z_-]{35}", 0.9, "google"),
    ("GOOGLE_OAUTH_SECRET", r"GOCSPX-[A-Za-z0-9_-]{28}", 0.95, "google"),
    ("GOOGLE_OAUTH_TOKEN", r"ya29\.[0-9A-Za-z_-]{20,}", 0.9, "google"),
    ("TWILIO_API_KEY", r"SK[0-9a-f]{32}", 0.8, "twilio"),
    ("SENDGRID_API_KEY", r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}", 0.95, "sendgrid"),
    ("NPM_TOKEN", r"npm_[A-Za-z0-9]{36}", 0.95, "npm"),
    ("PYPI_TOKEN", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}", 0.95, "pypi"),
    ("HUGGINGFACE_TOKEN", r"hf_[A-Za-z0-9]{34}", 0.9, "huggingface"),
    ("JWT", r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*", 0.9, "jwt"),
    ("GENERIC_SECRET", ci(_GENERIC_CUE) + _SEPARATOR + _VALUE, 0.0, "generic"),
)
PATTERNS: tuple[tuple[str, str], ...] = tuple((kind, p) for kind, p, _, _ in _SPECS) + tuple(
    ("GENERIC_SECRET", ci(before + _CONTEXT_VALUES.get(name, _VALUE) + after))
    for name, before, after in _CONTEXTS
)
_RES = tuple(re.compile(p) for _, p in PATTERNS)
PRIVATE_KEY, AWS_SECRET_ACCESS_KEY, AZURE_CONNECTION_STRING, JWT, GENERIC_SECRET = 0, 3, 4, 21, 22
_AWS_VALUE = ALNUM | frozenset("/+=")
_HEX = frozenset("0123456789abcdefABCDEF")
_UPPER = frozenset(string.ascii_uppercase)
_LOWER = frozenset(string.ascii_lowercase)
# words before a token cue that make it no secret (`nextPageToken`, `csrf_token`)
_NOT_SECRET_BEFORE = ("page", "next", "sync", "continuation", "resume", "cursor", "csrf", "xsrf")
_PLACEHOLDER_WORDS = ("your", "-here", "_here", "placeholder", "example", "changeme", "redacted",
                      "replace", "dummy", "sample", "insert")  # fmt: skip
_CODE_SEGMENT = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*")
_ENV_NAME = re.compile(r"\$(?:[A-Z_][A-Z0-9_]*|[a-z_][a-z0-9_]*)")
_PATH_SEGMENT = re.compile(r"[A-Za-z0-9._-]*")
_CODE_CHARS = ALNUM | frozenset("_$.=()[]")
_INTERPOLATION = re.compile(r"\{[A-Za-z0-9_.()]+\}")
_CUE_WORDS = ("password", "passwd", "secret", "token", "key", "pwd", "credential")
_CLOSERS = {")": "(", "]": "[", "}": "{", ">": "<"}


def _jwt_ok(m: str) -> bool:
    header = decode.base64(m.split(".", 1)[0], url=True)
    return header is not None and b'"alg"' in header


def _starts_clean(text: str, s: int) -> bool:
    """No letter or digit right before `s`, or only the end of a `%XX` or `\\n` escape."""
    if before_ok(text, s):
        return True
    if s >= 3 and text[s - 3] == "%" and text[s - 2] in _HEX and text[s - 1] in _HEX:
        return True
    return s >= 2 and text[s - 2] == "\\" and text[s - 1] in "nrt"


def _low_entropy_token(v: str) -> bool:
    """`ghp_xxxx...`, `AKIAXXXXXXXXXXXXXXXX`: a token's shape filled with a placeholder."""
    return "xxxx" in v.lower() or entropy(v) < 3.0


def _placeholder(v: str) -> bool:
    lower = v.lower()
    if lower in _PLACEHOLDERS or "xxxx" in lower or "****" in lower or "..." in v:
        return True
    if any(w in lower for w in _PLACEHOLDER_WORDS):
        return True
    if v.startswith(("${", "$(", "{{", "%(", "#{", "<%")) or _ENV_NAME.fullmatch(v):
        return True
    if _INTERPOLATION.search(v):
        return True  # a template: s3cr3t-{digits}, ghp_{token}, {password}
    if all(c.isalpha() or c in "-_" for c in v) and any(w in lower for w in _CUE_WORDS):
        return True  # words naming the secret: admin-password, my_secret_token
    return v[0] == "<" and v[-1] == ">"


def _code_path(p: str) -> bool:
    return all(
        _CODE_SEGMENT.fullmatch(part) and sum(c.isdigit() for c in part) <= 2
        for part in p.split(".")
    )


def _code_reference(v: str) -> bool:
    """`settings.OPENAI_API_KEY`, `os.environ[`, `System.getenv(`, `uuid.uuid4().hex`,
    `(query.get(`, `DB_PASSWORD`, `db_password`: code that names a secret without holding it."""
    if v[0] == "(":
        # an expression in brackets: a name of three characters at least, then a call, a
        # subscript, an attribute or the end
        w = v.lstrip("(")
        n = 0
        while n < len(w) and (w[n] in ALNUM or w[n] in "_$."):
            n += 1
        return n >= 3 and (n == len(w) or w[n] in "([)") and _code_path(w[:n])
    head, bracket = v, False
    for i, c in enumerate(v):
        if c in "([":
            # a call or subscript: its argument stops the value (a quote) or is code too
            rest = v[i + 1 :]
            if rest not in ("", ")", "]") and (i < 3 or not all(c in _CODE_CHARS for c in rest)):
                return False
            head, bracket = v[:i], True
            break
    if not _code_path(head):
        return False
    if bracket or "." in head:
        return True
    if "_" in head and head.upper() == head and not any(c.isdigit() for c in head):
        return True
    # a variable named after what it holds: password=db_password, token=accessToken
    lower = head.lower()
    return any(w in lower for w in _CUE_WORDS)


def _camel_boundary(text: str, s: int) -> bool:
    """The cue at `s` starts a word inside an identifier: `sessionToken`, `SMTPPassword`."""
    if text[s] not in _UPPER:
        return False
    prev = text[s - 1]
    if prev in _LOWER or prev in DIGITS:
        return True
    return prev in _UPPER and s + 1 < len(text) and text[s + 1] in _LOWER


def _word_before(text: str, s: int) -> str:
    i = s
    while i > 0 and s - i < 32 and (text[i - 1] in ALNUM or text[i - 1] in "_-"):
        i -= 1
    return text[i:s].lower().rstrip("_-")


def _in_braces(text: str, s: int) -> bool:
    """The key at `s` is a variable inside `${...}` (`${DB_PASSWORD:?}`), not an assignment."""
    i = s
    while i > 0 and s - i < 32 and (text[i - 1] in ALNUM or text[i - 1] in "_-"):
        i -= 1
    return i > 0 and text[i - 1] == "{"


def _trim(text: str, s: int, e: int) -> int:
    """The value's end without trailing sentence punctuation or unbalanced closing brackets."""
    while e > s:
        c = text[e - 1]
        if c == ".":
            e -= 1
        elif c in _CLOSERS and text.count(c, s, e) > text.count(_CLOSERS[c], s, e):
            e -= 1
        else:
            break
    return e


def _password_like(v: str) -> bool:
    """Has a digit, a symbol or an inner capital in mixed case: prose words ("required",
    "UNAUTHENTICATED") have none."""
    return (
        any(c.isdigit() for c in v)
        or any(not c.isalnum() and c not in "-." for c in v)
        or (any(c.isupper() for c in v[1:]) and any(c.islower() for c in v))
    )


def _generic_ok(text: str, context: str, whole: tuple[int, int], s: int, e: int) -> bool:
    """Whether the cue of a generic match stands where a key or a command starts."""
    ws = whole[0]
    if context == "key":
        if not _starts_clean(text, ws) and not _camel_boundary(text, ws):
            return False
        return not _word_before(text, ws).endswith(_NOT_SECRET_BEFORE) and not _in_braces(text, ws)
    if context in ("netrc", "mysql", "cli", "curl", "prose") and not _starts_clean(text, ws):
        return False
    if context == "auth":
        if not _starts_clean(text, ws):
            return False
        v = text[s:e]
        bare = not text[ws:s].lower().startswith("authorization")
        if bare and text[ws:s].lower().startswith("token"):
            return False  # "token <word>" is prose; only a header names the token scheme
        return not bare or (any(c.isdigit() for c in v) and any(c.isalpha() for c in v))
    if context == "mysql":
        # the rule runs on any case; only a lowercase -p is a password (-P is the port)
        i = s - 1
        if text[i] in "\"'":
            i -= 1
        return text[i] == "p"
    if context == "prose":
        return _password_like(text[s:e])
    return True


def _value_ok(text: str, s: int, e: int, config: SecretsConfig) -> float | None:
    """The score of a generic value, None when it is too short, a placeholder, a code
    reference, a path or too regular."""
    v = text[s:e]
    if len(v) < config.min_generic_length or _placeholder(v) or _code_reference(v):
        return None
    if v.startswith(("/", "~/", "./")) and all(_PATH_SEGMENT.fullmatch(p) for p in v.split("/")):
        return None  # a path (PWD=/home/ops/app)
    h = entropy(v)
    if h < config.entropy_threshold:
        return None
    return min(h / 5.0, 1.0)


_CONTEXT_NAMES = ("key", *(name for name, _, _ in _CONTEXTS))


def scan(text: str, config: SecretsConfig = DEFAULT_SECRETS) -> list[Finding]:
    """Every secret in `text`, overlaps settled, ordered by start then kind."""
    enabled = set(config.kinds)
    out: list[Candidate] = []
    for kind, (name, _, score, detail) in enumerate(_SPECS):
        if name not in enabled:
            continue
        regex = _RES[kind]
        if regex.groups == 0:
            for m in regex.finditer(text):
                s, e = m.span()
                if kind != PRIVATE_KEY and (not _starts_clean(text, s) or not after_ok(text, e)):
                    continue
                if kind == JWT and not _jwt_ok(m.group()):
                    continue
                if kind not in (PRIVATE_KEY, AZURE_CONNECTION_STRING) and _low_entropy_token(
                    m.group()
                ):
                    continue
                out.append((kind, name, s, e, score, detail))
            continue
        if kind == GENERIC_SECRET:
            _generic(text, config, out)
            continue
        for m in regex.finditer(text):
            if not _starts_clean(text, m.start()):
                continue
            s, e = m.span(1)
            if kind == AWS_SECRET_ACCESS_KEY:
                if (e < len(text) and text[e] in _AWS_VALUE) or entropy(
                    text[s:e]
                ) < config.entropy_threshold:
                    continue
            elif not after_ok(text, e):
                continue
            out.append((kind, name, s, e, score, detail))
    return resolve(out, by_score=False)


def _generic(text: str, config: SecretsConfig, out: list[Candidate]) -> None:
    for context, regex in zip(_CONTEXT_NAMES, _RES[GENERIC_SECRET:], strict=True):
        for m in regex.finditer(text):
            s, e = m.span(1)
            e = _trim(text, s, e)
            if e <= s or not _generic_ok(text, context, m.span(), s, e):
                continue
            score = _value_ok(text, s, e, config)
            if score is not None:
                out.append((GENERIC_SECRET, "GENERIC_SECRET", s, e, score, "generic"))
