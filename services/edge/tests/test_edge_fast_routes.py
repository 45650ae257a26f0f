"""`/servers/{server_id}/mcp` skips Starlette's router: it must take exactly what the route
would have taken, with the same server id."""

from __future__ import annotations

import pytest
from starlette.routing import Match, Route

from forge.edge.app import _SERVER_MCP, _SERVER_MCP_METHODS, _server_mcp

PATHS = [
    "/servers/s-a/mcp",
    "/servers/a%20b/mcp",
    "/servers/é/mcp",
    "/servers//mcp",
    "/servers/mcp",
    "/servers/a/b/mcp",
    "/servers/a/mcp/",
    "/servers/a/mcpx",
    "/servers/a/sse",
    "/mcp",
]


async def _endpoint(scope: object, receive: object, send: object) -> None:
    raise AssertionError("never called")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE", "HEAD", "PUT"])
def test_the_fast_path_takes_what_the_route_takes(path: str, method: str) -> None:
    route = Route(_SERVER_MCP, _endpoint, methods=_SERVER_MCP_METHODS)
    scope = {"type": "http", "path": path, "method": method, "root_path": ""}
    match, child = route.matches(scope)
    expected = child["path_params"]["server_id"] if match is Match.FULL else None
    assert _server_mcp(scope) == expected
