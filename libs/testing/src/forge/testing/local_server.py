"""What the local OAuth and OpenID test servers share: an HTTP server on a free loopback port,
run in a daemon thread (so that sync and async tests alike can use it), and a quiet request
handler that reads query strings and forms and answers JSON.

A server subclasses `LocalServer` and names its handler, a `LocalHandler` subclass that reaches
the server as `self.owner`:

    class MyServer(LocalServer):
        handler = _Handler

    with MyServer() as server:
        server.url
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar, Self
from urllib.parse import parse_qsl, urlsplit


class LocalHandler(BaseHTTPRequestHandler):
    """A request handler bound to its server's owner; says nothing on stderr."""

    owner: Any  # the LocalServer, set on the class `LocalServer.start` makes

    def log_message(self, format: str, *args: Any) -> None:
        return None  # quiet: tests read the recorded requests instead

    def path_and_query(self) -> tuple[str, dict[str, str]]:
        parts = urlsplit(self.path)
        return parts.path, dict(parse_qsl(parts.query))

    def read_form(self, *, keep_blank_values: bool = False) -> dict[str, str]:
        """The request body as an application/x-www-form-urlencoded form."""
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode()
        return dict(parse_qsl(raw, keep_blank_values=keep_blank_values))

    def send(self, status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> None:
        """Answer `body`: a dict or list as JSON, a string as it is, None as nothing."""
        sent = list(headers)
        if isinstance(body, dict | list):
            raw = json.dumps(body).encode()
            sent.append(("Content-Type", "application/json"))
        else:
            raw = (body or "").encode()
        self.send_response(status)
        for name, value in sent:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class LocalServer:
    """Start with `start()` (or `with`); `url` is its base URL while it runs."""

    handler: ClassVar[type[LocalHandler]]
    host: str = "127.0.0.1"  # any loopback address (127.0.0.2 stands for "elsewhere")
    _http: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._http is not None, "start the server first"
        return f"http://{self.host}:{self._http.server_address[1]}"

    def start(self) -> Self:
        bound = type(self.handler.__name__, (self.handler,), {"owner": self})
        self._http = ThreadingHTTPServer((self.host, 0), bound)  # port 0: a free one
        self._http.daemon_threads = True
        self._thread = threading.Thread(target=self._http.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
