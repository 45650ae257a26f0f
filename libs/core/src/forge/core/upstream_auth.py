"""An upstream's sealed credentials opened, and the static part every request to it carries.

One definition for the services that dial out with credentials: the upstream-proxy (gateways)
and the a2a-bridge (agents). The registry seals an `UpstreamAuth` with the entity's id as
associated data (forge.core.sealing); only these services open it. The plaintext lives in memory
only: never in a log or an error message. Token sources (OAuth) and TLS stay with each service.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit, urlunsplit

import msgspec

from forge.core.errors import UpstreamUnavailableError
from forge.core.sealing import Keyring, SealingError
from forge.proto.catalog import UpstreamAuth

_AUTH = msgspec.json.Decoder(UpstreamAuth)
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_HEADER_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
# The types whose whole credential is static: headers, or a query parameter in the URL.
STATIC = frozenset({"none", "basic", "bearer", "headers", "query_param"})


def open_sealed(
    sealed: str | None, auth_type: str, owner_id: str, what: str, keyring: Callable[[], Keyring]
) -> UpstreamAuth:
    """The credentials sealed for `owner_id` (`what` names it in errors: "gateway 'x'");
    `keyring` is asked only when there is something to open."""
    if sealed is None:
        if auth_type not in ("", "none"):
            raise UpstreamUnavailableError(
                f"{what} is set for {auth_type} auth but holds no credentials"
            )
        return UpstreamAuth()
    try:
        return _AUTH.decode(keyring().open(sealed, owner_id.encode()))
    except SealingError as exc:
        raise UpstreamUnavailableError(f"the credentials of {what} do not open: {exc}") from None
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise UpstreamUnavailableError(f"the credentials of {what} are malformed") from None


def bearer(token: str) -> str:
    return "Bearer " + token


def with_query(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    extra = urlencode({name: value})
    return urlunsplit(parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra))


@dataclass(frozen=True)
class Static:
    """What every request carries: the URL (a query-parameter credential in it) and headers."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    query: tuple[str, str] | None = None  # (name, value) of a query-parameter credential


def static_part(auth: UpstreamAuth, url: str, what: str) -> Static:
    """The static part of `auth` for requests to `url`: empty for the other types (a token
    source or a TLS context is the caller's to build)."""
    headers: dict[str, str] = {}
    query = None
    kind = auth.type
    if kind == "basic":
        pair = f"{auth.username or ''}:{auth.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
    elif kind == "bearer":
        if not auth.token:
            raise UpstreamUnavailableError(f"{what} has bearer auth but no token")
        headers["Authorization"] = bearer(auth.token)
    elif kind == "headers":
        headers.update(auth.headers)
    elif kind == "query_param":
        if not auth.query_param:
            raise UpstreamUnavailableError(f"{what} has query_param auth but no name")
        query = (auth.query_param, auth.query_value or "")
        url = with_query(url, *query)
    for name, value in headers.items():
        # Values reach the wire verbatim: no line breaks, no separators in names.
        if not _HEADER_NAME.fullmatch(name) or not _HEADER_VALUE.fullmatch(value):
            raise UpstreamUnavailableError(f"{what} has a malformed credential header")
    return Static(url, headers, query)
