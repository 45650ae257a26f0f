"""Serving envelopes on the bus: decode once, run the handler, translate every error once."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import msgspec

from forge.core import logs, metrics, tracing
from forge.core.bus import Bus, Headers
from forge.core.errors import (
    DEADLINE_EXCEEDED,
    INTERNAL_ERROR,
    DeadlineExceededError,
    ForgeError,
    InvalidRequestError,
    from_object,
)
from forge.proto.envelope import ENCODER, ENVELOPE_DECODER, REPLY_DECODER, Envelope, ErrorObject

log = logging.getLogger("forge.rpc")

EnvelopeHandler = Callable[[Envelope], Awaitable[bytes]]


def error_reply(error: ErrorObject) -> bytes:
    return ENCODER.encode({"error": error})


def internal_error(exc: BaseException, where: str) -> ErrorObject:
    """An unexpected failure: logged with an id that the caller gets instead of the details."""
    error_id = uuid.uuid4().hex[:12]
    log.error("unexpected error %s in %s", error_id, where, exc_info=exc)
    return ErrorObject(code=INTERNAL_ERROR, message=f"internal error (error id {error_id})")


def _answered(series: metrics.RpcSeries, started: float, error_code: int | None) -> None:
    metrics.rpc_done(series, started, error_code)
    if log.isEnabledFor(logging.DEBUG):  # an access log line per envelope, at debug only
        log.debug(
            "answered %s on %s",
            series.method,
            series.subject,
            extra={"code": error_code or 0, "ms": round((time.perf_counter() - started) * 1e3, 3)},
        )


async def answer(handler: EnvelopeHandler, data: bytes, where: str) -> bytes:
    """Run one envelope handler and encode its reply: where service errors become replies."""
    try:
        envelope = ENVELOPE_DECODER.decode(data)
    except msgspec.ValidationError as exc:
        return error_reply(InvalidRequestError(f"malformed envelope: {exc}").to_object())
    except msgspec.DecodeError:
        return error_reply(InvalidRequestError("malformed envelope").to_object())
    if not tracing.enabled():
        return await _run(handler, envelope, where)
    with tracing.span(envelope.method, tracing.SERVER, _span_attributes(envelope, where)):
        return await _run(handler, envelope, where)


def _span_attributes(envelope: Envelope, where: str) -> dict[str, str]:
    """A handled envelope's span attributes (docs/observability.md, Spans): never its params."""
    found = {
        "rpc.system": "jsonrpc",
        "rpc.method": envelope.method,
        "mcp.method": envelope.method,
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": where,
    }
    if envelope.server_id is not None:
        found["forge.server.id"] = envelope.server_id
    return found


async def _run(handler: EnvelopeHandler, envelope: Envelope, where: str) -> bytes:
    """`_run_raising`, its error encoded into a reply."""
    try:
        result = await _run_raising(handler, envelope, where)
    except ForgeError as exc:  # the handler's, the deadline's, or an internal error's
        return error_reply(exc.to_object())
    return b'{"result":' + result + b"}"


async def serve_envelopes(
    bus: Bus, subject: str, handler: EnvelopeHandler, *, queue: str | None
) -> None:
    """Serve envelopes on `subject`. They count towards the service's bound on requests in
    flight (FORGE_MAX_INFLIGHT): past it, one is refused at once with -32015, not queued.
    Health checks and other plain `bus.serve` subjects are not bounded (an overloaded replica
    is alive, and says so)."""

    async def on_request(data: bytes, headers: Headers) -> bytes:
        return await answer(handler, data, subject)

    await bus.serve(subject, on_request, queue=queue, bounded=True)


async def call(bus: Bus, subject: str, envelope: Envelope, *, margin: float = 0.0) -> bytes:
    """Send an envelope and return the raw result JSON, raising the ForgeError of an error reply.

    `margin` shortens this hop's wait so that it can still answer its own caller in time.
    """
    data = await bus.request(subject, ENCODER.encode(envelope), deadline=envelope.deadline - margin)
    return unwrap(data)


