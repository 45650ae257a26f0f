"""A real OpenID provider for tests: authlib's authorization server on a free loopback port.

It serves discovery, JWKS, an authorize endpoint that approves one configured user at once
(no login page) and redirects back with a code, a token endpoint that issues RS256 id_tokens
(nonce, PKCE S256 required), userinfo, and the few GitHub paths an OAuth2 "GitHub" login reads
(`/login/oauth/*`, `/api/v3/user*`), so that both kinds of SSO run against real HTTP.

    with OidcProvider(OidcUser("ada@example.com", groups=["eng"])) as idp:
        idp.issuer, idp.client_id, idp.client_secret
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import OAuth2Error, OAuth2Request, grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core.grants import OpenIDCode
from joserfc.jwk import RSAKey

from forge.testing.local_server import LocalHandler, LocalServer


@dataclass
class OidcUser:
    """The one user the provider signs in; `groups` like "eng" or, for GitHub, "org/team"."""

    email: str
    name: str = "Test User"
    groups: list[str] = field(default_factory=list)
    email_verified: bool = True

    @property
    def sub(self) -> str:
        return "sub-" + self.email.split("@")[0]


@dataclass
class _Client:
    client_id: str
    client_secret: str
    redirect_uris: list[str] | None  # None: any http://127.0.0.1 or localhost URI

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope: str) -> str:
        return scope

    def check_redirect_uri(self, uri: str) -> bool:
        if self.redirect_uris is not None:
            return uri in self.redirect_uris
        parts = urlsplit(uri)
        return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost")

    def check_client_secret(self, secret: str) -> bool:
        return secret == self.client_secret

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code"


@dataclass
class _Code:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: OidcUser
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


class _Request(OAuth2Request):  # type: ignore[misc]
    def __init__(self, method: str, uri: str, headers: dict[str, str], values: dict[str, str]):
        super().__init__(method, uri, headers=headers)
        self._values = values
        self.payload = BasicOAuth2Payload(values)

    @property
    def args(self) -> dict[str, str]:
        return self._values

    @property
    def form(self) -> dict[str, str]:
        return self._values


class _Handler(LocalHandler):
    owner: OidcProvider

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        provider = self.owner
        path, values = self.path_and_query()
        if method == "POST":
            values.update(self.read_form())
        headers = {k: v for k, v in self.headers.items()}
        request = _Request(method, provider.issuer + self.path, headers, values)
        with provider._lock:
            if path == "/.well-known/openid-configuration":
                self.send(200, provider.discovery())
            elif path == "/jwks":
                self.send(200, {"keys": [provider.key.as_dict(private=False)]})
            elif path in ("/authorize", "/login/oauth/authorize"):
                self.send(*provider.authorize(request))
            elif path in ("/token", "/login/oauth/access_token") and method == "POST":
                self.send(*provider.token(request))
            elif path.startswith(("/userinfo", "/api/v3/")):
                self._resource(path, provider.user_for(self.headers.get("authorization")))
            else:
                self.send(404, {"error": "not_found"})

    def _resource(self, path: str, user: OidcUser | None) -> None:
        if user is None:
            self.send(401, {"error": "invalid_token"})
        elif path == "/userinfo":
            self.send(200, self.owner.claims(user))
        elif path == "/api/v3/user":
            login = user.email.split("@")[0]
            self.send(200, {"id": 1, "login": login, "name": user.name, "email": None})
        elif path == "/api/v3/user/emails":
            verified = user.email_verified
            other = {"email": "other@example.net", "primary": False, "verified": True}
            self.send(200, [other, {"email": user.email, "primary": True, "verified": verified}])
        elif path == "/api/v3/user/orgs":
            orgs = sorted({g.split("/")[0] for g in user.groups})
            self.send(200, [{"login": org} for org in orgs])
        elif path == "/api/v3/user/teams":
            teams = [g.split("/", 1) for g in user.groups if "/" in g]
            self.send(200, [{"slug": t, "organization": {"login": o}} for o, t in teams])
        else:
            self.send(404, {"error": "not_found"})


class OidcProvider(LocalServer):
    """Start with `start()` or `with`; knobs below let tests make it misbehave on purpose."""

    handler = _Handler

    def __init__(
        self,
        user: OidcUser,
        *,
        client_id: str = "forge-test-client",
        client_secret: str | None = None,
        redirect_uris: list[str] | None = None,
    ) -> None:
        self.user = user
        self.client_id = client_id
        self.client_secret = client_secret or generate_token(32)
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key", "use": "sig"})
        # Knobs: answer authorize with this error; add/override id_token claims; sign id_tokens
        # with a key the JWKS does not publish.
        self.deny: str | None = None
        self.claim_overrides: dict[str, Any] = {}
        self.foreign_key: RSAKey | None = None
        # What the provider saw, for assertions.
        self.authorize_requests: list[dict[str, str]] = []
        self.token_requests: list[dict[str, str]] = []
        self._client = _Client(client_id, self.client_secret, redirect_uris)
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, OidcUser] = {}
        self._lock = threading.Lock()
        self._server = _authorization_server(self)

    @property
    def issuer(self) -> str:
        return self.url

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.issuer + "/authorize",
            "token_endpoint": self.issuer + "/token",
            "userinfo_endpoint": self.issuer + "/userinfo",
            "jwks_uri": self.issuer + "/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "groups"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": ["sub", "email", "email_verified", "name", "groups"],
        }

    def claims(self, user: OidcUser) -> dict[str, Any]:
        return {
            "sub": user.sub,
            "email": user.email,
            "email_verified": user.email_verified,
            "name": user.name,
            "groups": list(user.groups),
        }

    # -- what the HTTP handler calls ---------------------------------------------------------

    def authorize(self, request: _Request) -> tuple[int, str, list[tuple[str, str]]]:
        self.authorize_requests.append(dict(request.args))
        try:
            grant = self._server.get_consent_grant(request, end_user=self.user)
        except OAuth2Error as error:
            return self._server.handle_error_response(request, error)  # type: ignore[no-any-return]
        # It insists on PKCE S256, so that tests prove the client sends it.
        refusal = self.deny or (
            None if request.args.get("code_challenge_method") == "S256" else "invalid_request"
        )
        if refusal is not None:
            params = [("error", refusal), ("state", request.args.get("state", ""))]
            location = add_params_to_uri(request.args.get("redirect_uri", ""), params)
            return 302, "", [("Location", location)]
        return self._server.create_authorization_response(  # type: ignore[no-any-return]
            request, grant_user=self.user, grant=grant
        )

    def token(self, request: _Request) -> tuple[int, Any, list[tuple[str, str]]]:
        self.token_requests.append(dict(request.form))
        return self._server.create_token_response(request)  # type: ignore[no-any-return]

    def user_for(self, authorization: str | None) -> OidcUser | None:
        if not authorization or not authorization.lower().startswith(("bearer ", "token ")):
            return None
        return self._tokens.get(authorization.split(" ", 1)[1].strip())


def _authorization_server(provider: OidcProvider) -> AuthorizationServer:
    class Server(AuthorizationServer):  # type: ignore[misc]
        def query_client(self, client_id: str) -> _Client | None:
            return provider._client if client_id == provider.client_id else None

        def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
            provider._tokens[token["access_token"]] = request.user

        def create_oauth2_request(self, request: OAuth2Request) -> OAuth2Request:
            return request

        def handle_response(
            self, status: int, body: Any, headers: list[tuple[str, str]]
        ) -> tuple[int, Any, list[tuple[str, str]]]:
            return status, body, list(headers)

        def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
            return None

    class CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
        TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

        def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
            data = request.payload.data
            provider._codes[code] = _Code(
                code=code,
                client_id=request.payload.client_id,
                redirect_uri=request.payload.redirect_uri or "",
                scope=request.payload.scope or "",
                user=request.user,
                nonce=data.get("nonce"),
                code_challenge=data.get("code_challenge"),
                code_challenge_method=data.get("code_challenge_method"),
            )

        def query_authorization_code(self, code: str, client: _Client) -> _Code | None:
            found = provider._codes.get(code)
            return found if found is not None and found.client_id == client.client_id else None

        def delete_authorization_code(self, authorization_code: _Code) -> None:
            provider._codes.pop(authorization_code.code, None)

        def authenticate_user(self, authorization_code: _Code) -> OidcUser:
            return authorization_code.user

    class IdToken(OpenIDCode):  # type: ignore[misc]
        def exists_nonce(self, nonce: str, request: OAuth2Request) -> bool:
            return False

        def resolve_client_private_key(self, client: _Client) -> RSAKey:
            return provider.foreign_key or provider.key

        def get_client_algorithm(self, client: _Client) -> str:
            return "RS256"

        def get_encode_header(self, client: _Client) -> dict[str, str]:
            return {"alg": "RS256", "kid": str(provider.key.kid)}

        def get_client_claims(self, client: _Client) -> dict[str, Any]:
            return {"iss": provider.issuer, "aud": [client.client_id]}

        def generate_user_info(self, user: OidcUser, scope: str) -> dict[str, Any]:
            return {**provider.claims(user), **provider.claim_overrides}

    server = Server()
    server.register_token_generator(
        "default", BearerTokenGenerator(lambda **kwargs: generate_token(42))
    )
    server.register_grant(CodeGrant, [CodeChallenge(required=True), IdToken(require_nonce=False)])
    return server


def new_user_email() -> str:
    """A unique address, so that tests sharing one identity database never collide."""
    return f"sso-{uuid.uuid4().hex[:10]}@example.com"
