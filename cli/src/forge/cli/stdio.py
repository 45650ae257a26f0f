"""JSON-RPC lines on stdin and stdout, and SSE event parsing, for the stdio bridges."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from typing import Any

LINE_LIMIT = 16 * 1024 * 1024


async def stdin_lines() -> AsyncIterator[bytes]:
    """Non-empty lines of stdin until it closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=LINE_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip():
            yield line.strip()


def write_line(message: bytes) -> None:
    """One JSON-RPC message on stdout; a single write, so messages never interleave."""
    sys.stdout.buffer.write(message.replace(b"\n", b"") + b"\n")
    sys.stdout.buffer.flush()


async def sse_events(lines: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, str]]:
    """(event, data) pairs from the lines of a text/event-stream body."""
    event, data = "message", []
    async for raw in lines:
        line = raw.decode().rstrip("\r\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].lstrip())
        elif not line:
            if data:
                yield event, "\n".join(data)
            event, data = "message", []


def decode(message: bytes) -> dict[str, Any] | None:
    """A JSON-RPC object, or None if the bytes are not one."""
    try:
        value = json.loads(message)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def error_line(request_id: Any, code: int, message: str) -> bytes:
    error = {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}
    return json.dumps(error).encode()
