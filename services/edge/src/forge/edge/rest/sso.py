"""Single sign-on routes: /auth/sso/providers, /auth/sso/{id}/login and /auth/sso/{id}/callback.

Login redirects to the provider with state, nonce and PKCE S256; the callback exchanges the code
(sso_exchange), asks the identity registry to sign the user in with the provider's group → team
mapping (users.sso_login) and answers a Forge session token. State, nonce and verifier travel
sealed (AES-GCM, key derived from the JWT secret) in a short-lived HttpOnly cookie bound to the
provider, so any edge replica sharing the secret finishes a flow another one started.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import re
import time
from typing import TYPE_CHECKING

import msgspec
from authlib.common.security import generate_token
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from forge.core.config import ConfigError
from forge.core.errors import ForgeError, InvalidRequestError, NotFoundError, UnauthorizedError
from forge.core.netguard import SETTING, NetGuard
from forge.core.sealing import derive_key
from forge.edge.auth.sso_providers import Provider, load_providers
from forge.edge.rest import errors
from forge.edge.rest.admin import json_response

if TYPE_CHECKING:
    from forge.edge.auth.sso_exchange import Exchange
    from forge.edge.rest.identity import Identity

_ENC = msgspec.json.Encoder()
COOKIE = "forge_sso"
FLOW_TTL_S = 600
_ERROR = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class FlowState(msgspec.Struct, frozen=True, array_like=True):
    """What the callback must know about the login it finishes."""

    provider: str
    state: str
    nonce: str
    verifier: str
    issued: float


_FLOW = msgspec.json.Decoder(FlowState)


class Sealer:
    """Seals flow state for the cookie; the provider id is bound in as associated data."""

    def __init__(self, secret: str) -> None:
        self.aead = AESGCM(derive_key(secret, b"forge sso flow v1"))

    def seal(self, flow: FlowState) -> str:
        nonce = os.urandom(12)
        sealed = self.aead.encrypt(nonce, _ENC.encode(flow), flow.provider.encode())
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def open(self, token: str | None, provider: str) -> FlowState:
        if not token:
            raise InvalidRequestError("no sign-in is in progress here: start at the login URL")
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            flow = _FLOW.decode(self.aead.decrypt(raw[:12], raw[12:], provider.encode()))
        except (InvalidTag, ValueError, binascii.Error, msgspec.DecodeError) as exc:
            raise InvalidRequestError("the sign-in state is not valid: start again") from exc
        if flow.issued + FLOW_TTL_S < time.time():
            raise InvalidRequestError("the sign-in took too long: start again")
        return flow


def _cookie_path(provider_id: str) -> str:
    return f"/auth/sso/{provider_id}/"


def routes(identity: Identity) -> list[BaseRoute]:
    edge = identity.edge
    config = edge.config
    providers = load_providers(config.sso_config, edge.urls.base)
    listing = _ENC.encode([{"id": p.id, "name": p.name} for p in providers.values()])
    sealer = Sealer(config.jwt_secret)
    try:
        guard = NetGuard(config.upstream_allowed_networks)
    except ValueError as exc:
        raise ConfigError(f"{SETTING}: {exc}") from None
    exchange: Exchange | None = None

    def exchanger() -> Exchange:
        """The providers' client, made at the first sign-in: its HTTP and OAuth libraries
        (httpx, authlib's client) cost every edge some MiB, and most meshes have no SSO."""
        nonlocal exchange
        if exchange is None:
            from forge.edge.auth.sso_exchange import Exchange

            exchange = Exchange(guard)
        return exchange

    def find(request: Request) -> Provider:
        provider = providers.get(request.path_params["provider"])
        if provider is None:
            raise NotFoundError("no such SSO provider")
        return provider

    async def list_providers(request: Request) -> Response:
        return json_response(200, listing)

    async def login(request: Request) -> Response:
        provider = find(request)
        flow = FlowState(
            provider.id, generate_token(32), generate_token(32), generate_token(64), time.time()
        )
        location = await exchanger().authorize_url(provider, flow.state, flow.nonce, flow.verifier)
        response = RedirectResponse(location, 302, headers={"cache-control": "no-store"})
        response.set_cookie(
            COOKIE,
            sealer.seal(flow),
            max_age=FLOW_TTL_S,
            path=_cookie_path(provider.id),
            httponly=True,
            samesite="lax",  # the provider's redirect back is a top-level cross-site GET
            secure=provider.redirect_uri.startswith("https:"),
        )
        return response

    async def callback(request: Request) -> Response:
        query = request.query_params
        try:
            provider = find(request)
            flow = sealer.open(request.cookies.get(COOKIE), provider.id)
            if not hmac.compare_digest(query.get("state", "").encode(), flow.state.encode()):
                raise InvalidRequestError("the sign-in state does not match: start again")
            if "error" in query:
                error = query["error"] if _ERROR.match(query["error"]) else "error"
                raise UnauthorizedError(f"the identity provider refused the sign-in ({error})")
            code = query.get("code")
            if not code:
                raise InvalidRequestError("the identity provider sent no code")
            who = await exchanger().sign_in(provider, code, flow.nonce, flow.verifier)
            params = {
                "provider": provider.id,
                "email": who.email,
                "full_name": who.full_name,
                "groups": who.groups,
                "team_mapping": provider.config.team_mapping,
                "default_role": provider.config.default_role,
            }
            user = await identity.call(identity.anonymous, "users", "sso_login", params)
            response = identity.session(user)
        except ForgeError as exc:  # answered here, not by the app's handler: the cookie goes too
            response = errors.response(identity.edge, exc)
        if request.path_params["provider"] in providers:
            # One flow, one callback: whatever happened, the state is spent.
            response.delete_cookie(COOKIE, path=_cookie_path(request.path_params["provider"]))
        response.headers["cache-control"] = "no-store"
        return response

    return [
        Route("/auth/sso/providers", list_providers, methods=["GET"]),
        Route("/auth/sso/{provider}/login", login, methods=["GET"]),
        Route("/auth/sso/{provider}/callback", callback, methods=["GET"]),
    ]
