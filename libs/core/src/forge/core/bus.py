"""The bus: NATS request/reply with deadlines, queue-group serving, pub/sub and trace headers."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import importlib
import importlib.util
import logging
import re
import sys
import time
import urllib.parse
import uuid
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

import msgspec


class _OnFirstUse:
    """Stands for the module `name`, imported on the first attribute read."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        return getattr(importlib.import_module(self._name), attr)


def _import_nats() -> None:
    """Import nats-py without the aiohttp it imports for its WebSocket transport alone.

    nats-py's transport module imports aiohttp (and multidict) at import, for ws:// NATS URLs:
    half a second to seconds of a service's start on a loaded machine, in services that never
    use aiohttp otherwise. That import is refused while nats-py loads, and the transport module
    given stand-ins that import each on first use. Only when aiohttp is installed: without it
    nats-py fails a ws:// URL exactly as before.
    """
    if "aiohttp" in sys.modules or importlib.util.find_spec("aiohttp") is None:
        return
    sys.modules["aiohttp"] = None  # type: ignore[assignment]  # makes `import aiohttp` fail
    try:
        import nats.aio.transport
    finally:
        del sys.modules["aiohttp"]
    for name in ("aiohttp", "multidict"):  # both None now, as when aiohttp is not installed
        setattr(nats.aio.transport, name, _OnFirstUse(name))


_import_nats()

import nats  # noqa: E402
import nats.errors  # noqa: E402
import nats.js.api  # noqa: E402
import nats.js.errors  # noqa: E402
from nats.aio.client import Client as NATS  # noqa: E402
from nats.aio.msg import Msg  # noqa: E402

from forge.core import claims, metrics, subjects  # noqa: E402
from forge.core.errors import (  # noqa: E402
    DeadlineExceededError,
    ForgeError,
    OverloadedError,
    ServiceUnavailableError,
)

log = logging.getLogger("forge.bus")

# W3C trace context of the request being handled, carried across hops in NATS headers.
TRACEPARENT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "traceparent", default=None
)

# The subject a request arrived on, for handlers served on a wildcard subject.
SUBJECT: contextvars.ContextVar[str] = contextvars.ContextVar("subject", default="")

Headers = dict[str, str]
_ERROR_ENCODER = msgspec.json.Encoder()
# Requests a service works on at once (FORGE_MAX_INFLIGHT); past it, each one more is refused at
# once with OverloadedError (docs/decisions/0027-bounded-requests-in-flight.md).
DEFAULT_MAX_INFLIGHT = 256
# What a refusal tells the caller to wait before it retries (HTTP Retry-After counts in seconds).
RETRY_AFTER_S = 1
# What nats-py may queue for one serving subscription before it drops messages (slow consumer,
# logged): the callback only counts and starts a task (or refuses), so a queue this long means a
# stalled event loop; nats-py's default (512 Ki messages, 128 MiB per subscription) would let
# such a stall hold far more memory. Served requests are handled on the read loop as they are
# parsed (`_Client.subscribe_direct`), so they queue only if one ever takes the queued path.
PENDING_MSGS = 8192
PENDING_BYTES = 64 * 1024 * 1024
# nats-py's text (lower-cased) of nats-server's refusal of a publish: the subject.
_REFUSED_PUBLISH = re.compile(r'permissions violation for publish to "([^"]+)"')
# Key-value entries (session revocations, leases) outlive any single process by this long.
KV_TTL_S = 7 * 24 * 3600
RequestHandler = Callable[[bytes, Headers], Awaitable[bytes]]
EventHandler = Callable[[str, bytes], Awaitable[None]]
# (subject, data, reply subject or ""): for wildcard subscriptions carrying publishes and requests.
ReplyHandler = Callable[[str, bytes, str], Awaitable[None]]


class Subscription(Protocol):
    async def unsubscribe(self) -> None: ...


@dataclass(frozen=True)
class LogLimits:
    """The bounds of an event log (`Bus.log_append`), applied when the log is first created."""

    ttl_s: float  # a record is dropped this long after it was appended
    max_bytes: int  # the whole log, every key: the oldest records go beyond this size


# Records larger than one NATS message are appended in pieces: every piece but the last says
# there is more, every piece but the first says it continues (one whose start was dropped).
_MORE = "Forge-More"
_CONTINUES = "Forge-Continues"
_LOG_POLL_S = 0.1  # how often a reader looks for a log not created yet


def log_subject(log: str, key: str) -> str:
    """Where the records of one key of an event log are appended."""
    return f"forge.log.{log}.{key}"


