"""`forge wrapper` and `forge translate --connect`: a local stdio MCP server bridging to HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urljoin

import aiohttp

from forge.cli.stdio import decode, error_line, sse_events, stdin_lines, write_line
from forge.core.errors import INTERNAL_ERROR, PARSE_ERROR, SERVICE_UNAVAILABLE
from forge.proto.mcp import MODERN_VERSIONS, NAMED_METHODS

_ACCEPT = "application/json, text/event-stream"


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


async def _lines(response: aiohttp.ClientResponse) -> AsyncIterator[bytes]:
    while line := await response.content.readline():
        yield line


class StreamableBridge:
    """Forwards each stdin message as one POST; answers (JSON or SSE) come back as lines."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.http = http
        self.session_id: str | None = None
        self.version: str | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def _headers(self, message: dict[str, Any]) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": _ACCEPT}
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        params = _object(message.get("params"))
        meta = _object(params.get("_meta"))
        modern = meta.get("io.modelcontextprotocol/protocolVersion")
        method = message.get("method")
        if isinstance(modern, str) and modern in MODERN_VERSIONS:
            # A modern client over stdio: Streamable HTTP wants its routing headers.
            headers["MCP-Protocol-Version"] = modern
            if isinstance(method, str):
                headers["Mcp-Method"] = method
                name = params.get(NAMED_METHODS.get(method, ""))
                if isinstance(name, str):
                    headers["Mcp-Name"] = name
        elif self.version:
            headers["MCP-Protocol-Version"] = self.version
        return headers

    async def send(self, line: bytes) -> None:
        message = decode(line)
        if message is None:
            write_line(error_line(None, PARSE_ERROR, "not a JSON-RPC object"))
            return
        method, request_id = message.get("method"), message.get("id")
        try:
            async with self.http.post(self.url, data=line, headers=self._headers(message)) as resp:
                if method == "initialize" and resp.headers.get("Mcp-Session-Id"):
                    self.session_id = resp.headers["Mcp-Session-Id"]
                kind = resp.headers.get("Content-Type", "")
                if kind.startswith("text/event-stream"):
                    async for _, data in sse_events(_lines(resp)):
                        self._out(method, data.encode())
                elif kind.startswith("application/json"):
                    self._out(method, await resp.read())
                elif resp.status >= 400 and method and request_id is not None:
                    write_line(error_line(request_id, INTERNAL_ERROR, f"HTTP {resp.status}"))
        except aiohttp.ClientError as exc:
            if method and request_id is not None:
                write_line(
                    error_line(request_id, SERVICE_UNAVAILABLE, f"cannot reach {self.url}: {exc}")
                )
            return
        if method == "notifications/initialized" and self.session_id:
            self._spawn(self.listen())

    def _out(self, method: Any, message: bytes) -> None:
        if method == "initialize":
            answer = decode(message) or {}
            version = (answer.get("result") or {}).get("protocolVersion")
            if isinstance(version, str):
                self.version = version
        write_line(message)

    async def listen(self) -> None:
        """The legacy session's GET stream: server messages that belong to no request."""
        headers = {"Accept": "text/event-stream", "Mcp-Session-Id": self.session_id or ""}
        if self.version:
            headers["MCP-Protocol-Version"] = self.version
        with contextlib.suppress(aiohttp.ClientError):
            async with self.http.get(self.url, headers=headers) as resp:
                if resp.status == 200:
                    async for _, data in sse_events(_lines(resp)):
                        write_line(data.encode())

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def run(self) -> None:
        async for line in stdin_lines():
            # Side by side: the answer to a server request must not wait for the call it serves.
            self._spawn(self.send(line))
        for task in list(self.tasks):
            task.cancel()
        if self.session_id:
            with contextlib.suppress(aiohttp.ClientError):
                headers = {"Mcp-Session-Id": self.session_id}
                async with self.http.delete(self.url, headers=headers):
                    pass


class SseBridge:
    """The HTTP+SSE transport: one GET stream for everything the server says, POSTs for the rest."""

    def __init__(self, url: str, http: aiohttp.ClientSession) -> None:
        self.url = url
        self.http = http

    async def run(self) -> None:
        async with self.http.get(self.url, headers={"Accept": "text/event-stream"}) as resp:
            resp.raise_for_status()
            events = sse_events(_lines(resp))
            endpoint = ""
            async for event, data in events:
                if event == "endpoint":
                    endpoint = urljoin(self.url, data)
                    break
            if not endpoint:
                return
            posting = asyncio.ensure_future(self._post_lines(endpoint))
            try:
                async for event, data in events:
                    if event == "message":
                        write_line(data.encode())
            finally:
                posting.cancel()

    async def _post_lines(self, endpoint: str) -> None:
        async for line in stdin_lines():
            message = decode(line) or {}
            headers = {"Content-Type": "application/json"}
            async with self.http.post(endpoint, data=line, headers=headers) as resp:
                if resp.status >= 400 and message.get("method") and "id" in message:
                    write_line(error_line(message["id"], INTERNAL_ERROR, f"HTTP {resp.status}"))


async def bridge(url: str, token: str | None, sse: bool) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as http:
        if sse:
            await SseBridge(url, http).run()
        else:
            await StreamableBridge(url, http).run()
