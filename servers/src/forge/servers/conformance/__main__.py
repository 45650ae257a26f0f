"""`python -m forge.servers.conformance`: serve the conformance tools on /mcp."""

from __future__ import annotations

import argparse
import socket

import uvicorn
import uvloop

from forge.servers.conformance import RETRY_MS, MemoryEventStore, server
from forge.servers.conformance.tasks import check_task_names
from forge.servers.ports import announce, bind_loopback


async def serve(sock: socket.socket, host: str) -> None:
    # `host` decides which Host/Origin headers the SDK's DNS-rebinding guard accepts.
    app = server.streamable_http_app(
        host=host, event_store=MemoryEventStore(), retry_interval=RETRY_MS
    )
    config = uvicorn.Config(check_task_names(app), log_level="warning", lifespan="on")
    announce(sock)
    await uvicorn.Server(config).serve(sockets=[sock])


def main() -> None:
    import forge.servers.conformance as package

    parser = argparse.ArgumentParser(
        prog="python -m forge.servers.conformance", description=package.__doc__
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback)")
    parser.add_argument("--port", type=int, default=8004, help="0 picks a free port")
    args = parser.parse_args()
    try:
        uvloop.run(serve(bind_loopback(args.host, args.port), args.host))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
