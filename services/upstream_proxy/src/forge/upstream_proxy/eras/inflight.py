"""Calls in flight: each call's link to its client (stream out, cancel in), in the client's era."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import msgspec

from forge.core import subjects, tasks
from forge.core.bus import Bus
from forge.core.errors import (
    INTERNAL_ERROR,
    METHOD_NOT_FOUND,
    DeadlineExceededError,
    ForgeError,
    InvalidRequestError,
    MethodNotFoundError,
    ServiceUnavailableError,
    UpstreamRpcError,
)
from forge.proto.envelope import Envelope
from forge.proto.jsonrpc import (
    MESSAGE_DECODER,
    Message,
    RequestId,
    ResponseError,
    error_bytes,
    result_bytes,
)
from forge.upstream_proxy.transports.call import Reply
from forge.upstream_proxy.transports.codec import CLIENT_CAPABILITIES

log = logging.getLogger("forge.upstream_proxy.eras.inflight")
T = TypeVar("T")
# Takes a server-to-client request instead of the stream (a call held for a modern client).
OnRequest = Callable[[Message, Reply], Awaitable[None]]
# Hands a notification to a request held by this very process (the edge's local upstream,
# docs/decisions/0035-edge-local-upstream-calls.md), before the call's result, as the bus
# would; False when no request of that id waits here (then it goes on the bus).
Local = Callable[[str, bytes], bool]
SERVER_REQUESTS = frozenset({"elicitation/create", "sampling/createMessage", "roots/list"})
_ENC = msgspec.json.Encoder()
_ERROR = msgspec.json.Decoder(ResponseError)
_LEGACY_CAPABILITIES = _ENC.encode(CLIENT_CAPABILITIES)


class CallCancelledError(Exception):
    """The client cancelled the call (a message on `forge.cancel.<id>`)."""


class InFlight:
    """One call's link to its client: `forge.stream.<id>` out, `forge.cancel.<id>` in."""

    def __init__(self, bus: Bus, envelope: Envelope, local: Local | None = None) -> None:
        self.bus = bus
        self.local = local
        self.id = envelope.id
        self.deadline = envelope.deadline
        protocol = envelope.protocol
        self.legacy_client = protocol is not None and protocol.era == "legacy"
        # What the client can answer, which a modern upstream then asks for. A legacy client
        # whose capabilities the edge did not pass on is taken to answer what Forge's own
        # legacy sessions declare (the edge refuses what the client cannot take).
        declared = bytes(protocol.capabilities).strip() if protocol else b""
        if declared in (b"", b"{}"):
            declared = _LEGACY_CAPABILITIES if self.legacy_client else b"{}"
        self.client_capabilities = declared
        self.param_headers = envelope.param_headers  # set by the router for the upstream's schema
        self.upstream_id: RequestId | None = None  # set by the session once the request is sent
        self.cancelled = asyncio.Event()
        self.on_request: OnRequest | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._racing: asyncio.Task[Any] | None = None
        self._interrupted = False  # the racing work was cancelled by us (client or timer)
        self._expired = False  # ... by the timer
        self.gateway_id = ""  # set by whoever knows it: task ids in notifications are tagged
        self.subject = envelope.principal.subject  # ... for the caller only (forge.core.tasks)

    async def race(self, work: Awaitable[T], limit: float | None = None) -> T:
        """Await `work`, unless the client cancels first (then CallCancelledError) or `limit`
        seconds pass (then TimeoutError, as `asyncio.timeout(limit)` around it would raise).

        The work runs in the caller's own task, which a cancel or the timer interrupts: no
        extra task or waiter per call, as calls vastly outnumber cancels; one timer handle
        bounds it, rather than an `asyncio.timeout` (whose object, task and loop look-ups cost
        every call more than the timer does).
        """
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None  # a coroutine awaited by a task
        self._racing = task
        timer = loop.call_later(limit, self._expire) if limit is not None else None
        try:
            return await work
        except asyncio.CancelledError:
            # Ours only if we interrupted it (once) and nobody else cancelled it too.
            if self._interrupted and task.uncancel() == 0:
                if self._expired:
                    raise TimeoutError from None
                raise CallCancelledError from None
            raise
        finally:
            self._racing = None
            if timer is not None:
                timer.cancel()

    def _interrupt(self) -> None:
        if self._racing is not None and not self._interrupted:
            self._interrupted = True
            self._racing.cancel()

    def _expire(self) -> None:
        if not self._interrupted:
            self._expired = True
            self._interrupt()

    def cancel(self) -> None:
        """The client cancelled: interrupt the racing work, wake whoever waits on `cancelled`."""
        self.cancelled.set()
        self._interrupt()

    async def received(self, message: Message, raw: bytes, reply: Reply) -> None:
        """A message the upstream sent while this call was in flight."""
        if message.id is msgspec.UNSET or message.id is None:
            await self.notify(raw)
            return
        if self.on_request is not None:
            await self.on_request(message, reply)
            return
        task = asyncio.create_task(self._ask(message, raw, reply))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def notify(self, raw: bytes) -> None:
        if self.gateway_id:  # task status notifications name tasks as the client knows them
            raw = tasks.tag_notification(raw, self.gateway_id, self.subject)
        if self.local is not None and self.local(self.id, raw):
            return
        await self.bus.publish(subjects.stream(self.id), raw)

    async def ask_client(self, method: str, request: bytes) -> bytes:
        """A server-to-client request for the client: its result bytes, or its error raised."""
        try:
            answer = await self.bus.request(
                subjects.stream(self.id), request, deadline=self.deadline
            )
        except ServiceUnavailableError as exc:
            raise MethodNotFoundError(f"the client cannot answer {method}") from exc
        try:
            message = MESSAGE_DECODER.decode(answer)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise InvalidRequestError("the client sent a malformed answer") from exc
        if len(message.error):
            error = _ERROR.decode(message.error)
            data = msgspec.json.decode(error.data) if len(error.data) else None
            raise UpstreamRpcError(error.code, error.message, data)
        if not len(message.result):
            raise InvalidRequestError("the client sent an answer without a result")
        return bytes(message.result)

    async def _ask(self, message: Message, raw: bytes, reply: Reply) -> None:
        # The client answers through the edge; its id is its own, the upstream gets its own back.
        upstream_id = message.id
        assert upstream_id is not msgspec.UNSET  # narrowing: only requests get here
        method = message.method if isinstance(message.method, str) else "?"
        try:
            answer = await self.bus.request(subjects.stream(self.id), raw, deadline=self.deadline)
            response = _response(upstream_id, answer)
        except ServiceUnavailableError:
            response = _error(upstream_id, METHOD_NOT_FOUND, f"the client cannot answer {method}")
        except DeadlineExceededError:
            response = _error(
                upstream_id, INTERNAL_ERROR, f"the client did not answer {method} in time"
            )
        try:
            await reply(response)
        except ForgeError as exc:
            log.info("could not send the client's answer upstream: %s", exc.message)

    def close(self) -> None:
        """The call is over: questions still waiting for the client are dropped."""
        for task in self._tasks:
            task.cancel()