class Bus(Protocol):
    """What services need from a message bus; NatsBus in production, MemoryBus in unit tests."""

    async def request(
        self, subject: str, payload: bytes, *, deadline: float, headers: Headers | None = None
    ) -> bytes: ...

    async def serve(
        self,
        subject: str,
        handler: RequestHandler,
        *,
        queue: str | None = None,
        bounded: bool = False,
    ) -> Subscription: ...

    async def publish(self, subject: str, payload: bytes) -> None: ...

    async def subscribe(self, subject: str, handler: EventHandler) -> Subscription: ...

    async def subscribe_with_reply(self, subject: str, handler: ReplyHandler) -> Subscription: ...

    async def respond(self, reply_subject: str, payload: bytes) -> None: ...

    async def kv_put(self, bucket: str, key: str, value: bytes) -> None: ...

    async def kv_get(self, bucket: str, key: str) -> bytes | None: ...

    async def kv_create(
        self, bucket: str, key: str, value: bytes, *, ttl_s: float | None = None
    ) -> bool: ...

    async def kv_delete(self, bucket: str, key: str) -> None: ...

    async def kv_entry(self, bucket: str, key: str) -> tuple[bytes, int] | None: ...

    async def kv_update(self, bucket: str, key: str, value: bytes, revision: int) -> int | None: ...

    async def kv_watch(
        self, bucket: str, handler: Callable[[str, bytes | None], None], *, keys: str = ">"
    ) -> Subscription: ...

    async def log_append(self, log: str, key: str, record: bytes, limits: LogLimits) -> None: ...

    def log_follow(self, log: str, key: str) -> AsyncGenerator[bytes, None]: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...


def _log_stream(log: str) -> str:
    return "FORGE_LOG_" + log.upper().replace("-", "_")


def _error_reply(exc: ForgeError) -> bytes:
    # The reply shape of forge.core.rpc, which builds on this module.
    return _ERROR_ENCODER.encode({"error": exc.to_object()})


def _outgoing_headers(headers: Headers | None) -> Headers | None:
    trace = TRACEPARENT.get()
    if trace is None:
        return headers
    merged = {"traceparent": trace}
    if headers:
        merged.update(headers)
    return merged


def _incoming_trace(msg: Msg) -> None:
    """The one place the trace context is read from a message (request, event, stream message):
    what the handler sends next carries it, and its spans are its children."""
    headers = msg.headers
    TRACEPARENT.set(headers.get("traceparent") if headers else None)


def overloaded(limit: int) -> OverloadedError:
    """The refusal of a request past `limit` requests in flight (-32015, retry after a while)."""
    return OverloadedError(
        f"this service has {limit} requests in flight, its limit; retry",
        {"retry_after_s": RETRY_AFTER_S},
    )


_NO_RESPONDERS = "503"  # the status NATS answers a request with when nobody subscribes

# A subscription handled on the read loop itself (`_Client.subscribe_direct`).
DirectHandler = Callable[[Msg], Awaitable[None]]


class _Client(NATS):
    """nats-py's client, two per-message costs lighter for request/reply (issue 16).

    Publishes: nats-py wakes its flusher task for every event-loop iteration that published,
    through a queue and a future, and the task then writes and awaits `drain()`. Here the
    commands queued in one iteration are written by one callback at the start of the next
    (the same coalescing, one socket write per iteration), without that task hop. A forced
    flush (the pending buffer full), a transport with bytes still unsent (backpressure: only
    the flusher awaits `drain()`), a dead flusher or a connection not up go nats-py's way.

    Deliveries: a subscription made with `subscribe_direct` has its messages handled on the
    read loop as they are parsed, not put on a queue for a task of its own; its handler must
    not block (it starts a task, or resolves a future). Headers are parsed only when present.
    """

    def __init__(self) -> None:
        super().__init__()
        self._direct: dict[int, DirectHandler] = {}
        self._write_soon = False

    async def subscribe_direct(self, subject: str, handler: DirectHandler, **options: Any) -> Any:
        # The queued path (its task idle) calls the same handler: a message that took it,
        # e.g. one parsed before the handler was registered, is handled all the same.
        sub = await self.subscribe(subject, cb=handler, **options)
        self._direct[sub._id] = handler
        return sub

    def _remove_sub(self, sid: int, max_msgs: int = 0) -> None:
        self._direct.pop(sid, None)
        super()._remove_sub(sid, max_msgs)

    async def _process_msg(
        self, sid: int, subject: bytes, reply: bytes, data: bytes, headers: bytes
    ) -> None:
        handler = self._direct.get(sid)
        if handler is None:
            await super()._process_msg(sid, subject, reply, data, headers)
            return
        self.stats["in_msgs"] += 1
        self.stats["in_bytes"] += len(data)
        sub = self._subs.get(sid)
        if sub is None:
            return
        sub._received += 1
        msg = Msg(
            _client=self,
            subject=subject.decode(),
            reply=reply.decode(),
            data=data,
            headers=await self._process_headers(headers) if headers else None,
            _sid=sid,
        )
        try:
            await handler(msg)
        except Exception as exc:  # as nats-py's subscription task: to the error callback
            await self._error_cb(exc)

    async def _flush_pending(self, force_flush: bool = False) -> Any:
        flusher = self._flusher_task
        if force_flush or not self.is_connected or flusher is None or flusher.done():
            return await super()._flush_pending(force_flush)
        if not self._write_soon:
            self._write_soon = True
            asyncio.get_running_loop().call_soon(self._write_pending)
        return None

    def _write_pending(self) -> None:
        self._write_soon = False
        if not self._pending_data_size or not self.is_connected:
            return  # written already, or kept for the reconnect to send
        writer = getattr(self._transport, "_io_writer", None)
        if writer is None or writer.transport.get_write_buffer_size():
            self._kick_flusher()
            return
        try:
            writer.writelines(self._pending)
        except Exception:  # the flusher meets it again, and handles it as nats-py does
            self._kick_flusher()
            return
        self._pending = []
        self._pending_data_size = 0

    def _kick_flusher(self) -> None:
        queue = self._flush_queue
        if queue is not None and queue.empty():
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(asyncio.get_running_loop().create_future())


