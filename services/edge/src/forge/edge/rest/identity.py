"""REST identity API: /auth, /auth/email, /teams, /tokens, /rbac, /audit (SSO lives in sso.py).

Each route checks one coarse permission at the edge (`rest_principal`) and becomes one request to
the identity registry, which checks ownership itself and answers the JSON the client gets.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.core import subjects
from forge.core.errors import ForbiddenError, InvalidParamsError, InvalidRequestError
from forge.edge import inputs
from forge.edge.auth.device_cookies import DeviceCookies
from forge.edge.auth.guard import client_ip, rest_principal
from forge.edge.auth.token_rules import ordered_teams
from forge.edge.registry_calls import registry_call, without_token
from forge.edge.rest.admin import REST_TIMEOUT_S, json_response
from forge.proto.envelope import Principal
from forge.proto.identity import UserAccess

if TYPE_CHECKING:
    from forge.edge.state import Edge

_ENC = msgspec.json.Encoder()
_USER = msgspec.json.Decoder(UserAccess)
ANONYMOUS = Principal(subject="anonymous")
_INTS = frozenset({"limit", "offset"})
_BOOLS = frozenset({"all"})
MANAGE = "teams.manage_members"


class _Claims(msgspec.Struct):
    exp: float | None = None


_CLAIMS = msgspec.json.Decoder(_Claims)


class Identity:
    """What every identity route needs: the edge, registry calls, bodies and session answers."""

    anonymous = ANONYMOUS

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    async def call(self, principal: Principal, entity: str, op: str, params: Any) -> bytes:
        return await registry_call(
            self.edge.bus,
            subjects.IDENTITY,
            entity,
            op,
            params,
            without_token(principal),
            REST_TIMEOUT_S,
        )

    async def raw_body(self, request: Request) -> bytes:
        return await inputs.read_json(self.edge.config, request.scope, request.receive)

    async def body(self, request: Request) -> dict[str, Any]:
        """The JSON object body: 400 when it is not JSON or not an object."""
        return await inputs.read_object(self.edge.config, request.scope, request.receive)

    def session(
        self, user_json: bytes, status: int = 200, devices: DeviceCookies | None = None
    ) -> Response:
        """A session token for the user the registry vouched for, and who they are; with
        `devices` (a password sign-in) a fresh device cookie too, in the body and as a cookie."""
        user = _USER.decode(user_json)
        token, expires = self.edge.auth.mint_session(user)
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": max(0, int(expires - time.time())),
            "user": {
                "email": user.email,
                "full_name": user.full_name,
                "is_admin": user.is_admin,
                "teams": list(ordered_teams(user)),  # the personal team first
                "roles": list(user.roles),
            },
        }
        if devices is None:
            return json_response(status, _ENC.encode(body))
        device = body["device_token"] = devices.issue(user.id, user.email)
        response = json_response(status, _ENC.encode(body))
        response.set_cookie(
            devices.cookie_name(user.email),
            device,
            max_age=devices.ttl_s,
            path="/auth",  # both login routes, nothing else
            httponly=True,
            samesite="strict",
            secure=devices.secure,
        )
        return response


def query_params(request: Request) -> dict[str, Any]:
    """Query parameters as registry params: `limit`/`offset` are integers, `all` a boolean."""
    params: dict[str, Any] = {}
    for name, value in request.query_params.items():
        if name in _INTS:
            if not value.isdigit():
                raise InvalidParamsError(f"{name} must be a whole number", {"field": name})
            params[name] = int(value)
        elif name in _BOOLS:
            if value.lower() not in ("true", "false", "1", "0"):
                raise InvalidParamsError(f"{name} must be true or false", {"field": name})
            params[name] = value.lower() in ("true", "1")
        else:
            params[name] = value
    return params


@dataclass(frozen=True)
class Spec:
    """One route that is one registry operation."""

    path: str
    method: str
    entity: str
    op: str
    permission: str | None  # None: being authenticated is enough
    status: int = 200
    own: bool = False  # acts on the caller: `email` is the caller's, whatever the request says


def forward(identity: Identity, spec: Spec) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        principal = await rest_principal(identity.edge, request, spec.permission)
        params = query_params(request)
        if spec.method in ("POST", "PUT", "PATCH"):
            params.update(await identity.body(request))
        params.update(request.path_params)
        if spec.own:
            params["email"] = principal.subject
        result = await identity.call(principal, spec.entity, spec.op, params)
        return json_response(spec.status, result)

    return endpoint


ACCOUNT = (
    Spec("/auth/email/me", "GET", "users", "get", None, own=True),
    Spec("/auth/email/change-password", "POST", "users", "change_password", None, own=True),
    Spec("/auth/email/admin/users", "GET", "users", "list", "users.read"),
    Spec("/auth/email/admin/users", "POST", "users", "create", "users.create", 201),
    Spec("/auth/email/admin/users/{email}", "GET", "users", "get", "users.read"),
    Spec("/auth/email/admin/users/{email}", "PUT", "users", "update", "users.update"),
    Spec("/auth/email/admin/users/{email}", "DELETE", "users", "delete", "users.delete"),
)
VERSIONED = (
    Spec("/teams", "GET", "teams", "list", "teams.read"),
    Spec("/teams", "POST", "teams", "create", "teams.create", 201),
    # Literal /teams/invitations/... before /teams/{id}/... so no id is taken for a keyword.
    Spec("/teams/invitations/{id}", "DELETE", "invitations", "delete", MANAGE),
    Spec("/teams/invitations/{token}/accept", "POST", "invitations", "accept", None),
    Spec("/teams/{id}", "GET", "teams", "get", "teams.read"),
    Spec("/teams/{id}", "PUT", "teams", "update", "teams.update"),
    Spec("/teams/{id}", "DELETE", "teams", "delete", "teams.delete"),
    Spec("/teams/{team_id}/members", "GET", "members", "list", "teams.read"),
    Spec("/teams/{team_id}/members/{email}", "PUT", "members", "set", MANAGE),
    Spec("/teams/{team_id}/members/{email}", "DELETE", "members", "remove", MANAGE),
    Spec("/teams/{team_id}/invitations", "POST", "invitations", "create", MANAGE, 201),
    Spec("/teams/{team_id}/invitations", "GET", "invitations", "list", "teams.read"),
    Spec("/tokens", "GET", "tokens", "list", "tokens.read"),
    Spec("/tokens", "POST", "tokens", "create", "tokens.create", 201),
    Spec("/tokens/revocations", "POST", "revocations", "create", "tokens.revoke", 201),
    Spec("/tokens/{id}", "GET", "tokens", "get", "tokens.read"),
    Spec("/tokens/{id}", "DELETE", "tokens", "revoke", "tokens.revoke"),
    Spec("/rbac/roles", "GET", "roles", "list", "rbac.read"),
    Spec("/rbac/roles", "POST", "roles", "create", "rbac.manage", 201),
    Spec("/rbac/roles/{name}", "GET", "roles", "get", "rbac.read"),
    Spec("/rbac/roles/{name}", "PUT", "roles", "update", "rbac.manage"),
    Spec("/rbac/roles/{name}", "DELETE", "roles", "delete", "rbac.manage"),
    Spec("/rbac/my/roles", "GET", "bindings", "list", None, own=True),
    Spec("/rbac/users/{email}/roles", "GET", "bindings", "list", "rbac.read"),
    Spec("/rbac/users/{email}/roles", "POST", "bindings", "grant", "rbac.manage", 201),
    Spec("/rbac/users/{email}/roles/{role}", "DELETE", "bindings", "revoke", "rbac.manage"),
    Spec("/audit", "GET", "audit", "list", "audit.read"),
)  # fmt: skip


def _expiry(authorization: str | None) -> float | None:
    """The `exp` of the (already verified) bearer JWT, so its revocation can be dropped later."""
    token = (authorization or "").partition(" ")[2].strip()
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        return _CLAIMS.decode(payload).exp
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return None


def _presented_device(request: Request, params: dict[str, Any]) -> object:
    """The device cookie an API client sent in the body (`device_token`), else the browser's."""
    token = params.pop("device_token", None)
    if token is not None and not isinstance(token, str):
        raise InvalidParamsError("device_token must be a string", {"field": "device_token"})
    email = params.get("email")
    if token is None and isinstance(email, str):
        token = request.cookies.get(DeviceCookies.cookie_name(email))
    return token


