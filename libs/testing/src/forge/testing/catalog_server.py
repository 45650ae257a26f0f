"""A legacy-era MCP server offering `count` generated tools in pages, for large-catalog tests
and the catalog bench: cheap to run in a thread (each page is encoded when asked for).

    with CatalogServer(100_000, page_size=1000) as server:
        server.url + "/mcp"

`fail_at_page`: the server closes the connection instead of answering that page (0-based), as
an upstream that dies mid-discovery. `prefix` names the tools `<prefix><n:06d>`.
`offset` shifts the numbering, so that a refresh can see a catalog that changed.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from forge.core.errors import METHOD_NOT_FOUND
from forge.testing.local_server import LocalHandler, LocalServer

PROTOCOL = "2025-11-25"
SCHEMA = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}


class _Handler(LocalHandler):
    owner: CatalogServer
    protocol_version = "HTTP/1.1"  # keep-alive: one connection walks every page

    def do_DELETE(self) -> None:
        self.send(200, None)

    def do_GET(self) -> None:
        self.send(405, None)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        message = json.loads(self.rfile.read(length) or b"{}")
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            self.send(202, None)
            return
        if method == "initialize":
            result: Any = {
                "protocolVersion": PROTOCOL,
                "capabilities": {"tools": {"listChanged": True}},
                "serverInfo": {"name": "catalog", "version": "1"},
            }
            self._answer(request_id, result, [("Mcp-Session-Id", uuid.uuid4().hex)])
        elif method == "tools/list":
            cursor = (message.get("params") or {}).get("cursor")
            start = int(cursor) if cursor else 0
            if self.owner.fail_at_page is not None:
                if start // self.owner.page_size >= self.owner.fail_at_page:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.close()
                    return
            self.owner.pages_served += 1
            self._answer(request_id, self.owner.page(start))
        elif method == "ping":
            self._answer(request_id, {})
        else:
            error = {"code": METHOD_NOT_FOUND, "message": f"Method not found: {method}"}
            self.send(200, {"jsonrpc": "2.0", "id": request_id, "error": error})

    def _answer(
        self, request_id: Any, result: Any, headers: list[tuple[str, str]] | None = None
    ) -> None:
        self.send(200, {"jsonrpc": "2.0", "id": request_id, "result": result}, headers or [])


class CatalogServer(LocalServer):
    handler = _Handler

    def __init__(
        self,
        count: int,
        *,
        page_size: int = 1000,
        prefix: str = "t",
        offset: int = 0,
        fail_at_page: int | None = None,
    ) -> None:
        self.count, self.page_size, self.prefix, self.offset = count, page_size, prefix, offset
        self.fail_at_page = fail_at_page
        self.pages_served = 0

    def name(self, n: int) -> str:
        return f"{self.prefix}{n + self.offset:06d}"

    def page(self, start: int) -> dict[str, Any]:
        end = min(start + self.page_size, self.count)
        tools = [
            {"name": self.name(n), "description": f"Tool number {n}.", "inputSchema": SCHEMA}
            for n in range(start, end)
        ]
        result: dict[str, Any] = {"tools": tools}
        if end < self.count:
            result["nextCursor"] = str(end)
        return result
