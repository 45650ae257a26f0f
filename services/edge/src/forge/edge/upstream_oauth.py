"""Per-user upstream OAuth (authorization code with PKCE): /gateways/{id}/oauth/authorize and
/oauth/callback (stub, being built)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.routing import BaseRoute

if TYPE_CHECKING:
    from forge.edge.context import Edge


def routes(edge: Edge) -> list[BaseRoute]:
    return []
