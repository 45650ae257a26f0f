"""A real OAuth 2.0 authorization server for tests, on a free loopback port.

Grants: `client_credentials`, `authorization_code` (PKCE S256 required), `refresh_token` (refresh
tokens rotate), and RFC 8693 token exchange. Clients authenticate with `client_secret_basic`
(or `client_secret_post`, or as public clients with only a `client_id`). `/authorize` approves at
once, as the signed-in user would, and redirects to the client's `redirect_uri` with the code and
state. Every request is recorded (`token_requests`, `authorize_requests`) so that tests can
assert what Forge sent. It runs in a thread: sync and async tests alike can use it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_plus, urlencode, urlsplit, urlunsplit

from forge.testing.local_server import LocalHandler, LocalServer

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"


@dataclass
class TokenRequest:
    """One POST to /token as the server received it."""

    grant_type: str
    form: dict[str, str]
    client_id: str | None  # the authenticated client, None if it failed
    authorization: str | None  # the raw Authorization header


@dataclass
class Issued:
    """What an issued access token stands for."""

    grant_type: str
    client_id: str
    subject_token: str | None = None
    scope: str | None = None


@dataclass
class _Code:
    client_id: str
    redirect_uri: str
    challenge: str
    scope: str | None


class _Handler(LocalHandler):
    owner: OAuthServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path, query = self.path_and_query()
        if path != "/authorize":
            self.send(404, {"error": "not_found"})
            return
        self.send(*self.owner.authorize(query))

    def do_POST(self) -> None:
        form = self.read_form(keep_blank_values=True)
        if self.path_and_query()[0] != "/token":
            self.send(404, {"error": "not_found"})
            return
        status, body = self.owner.token(form, self.headers.get("Authorization"))
        self.send(status, body, [("Cache-Control", "no-store")])


@dataclass
class OAuthServer(LocalServer):
    """Start with `start()` (or `with OAuthServer(...) as server`); `url` is its base URL."""

    clients: dict[str, str | None] = field(default_factory=lambda: {"forge": "forge-secret"})
    expires_in: int | None = 3600
    refuse_exchange: bool = False  # answer token exchange with invalid_grant
    token_prefix: str = "at-"  # issued access tokens start with it
    token_requests: list[TokenRequest] = field(default_factory=list, init=False)
    authorize_requests: list[dict[str, str]] = field(default_factory=list, init=False)
    issued: dict[str, Issued] = field(default_factory=dict, init=False)
    _codes: dict[str, _Code] = field(default_factory=dict, init=False)
    _refresh: dict[str, tuple[str, str | None]] = field(default_factory=dict, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    handler = _Handler

    @property
    def token_url(self) -> str:
        return self.url + "/token"

    @property
    def authorize_url(self) -> str:
        return self.url + "/authorize"

    def grants(self, grant_type: str) -> list[TokenRequest]:
        with self._lock:
            return [r for r in self.token_requests if r.grant_type == grant_type]

    # /authorize
    def authorize(self, query: dict[str, str]) -> tuple[int, Any, list[tuple[str, str]]]:
        """(status, body, headers): a redirect back to the client, unless the client is unknown."""
        with self._lock:
            self.authorize_requests.append(query)
            redirect = query.get("redirect_uri", "")
            if query.get("client_id") not in self.clients or not redirect:
                return 400, {"error": "invalid_request"}, []
            outcome: dict[str, str] = {"state": query.get("state", "")}
            if query.get("response_type") != "code" or query.get("code_challenge_method") != "S256":
                outcome["error"] = "invalid_request"
            elif not query.get("code_challenge"):
                outcome["error"] = "invalid_request"
            else:
                code = secrets.token_urlsafe(16)
                self._codes[code] = _Code(
                    query["client_id"], redirect, query["code_challenge"], query.get("scope")
                )
                outcome["code"] = code
        parts = urlsplit(redirect)
        joined = "&".join(q for q in (parts.query, urlencode(outcome)) if q)
        return 302, None, [("Location", urlunsplit(parts._replace(query=joined)))]

    # /token
    def token(self, form: dict[str, str], authorization: str | None) -> tuple[int, dict[str, Any]]:
        with self._lock:
            client = self._client(form, authorization)
            grant_type = form.get("grant_type", "")
            self.token_requests.append(TokenRequest(grant_type, form, client, authorization))
            if client is None:
                return 401, {"error": "invalid_client"}
            if grant_type == "client_credentials":
                return 200, self._issue(Issued(grant_type, client, scope=form.get("scope")))
            if grant_type == "authorization_code":
                return self._code_grant(form, client)
            if grant_type == "refresh_token":
                found = self._refresh.pop(form.get("refresh_token", ""), None)
                if found is None or found[0] != client:
                    return 400, {"error": "invalid_grant"}
                return 200, self._issue(Issued(grant_type, client, scope=found[1]), refresh=True)
            if grant_type == TOKEN_EXCHANGE:
                return self._exchange(form, client)
            return 400, {"error": "unsupported_grant_type"}

    def _client(self, form: dict[str, str], authorization: str | None) -> str | None:
        secret: str | None
        if authorization and authorization.startswith("Basic "):
            try:
                pair = base64.b64decode(authorization[6:]).decode()
            except ValueError:
                return None
            raw_id, _, raw_secret = pair.partition(":")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        else:
            client_id, secret = form.get("client_id", ""), form.get("client_secret")
        if client_id not in self.clients:
            return None
        expected = self.clients[client_id]
        return client_id if expected is None or secret == expected else None

    def _code_grant(self, form: dict[str, str], client: str) -> tuple[int, dict[str, Any]]:
        code = self._codes.pop(form.get("code", ""), None)
        verifier = form.get("code_verifier", "")
        digest = hashlib.sha256(verifier.encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if (
            code is None
            or code.client_id != client
            or code.redirect_uri != form.get("redirect_uri")
            or code.challenge != challenge
        ):
            return 400, {"error": "invalid_grant"}
        return 200, self._issue(
            Issued("authorization_code", client, scope=code.scope), refresh=True
        )

    def _exchange(self, form: dict[str, str], client: str) -> tuple[int, dict[str, Any]]:
        subject = form.get("subject_token")
        if not subject or not form.get("subject_token_type"):
            return 400, {"error": "invalid_request"}
        if self.refuse_exchange:
            return 400, {"error": "invalid_grant"}
        issued = Issued(TOKEN_EXCHANGE, client, subject_token=subject, scope=form.get("scope"))
        body = self._issue(issued)
        body["issued_token_type"] = form.get("requested_token_type") or ACCESS_TOKEN_TYPE
        return 200, body

    def _issue(self, issued: Issued, *, refresh: bool = False) -> dict[str, Any]:
        access = self.token_prefix + secrets.token_urlsafe(16)
        self.issued[access] = issued
        body: dict[str, Any] = {"access_token": access, "token_type": "Bearer"}
        if self.expires_in is not None:
            body["expires_in"] = self.expires_in
        if issued.scope:
            body["scope"] = issued.scope
        if refresh:
            token = "rt-" + secrets.token_urlsafe(16)
            self._refresh[token] = (issued.client_id, issued.scope)
            body["refresh_token"] = token
        return body
