"""Running a sample agent: bind the socket first so `--port 0` can print the port it got."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import socket
from collections.abc import Awaitable, Callable

import uvicorn
from starlette.applications import Starlette


def run(
    description: str,
    default_port: int,
    make_app: Callable[[str, argparse.Namespace], Starlette | Awaitable[Starlette]],
    parser: argparse.ArgumentParser | None = None,
) -> None:
    """Parse `--host` / `--port` (and what `parser` adds), listen, print `PORT <n>`, serve
    `make_app(base_url, args)` (awaited, in the server's loop, when it is a coroutine: one that
    starts a gRPC server beside it).

    The `PORT <n>` line is what tests and benches wait for (forge.servers.process.spawn).
    """
    parser = parser or argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    args = parser.parse_args()
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: accepted sockets inherit it, and asyncio sets TCP_NODELAY
    # only on sockets that say TCP; without it every answer waited ~40 ms on Nagle's algorithm.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)  # listening before PORT is printed: a client may connect at once
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host

    async def serve() -> None:
        made = make_app(f"http://{shown}:{port}/", args)
        app = await made if inspect.isawaitable(made) else made
        config = uvicorn.Config(app, log_level="warning", lifespan="off")
        print(f"PORT {port}", flush=True)
        await uvicorn.Server(config).serve(sockets=[sock])
        beside = getattr(app.state, "grpc", None)  # sdk.grpc_app's server: stopped with it
        if beside is not None:
            await beside.stop(0)

    asyncio.run(serve())
