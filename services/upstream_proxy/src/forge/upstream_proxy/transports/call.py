"""What a transport needs of the call it carries: where the upstream's messages go meanwhile.

The session layer's `InFlight` is one; a transport only sees this much of it, so nothing below
the pooled sessions knows the bus, the client or its cancel.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from forge.proto.jsonrpc import Message, RequestId

# Sends a JSON-RPC message (the client's answer to a server request) back upstream.
Reply = Callable[[bytes], Awaitable[None]]


class Call(Protocol):
    """One call on its way upstream, as the transport carrying it sees it."""

    upstream_id: RequestId | None  # set by the transport once the request is sent
    client_capabilities: bytes  # what the client can answer (a modern upstream asks for it)
    legacy_client: bool
    param_headers: dict[str, str] | None  # the `Mcp-Param-*` headers a modern HTTP upstream expects

    async def received(self, message: Message, raw: bytes, reply: Reply) -> None:
        """A message the upstream sent while this call was in flight."""

    async def notify(self, raw: bytes) -> None:
        """A notification for this call's client."""
