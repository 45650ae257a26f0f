"""What each scanner looks for and its thresholds: one frozen Struct per scanner."""

from __future__ import annotations

import msgspec

from forge.core.errors import InvalidParamsError

# In claiming order: where two candidates overlap, the earlier kind wins.
PII_KINDS: tuple[str, ...] = (
    "EMAIL",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "UK_NINO",
    "FR_INSEE",
    "DE_TAX_ID",
    "IN_AADHAAR",
    "IPV6",
    "IPV4",
    "DATE_OF_BIRTH",
    "PHONE",
)
SECRET_KINDS: tuple[str, ...] = (
    "PRIVATE_KEY",
    "GCP_SERVICE_ACCOUNT_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AZURE_CONNECTION_STRING",
    "AZURE_STORAGE_KEY",
    "GITHUB_TOKEN",
    "GITLAB_TOKEN",
    "SLACK_WEBHOOK",
    "SLACK_TOKEN",
    "STRIPE_KEY",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "GCP_API_KEY",
    "GOOGLE_OAUTH_SECRET",
    "GOOGLE_OAUTH_TOKEN",
    "TWILIO_API_KEY",
    "SENDGRID_API_KEY",
    "NPM_TOKEN",
    "PYPI_TOKEN",
    "HUGGINGFACE_TOKEN",
    "JWT",
    "GENERIC_SECRET",
)
# In claiming order for equal scores.
EXFIL_KINDS: tuple[str, ...] = ("ESCAPED", "PERCENT_ENCODED", "HEX", "BASE64URL", "BASE64")


def _check_kinds(kinds: tuple[str, ...], known: tuple[str, ...], scanner: str) -> None:
    unknown = sorted(set(kinds) - set(known))
    if unknown:
        raise InvalidParamsError(f"unknown {scanner} kinds: {', '.join(unknown)}")


def _check_at_least(name: str, value: float, floor: float) -> None:
    if value < floor:
        raise InvalidParamsError(f"{name} must be at least {floor:g}, not {value!r}")


class PiiConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kinds: tuple[str, ...] = PII_KINDS
    # how many characters may separate a birth cue ("DOB", "born", ...) from its date
    dob_window: int = 40

    def __post_init__(self) -> None:
        _check_kinds(self.kinds, PII_KINDS, "PII")
        _check_at_least("dob_window", self.dob_window, 0)


class SecretsConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kinds: tuple[str, ...] = SECRET_KINDS
    # minimum Shannon entropy (bits per character) of a value found after a cue
    entropy_threshold: float = 3.0
    min_generic_length: int = 8

    def __post_init__(self) -> None:
        _check_kinds(self.kinds, SECRET_KINDS, "secrets")
        _check_at_least("entropy_threshold", self.entropy_threshold, 0.0)
        _check_at_least("min_generic_length", self.min_generic_length, 1)


class ExfilConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    kinds: tuple[str, ...] = EXFIL_KINDS
    # a payload is reported when its score (0..1) reaches this
    score_threshold: float = 0.6
    # payloads that decode to fewer bytes are ignored
    min_decoded_bytes: int = 8

    def __post_init__(self) -> None:
        _check_kinds(self.kinds, EXFIL_KINDS, "exfil")
        _check_at_least("score_threshold", self.score_threshold, 0.0)
        _check_at_least("min_decoded_bytes", self.min_decoded_bytes, 1)


DEFAULT_PII = PiiConfig()
DEFAULT_SECRETS = SecretsConfig()
DEFAULT_EXFIL = ExfilConfig()