def _error(upstream_id: RequestId | None, code: int, message: str) -> bytes:
    return error_bytes(upstream_id, _ENC.encode({"code": code, "message": message}))


def _response(upstream_id: RequestId | None, answer: bytes) -> bytes:
    try:
        message = MESSAGE_DECODER.decode(answer)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return _error(upstream_id, INTERNAL_ERROR, "the client sent a malformed answer")
    if len(message.error):
        return error_bytes(upstream_id, bytes(message.error))
    if len(message.result):
        return result_bytes(upstream_id, bytes(message.result))
    return _error(upstream_id, INTERNAL_ERROR, "the client sent an answer without a result")


class Calls:
    """The calls in flight on this replica by envelope id, where `forge.cancel.*` finds them."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.by_id: dict[str, InFlight] = {}

    async def start(self) -> None:
        await self.bus.subscribe(subjects.CANCEL_ANY, self._on_cancel)

    @contextmanager
    def follow(self, envelope: Envelope, inflight: InFlight) -> Iterator[None]:
        """`inflight` serves `envelope` now (a held call's retry): its stream, its cancel."""
        inflight.id, inflight.deadline = envelope.id, envelope.deadline
        self.by_id[envelope.id] = inflight
        try:
            yield
        finally:
            if self.by_id.get(envelope.id) is inflight:
                del self.by_id[envelope.id]

    async def _on_cancel(self, subject: str, data: bytes) -> None:
        inflight = self.by_id.get(subjects.request_of(subject))
        if inflight is not None:
            inflight.cancel()
