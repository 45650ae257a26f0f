"""Resumable SSE answers on Streamable HTTP: event ids, the priming event, SSE polling, and the
resume of a stream with GET + `Last-Event-ID` on any edge replica (docs/streams.md).

An answer's events are numbered `<key>-<n>`: `key` (32 hex characters, random) names the stream,
`n` counts its events from 1; the priming event is `<key>-0`. While the client reads, the events
stay in memory only (the common call costs no store). Once the client leaves, or the edge closes
the stream for polling, the replica that owns the call appends them to the `sse` event log (a
JetStream stream, bounded by the `sse_resume_*` settings) and keeps appending, up to the final
response; a resume on any replica replays the log after the client's id and follows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from typing import Any

import msgspec

from forge.core.bus import LogLimits
from forge.core.errors import InvalidRequestError, NotFoundError
from forge.edge.config import EdgeConfig
from forge.edge.http import Message, Receive, Send
from forge.edge.state import Edge
from forge.edge.transports.sse import KEEPALIVE_S, SSE_HEADERS, disconnected
from forge.proto.sessions import StreamOwner

LOG = "sse"
# A resume waits this long for the stream's first stored record (the owner may still be storing
# what its client missed) before it answers 404.
FIRST_RECORD_S = 3.0
_ID = re.compile(r"^(?P<key>[0-9a-f]{32})-(?P<n>[0-9]{1,9})$")
# A legacy session's GET stream numbers its events too, `g<key>-<n>`; a GET stream is not
# stored: resuming one opens a new one.
GET_STREAM_PREFIX = "g"
# A modern `subscriptions/listen` stream's events: `l<key>-<n>` (a modern client does not resume).
LISTEN_STREAM_PREFIX = "l"
# Record kinds in the log: the owner (first), an event, the final response (last).
_OWNER, _EVENT, _FINAL = b"o", b"m", b"f"


Owner = StreamOwner  # who may resume a stream (forge.proto.sessions)


_OWNER_DECODER = msgspec.json.Decoder(Owner)


def limits(config: EdgeConfig) -> LogLimits:
    return LogLimits(ttl_s=config.sse_resume_ttl_s, max_bytes=config.sse_resume_max_bytes)


def event_id(key: str, n: int) -> bytes:
    return f"{key}-{n}".encode()


def parse_event_id(value: str) -> tuple[str, int]:
    """The stream key and event number of a `Last-Event-ID`; InvalidRequestError if malformed."""
    match = _ID.match(value.strip())
    if match is None:
        raise InvalidRequestError("the Last-Event-ID header names no event of this server")
    return match["key"], int(match["n"])


def is_get_stream_id(value: str) -> bool:
    return value.strip().startswith(GET_STREAM_PREFIX)


def _record(kind: bytes, n: int, data: bytes) -> bytes:
    return kind + str(n).encode() + b"\n" + data


def _parse(record: bytes) -> tuple[bytes, int, bytes]:
    head, _, data = record.partition(b"\n")
    return head[:1], int(head[1:] or b"0"), data


def _frame(eid: bytes, data: bytes) -> bytes:
    return b"id: " + eid + b"\nevent: message\ndata: " + data + b"\n\n"


def one_event(message: bytes) -> bytes:
    """A whole answer as the body of a one-event SSE response (an id, but nothing to resume)."""
    return _frame(event_id(uuid.uuid4().hex, 1), message)


class CallStream:
    """One POST's SSE answer: numbered events, and (for a resumable one) a priming event with
    `retry`, the call surviving its client, and the close for polling.

    `owner` None: not resumable (a modern client: its leaving cancels the call, as before).
    """

    def __init__(
        self,
        edge: Edge,
        send: Send,
        receive: Receive,
        headers: list[tuple[bytes, bytes]],
        owner: Owner | None,
    ) -> None:
        self.edge = edge
        self._send = send
        self._receive = receive
        self.headers = headers
        self.owner = owner
        self.key = ""  # drawn when the stream starts: a JSON answer needs none
        self.n = 0
        self.started = False
        self.attached = True  # the client still reads this response
        self.stored = False  # events go to the log
        self.ended = False
        self.gone = False  # the client left (a modern client's leaving is a cancel)
        # What the client's leaving cancels while the call runs: the call's task, or the
        # request's own (transports.mcp_http), which then sees `cancelled_work`.
        self.work: asyncio.Future[Any] | None = None
        self.cancelled_work = False
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._stored_events = 0
        self._lock = asyncio.Lock()
        self._watch: asyncio.Future[None] | None = None

    async def start(self) -> None:
        if self.started:
            return
        self.started = True
        self.key = uuid.uuid4().hex
        start = {"type": "http.response.start", "status": 200, "headers": self._start_headers()}
        await self._send(start)
        if self.owner is not None:
            retry = str(self.edge.config.sse_retry_ms).encode()
            await self._write(
                b"id: " + event_id(self.key, 0) + b"\nretry: " + retry + b"\ndata:\n\n"
            )
        self._watch = asyncio.ensure_future(self._watch_client())

    def _start_headers(self) -> list[tuple[bytes, bytes]]:
        return [*SSE_HEADERS, *self.headers]

    async def deliver(self, message: bytes) -> None:
        """An in-flight message: the stream starts with the first one."""
        await self.start()
        await self._event(_EVENT, message)

    async def finish(self, message: bytes) -> None:
        """The final response: the last event, then the end of the response."""
        await self.start()
        await self._event(_FINAL, message)
        await self._end()

    async def _event(self, kind: bytes, data: bytes) -> None:
        async with self._lock:
            self.n += 1
            if self.stored:
                # Bounded per stream: past the bound, only the final response is still stored.
                if kind == _FINAL or self._stored_events < self.edge.config.sse_resume_max_events:
                    self._stored_events += 1
                    await self._append(_record(kind, self.n, data))
            elif self.owner is not None:
                self._keep(_record(kind, self.n, data))
            if self.attached:
                await self._write(_frame(event_id(self.key, self.n), data))

    def _keep(self, record: bytes) -> None:
        # What a resume would need, bounded as the log is: the oldest go first.
        self._pending.append(record)
        self._pending_bytes += len(record)
        config = self.edge.config
        while self._pending and (
            len(self._pending) > config.sse_resume_max_events
            or self._pending_bytes > config.sse_resume_max_bytes
        ):
            self._pending_bytes -= len(self._pending.pop(0))

    async def _append(self, record: bytes) -> None:
        await self.edge.bus.log_append(LOG, self.key, record, limits(self.edge.config))

    async def _detach(self) -> None:
        """From now on the events go to the log, for a resume on any replica."""
        async with self._lock:
            if self.stored or self.owner is None:
                return
            self.attached = False
            await self._append(_record(_OWNER, 0, msgspec.json.encode(self.owner)))
            for record in self._pending:
                await self._append(record)
            self._stored_events = len(self._pending)
            self._pending, self._pending_bytes = [], 0
            self.stored = True

    async def poll(self) -> None:
        """SSE polling: close the client's stream, the call going on; the client comes back with
        GET + Last-Event-ID (the priming event gave it an id and the `retry` delay)."""
        if self.owner is None or self.ended or not self.attached:
            return
        await self.start()
        await self._detach()
        await self._end()

    async def _watch_client(self) -> None:
        await disconnected(self._receive)
        self.gone = True
        if self.owner is None:
            if self.work is not None and not self.work.done():
                self.cancelled_work = self.work.cancel()
            return
        await self._detach()  # the call goes on: its client may resume

    async def _write(self, chunk: bytes) -> None:
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})

    async def _end(self) -> None:
        if self.ended:
            return
        self.ended = True
        if not self.gone:
            await self._send({"type": "http.response.body", "body": b"", "more_body": False})

    async def stop(self) -> None:
        """Stop watching the client (the call is over)."""
        if self._watch is not None and not self._watch.done():
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch


async def answer(
    edge: Edge,
    send: Send,
    receive: Receive,
    headers: list[tuple[bytes, bytes]],
    owner: Owner | None,
    message: bytes,
) -> None:
    """A whole answer as a one-event SSE stream: the priming event, then the message."""
    stream = CallStream(edge, send, receive, headers, owner)
    try:
        await stream.finish(message)
    finally:
        await stream.stop()


async def resume(
    edge: Edge,
    receive: Receive,
    send: Send,
    last_event_id: str,
    owner: Owner,
    headers: list[tuple[bytes, bytes]],
) -> None:
    """Replay a stored stream after `last_event_id`, then follow it to its final response.

    Raises ForgeError before the response starts: InvalidRequestError for a malformed id,
    NotFoundError for a stream this replica cannot find (expired, never stored, someone else's).
    """
    key, last = parse_event_id(last_event_id)
    follow = edge.bus.log_follow(LOG, key)
    gone = asyncio.ensure_future(disconnected(receive))
    upcoming: asyncio.Future[bytes] | None = None
    try:
        try:
            first = await asyncio.wait_for(anext(follow), FIRST_RECORD_S)
        except (TimeoutError, StopAsyncIteration):
            first = b""
        kind, _, data = _parse(first)
        if kind != _OWNER or _owner_of(data) != owner:
            raise NotFoundError("no resumable stream has this event id (it ended, or expired)")
        await send(
            {"type": "http.response.start", "status": 200, "headers": [*SSE_HEADERS, *headers]}
        )
        idle = 0.0
        # The owner's call ends within the request deadline; a stream that goes quiet for longer
        # lost its owner: the client gets the end of the response, and may resume again.
        limit = edge.config.request_timeout_s + KEEPALIVE_S
        while idle < limit:
            if upcoming is None:
                upcoming = asyncio.ensure_future(anext(follow))
            waiting: set[asyncio.Future[Any]] = {upcoming, gone}
            done, _ = await asyncio.wait(
                waiting, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
            )
            if gone in done:
                return
            if upcoming not in done:
                idle += KEEPALIVE_S
                await send({"type": "http.response.body", "body": b": ping\n\n", "more_body": True})
                continue
            idle = 0.0
            kind, n, data = _parse(upcoming.result())
            upcoming = None
            if n > last and kind in (_EVENT, _FINAL):
                frame = _frame(event_id(key, n), data)
                await send({"type": "http.response.body", "body": frame, "more_body": True})
            if kind == _FINAL:
                break
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        for task in (gone, upcoming):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, StopAsyncIteration):
                    await task
        await follow.aclose()


def numbered(send: Send, kind: str) -> Send:
    """`send` for a stream not stored for resumes (a legacy session's GET stream, a modern
    `subscriptions/listen`), each event given an id `<kind><key>-<n>` (the stream's writer,
    forge.edge.transports.sse.EventStream, writes one event per chunk)."""
    prefix = f"{kind}{uuid.uuid4().hex}-".encode()
    count = 0

    async def send_numbered(message: Message) -> None:
        nonlocal count
        body = message.get("body", b"")
        if message["type"] == "http.response.body" and body.startswith(b"event:"):
            count += 1
            message = {**message, "body": b"id: " + prefix + str(count).encode() + b"\n" + body}
        await send(message)

    return send_numbered


def _owner_of(data: bytes) -> Owner | None:
    try:
        return _OWNER_DECODER.decode(data)
    except msgspec.DecodeError:
        return None