def account_routes(identity: Identity) -> list[BaseRoute]:
    edge = identity.edge
    devices = DeviceCookies(
        edge.config.jwt_secret,
        edge.config.device_cookie_ttl_s,
        edge.urls.base.startswith("https:"),
    )

    async def login(request: Request) -> Response:
        params = await identity.body(request)
        # Sign-ins are throttled by this address and by a device cookie verified here: never
        # by an address or a device the body names.
        params["client_ip"] = client_ip(request.scope)
        device = devices.verify(_presented_device(request, params), params.get("email"))
        params["device"] = None if device is None else device.id
        params["device_account"] = None if device is None else device.account
        user = await identity.call(ANONYMOUS, "users", "login", params)
        return identity.session(user, devices=devices)

    async def register(request: Request) -> Response:
        if not edge.config.allow_signup:
            raise ForbiddenError("self-service sign-up is disabled on this Forge")
        params = await identity.body(request)
        user = await identity.call(ANONYMOUS, "users", "register", params)
        return identity.session(user, 201)

    async def logout(request: Request) -> Response:
        principal = await rest_principal(edge, request, None)
        if principal.auth_method == "api_token" or principal.token_id is None:
            raise InvalidRequestError(
                "only a session or JWT ends with logout; revoke an API token with"
                " DELETE /tokens/{id}"
            )
        expires = _expiry(request.headers.get("authorization"))
        params = {"jti": principal.token_id, "expires_at": expires, "reason": "logout"}
        await identity.call(principal, "revocations", "create", params)
        return json_response(200, b'{"status":"logged out"}')

    return [
        Route("/auth/login", login, methods=["POST"]),
        Route("/auth/email/login", login, methods=["POST"]),
        Route("/auth/email/register", register, methods=["POST"]),
        Route("/auth/logout", logout, methods=["POST"]),
        Route("/auth/email/logout", logout, methods=["POST"]),
    ]


def routes(identity: Identity) -> list[BaseRoute]:
    """The account routes and one route per registry operation (the app adds /rbac's own
    routes and SSO's beside them, from rest.rbac and rest.sso, which take an `Identity` too)."""
    out = account_routes(identity)
    for spec in ACCOUNT:
        out.append(Route(spec.path, forward(identity, spec), methods=[spec.method]))
    for prefix in ("", "/v1"):
        for spec in VERSIONED:
            endpoint = forward(identity, spec)
            out.append(Route(prefix + spec.path, endpoint, methods=[spec.method]))
    return out
