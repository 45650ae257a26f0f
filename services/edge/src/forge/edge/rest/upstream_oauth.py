"""Per-user upstream OAuth (authorization code + PKCE), browser side: the two edge routes.

- `GET /gateways/{id}/oauth/authorize` (authenticated, `tools.execute`): a fresh PKCE verifier,
  sealed with the gateway and the user into `state`; the upstream-proxy (which alone reads the
  gateway's OAuth settings) builds the authorization server's URL; answered with a 302 there.
- `GET /oauth/callback` (no bearer token: the sealed state binds the request to the user who
  started it, for 10 minutes): the code, the verifier and the redirect URI go to the
  upstream-proxy, which trades the code and stores the user's tokens; answered with a small
  "authorized" page (JSON when the client asks for JSON).

The state is AES-256-GCM under a key derived from the JWT secret with a label of its own.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from forge.core import rpc, subjects
from forge.core.errors import ForgeError, NotFoundError
from forge.core.sealing import derive_key
from forge.edge.auth.guard import rest_principal
from forge.proto.envelope import Envelope, Principal

if TYPE_CHECKING:
    from forge.edge.state import Edge

STATE_LABEL = b"forge upstream oauth state v1"
_STATE_AAD = b"forge-upstream-oauth-state"
STATE_TTL_S = 600.0
TIMEOUT_S = 30.0
AUTHORIZE = "upstream.oauth.authorize"
CALLBACK = "upstream.oauth.callback"


class OAuthState(msgspec.Struct, frozen=True):
    """What the state parameter carries through the authorization server, sealed."""

    gateway: str
    user: str
    verifier: str
    exp: float


_STATE = msgspec.json.Decoder(OAuthState)
_LOCATION = msgspec.json.Decoder(dict[str, Any])
# A gateway id becomes a NATS subject token: nothing that could change the subject's shape.
_GATEWAY_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


class StateSeal:
    """Seals and opens `state`: tampered, foreign or expired states do not open."""

    def __init__(self, key: bytes) -> None:
        self.aead = AESGCM(key)

    def seal(self, state: OAuthState) -> str:
        nonce = os.urandom(12)
        sealed = self.aead.encrypt(nonce, msgspec.json.encode(state), _STATE_AAD)
        return base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")

    def open(self, text: str) -> OAuthState | None:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            state = _STATE.decode(self.aead.decrypt(raw[:12], raw[12:], _STATE_AAD))
        except (ValueError, InvalidTag, msgspec.DecodeError, msgspec.ValidationError):
            return None
        return state if state.exp > time.time() else None


def pkce_pair() -> tuple[str, str]:
    """(verifier, S256 challenge): 64 unreserved characters, as RFC 7636 §4.1 allows."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


class UpstreamAuthorization:
    """The two routes' handlers."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge
        self.states = StateSeal(derive_key(edge.config.jwt_secret, STATE_LABEL))
        self.redirect_uri = edge.urls.base + "/oauth/callback"

    async def _ask(self, method: str, gateway_id: str, params: Any, principal: Principal) -> bytes:
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method=method,
            params=msgspec.Raw(msgspec.json.encode(params)),
            principal=principal,
            deadline=time.time() + TIMEOUT_S,
        )
        return await rpc.call(self.edge.bus, subjects.upstream_oauth(gateway_id), envelope)

    async def authorize(self, request: Request) -> Response:
        gateway_id = request.path_params["gateway_id"]
        principal = await rest_principal(self.edge, request, "tools.execute")
        if not _GATEWAY_ID.fullmatch(gateway_id):
            raise NotFoundError(f"gateway {gateway_id!r} not found")
        verifier, challenge = pkce_pair()
        state = OAuthState(gateway_id, principal.subject, verifier, time.time() + STATE_TTL_S)
        params = {
            "redirect_uri": self.redirect_uri,
            "state": self.states.seal(state),
            "code_challenge": challenge,
        }
        # The caller's own token has no business at the upstream-proxy here.
        caller = msgspec.structs.replace(principal, subject_token=None)
        found = _LOCATION.decode(await self._ask(AUTHORIZE, gateway_id, params, caller))
        return RedirectResponse(str(found["location"]), status_code=302)

    async def callback(self, request: Request) -> Response:
        query = request.query_params
        state = self.states.open(query.get("state", ""))
        if state is None or not _GATEWAY_ID.fullmatch(state.gateway):
            return _page(request, 400, "This authorization link is invalid or has expired.")
        if "error" in query:
            refusal = query["error"][:64]
            return _page(request, 400, f"The authorization server refused ({refusal}).")
        code = query.get("code")
        if not code:
            return _page(request, 400, "The authorization server sent no code.")
        params = {
            "gateway_id": state.gateway,
            "user": state.user,
            "code": code,
            "verifier": state.verifier,
            "redirect_uri": self.redirect_uri,
        }
        try:
            await self._ask(CALLBACK, state.gateway, params, Principal(subject=state.user))
        except ForgeError as exc:
            return _page(request, exc.http_status, exc.message, exc.code)
        return _page(request, 200, "Forge may now call this upstream on your behalf.")


def _page(request: Request, status: int, detail: str, code: int | None = None) -> Response:
    """A small answer for a person in a browser, or JSON for a program."""
    accept = request.headers.get("accept", "")
    if "application/json" in accept and "text/html" not in accept:
        body: dict[str, Any] = {"authorized": status == 200, "detail": detail}
        if code is not None:
            body["code"] = code
        return Response(msgspec.json.encode(body), status, media_type="application/json")
    title = "Authorized" if status == 200 else "Not authorized"
    page = (
        f"<!doctype html><meta charset=utf-8><title>Forge: {title}</title>"
        f"<h1>{title}</h1><p>{html.escape(detail)}</p><p>You can close this window.</p>"
    )
    return Response(page, status, media_type="text/html")


def routes(edge: Edge) -> list[BaseRoute]:
    flows = UpstreamAuthorization(edge)
    return [
        Route("/gateways/{gateway_id}/oauth/authorize", flows.authorize, methods=["GET"]),
        Route("/oauth/callback", flows.callback, methods=["GET"]),
    ]
