"""RBAC routes the edge answers itself: the permission table with each permission's default
roles, the caller's effective permissions, and permission checks (`{"granted": bool}`).

Without a team both answer what is held on some team; with `team_id` what is held on that
team's entries (global grants, and the bindings on that team)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from forge.core.errors import InvalidParamsError, InvalidRequestError
from forge.edge.auth.guard import require, rest_principal
from forge.edge.rest.admin import json_response
from forge.proto import access
from forge.proto.envelope import Principal
from forge.proto.identity import UserAccess

if TYPE_CHECKING:
    from forge.edge.rest.identity import Identity

_ENC = msgspec.json.Encoder()
_USER = msgspec.json.Decoder(UserAccess)


class CheckBody(msgspec.Struct, frozen=True):
    permission: str
    email: str | None = None
    team_id: str | None = None


_CHECK = msgspec.json.Decoder(CheckBody)


def permission_catalog() -> dict[str, Any]:
    """Every permission, and which built-in roles hold it by default."""
    entries = []
    for name in access.PERMISSIONS:
        resource, _, action = name.partition(".")
        holders = [
            role
            for role, granted in access.BUILTIN_ROLES.items()
            if access.ALL in granted or name in granted
        ]
        entries.append(
            {"name": name, "resource": resource, "action": action, "default_roles": holders}
        )
    return {"permissions": entries, "roles": access.BUILTIN_ROLES, "total": len(entries)}


def effective_permissions(principal: Principal, team_id: str = access.ANY_TEAM) -> list[str]:
    return [p for p in access.PERMISSIONS if access.permits(principal, p, team_id)]


def _team(team_id: str | None) -> str:
    """A team id from the caller, or ANY_TEAM when none is given."""
    if team_id is None:
        return access.ANY_TEAM
    if not team_id or team_id == access.ANY_TEAM or len(team_id) > 255:
        raise InvalidParamsError("team_id must be a team id", {"field": "team_id"})
    return team_id


def routes(identity: Identity) -> list[BaseRoute]:
    edge = identity.edge
    catalog = _ENC.encode(permission_catalog())

    async def permissions(request: Request) -> Response:
        await rest_principal(edge, request, "rbac.read")
        return json_response(200, catalog)

    async def my_permissions(request: Request) -> Response:
        principal = await rest_principal(edge, request, None)
        team_id = _team(request.query_params.get("team_id"))
        return json_response(200, _ENC.encode(effective_permissions(principal, team_id)))

    async def check(request: Request) -> Response:
        principal = await rest_principal(edge, request, None)
        try:
            body = _CHECK.decode(await identity.raw_body(request))
        except msgspec.ValidationError as exc:
            raise InvalidParamsError(f"invalid body: {exc}") from exc
        except msgspec.DecodeError as exc:
            raise InvalidRequestError("the request body is not valid JSON") from exc
        if body.permission not in access.PERMISSIONS:
            raise InvalidParamsError(
                f"unknown permission '{body.permission}'", {"field": "permission"}
            )
        subject = principal
        if body.email is not None and body.email != principal.subject:
            # Another user's permissions: rbac.read, and the registry's view of them.
            require(principal, "rbac.read")
            other = _USER.decode(
                await identity.call(principal, "users", "get", {"email": body.email})
            )
            subject = Principal(
                subject=other.email,
                is_admin=other.is_admin,
                permissions=other.permissions,
                team_permissions=other.team_permissions,
            )
        granted = access.permits(subject, body.permission, _team(body.team_id))
        return json_response(200, _ENC.encode({"permission": body.permission, "granted": granted}))

    out: list[BaseRoute] = []
    for prefix in ("", "/v1"):
        out += [
            Route(prefix + "/rbac/permissions", permissions, methods=["GET"]),
            Route(prefix + "/rbac/my/permissions", my_permissions, methods=["GET"]),
            Route(prefix + "/rbac/permissions/check", check, methods=["POST"]),
        ]
    return out
