"""A local HTTP server that serves A2A agent cards (and whatever else a test puts on a path), for
the registry's card fetching: a real HTTP peer on loopback, in a daemon thread.

    with CardServer() as agent:
        agent.serve_card(card_v1(agent.url, "Echo"))
        ...  # register agent.url
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from forge.testing.local_server import LocalHandler, LocalServer

CARD_PATH = "/.well-known/agent-card.json"
LEGACY_CARD_PATH = "/.well-known/agent.json"


def card_v1(
    url: str,
    name: str,
    *,
    binding: str = "JSONRPC",
    streaming: bool = True,
    description: str = "Echoes what it is told",
) -> dict[str, Any]:
    """An A2A 1.0 agent card with one interface at `url`."""
    return {
        "name": name,
        "description": description,
        "version": "1.0.0",
        "supportedInterfaces": [{"url": url, "protocolBinding": binding, "protocolVersion": "1.0"}],
        "capabilities": {"streaming": streaming},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [{"id": "echo", "name": "Echo", "description": "echo", "tags": ["echo"]}],
    }


def card_v03(url: str, name: str, *, transport: str = "JSONRPC") -> dict[str, Any]:
    """An A2A 0.3 agent card: `url`, `preferredTransport`, a top-level `protocolVersion`."""
    return {
        "name": name,
        "description": "A 0.3 agent",
        "version": "0.3.0",
        "protocolVersion": "0.3.0",
        "url": url,
        "preferredTransport": transport,
        "capabilities": {"streaming": False},
        "defaultInputModes": ["text/plain"],
        "defaultOutputModes": ["text/plain"],
        "skills": [],
    }


class _Handler(LocalHandler):
    def do_GET(self) -> None:
        path, _ = self.path_and_query()
        with self.owner.lock:
            self.owner.requests.append(path)
            found = self.owner.routes.get(path)
        if found is None:
            self.send(404, {"error": "not found"})
            return
        status, body, content_type, headers = found
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.owner.trickle_s:  # one byte at a time: an answer that never quite ends
            for i in range(len(body)):
                self.wfile.write(body[i : i + 1])
                self.wfile.flush()
                time.sleep(self.owner.trickle_s)
            return
        self.wfile.write(body)


class CardServer(LocalServer):
    """Answers each GET from `routes` (path → status, body, content type), 404 otherwise."""

    handler = _Handler

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.routes: dict[str, tuple[int, bytes, str, tuple[tuple[str, str], ...]]] = {}
        self.requests: list[str] = []
        self.trickle_s = 0.0  # set: each byte of a body after this long

    def put(
        self,
        path: str,
        body: bytes | str,
        status: int = 200,
        content_type: str = "text/plain",
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        raw = body.encode() if isinstance(body, str) else body
        with self.lock:
            self.routes[path] = (status, raw, content_type, headers)

    def redirect(self, path: str, location: str) -> None:
        """Answer `path` with a 302 to `location`."""
        self.put(path, "", status=302, headers=(("Location", location),))

    def serve_card(self, card: Any, path: str = CARD_PATH) -> None:
        """Serve `card` as JSON at `path` (the 1.0 well-known path by default)."""
        self.put(path, json.dumps(card), content_type="application/json")

    def clear(self) -> None:
        with self.lock:
            self.routes.clear()
