"""`python -m forge.servers.headerecho`: an SDK server whose tool takes an `x-mcp-header` argument.

The SDK checks every modern `tools/call` of `route` for an `Mcp-Param-Region` header that
repeats the `region` argument (-32020 otherwise), so a call through Forge succeeds only if Forge
sends the upstream the headers its schema declares.
"""

from __future__ import annotations

import argparse
from typing import Annotated

import uvicorn
import uvloop
from mcp.server.mcpserver import MCPServer
from pydantic import Field

from forge.servers.ports import announce, bind_loopback

server = MCPServer("headerecho")


@server.tool()
def route(
    region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})],
    text: str,
    priority: Annotated[int, Field(json_schema_extra={"x-mcp-header": "Priority"})] = 0,
) -> str:
    """Answer with where the call was routed and what it carried."""
    return f"{region}/{priority}: {text}"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m forge.servers.headerecho", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=8004, help="0 picks a free port")
    args = parser.parse_args()
    sock = bind_loopback(args.host, args.port)
    app = server.streamable_http_app(host=args.host)
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    announce(sock)
    try:
        uvloop.run(uvicorn.Server(config).serve(sockets=[sock]))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
