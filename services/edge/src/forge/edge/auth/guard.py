"""Who may do what at the edge: one place that turns a request into a checked Principal.

Every REST handler calls `rest_principal(edge, request, permission)`; the MCP transports call
`mcp_principal(...)` (or its no-await fast path `mcp_cached`) once per HTTP request or
connection, and `check_method` per JSON-RPC request. They raise `ChallengeError` (401, with its
`WWW-Authenticate` value), ForbiddenError (403) or ServiceUnavailableError (503).

While a plugin serves `http_auth_resolve_user` it is asked first who the caller is, and while
one serves `http_auth_check_permission` it may grant or deny each permission beyond RBAC
(docs/plugins.md); either one turns the no-await fast path off.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import msgspec
from starlette.requests import Request

from forge.core.errors import ForbiddenError, UnauthorizedError
from forge.proto import access
from forge.proto.envelope import Principal

if TYPE_CHECKING:
    from forge.edge.state import Edge

USE_SERVERS = "servers.use"


class ChallengeError(UnauthorizedError):
    """A 401 that knows its `WWW-Authenticate` header (RFC 9728: where the metadata is)."""

    def __init__(self, message: str, challenge: str) -> None:
        super().__init__(message)
        self.challenge = challenge


def challenge_headers(exc: Exception) -> list[tuple[bytes, bytes]] | None:
    """The raw `WWW-Authenticate` header of a ChallengeError, for ASGI responses."""
    if isinstance(exc, ChallengeError):
        return [(b"www-authenticate", exc.challenge.encode("latin-1"))]
    return None


def client_ip(scope: Mapping[str, Any]) -> str | None:
    client = scope.get("client")
    return str(client[0]) if client else None


def forbidden(permission: str) -> ForbiddenError:
    return ForbiddenError(
        f"permission denied: this needs the '{permission}' permission", {"permission": permission}
    )


def require(principal: Principal, permission: str | None) -> Principal:
    """The principal, if it holds `permission` (None: being authenticated is enough)."""
    if permission is not None and not access.permits(principal, permission):
        raise forbidden(permission)
    return principal


async def permitted(
    edge: Edge,
    principal: Principal,
    permission: str,
    resource_type: str | None = None,
    resource_id: str | None = None,
) -> bool:
    """RBAC's answer, or an `http_auth_check_permission` plugin's when one serves it and sets
    `granted` (true or false; null leaves RBAC's answer, which the plugin sees as `rbac`)."""
    allowed = access.permits(principal, permission)
    if not edge.hooks.checks_permissions:
        return allowed
    payload = {
        "permission": permission,
        "resource_type": resource_type,
        "resource_id": resource_id,
        "granted": None,
        "rbac": allowed,
    }
    changed = await edge.hooks.call(
        "http_auth_check_permission", payload, principal=principal, method=permission
    )
    granted = changed.get("granted") if isinstance(changed, dict) else None
    return granted if isinstance(granted, bool) else allowed


def _method_forbidden(method: str, permission: str) -> ForbiddenError:
    return ForbiddenError(
        f"permission denied: {method} needs {permission}", {"permission": permission}
    )


def check_method(principal: Principal, method: str) -> None:
    """403 unless the principal holds what the MCP method needs."""
    permission = access.MCP_PERMISSIONS.get(method)
    if permission is not None and not access.permits(principal, permission):
        raise _method_forbidden(method, permission)


async def check_method_with_plugins(
    edge: Edge, principal: Principal, method: str, server_id: str | None
) -> Principal:
    """`check_method`, asking the `http_auth_check_permission` plugins too: the principal to
    send on. A permission a plugin grants beyond RBAC is granted for this request everywhere,
    so the router's per-team check does not take it back."""
    permission = access.MCP_PERMISSIONS.get(method)
    if permission is None:
        return principal
    if not await permitted(edge, principal, permission, "server" if server_id else None, server_id):
        raise _method_forbidden(method, permission)
    if permission in principal.permissions or access.ALL in principal.permissions:
        return principal
    return msgspec.structs.replace(principal, permissions=(*principal.permissions, permission))


async def plugin_user(edge: Edge, scope: Mapping[str, Any], headers: Any) -> Principal | None:
    """The user an `http_auth_resolve_user` plugin names for this request, if any: the plugin
    vouches for who the caller is (a trusted proxy's header, say); the identity registry says
    what they may do. Unknown or inactive users are refused (401)."""
    payload = {
        "method": scope.get("method", "GET"),
        "path": scope.get("path", ""),
        "headers": dict(headers.items()),
        "client": client_ip(scope),
        "user": None,
    }
    changed = await edge.hooks.call("http_auth_resolve_user", payload, method=payload["method"])
    user = changed.get("user") if isinstance(changed, dict) else None
    if not isinstance(user, dict):
        return None
    name = user.get("email") or user.get("subject")
    if not isinstance(name, str) or not name:
        return None
    return await edge.auth.principal_of(name)


async def _identify(
    edge: Edge,
    scope: Mapping[str, Any],
    headers: Mapping[str, str],
    server_id: str | None,
    *,
    rest: bool = False,
) -> Principal:
    """Who the caller is: an `http_auth_resolve_user` plugin's answer, else the bearer token's
    (from the cache when verified before). A 401 carries its `WWW-Authenticate` challenge."""
    authorization = headers.get("authorization")
    principal = None
    try:
        if edge.hooks.resolves_users:
            principal = await plugin_user(edge, scope, headers)
        if principal is None:
            principal = await edge.auth.authenticate(
                authorization,
                client_ip=client_ip(scope),
                resource=edge.urls.resource(server_id),
                server_id=server_id,
            )
    except UnauthorizedError as exc:
        challenge = edge.urls.challenge(server_id, token_sent=bool(authorization), rest=rest)
        raise ChallengeError(exc.message, challenge) from exc
    return principal


async def rest_principal(edge: Edge, request: Request, permission: str | None) -> Principal:
    """Authenticate a REST request and check one permission."""
    principal = await _identify(edge, request.scope, request.headers, None, rest=True)
    if permission is not None and not await permitted(edge, principal, permission):
        raise forbidden(permission)
    return principal


def _admit_mcp(
    edge: Edge,
    principal: Principal,
    headers: Mapping[str, str],
    server_id: str | None,
    may_use_servers: bool | None = None,
) -> Principal:
    origin = headers.get("origin")
    if origin is not None and not edge.origins.allows(origin):
        raise ForbiddenError("origin not allowed")
    if server_id is not None:
        if may_use_servers is None:
            may_use_servers = access.permits(principal, USE_SERVERS)
        if not may_use_servers:
            raise ForbiddenError(
                f"permission denied: virtual servers need {USE_SERVERS}",
                {"permission": USE_SERVERS},
            )
    return principal


def mcp_cached(
    edge: Edge, scope: Mapping[str, Any], headers: Mapping[str, str], server_id: str | None
) -> Principal | None:
    """`mcp_principal` without an await, for a token verified before; None otherwise."""
    if edge.hooks.auth:
        return None  # a plugin takes part: the full path asks it
    authorization = headers.get("authorization")
    try:
        principal = edge.auth.cached(
            authorization,
            client_ip=client_ip(scope),
            resource=edge.urls.resource(server_id),
            server_id=server_id,
        )
    except UnauthorizedError as exc:
        challenge = edge.urls.challenge(server_id, token_sent=bool(authorization))
        raise ChallengeError(exc.message, challenge) from exc
    if principal is None:
        return None
    return _admit_mcp(edge, principal, headers, server_id)


async def mcp_principal(
    edge: Edge, scope: Mapping[str, Any], headers: Mapping[str, str], server_id: str | None
) -> Principal:
    """Authenticate an MCP request (any transport), then check its Origin and server access."""
    principal = await _identify(edge, scope, headers, server_id)
    may_use: bool | None = None
    if server_id is not None and edge.hooks.checks_permissions:
        may_use = await permitted(edge, principal, USE_SERVERS, "server", server_id)
    return _admit_mcp(edge, principal, headers, server_id, may_use)
