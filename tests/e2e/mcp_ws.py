"""An MCP client transport over WebSocket for the SDK's `Client` (the SDK ships none in 2.x)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import httpx2
import mcp_types as types
from httpx2.websockets import WebSocketDisconnect
from mcp.client._transport import TransportStreams
from mcp.shared.message import SessionMessage


@asynccontextmanager
async def websocket_client(
    url: str, headers: dict[str, str], max_message_size: int = 65_536
) -> AsyncIterator[TransportStreams]:
    """Each JSON-RPC message one text frame, subprotocol `mcp`; frames read up to
    `max_message_size` bytes (httpx2's default)."""
    reader_in, read_stream = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    write_stream, writer_out = anyio.create_memory_object_stream[SessionMessage](0)
    async with (
        reader_in,
        read_stream,
        write_stream,
        writer_out,
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        http.websocket(url, subprotocols=["mcp"], max_message_size_bytes=max_message_size) as ws,
    ):

        async def read() -> None:
            async with reader_in:
                try:
                    while True:
                        text = await ws.receive_text()
                        message = types.jsonrpc_message_adapter.validate_json(text, by_name=False)
                        await reader_in.send(SessionMessage(message))
                except WebSocketDisconnect:
                    return

        async def write() -> None:
            async with writer_out:
                async for outgoing in writer_out:
                    dumped = outgoing.message.model_dump_json(by_alias=True, exclude_unset=True)
                    await ws.send_text(dumped)

        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            tg.start_soon(write)
            yield read_stream, write_stream
            tg.cancel_scope.cancel()
