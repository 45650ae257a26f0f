"""Who may do what at the edge: one place that turns a request into a checked Principal.

Every REST handler calls `rest_principal(edge, request, permission)`; the MCP transports call
`mcp_principal(...)`. Both raise UnauthorizedError (401) or ForbiddenError (403).
(Being built: API tokens, CIDR/time/server scopes, audiences per resource, Origin checks.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request

from forge.core.errors import ForbiddenError
from forge.proto import access
from forge.proto.envelope import Principal

if TYPE_CHECKING:
    from forge.edge.context import Edge


def require(principal: Principal, permission: str | None) -> Principal:
    """The principal, if it holds `permission` (None: being authenticated is enough)."""
    if permission is not None and not access.permits(principal, permission):
        raise ForbiddenError(
            f"permission denied: this needs the '{permission}' permission",
            {"permission": permission},
        )
    return principal


async def rest_principal(edge: Edge, request: Request, permission: str | None) -> Principal:
    """Authenticate a REST request and check one permission."""
    principal = edge.auth.authenticate(request.headers.get("authorization"))
    return require(principal, permission)