async def call_in_process(
    handler: EnvelopeHandler,
    envelope: Envelope,
    where: str,
    *,
    finished: Callable[[], None] | None = None,
) -> bytes:
    """What `call` returns for an envelope that `serve_envelopes(bus, where, handler)` serves,
    answered in this process instead: no bus, no encoding, the same semantics.

    The handler runs in a task of its own, as a served request does: the wait for it ends at the
    envelope's deadline (DeadlineExceededError, as `call`'s), and a caller that stops waiting
    (cancelled) leaves it to finish, as a request already sent would. Its errors are raised as
    the served reply would carry them: a ForgeError as it is, anything else as an internal error
    (logged with the id the caller gets). The served side's metrics and span are the same
    (`forge_rpc_*` on `where`; the span is INTERNAL, no message crossed a bus). `finished` is
    called once the handler is done (at once if it never ran), whether or not anyone waits.
    """
    timeout = envelope.deadline - time.time()
    if timeout <= 0:
        if finished is not None:
            finished()
        raise DeadlineExceededError("the request's deadline passed before it was sent")
    loop = asyncio.get_running_loop()
    task = loop.create_task(run_in_process(handler, envelope, where))
    answered: asyncio.Future[None] = loop.create_future()
    task.add_done_callback(lambda done: _done(done, answered, finished))
    expiry = loop.call_later(timeout, _expired, answered)
    try:
        await answered
    finally:
        expiry.cancel()
    if not task.done():
        raise DeadlineExceededError(f"no answer on {where} before the deadline")
    return task.result()


def _done(
    task: asyncio.Task[bytes], answered: asyncio.Future[None], finished: Callable[[], None] | None
) -> None:
    if finished is not None:
        finished()
    if not task.cancelled():
        task.exception()  # retrieved: a caller that stopped waiting leaves no warning behind
    if not answered.done():
        answered.set_result(None)


def _expired(answered: asyncio.Future[None]) -> None:
    if not answered.done():
        answered.set_result(None)


async def run_in_process(handler: EnvelopeHandler, envelope: Envelope, where: str) -> bytes:
    """Await `handler(envelope)` as `serve_envelopes(bus, where, handler)` runs it (its metrics,
    span and error mapping) in the caller's own task, with no wait of its own: for a caller that
    already is a served request's task, calling a handler that bounds its work by the envelope's
    deadline (`call_in_process` adds the task and the wait)."""
    if not tracing.enabled():
        return await _run_raising(handler, envelope, where)
    attributes = {
        key: value
        for key, value in _span_attributes(envelope, where).items()
        if not key.startswith("messaging.")
    }
    with tracing.span(envelope.method, tracing.INTERNAL, attributes):
        return await _run_raising(handler, envelope, where)


async def _run_raising(handler: EnvelopeHandler, envelope: Envelope, where: str) -> bytes:
    """Run the handler on `envelope` (not past its deadline), counted in `where`'s metrics and
    marked on the current span: its result (`null` if empty), or the ForgeError its caller
    gets (a ForgeError as it is, anything else as an internal error, logged with its id)."""
    series = metrics.rpc_series(where, envelope.method)
    started = time.perf_counter()
    logs.REQUEST_ID.set(envelope.id)
    if envelope.deadline < time.time():
        _answered(series, started, DEADLINE_EXCEEDED)
        tracing.failed(DEADLINE_EXCEEDED, "deadline passed")
        raise DeadlineExceededError("the request's deadline has passed")
    try:
        result = await handler(envelope)
    except ForgeError as exc:
        _answered(series, started, exc.code)
        tracing.failed(exc.code, exc.message)
        raise
    except Exception as exc:  # adapter boundary: nothing unexpected leaks to the caller
        _answered(series, started, INTERNAL_ERROR)
        tracing.failed(INTERNAL_ERROR, type(exc).__name__)
        raise from_object(internal_error(exc, where)) from None
    _answered(series, started, None)
    return result if len(result) else b"null"


def unwrap(data: bytes) -> bytes:
    try:
        reply = REPLY_DECODER.decode(data)
    except msgspec.DecodeError as exc:
        raise ForgeError("a service sent a malformed reply") from exc
    if reply.error is not None:
        raise from_object(reply.error)
    if not len(reply.result):
        return b"null"
    return bytes(reply.result)
