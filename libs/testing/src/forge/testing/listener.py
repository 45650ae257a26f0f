"""A listener for SSRF tests: records every connection and request it receives, so a test can
show that a refused destination received nothing (not even a TCP connection)."""

from __future__ import annotations

import threading

from forge.testing.local_server import LocalHandler, LocalServer


class _Handler(LocalHandler):
    owner: Listener

    def setup(self) -> None:
        with self.owner.lock:
            self.owner.connections += 1
        super().setup()

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        with self.owner.lock:
            self.owner.requests.append((self.command, self.path, body))
        if self.owner.redirect_to is not None:
            self.send(self.owner.redirect_status, None, [("Location", self.owner.redirect_to)])
        else:
            self.send(200, {})

    do_GET = do_POST = do_PUT = do_DELETE = _answer


class Listener(LocalServer):
    """Answers 200 `{}` to everything, or redirects everything to `redirect_to` (with a 307,
    which keeps a POST a POST, unless `redirect_status` says otherwise)."""

    handler = _Handler

    def __init__(
        self, host: str = "127.0.0.1", redirect_to: str | None = None, redirect_status: int = 307
    ) -> None:
        self.host = host
        self.redirect_to = redirect_to
        self.redirect_status = redirect_status
        self.lock = threading.Lock()
        self.connections = 0
        self.requests: list[tuple[str, str, bytes]] = []

    @property
    def received(self) -> int:
        """Connections accepted: 0 means nothing reached it at all."""
        with self.lock:
            return self.connections
