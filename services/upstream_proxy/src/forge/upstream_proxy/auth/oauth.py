"""The OAuth 2.0 token endpoint client: one form POST per grant, dialled behind the SSRF guard.

Client authentication is `client_secret_basic` (RFC 6749 §2.3.1: id and secret form-encoded,
then base64) when the gateway has a client secret, else the client id goes in the form (a
public client). Errors name the gateway and the authorization server's `error` code, never a
token, a secret or the server's free text.
"""

from __future__ import annotations

import base64
import re
import ssl
import time
from collections.abc import Mapping
from urllib.parse import quote_plus, urlsplit

import aiohttp
import msgspec

from forge.core.aiohttp_dialer import Dialer, refusal
from forge.core.errors import UpstreamBadResponseError, UpstreamUnavailableError
from forge.proto.catalog import UpstreamAuth

# RFC 6750 §2.1 b64token: what may follow "Bearer " (and nothing that could split a header).
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
_ERROR_CODE = re.compile(r"[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}")
# A token is renewed this long before the authorization server says it expires (at most a tenth
# of its lifetime), so that it does not expire on its way to the upstream.
EXPIRY_MARGIN_S = 30.0
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"


class TokenResponse(msgspec.Struct, frozen=True):
    access_token: str
    token_type: str = "Bearer"
    expires_in: float | None = None
    refresh_token: str | None = None
    scope: str | None = None
    issued_token_type: str | None = None

    def renew_at(self) -> float:
        """The wall-clock time after which this token should be replaced (inf: until a 401)."""
        if self.expires_in is None:
            return float("inf")
        lifetime = max(self.expires_in, 0.0)
        return time.time() + lifetime - min(EXPIRY_MARGIN_S, lifetime / 10)


class _ErrorBody(msgspec.Struct):
    error: str = "invalid_request"


_RESPONSE = msgspec.json.Decoder(TokenResponse)
_ERROR = msgspec.json.Decoder(_ErrorBody)


class GrantRefusedError(Exception):
    """The authorization server answered the grant with an OAuth error (`invalid_grant`, ...)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def client_authentication(auth: UpstreamAuth) -> tuple[dict[str, str], dict[str, str]]:
    """(headers, form fields) that authenticate Forge as the OAuth client of this gateway."""
    if auth.client_id and auth.client_secret:
        pair = f"{quote_plus(auth.client_id)}:{quote_plus(auth.client_secret)}"
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}, {}
    if auth.client_id:
        return {}, {"client_id": auth.client_id}
    return {}, {}


class TokenClient:
    """POSTs grants to token endpoints; one HTTP client for every gateway's endpoint."""

    def __init__(self, dialer: Dialer) -> None:
        self.dialer = dialer
        self._http: aiohttp.ClientSession | None = None

    async def grant(
        self,
        auth: UpstreamAuth,
        form: Mapping[str, str],
        label: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> TokenResponse:
        """The token the authorization server issues for `form`, or GrantRefusedError."""
        url = auth.token_url
        if not url or urlsplit(url).scheme not in ("http", "https"):
            raise UpstreamUnavailableError(f"gateway {label} has no usable OAuth token_url")
        headers, fields = client_authentication(auth)
        headers["Accept"] = "application/json"
        if self._http is None:
            self._http = self.dialer.client()
        try:
            async with self._http.post(
                url,
                data={**form, **fields},
                headers=headers,
                ssl=ssl_context if ssl_context is not None else True,
                allow_redirects=False,
            ) as response:
                status, body = response.status, await response.read()
        except aiohttp.ClientConnectorError as exc:
            if (refused := refusal(exc)) is not None:
                raise refused from None
            raise UpstreamUnavailableError(
                f"cannot reach the authorization server of gateway {label}"
            ) from None
        except aiohttp.ClientError:
            raise UpstreamUnavailableError(
                f"the authorization server of gateway {label} failed the token request"
            ) from None
        if status == 200:
            return _issued(body, label)
        if status in (400, 401):
            raise GrantRefusedError(_error_code(body))
        raise UpstreamUnavailableError(
            f"the authorization server of gateway {label} answered HTTP {status}"
        )

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None


def _issued(body: bytes, label: str) -> TokenResponse:
    try:
        issued = _RESPONSE.decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise UpstreamBadResponseError(
            f"the authorization server of gateway {label} sent a malformed token response"
        ) from None
    # It goes into an HTTP header verbatim: nothing but token characters may reach one.
    if issued.token_type.lower() not in ("bearer", "n_a") or not _TOKEN.fullmatch(
        issued.access_token
    ):
        raise UpstreamBadResponseError(
            f"the authorization server of gateway {label} issued a token Forge cannot send"
        )
    return issued


def _error_code(body: bytes) -> str:
    try:
        code = _ERROR.decode(body).error
    except (msgspec.DecodeError, msgspec.ValidationError):
        return "invalid_request"
    return code if _ERROR_CODE.fullmatch(code) else "invalid_request"
