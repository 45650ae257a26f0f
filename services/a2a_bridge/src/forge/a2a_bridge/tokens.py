"""OAuth 2.0 client credentials for agents: a token from the agent's token endpoint, kept until
shortly before it expires (or the agent refuses it), fetched through the SSRF guard.

Client authentication is `client_secret_basic` (RFC 6749 §2.3.1) when the agent's credentials
have a secret, else the client id goes in the form (a public client), as for gateways. Errors
name the agent and the authorization server's `error` code, never a token or a secret.
"""

from __future__ import annotations

import asyncio
import base64
import re
import time
from urllib.parse import quote_plus, urlsplit

import httpx2
import msgspec

from forge.core import httpx_dialer
from forge.core.errors import UpstreamBadResponseError, UpstreamUnavailableError
from forge.core.upstream_auth import bearer
from forge.proto.catalog import UpstreamAuth

# RFC 6750 §2.1 b64token: what may follow "Bearer " (and nothing that could split a header).
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_ERROR_CODE = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}")
# Renewed this long before the server says it expires (at most a tenth of its lifetime).
EXPIRY_MARGIN_S = 30.0
TIMEOUT_S = 10.0


class _Token(msgspec.Struct, frozen=True):
    access_token: str
    expires_in: float | None = None


class _Error(msgspec.Struct):
    error: str = "invalid_request"


_RESPONSE = msgspec.json.Decoder(_Token)
_ERROR = msgspec.json.Decoder(_Error)


class ClientCredentials:
    """One agent's token source; concurrent calls share one grant."""

    def __init__(self, auth: UpstreamAuth, label: str, http: httpx2.AsyncClient) -> None:
        if not auth.token_url or urlsplit(auth.token_url).scheme not in ("http", "https"):
            raise UpstreamUnavailableError(f"agent {label} has no usable OAuth token_url")
        self.token_url = auth.token_url
        self.auth = auth
        self.label = label
        self.http = http
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def header(self) -> str:
        """`Bearer <token>`, granted anew when none is held or it is about to expire."""
        async with self._lock:
            if self._token is None or time.time() >= self._renew_at:
                self._token, self._renew_at = await self._grant()
            return bearer(self._token)

    def refused(self, header: str) -> None:
        """The agent answered 401 to `header`: that token is not used again."""
        if self._token is not None and header == bearer(self._token):
            self._token = None

    async def _grant(self) -> tuple[str, float]:
        auth = self.auth
        form = {"grant_type": "client_credentials"}
        if auth.scopes:
            form["scope"] = " ".join(auth.scopes)
        for key, value in (("audience", auth.audience), ("resource", auth.resource)):
            if value:
                form[key] = value
        headers = {"Accept": "application/json"}
        if auth.client_id and auth.client_secret:
            pair = f"{quote_plus(auth.client_id)}:{quote_plus(auth.client_secret)}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        elif auth.client_id:
            form["client_id"] = auth.client_id
        try:
            response = await self.http.post(
                self.token_url, data=form, headers=headers, timeout=TIMEOUT_S
            )
        except httpx2.HTTPError as exc:
            if (refused := httpx_dialer.refusal(exc)) is not None:
                raise refused from None
            raise UpstreamUnavailableError(
                f"cannot reach the authorization server of agent {self.label}"
            ) from None
        if response.status_code != 200:
            try:
                code = _ERROR.decode(response.content).error
            except (msgspec.DecodeError, msgspec.ValidationError):
                code = f"HTTP {response.status_code}"
            code = code if _ERROR_CODE.fullmatch(code) else "invalid_request"
            raise UpstreamUnavailableError(
                f"the authorization server of agent {self.label} refused the grant ({code})"
            )
        try:
            token = _RESPONSE.decode(response.content)
        except (msgspec.DecodeError, msgspec.ValidationError):
            raise UpstreamBadResponseError(
                f"the authorization server of agent {self.label} answered no access token"
            ) from None
        if not _TOKEN.fullmatch(token.access_token):
            raise UpstreamBadResponseError(
                f"the authorization server of agent {self.label} answered a malformed token"
            )
        if token.expires_in is None:
            return token.access_token, float("inf")
        lifetime = max(token.expires_in, 0.0)
        return token.access_token, time.time() + lifetime - min(EXPIRY_MARGIN_S, lifetime / 10)
