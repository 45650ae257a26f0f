"""SSO providers: the operator's JSON or YAML file, each preset resolved into an issuer or URLs.

Presets: `oidc` (any issuer with discovery), `google`, `okta` (domain), `keycloak` (base_url +
realm), `entra` (tenant), and `github` (OAuth2 plus its REST user API: no id_token).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import msgspec
import yaml

from forge.core.config import ConfigError

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
NAMES = {
    "google": "Google",
    "okta": "Okta",
    "keycloak": "Keycloak",
    "entra": "Microsoft Entra ID",
    "github": "GitHub",
}
PRESETS = ("oidc", "google", "okta", "keycloak", "entra", "github")
OIDC_SCOPES = "openid email profile"
GITHUB_SCOPES = "read:user user:email read:org"


class ProviderConfig(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One provider as the operator writes it (docs/identity.md)."""

    id: str
    preset: str = "oidc"  # oidc | google | okta | keycloak | entra | github
    name: str | None = None
    client_id: str
    client_secret: str
    issuer: str | None = None  # oidc (and an override for the others)
    domain: str | None = None  # okta
    base_url: str | None = None  # keycloak; GitHub Enterprise
    realm: str | None = None  # keycloak
    tenant: str | None = None  # entra
    api_url: str | None = None  # github REST API (default from base_url)
    scopes: list[str] | None = None
    groups_claim: str = "groups"  # may be dotted: realm_access.roles
    team_mapping: dict[str, str] = msgspec.field(default_factory=dict)
    default_role: str = "viewer"
    redirect_uri: str | None = None  # default <public url>/auth/sso/<id>/callback


class SsoFile(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    providers: list[ProviderConfig] = msgspec.field(default_factory=list)


@dataclass(frozen=True)
class Provider:
    """A provider with its preset resolved into URLs."""

    config: ProviderConfig
    name: str
    redirect_uri: str
    scopes: str
    issuers: tuple[str, ...] = ()  # accepted `iss` values (OIDC); empty for GitHub
    authorize_url: str = ""  # GitHub; OIDC providers publish theirs in discovery
    token_url: str = ""
    api_url: str = ""

    @property
    def id(self) -> str:
        return self.config.id

    @property
    def oidc(self) -> bool:
        return bool(self.issuers)


def _need(cfg: ProviderConfig, **fields: str | None) -> None:
    missing = [name for name, value in fields.items() if not value]
    if missing:
        raise ConfigError(f"SSO provider '{cfg.id}' ({cfg.preset}) needs {', '.join(missing)}")


def _check_url(cfg: ProviderConfig, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ConfigError(f"SSO provider '{cfg.id}': '{url}' is not an http(s) URL")


def resolve(cfg: ProviderConfig, public_url: str) -> Provider:
    """Fill a preset's issuer or endpoints; refuse what is missing, naming the provider."""
    if not _ID.match(cfg.id):
        raise ConfigError(f"SSO provider id '{cfg.id}' must be lower-case letters, digits, _ or -")
    if cfg.preset not in PRESETS:
        raise ConfigError(
            f"SSO provider '{cfg.id}': unknown preset '{cfg.preset}' (one of {', '.join(PRESETS)})"
        )
    _need(cfg, client_id=cfg.client_id, client_secret=cfg.client_secret)
    redirect = cfg.redirect_uri or f"{public_url}/auth/sso/{cfg.id}/callback"
    _check_url(cfg, redirect)
    name = cfg.name or NAMES.get(cfg.preset, cfg.id)
    scopes = " ".join(cfg.scopes) if cfg.scopes else None
    if cfg.preset == "github":
        base = (cfg.base_url or "https://github.com").rstrip("/")
        api = cfg.api_url or (
            "https://api.github.com" if base == "https://github.com" else base + "/api/v3"
        )
        _check_url(cfg, base)
        _check_url(cfg, api)
        return Provider(
            cfg,
            name,
            redirect,
            scopes or GITHUB_SCOPES,
            authorize_url=base + "/login/oauth/authorize",
            token_url=base + "/login/oauth/access_token",
            api_url=api.rstrip("/"),
        )
    issuers: tuple[str, ...]
    if cfg.issuer:
        issuers = (cfg.issuer.rstrip("/"),)
    elif cfg.preset == "google":
        # Google signs both spellings of its issuer.
        issuers = ("https://accounts.google.com", "accounts.google.com")
    elif cfg.preset == "okta":
        _need(cfg, domain=cfg.domain)
        issuers = (f"https://{cfg.domain}/oauth2/default",)
    elif cfg.preset == "keycloak":
        _need(cfg, base_url=cfg.base_url, realm=cfg.realm)
        issuers = (f"{(cfg.base_url or '').rstrip('/')}/realms/{cfg.realm}",)
    elif cfg.preset == "entra":
        _need(cfg, tenant=cfg.tenant)
        issuers = (f"https://login.microsoftonline.com/{cfg.tenant}/v2.0",)
    else:  # oidc, and nothing to derive its issuer from
        raise ConfigError(f"SSO provider '{cfg.id}' (oidc) needs issuer")
    _check_url(cfg, issuers[0])
    default_scopes = OIDC_SCOPES + (" groups" if cfg.preset == "okta" else "")
    return Provider(cfg, name, redirect, scopes or default_scopes, issuers)


def load_providers(path: str, public_url: str) -> dict[str, Provider]:
    """The providers of the SSO file: `{"providers": [...]}` or a bare list, in JSON or, for a
    `.yaml`/`.yml` file, YAML."""
    if not path:
        return {}
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the SSO config {path}: {exc.strerror}") from exc
    yaml_file = Path(path).suffix.lower() in (".yaml", ".yml")
    try:
        configs = _parse_yaml(path, raw) if yaml_file else _parse_json(path, raw)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"bad SSO config {path}: {exc}") from exc
    providers: dict[str, Provider] = {}
    for cfg in configs:
        if cfg.id in providers:
            raise ConfigError(f"SSO provider '{cfg.id}' is defined twice")
        providers[cfg.id] = resolve(cfg, public_url)
    return providers


def _parse_json(path: str, raw: bytes) -> list[ProviderConfig]:
    if raw.lstrip().startswith(b"["):
        raw = b'{"providers":' + raw + b"}"
    try:
        return msgspec.json.decode(raw, type=SsoFile).providers
    except msgspec.ValidationError:
        raise  # a well-formed file with a wrong field: reported by the caller
    except msgspec.DecodeError as exc:
        raise ConfigError(f"the SSO config {path} must be JSON: {exc}") from exc


def _parse_yaml(path: str, raw: bytes) -> list[ProviderConfig]:
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise ConfigError(f"the SSO config {path} is not valid YAML: {exc}") from exc
    if data is None:  # empty, or only comments
        return []
    if isinstance(data, list):
        data = {"providers": data}
    # The same checks as JSON: a wrong type or unknown field names its path in the file.
    return msgspec.convert(data, type=SsoFile, strict=True).providers
