"""The bridge's answer to a streamed A2A request, relayed by both A2A transports of the edge.

`/a2a/{agent}/` (server-sent events, rest/a2a_server.py) and the gRPC binding (a2a_grpc.py) ask
the a2a-bridge the same way: the request goes out with `rpc.call` while its events arrive on
`forge.stream.<request id>`. `relay` yields those events as they come, then, once the bridge
answers, the events it counts that are still on their way (for up to `STREAM_TAIL_S`) and its
final reply; each transport only frames them (SSE frames, gRPC messages and aborts).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import msgspec

from forge.core import subjects
from forge.edge.state import Edge
from forge.proto.agents import A2aReply
from forge.proto.envelope import Envelope

STREAM_TAIL_S = 2.0  # how long the last events may trail the bridge's reply
_REPLY = msgspec.json.Decoder(A2aReply)
_CANCELS: set[asyncio.Future[None]] = set()  # cancels on their way to the bridge


async def relay(
    edge: Edge,
    envelope: Envelope,
    events: asyncio.Queue[bytes],
    first: asyncio.Task[bytes],
    call: asyncio.Task[bytes],
) -> AsyncGenerator[A2aReply, None]:
    """The bridge's events, then its final reply when it has an error or a result.

    `first` waits for the first event on `events`, `call` is the bridge's `rpc.call`; a failed
    call raises its ForgeError. Closing the generator early (the client went away) cancels the
    call and tells the bridge (`forge.cancel.<request id>`) to stop asking the agent.
    """
    sent = 0
    pending: asyncio.Task[bytes] | None = first
    try:
        while pending is not None:
            await asyncio.wait({pending, call}, return_when=asyncio.FIRST_COMPLETED)
            if pending.done():
                sent += 1
                yield _REPLY.decode(pending.result())
                pending = asyncio.create_task(events.get())
                continue
            # The bridge answered: the events it counts may still be on their way.
            pending.cancel()
            pending = None
            reply = _REPLY.decode(call.result())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STREAM_TAIL_S):
                    while sent < reply.events:
                        sent += 1
                        yield _REPLY.decode(await events.get())
            if reply.error is not None or reply.result is not None:
                yield reply
    finally:
        if pending is not None:
            pending.cancel()
        edge.forget_stream(envelope.id)
        if not call.done():  # the client went away: the bridge stops asking the agent
            call.cancel()
            # A task of its own: this one may be cancelled itself, and its awaits with it.
            cancel = edge.bus.publish(subjects.cancel(envelope.id), b"")
            _CANCELS.add(task := asyncio.ensure_future(cancel))
            task.add_done_callback(_CANCELS.discard)
