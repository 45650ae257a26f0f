"""Binding a listening socket ourselves so `--port 0` can report the port it got."""

from __future__ import annotations

import socket


def bind_loopback(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; port 0 lets the kernel choose."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(1024)
    sock.setblocking(False)
    return sock


def announce(sock: socket.socket) -> None:
    """Print `PORT <n>` as the first stdout line: tests and benches wait for it."""
    print(f"PORT {sock.getsockname()[1]}", flush=True)
