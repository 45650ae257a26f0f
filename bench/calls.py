"""The measured request: one tools/call per era, pre-encoded as raw HTTP/1.1 bytes."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

Era = Literal["legacy", "modern"]
MODERN_VERSION = "2026-07-28"
LEGACY_VERSION = "2025-06-18"
ECHO_TEXT = "forge-bench-0123456789abcdef"  # short, unique, and free of the word "error"


@dataclass(frozen=True)
class Target:
    """Where the call goes: a host and port, and the prepared request bytes for it."""

    name: str  # "direct" or "forge"
    era: Era
    host: str
    port: int
    request: bytes
    expect: bytes


def _body(tool: str, era: Era) -> bytes:
    params: dict[str, object] = {"name": tool, "arguments": {"text": ECHO_TEXT}}
    if era == "modern":
        params["_meta"] = {"io.modelcontextprotocol/protocolVersion": MODERN_VERSION}
    message = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params}
    return json.dumps(message, separators=(",", ":")).encode()


def _headers(tool: str, era: Era, token: str | None, session: str | None) -> dict[str, str]:
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
    }
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if era == "modern":
        headers["MCP-Protocol-Version"] = MODERN_VERSION
        headers["Mcp-Method"] = "tools/call"
        headers["Mcp-Name"] = tool
    if session:
        headers["Mcp-Session-Id"] = session
    return headers


def encode_request(host: str, port: int, path: str, headers: dict[str, str], body: bytes) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def legacy_session(url: str, token: str | None = None) -> str | None:
    """Run the legacy initialize handshake and return the session id the server hands out."""
    message = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "forge-bench", "version": "0.1.0"},
        },
    }
    request = urllib.request.Request(
        url,
        data=json.dumps(message).encode(),
        method="POST",
        headers=_headers("", "legacy", token, None),
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        session: str | None = response.headers.get("Mcp-Session-Id")
        response.read()
    return session


def target(
    name: str, url: str, tool: str, era: Era, *, token: str | None = None, session: bool = False
) -> Target:
    """A ready-to-replay tools/call; `session=True` first opens a legacy session to carry along."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sid = legacy_session(url, token) if session and era == "legacy" else None
    raw = encode_request(
        host, port, parts.path or "/", _headers(tool, era, token, sid), _body(tool, era)
    )
    return Target(name, era, host, port, raw, ECHO_TEXT.encode())