def _expire(answer: asyncio.Future[Msg]) -> None:
    if not answer.done():
        answer.set_exception(nats.errors.TimeoutError())


async def _on_error(exc: Exception) -> None:
    # One line, no traceback: connection trouble is expected while NATS restarts.
    text = str(exc) or type(exc).__name__
    if "permissions violation" in text.lower():
        # A subject this service's NATS user may not use (forge.core.permissions): the message
        # is dropped (a request to it fails at once: `_refused_publish`); the log says which.
        log.error("nats refused: %s (see forge.core.permissions)", text.removeprefix("nats: "))
        return
    log.warning("nats: %s", text)


async def _on_disconnected() -> None:
    log.warning("nats: disconnected; reconnecting")


async def _on_reconnected() -> None:
    log.info("nats: reconnected")


# What JetStream's absence looks like to a KV write (JetStream off or restarting, NATS up): no
# stream answered, the JetStream API answered 503, or nothing answered in time.
_JETSTREAM_DOWN = (
    nats.js.errors.NoStreamResponseError,
    nats.js.errors.ServiceUnavailableError,
    nats.errors.NoRespondersError,
    nats.errors.TimeoutError,
)


# Every live connection of this process (one, in a service), read when /metrics is scraped.
_BUSES: weakref.WeakSet[NatsBus] = weakref.WeakSet()


def _bus_gauges() -> None:
    def each(read: Callable[[NatsBus], float]) -> Callable[[], list[tuple[tuple[str, ...], float]]]:
        return lambda: [((), float(sum(read(bus) for bus in list(_BUSES))))]

    metrics.gauge(
        "forge_nats_connected",
        "NATS connections of this process that are up (1 in a service; 0 while reconnecting).",
        [],
        each(lambda bus: bus.connected()),
    )
    metrics.gauge(
        "forge_nats_pending_bytes",
        "Bytes written to NATS and not yet flushed to the server.",
        [],
        each(lambda bus: bus.nc.pending_data_size),
    )
    metrics.gauge(
        "forge_bus_requests_in_flight",
        "Requests this service received over NATS and is still answering.",
        [],
        each(lambda bus: len(bus._tasks)),
    )


_bus_gauges()


