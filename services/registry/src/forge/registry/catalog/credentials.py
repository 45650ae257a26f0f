"""Upstream credentials: Forge's `auth` object or ContextForge's flat fields, checked and sealed.

Plaintext lives only in the request being handled: it is sealed (forge.core.sealing, context =
the gateway id) before anything is stored, published or returned, and never logged.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import msgspec

from forge.core.errors import InvalidParamsError, ServiceUnavailableError
from forge.core.sealing import Keyring, SealingError
from forge.proto.catalog import AUTH_TYPES, UpstreamAuth
from forge.proto.catalog_params import Credentials
from forge.registry.catalog.params import check_url
from forge.registry.config import RegistryConfig

_ENC = msgspec.json.Encoder()
_AUTH = msgspec.json.Decoder(UpstreamAuth)
# RFC 9110 field-name token; values must not be able to end the header line.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,256}$")
_QUERY_NAME = re.compile(r"^[A-Za-z0-9._~\-]{1,256}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PEM_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # PEM keeps its line breaks
# Headers the upstream-proxy owns: a credential must not be able to rewrite the framing.
_RESERVED_HEADERS = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "upgrade", "te", "trailer"}
)
MAX_VALUE = 8192
# ContextForge's auth_type spellings → Forge's UpstreamAuth.type ("oauth" goes by grant type).
_FLAT_TYPES = {"basic": "basic", "bearer": "bearer", "authheaders": "headers", "none": "none"}
_GRANTS = {
    "client_credentials": "oauth_client_credentials",
    "authorization_code": "oauth_authorization_code",
    "token_exchange": "token_exchange",
}
# Forge field → the ContextForge field a caller of the flat form sent it as.
_FLAT_NAMES = {
    "type": "auth_type",
    "username": "auth_username",
    "password": "auth_password",
    "token": "auth_token",
    "headers": "auth_headers",
    "query_param": "auth_query_param_key",
    "query_value": "auth_query_param_value",
    "token_url": "oauth_config.token_url",
    "authorize_url": "oauth_config.authorization_url",
    "client_id": "oauth_config.client_id",
    "client_secret": "oauth_config.client_secret",
    "scopes": "oauth_config.scopes",
    "audience": "oauth_config.audience",
    "resource": "oauth_config.resource",
}


def _flat_given(c: Credentials) -> bool:
    return any(
        v is not None
        for v in (
            c.auth_type,
            c.auth_username,
            c.auth_password,
            c.auth_token,
            c.auth_headers,
            c.auth_header_key,
            c.auth_header_value,
            c.auth_query_param_key,
            c.auth_query_param_value,
            c.oauth_config,
        )
    )


def given(c: Credentials) -> bool:
    """Whether the caller says anything about credentials (`none` included)."""
    return c.auth is not None or _flat_given(c)


def upstream_auth(c: Credentials) -> UpstreamAuth:
    """The checked credentials (type `none` when none were given)."""
    if c.auth is not None:
        if _flat_given(c):
            raise InvalidParamsError(
                "give either auth or the auth_* fields, not both", {"field": "auth"}
            )
        if c.auth.env:
            raise InvalidParamsError(
                "environment values go in env, not auth.env", {"field": "auth.env"}
            )
        return check(c.auth, lambda name: f"auth.{name}")
    if not _flat_given(c):
        return UpstreamAuth()
    return check(_from_flat(c), lambda name: _FLAT_NAMES.get(name, name))


def _from_flat(c: Credentials) -> UpstreamAuth:
    spelling = (c.auth_type or "").strip().lower()
    if not spelling:
        # ContextForge clients send an empty auth_type (and empty fields) for "no credentials".
        values = (c.auth_username, c.auth_password, c.auth_token, c.auth_header_key)
        if any(values) or c.auth_headers or c.auth_query_param_key or c.oauth_config:
            raise InvalidParamsError(
                "auth_type is required with auth_* fields", _field("auth_type")
            )
        return UpstreamAuth()
    if spelling == "oauth" or spelling in _GRANTS.values():
        return _oauth(c, spelling)
    kind = _FLAT_TYPES.get(spelling, spelling)
    headers: dict[str, str] = {}
    if isinstance(c.auth_headers, dict):
        headers.update(c.auth_headers)
    elif c.auth_headers is not None:
        headers.update((h.key, h.value) for h in c.auth_headers)
    if c.auth_header_key is not None:
        headers[c.auth_header_key] = c.auth_header_value or ""
    return UpstreamAuth(
        type=kind,
        username=c.auth_username,
        password=c.auth_password,
        token=c.auth_token,
        headers=headers,
        query_param=c.auth_query_param_key,
        query_value=c.auth_query_param_value,
    )


def _oauth(c: Credentials, spelling: str) -> UpstreamAuth:
    oauth = c.oauth_config
    if oauth is None:
        raise InvalidParamsError("oauth needs an oauth_config", _field("oauth_config"))
    kind = spelling if spelling != "oauth" else _GRANTS.get(oauth.grant_type.strip().lower())
    if kind is None:
        raise InvalidParamsError(
            f"oauth_config.grant_type must be one of: {', '.join(_GRANTS)}",
            _field("oauth_config.grant_type"),
        )
    scopes = oauth.scopes.split() if isinstance(oauth.scopes, str) else oauth.scopes
    return UpstreamAuth(
        type=kind,
        token_url=oauth.token_url,
        authorize_url=oauth.authorization_url,
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        scopes=scopes,
        audience=oauth.audience,
        resource=oauth.resource,
    )


def _field(name: str) -> dict[str, str]:
    return {"field": name}


# What each type cannot do without.
_REQUIRED: dict[str, tuple[str, ...]] = {
    "basic": ("username", "password"),
    "bearer": ("token",),
    "headers": ("headers",),
    "query_param": ("query_param", "query_value"),
    "mtls": ("client_cert_pem", "client_key_pem"),
    "oauth_client_credentials": ("token_url", "client_id", "client_secret"),
    "oauth_authorization_code": ("token_url", "authorize_url", "client_id"),
    "token_exchange": ("token_url", "client_id"),
}
_LINE_FIELDS = (
    "username",
    "password",
    "token",
    "query_value",
    "client_id",
    "client_secret",
    "audience",
    "resource",
    "requested_token_type",
)


# The fields each type uses; the mTLS and CA fields combine with any type.
_USES: dict[str, tuple[str, ...]] = {
    "basic": ("username", "password"),
    "bearer": ("token",),
    "headers": ("headers",),
    "query_param": ("query_param", "query_value"),
    "oauth_client_credentials": (
        "token_url", "client_id", "client_secret", "scopes", "audience", "resource",
    ),
    "oauth_authorization_code": (
        "token_url", "authorize_url", "client_id", "client_secret", "scopes", "resource",
    ),
    "token_exchange": (
        "token_url", "client_id", "client_secret", "scopes", "audience", "resource",
        "requested_token_type",
    ),
}  # fmt: skip
_ALWAYS = ("type", "client_cert_pem", "client_key_pem", "ca_pem", "env")
_BLANK = UpstreamAuth()


def _trimmed(auth: UpstreamAuth) -> UpstreamAuth:
    """Only what the type uses: nothing stray is kept (sealed or not)."""
    keep = {*_ALWAYS, *_USES.get(auth.type, ())}
    unused = {f: getattr(_BLANK, f) for f in auth.__struct_fields__ if f not in keep}
    return msgspec.structs.replace(auth, **unused)


def check(auth: UpstreamAuth, name: Callable[[str], str]) -> UpstreamAuth:
    """The credentials if complete and well-formed for their type, trimmed to what the type
    uses; else 422 naming the field."""

    def bad(field: str, problem: str) -> InvalidParamsError:
        return InvalidParamsError(f"{name(field)} {problem}", _field(name(field)))

    if auth.type not in AUTH_TYPES:
        raise bad("type", f"must be one of: {', '.join(AUTH_TYPES)}")
    for field in _REQUIRED.get(auth.type, ()):
        value = getattr(auth, field)
        if value is None or (field != "password" and not value):
            raise bad(field, f"is required for {auth.type} credentials")
    for field in _LINE_FIELDS:
        value = getattr(auth, field)
        if value is not None and (len(value) > MAX_VALUE or _CONTROL.search(value)):
            raise bad(field, f"must be at most {MAX_VALUE} characters, without CR, LF or controls")
    if auth.username is not None and ":" in auth.username:
        raise bad("username", "must not contain ':' (RFC 7617)")
    if auth.token is not None and " " in auth.token:
        raise bad("token", "must not contain spaces")
    for header, value in auth.headers.items():
        if not _HEADER_NAME.match(header) or header.lower() in _RESERVED_HEADERS:
            raise bad("headers", f"has an invalid or reserved header name: {header!r}")
        if len(value) > MAX_VALUE or _CONTROL.search(value):
            raise bad("headers", f"value of {header!r} must not contain CR, LF or controls")
    if auth.query_param is not None and not _QUERY_NAME.match(auth.query_param):
        raise bad("query_param", "must be letters, digits, '.', '_', '~' or '-'")
    for url_field in ("token_url", "authorize_url"):
        url = getattr(auth, url_field)
        if url is not None:
            check_url(url, field=name(url_field))
    for scope in auth.scopes:
        if not scope or _CONTROL.search(scope) or " " in scope:
            raise bad("scopes", "must be non-empty scope tokens without spaces")
    if (auth.client_cert_pem is None) != (auth.client_key_pem is None):
        raise bad("client_key_pem", "and client_cert_pem go together")
    for pem_field in ("client_cert_pem", "client_key_pem", "ca_pem"):
        pem = getattr(auth, pem_field)
        if pem is not None and ("-----BEGIN " not in pem or _PEM_CONTROL.search(pem)):
            raise bad(pem_field, "must be PEM text")
    return _trimmed(auth)


def with_env(auth: UpstreamAuth, env: dict[str, str]) -> UpstreamAuth:
    return msgspec.structs.replace(auth, env=dict(env))


@functools.cache
def _keyring(secret_keys: str, jwt_secret: str) -> Keyring:
    return Keyring.parse(secret_keys, fallback_secret=jwt_secret)


def keyring(config: RegistryConfig) -> Keyring:
    try:
        return _keyring(config.secret_keys, config.jwt_secret)
    except SealingError as exc:  # names key ids at most, never key material
        raise ServiceUnavailableError(f"upstream credentials cannot be sealed: {exc}") from exc


def seal(config: RegistryConfig, gateway_id: str, auth: UpstreamAuth) -> str | None:
    """The sealed credentials, or None when there is nothing to keep."""
    if auth == UpstreamAuth():
        return None
    return keyring(config).seal(_ENC.encode(auth), gateway_id.encode())


def open_sealed(config: RegistryConfig, gateway_id: str, sealed: str | None) -> UpstreamAuth:
    """The credentials a gateway holds (type `none` when it holds none)."""
    if sealed is None:
        return UpstreamAuth()
    try:
        return _AUTH.decode(keyring(config).open(sealed, gateway_id.encode()))
    except SealingError as exc:
        raise ServiceUnavailableError(
            f"the stored credentials of gateway {gateway_id} do not open: {exc}"
        ) from exc


def reseal(keys: Keyring, gateway_id: str, sealed: str | None, env: dict[str, str]) -> str | None:
    """The credentials sealed again with the active key; None when they already are.

    A gateway stored before credentials were sealed has its environment values in clear: they
    are sealed now.
    """
    context = gateway_id.encode()
    if sealed is None:
        if not any(env.values()):
            return None
        return keys.seal(_ENC.encode(UpstreamAuth(env=env)), context)
    if not keys.needs_reseal(sealed):
        return None
    return keys.seal(keys.open(sealed, context), context)
