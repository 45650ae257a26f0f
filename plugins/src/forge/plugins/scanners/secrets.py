"""Secrets detection, the pure-Python twin of forge-filters-core's `secrets.rs`: cloud provider
keys (AWS, GCP, Azure), SaaS API tokens, PEM private keys, JWTs, and generic high-entropy values
after a cue such as `password=` or `token:`."""

from __future__ import annotations

import re

from forge.plugins.scanners import decode
from forge.plugins.scanners.config import DEFAULT_SECRETS, SecretsConfig
from forge.plugins.scanners.findings import Candidate, Finding, resolve
from forge.plugins.scanners.text import ALNUM, after_ok, before_ok, ci, entropy

_AWS_CUE = "(?:aws[_ .-]?secret(?:[_ .-]?access)?(?:[_ .-]?key)?|secret[_ .-]?access[_ .-]?key)"
_GENERIC_CUE = (
    "(?:pass(?:word|wd|phrase)|pwd|(?:client[_-]?)?secret(?:[_-]?key)?"
    "|(?:(?:access|auth|refresh)[_-]?)?token|(?:api|access|private)[_-]?key)"
)
_SEPARATOR = r"""["']?[ \t]{0,4}(?:=>|:=|[:=])[ \t]{0,4}["']?"""
_AWS_SEPARATOR = r"""["']?[ \t]{0,4}(?:=>|:=|[:=])?[ \t]{0,4}["']?"""
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
    (
        "GENERIC_SECRET",
        ci(_GENERIC_CUE) + _SEPARATOR + "([A-Za-z0-9+/=_.!@#$%^*?~-]{8,})",
        0.0,
        "generic",
    ),
)
PATTERNS: tuple[tuple[str, str], ...] = tuple((kind, p) for kind, p, _, _ in _SPECS)
_RES = tuple(re.compile(p) for _, p in PATTERNS)
PRIVATE_KEY, AWS_SECRET_ACCESS_KEY, JWT, GENERIC_SECRET = 0, 3, 21, 22
_AWS_VALUE = ALNUM | frozenset("/+=")


def _jwt_ok(m: str) -> bool:
    header = decode.base64(m.split(".", 1)[0], url=True)
    return header is not None and b'"alg"' in header


def _placeholder(v: str) -> bool:
    lower = v.lower()
    return lower in _PLACEHOLDERS or "xxxx" in lower or "****" in lower or v.startswith("$")


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
                if kind != PRIVATE_KEY and (not before_ok(text, s) or not after_ok(text, e)):
                    continue
                if kind == JWT and not _jwt_ok(m.group()):
                    continue
                out.append((kind, name, s, e, score, detail))
            continue
        for m in regex.finditer(text):
            if not before_ok(text, m.start()):
                continue
            s, e = m.span(1)
            value_score = score
            if kind == GENERIC_SECRET:
                while e > s and text[e - 1] == ".":
                    e -= 1
                v = text[s:e]
                if len(v) < config.min_generic_length or _placeholder(v):
                    continue
                h = entropy(v)
                if h < config.entropy_threshold:
                    continue
                value_score = min(h / 5.0, 1.0)
            elif kind == AWS_SECRET_ACCESS_KEY:
                if (e < len(text) and text[e] in _AWS_VALUE) or entropy(
                    text[s:e]
                ) < config.entropy_threshold:
                    continue
            elif not after_ok(text, e):
                continue
            out.append((kind, name, s, e, value_score, detail))
    return resolve(out, by_score=False)