class NatsBus:
    """The bus over a real NATS connection."""

    def __init__(self, nc: _Client, max_inflight: int = DEFAULT_MAX_INFLIGHT) -> None:
        self.nc = nc
        _BUSES.add(self)
        self._tasks: set[asyncio.Task[None]] = set()
        # Requests of `bounded` subscriptions being answered, and how many may be at once.
        self.max_inflight = max_inflight
        self.admitted = 0
        self.refused = 0  # requests refused since start
        # Requests this connection is waiting on, by subject, and those NATS refused to send.
        self._asking: dict[str, set[asyncio.Task[Any] | None]] = {}
        self._denied: set[asyncio.Task[Any] | None] = set()
        self._buckets: dict[str, Any] = {}
        self._watches: set[asyncio.Task[None]] = set()  # run until close, not drained
        # What restarts each KV watch after a reconnect (kv_watch): a restarted NATS has lost
        # the watch's consumer, which nats-py notices only after two missed heartbeats (10-20 s).
        self._rewatches: list[Callable[[], Coroutine[Any, Any, None]]] = []
        # Answers to this connection's requests, by the token ending their reply subject (_ask).
        self._reply_prefix = nc.new_inbox() + "."
        self._answers: dict[str, asyncio.Future[Msg]] = {}
        self._answering: asyncio.Future[None] | None = None
        self._asked = 0
        self._held = claims.Holder(subjects.bodies(uuid.uuid4().hex))
        self._holding: Any = None  # the subscription serving held bodies, from the first one
        self._logs: set[str] = set()  # event logs known to exist
        # Queue-group subscriptions serving requests: drained first at shutdown (stop_serving).
        self._serving: list[Any] = []
        self._stopped_serving = False
        # How long `close` lets requests in flight finish when `stop_serving` was not called
        # first (a service calls it on SIGTERM with its FORGE_DRAIN_TIMEOUT_S).
        self.drain_timeout_s = 10.0

    def connected(self) -> bool:
        """Whether the connection to NATS is up now (not reconnecting, not closed)."""
        return bool(self.nc.is_connected)

    def _inline(self, payload: bytes) -> bool:
        # max_payload comes from the server's INFO, so this follows whatever NATS we are on.
        return len(payload) <= self.nc.max_payload - claims.HEADROOM

    async def _claim(
        self, payload: bytes, headers: Headers | None, ttl_s: float, *, once: bool
    ) -> Headers:
        """Hold a body too large for NATS; the headers of the empty message that claims it."""
        claim = self._held.hold(payload, ttl_s, once=once)
        if self._holding is None:
            # Subscribed before the claim is sent on this same connection, so the server knows
            # the subscription by the time any receiver asks for a piece.
            self._holding = await self.nc.subscribe(f"{self._held.prefix}.*", cb=self._serve_piece)
        return {**headers, **claim} if headers else claim

    async def _serve_piece(self, msg: Msg) -> None:
        if msg.reply:
            size = self.nc.max_payload - claims.HEADROOM
            await self.nc.publish(msg.reply, self._held.piece(msg.subject, msg.data, size))

    async def _fetch_piece(self, subject: str, offset: bytes) -> bytes:
        try:
            msg = await self.nc.request(subject, offset, timeout=claims.PIECE_TIMEOUT_S)
        except nats.errors.NoRespondersError as exc:
            raise ServiceUnavailableError("the sender of a large message is gone") from exc
        except nats.errors.TimeoutError as exc:
            raise DeadlineExceededError("a piece of a large message did not arrive") from exc
        data: bytes = msg.data
        return data

    async def _body(self, msg: Msg) -> bytes:
        """A message's body: inline, or pulled from its sender when the message is a claim."""
        headers = msg.headers
        if headers is None or claims.BODY not in headers:
            data: bytes = msg.data
            return data
        return await claims.pull(headers, self._fetch_piece)

    @classmethod
    async def connect(
        cls,
        url: str,
        name: str,
        within_s: float = 10.0,
        *,
        max_inflight: int = DEFAULT_MAX_INFLIGHT,
    ) -> NatsBus:
        """Connect, failing with a clear error if NATS cannot be reached within `within_s`.

        Once connected, a lost connection is retried forever: a NATS restart must not take
        services down with it. A URL naming a user (`nats://<user>:<password>@host:port`, one
        user per service: forge.core.permissions) gets its replies on that user's own inbox,
        `_INBOX.<user>.`, the one its permissions let it subscribe to.
        """
        parts = urllib.parse.urlsplit(url)
        # Shown in errors and logs without the password.
        shown = parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
        inbox = subjects.inbox(urllib.parse.unquote(parts.username)) if parts.username else None
        refused: list[Exception] = []  # a wrong user or password: nats-py retries until within_s
        made: list[NatsBus] = []  # the bus, once made: its KV watches restart on a reconnect

        async def on_reconnected() -> None:
            await _on_reconnected()
            for bus in made:
                bus._rewatch()

        async def on_error(exc: Exception) -> None:
            text = str(exc).lower()
            if "authorization violation" in text:  # nats-py's plain Error then
                refused.append(exc)
            elif (found := _REFUSED_PUBLISH.search(text)) is not None:
                for bus in made:
                    bus._refused_publish(found.group(1))
            await _on_error(exc)

        nc = _Client()
        try:
            await asyncio.wait_for(
                nc.connect(
                    url,
                    name=name,
                    inbox_prefix=inbox or subjects.INBOX_PREFIX.rstrip("."),
                    error_cb=on_error,
                    disconnected_cb=_on_disconnected,
                    reconnected_cb=on_reconnected,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,  # type: ignore[arg-type]  # typed int, a float works
                    connect_timeout=2,
                    allow_reconnect=True,
                ),
                within_s,
            )
        except nats.errors.AuthorizationError as exc:
            raise ServiceUnavailableError(f"NATS at {shown} refused the user and password") from exc
        except (OSError, nats.errors.NoServersError, TimeoutError) as exc:
            if refused:
                raise ServiceUnavailableError(
                    f"NATS at {shown} refused the user and password"
                ) from exc
            raise ServiceUnavailableError(
                f"cannot reach NATS at {shown} within {within_s:.0f} s"
            ) from exc
        if nc.max_payload < claims.MIN_MAX_PAYLOAD:
            # Any larger limit works (bigger messages go by claim); a tiny one would send even
            # small calls by claim, a round trip each.
            await nc.close()
            raise ServiceUnavailableError(
                f"NATS at {shown} allows messages of {nc.max_payload} bytes; Forge needs its "
                f"max_payload to be at least {claims.MIN_MAX_PAYLOAD} (the default 1 MiB is fine)"
            )
        bus = cls(nc, max_inflight)
        made.append(bus)
        return bus

    async def request(
        self, subject: str, payload: bytes, *, deadline: float, headers: Headers | None = None
    ) -> bytes:
        timeout = deadline - time.time()
        if timeout <= 0:
            raise DeadlineExceededError("the request's deadline passed before it was sent")
        sent = _outgoing_headers(headers)
        if not self._inline(payload):
            sent = await self._claim(payload, sent, timeout, once=True)
            payload = b""
        series = metrics.nats_series(subject)
        series.requests.inc()
        started = time.perf_counter()
        task = asyncio.current_task()
        asking = self._asking.setdefault(subject, set())
        asking.add(task)
        try:
            msg = await self._ask(subject, payload, timeout, sent)
        except asyncio.CancelledError as exc:
            if task not in self._denied:
                raise
            self._denied.discard(task)
            if task is not None:
                task.uncancel()
            metrics.nats_failed(series, "refused")
            raise ServiceUnavailableError(
                f"NATS does not let this service send to {subject} (forge.core.permissions)"
            ) from exc
        except nats.errors.NoRespondersError as exc:
            metrics.nats_failed(series, "no_responders")
            # At once, not at the deadline: NATS says so when no subscriber had the request.
            raise ServiceUnavailableError(
                f"no service is answering on {subject}", {"retry_after_s": RETRY_AFTER_S}
            ) from exc
        except nats.errors.TimeoutError as exc:
            metrics.nats_failed(series, "timeout")
            raise DeadlineExceededError(f"no answer on {subject} before the deadline") from exc
        finally:
            asking.discard(task)
            if not asking:
                self._asking.pop(subject, None)
        series.duration.observe(time.perf_counter() - started)
        return await self._body(msg)

    async def _ask(
        self, subject: str, payload: bytes, within_s: float, headers: Headers | None
    ) -> Msg:
        """nats-py's request (answers on one wildcard inbox of this connection, no responders
        as NoRespondersError, nothing within `within_s` as its TimeoutError) without its
        per-request costs: a random token from the OS, a NUID, `wait_for`'s waiter and
        callbacks. About a fifth of a requester's CPU per request (issue 16)."""
        listening = self._answering
        if listening is None:
            listening = self._answering = asyncio.ensure_future(self._listen_for_answers())
        if not listening.done():
            await asyncio.shield(listening)
        listening.result()  # a failed subscription fails the request; the next one tries again
        self._asked += 1
        token = str(self._asked)
        answer: asyncio.Future[Msg] = asyncio.get_running_loop().create_future()
        self._answers[token] = answer
        expiry = asyncio.get_running_loop().call_later(within_s, _expire, answer)
        try:
            await self.nc.publish(
                subject, payload, reply=self._reply_prefix + token, headers=headers
            )
            msg = await answer
        finally:
            expiry.cancel()
            self._answers.pop(token, None)
        if msg.headers and msg.headers.get("Status") == _NO_RESPONDERS:
            raise nats.errors.NoRespondersError
        return msg

    async def _listen_for_answers(self) -> None:
        try:
            await self.nc.subscribe_direct(self._reply_prefix + "*", self._answered)
        except BaseException:
            self._answering = None  # the next request tries again
            raise

    async def _answered(self, msg: Msg) -> None:
        answer = self._answers.get(msg.subject[len(self._reply_prefix) :])
        if answer is not None and not answer.done():
            answer.set_result(msg)

    def _refused_publish(self, subject: str) -> None:
        """NATS refused a publish to `subject` (this service's user may not send there): the
        requests waiting on it would otherwise wait out their deadlines; they fail now."""
        for task in self._asking.get(subject, ()):
            if task is not None:
                self._denied.add(task)
                task.cancel()

    async def serve(
        self,
        subject: str,
        handler: RequestHandler,
        *,
        queue: str | None = None,
        bounded: bool = False,
    ) -> Subscription:
        """Answer requests on `subject`, each in its own task.

        `bounded`: the requests count towards `max_inflight`, shared by every bounded
        subscription of this connection; one past it is answered at once with OverloadedError
        (unread, unqueued), so that the caller can retry elsewhere or later instead of waiting
        out its deadline behind work this replica cannot finish in time.
        """

        async def on_message(msg: Msg) -> None:
            if bounded:
                if self.admitted >= self.max_inflight:
                    await self._refuse(msg)
                    return
                self.admitted += 1
            # Handle every request in its own task: a slow call must not hold up the next one.
            task = asyncio.create_task(self._answer(msg, handler))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            if bounded:
                task.add_done_callback(self._release)

        sub: Any = await self.nc.subscribe_direct(
            subject,
            on_message,
            queue=queue or "",
            pending_msgs_limit=PENDING_MSGS,
            pending_bytes_limit=PENDING_BYTES,
        )
        if queue:
            self._serving.append(sub)
        return sub  # type: ignore[no-any-return]

    def _release(self, task: asyncio.Task[None]) -> None:
        self.admitted -= 1

    async def _refuse(self, msg: Msg) -> None:
        self.refused += 1
        metrics.overload_refused(metrics.subject_label(msg.subject))
        if msg.reply:
            await self.nc.publish(msg.reply, _error_reply(overloaded(self.max_inflight)))

    async def _answer(self, msg: Msg, handler: RequestHandler) -> None:
        headers = msg.headers or {}
        _incoming_trace(msg)
        SUBJECT.set(msg.subject)
        try:
            reply = await handler(await self._body(msg), headers)
        except ForgeError as exc:  # the request's body could not be pulled
            reply = _error_reply(exc)
        if msg.reply:
            await self._reply(msg.reply, reply)

    async def _reply(self, subject: str, payload: bytes) -> None:
        # No traceparent on a reply: the requester knows its own context and reads none from
        # the answer; a header block costs every hop's encode, the server and the parse
        # (docs/decisions/0024).
        if self._inline(payload):
            await self.nc.publish(subject, payload)
            return
        try:
            claim = await self._claim(payload, None, claims.PUBLISHED_TTL_S, once=True)
        except ForgeError as exc:  # larger than the bus carries: the caller gets why
            await self.nc.publish(subject, _error_reply(exc))
            return
        await self.nc.publish(subject, b"", headers=claim)

    async def publish(self, subject: str, payload: bytes) -> None:
        headers = _outgoing_headers(None)
        if not self._inline(payload):
            headers = await self._claim(payload, headers, claims.PUBLISHED_TTL_S, once=False)
            payload = b""
        await self.nc.publish(subject, payload, headers=headers)

    async def _event_body(self, msg: Msg) -> bytes | None:
        try:
            return await self._body(msg)
        except ForgeError as exc:  # nobody to answer: the subscriber misses this one event
            log.warning("a large message on %s was lost: %s", msg.subject, exc.message)
            return None

    async def subscribe(self, subject: str, handler: EventHandler) -> Subscription:
        async def on_message(msg: Msg) -> None:
            _incoming_trace(msg)
            data = await self._event_body(msg)
            if data is not None:
                await handler(msg.subject, data)

        sub: Any = await self.nc.subscribe(subject, cb=on_message)
        return sub  # type: ignore[no-any-return]

    async def subscribe_with_reply(self, subject: str, handler: ReplyHandler) -> Subscription:
        """Like `subscribe`, for subjects carrying both publishes and requests (in-flight streams).

        The handler answers a request later, from anywhere, with `respond(reply_subject, ...)`.
        """

        async def on_message(msg: Msg) -> None:
            _incoming_trace(msg)
            data = await self._event_body(msg)
            if data is not None:
                await handler(msg.subject, data, msg.reply or "")

        sub: Any = await self.nc.subscribe(subject, cb=on_message)
        return sub  # type: ignore[no-any-return]

    async def respond(self, reply_subject: str, payload: bytes) -> None:
        """Answer a request received by a `subscribe_with_reply` handler."""
        await self._reply(reply_subject, payload)

    async def _bucket(self, bucket: str, ttl_s: float | None = None) -> Any:
        kv = self._buckets.get(bucket)
        if kv is None:
            js = self.nc.jetstream()
            try:
                kv = await js.key_value(bucket)
            except nats.js.errors.BucketNotFoundError:
                kv = await js.create_key_value(bucket=bucket, ttl=ttl_s or KV_TTL_S)
            self._buckets[bucket] = kv
        return kv

    async def kv_put(self, bucket: str, key: str, value: bytes) -> None:
        """Store a value in a JetStream key-value bucket, creating the bucket on first use.
        JetStream not answering (off, restarting) is ServiceUnavailableError: retry later."""
        try:
            kv = await self._bucket(bucket)
            await kv.put(key, value)
        except _JETSTREAM_DOWN as exc:
            raise ServiceUnavailableError(
                f"JetStream did not store {bucket} ({type(exc).__name__})",
                {"retry_after_s": RETRY_AFTER_S},
            ) from exc

    async def kv_get(self, bucket: str, key: str) -> bytes | None:
        """The key's current value; None when the key, or the whole bucket, does not exist.

        Unlike the writes, a read never creates the bucket.
        """
        found = await self.kv_entry(bucket, key)
        return None if found is None else found[0]

    async def kv_create(
        self, bucket: str, key: str, value: bytes, *, ttl_s: float | None = None
    ) -> bool:
        """Store a value only if the key holds none: False when another holder has it (leases).

        `ttl_s` is the bucket's entry lifetime, used only when this call creates the bucket.
        """
        kv = await self._bucket(bucket, ttl_s)
        try:
            await kv.create(key, value)
        except nats.js.errors.KeyWrongLastSequenceError:
            return False
        return True

    async def kv_delete(self, bucket: str, key: str) -> None:
        """Delete a key (watchers see it go); deleting an absent key is not an error."""
        kv = await self._bucket(bucket)
        await kv.delete(key)

    async def kv_entry(self, bucket: str, key: str) -> tuple[bytes, int] | None:
        """The key's value and revision (for `kv_update`); None as `kv_get`. Never creates."""
        kv = self._buckets.get(bucket)
        if kv is None:
            try:
                kv = await self.nc.jetstream().key_value(bucket)
            except nats.js.errors.BucketNotFoundError:
                return None
            self._buckets[bucket] = kv
        try:
            entry = await kv.get(key)
        except nats.js.errors.KeyNotFoundError:  # also a deleted or purged key
            return None
        return entry.value or b"", int(entry.revision or 0)

    async def kv_update(self, bucket: str, key: str, value: bytes, revision: int) -> int | None:
        """Store a value only if the key is still at `revision` (compare-and-set): the new
        revision, or None when another writer changed or deleted the key meanwhile."""
        kv = await self._bucket(bucket)
        try:
            return int(await kv.update(key, value, last=revision))
        except nats.js.errors.KeyWrongLastSequenceError:
            return None

    async def kv_watch(
        self, bucket: str, handler: Callable[[str, bytes | None], None], *, keys: str = ">"
    ) -> Subscription:
        """Call `handler(key, value)` for every current and future entry (value None: deleted)
        whose key matches `keys` (NATS wildcards: `watch.>`)."""
        kv = await self._bucket(bucket)
        ready = asyncio.Event()
        current: dict[str, Any] = {"watcher": await kv.watch(keys)}

        async def pump(watcher: Any) -> None:
            async for entry in watcher:
                if entry is None:  # end of the initial values
                    ready.set()
                    continue
                deleted = entry.operation in ("DEL", "PURGE")
                handler(entry.key, None if deleted else entry.value)

        def follow(watcher: Any) -> None:
            task = asyncio.create_task(pump(watcher))
            self._watches.add(task)
            task.add_done_callback(self._watches.discard)
            current["task"] = task

        async def rewatch() -> None:
            """After a reconnect: a new watch (every current entry again, then what follows)
            replaces the old one, tried until JetStream answers or the watch is stopped."""
            current["task"].cancel()
            with contextlib.suppress(Exception):
                await current["watcher"].stop()
            while not self.nc.is_closed and rewatch in self._rewatches:
                try:
                    current["watcher"] = await kv.watch(keys)
                except Exception as exc:  # JetStream still recovering after a restart
                    log.warning("nats: watching %s again failed (%s); retrying", bucket, exc)
                    await asyncio.sleep(0.5)
                    continue
                follow(current["watcher"])
                return

        follow(current["watcher"])
        self._rewatches.append(rewatch)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ready.wait(), 5)
        rewatches = self._rewatches

        class _Watch:
            async def unsubscribe(self) -> None:
                if rewatch in rewatches:
                    rewatches.remove(rewatch)
                current["task"].cancel()
                await current["watcher"].stop()

        return _Watch()

    def _rewatch(self) -> None:
        for rewatch in list(self._rewatches):
            task = asyncio.create_task(rewatch())
            self._watches.add(task)
            task.add_done_callback(self._watches.discard)

    async def _log(self, log: str, limits: LogLimits) -> None:
        if log in self._logs:
            return
        config = nats.js.api.StreamConfig(
            name=_log_stream(log),
            subjects=[log_subject(log, "*")],
            storage=nats.js.api.StorageType.FILE,
            max_age=limits.ttl_s,
            max_bytes=limits.max_bytes,
            discard=nats.js.api.DiscardPolicy.OLD,
        )
        js = self.nc.jetstream()
        try:
            await js.add_stream(config)
        except nats.js.errors.BadRequestError:
            # It exists with other limits (set by an earlier configuration): the new ones win.
            await js.update_stream(config)
        self._logs.add(log)

    async def log_append(self, log: str, key: str, record: bytes, limits: LogLimits) -> None:
        """Append one record to a key of an event log (a JetStream stream, created on first use
        with `limits`); returns once JetStream holds it. A record larger than a NATS message is
        stored in pieces, read back whole by `log_follow`."""
        await self._log(log, limits)
        js = self.nc.jetstream()
        subject = log_subject(log, key)
        size = self.nc.max_payload - claims.HEADROOM
        for start in range(0, max(len(record), 1), size):
            headers = {_MORE: "1"} if start + size < len(record) else {}
            if start:
                headers[_CONTINUES] = "1"
            await js.publish(subject, record[start : start + size], headers=headers or None)

    async def log_follow(self, log: str, key: str) -> AsyncGenerator[bytes, None]:
        """Every record of a key of an event log, from the first, then each new one as it is
        appended, until the caller stops iterating (bound it with a timeout: nothing ends a
        key). Yields nothing, and waits, while the key has no records yet."""
        js = self.nc.jetstream()
        while True:
            try:
                sub = await js.subscribe(
                    log_subject(log, key),
                    stream=_log_stream(log),
                    ordered_consumer=True,
                    deliver_policy=nats.js.api.DeliverPolicy.ALL,
                )
                break
            except nats.js.errors.NotFoundError:
                await asyncio.sleep(_LOG_POLL_S)  # no such log yet: nothing was ever appended
        try:
            pieces: list[bytes] = []
            async for msg in sub.messages:
                headers = msg.headers or {}
                if not pieces and _CONTINUES in headers:
                    continue  # the rest of a record whose first piece the limits dropped
                pieces.append(msg.data)
                if _MORE not in headers:
                    record, pieces = b"".join(pieces), []
                    yield record
        finally:
            with contextlib.suppress(nats.errors.Error):
                await sub.unsubscribe()

    async def flush(self) -> None:
        # nats-py (2.16) writes flush()'s PING straight to the socket, ahead of commands still
        # queued for its flusher task (the SUB of a subscription just made), so one PONG does
        # not prove the server has them: a publish from another connection could then find no
        # subscriber (seen: a lost first event, "no responders" right after serve). The first
        # round trip lets the flusher write what was queued; the second PING goes after it.
        await self.nc.flush()
        await self.nc.flush()

    async def stop_serving(self, timeout_s: float) -> None:
        """Stop taking requests and let the ones in flight finish, for at most `timeout_s`.

        Each queue-group subscription is drained (unsubscribed, then the messages the server
        had already sent are handled), so the group sends new requests to the other replicas;
        the connection stays open meanwhile, so a request in flight can still ask other
        services and send its reply. Idempotent.
        """
        if self.nc.is_closed or self._stopped_serving:
            return
        self._stopped_serving = True
        serving, self._serving = self._serving, []
        deadline = time.monotonic() + timeout_s
        for sub in serving:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    await sub.drain()
        while self._tasks and (left := deadline - time.monotonic()) > 0:
            await asyncio.wait(set(self._tasks), timeout=left)
        if self._tasks:
            log.warning(
                "requests still in flight after the drain timeout",
                extra={"count": len(self._tasks)},
            )

    async def close(self) -> None:
        """Stop taking requests, finish the ones in flight (`stop_serving`), then close."""
        if self.nc.is_closed:
            return
        await self.stop_serving(self.drain_timeout_s)
        self._rewatches.clear()
        for watch in list(self._watches):
            watch.cancel()
        try:
            await self.nc.drain()
        except (nats.errors.ConnectionClosedError, nats.errors.FlushTimeoutError, TimeoutError):
            pass
        if self._tasks:  # requests on a subject of this replica's own, taken during the drain
            await asyncio.wait(set(self._tasks), timeout=1)
        if not self.nc.is_closed:
            await self.nc.close()
