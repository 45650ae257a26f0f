"""An in-memory bus with NATS subject semantics, for handler unit tests."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field

from forge.core.bus import (
    SUBJECT,
    TRACEPARENT,
    EventHandler,
    Headers,
    LogLimits,
    ReplyHandler,
    RequestHandler,
)
from forge.core.errors import DeadlineExceededError, ServiceUnavailableError


def matches(pattern: str, subject: str) -> bool:
    """NATS wildcard matching: `*` one token, `>` the rest."""
    pat, sub = pattern.split("."), subject.split(".")
    for i, token in enumerate(pat):
        if token == ">":
            return len(sub) > i
        if i >= len(sub) or (token != "*" and token != sub[i]):
            return False
    return len(pat) == len(sub)


@dataclass(eq=False)
class _Sub:
    bus: MemoryBus
    pattern: str
    queue: str | None
    request: RequestHandler | None = None
    event: EventHandler | None = None
    replying: ReplyHandler | None = None
    seq: int = field(default_factory=itertools.count().__next__)

    async def unsubscribe(self) -> None:
        self.bus.subs.discard(self)


@dataclass(eq=False)
class _Watch:
    bus: MemoryBus
    entry: tuple[str, Callable[[str, bytes | None], None]]

    async def unsubscribe(self) -> None:
        if self.entry in self.bus.watchers:
            self.bus.watchers.remove(self.entry)


class MemoryBus:
    """Same contract as NatsBus; queue groups deliver each request to one member, round robin."""

    def __init__(self) -> None:
        self.subs: set[_Sub] = set()
        self._rr = itertools.count()
        self.published: list[tuple[str, bytes]] = []
        self.requests: list[tuple[str, bytes]] = []
        self.kv: dict[str, dict[str, bytes]] = {}
        self.revisions: dict[tuple[str, str], int] = {}  # a key's revision, as JetStream's
        self._revision = itertools.count(1)
        self.watchers: list[tuple[str, Callable[[str, bytes | None], None]]] = []
        self.inboxes: dict[str, asyncio.Future[bytes]] = {}
        self._inbox_seq = itertools.count()
        self.logs: dict[tuple[str, str], list[bytes]] = {}  # event logs (no expiry here)
        self._appended = asyncio.Event()

    async def request(
        self, subject: str, payload: bytes, *, deadline: float, headers: Headers | None = None
    ) -> bytes:
        timeout = deadline - time.time()
        if timeout <= 0:
            raise DeadlineExceededError("the request's deadline passed before it was sent")
        servers = sorted(
            (s for s in self.subs if (s.request or s.replying) and matches(s.pattern, subject)),
            key=lambda s: s.seq,
        )
        if not servers:
            raise ServiceUnavailableError(f"no service is answering on {subject}")
        self.requests.append((subject, payload))
        chosen = servers[next(self._rr) % len(servers)]
        if chosen.replying is not None:
            return await self._request_inbox(chosen.replying, subject, payload, timeout)
        assert chosen.request is not None
        sent = dict(headers or {})
        trace = TRACEPARENT.get()
        if trace:
            sent.setdefault("traceparent", trace)
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.create_task(self._deliver(chosen, subject, payload, sent))
        except TimeoutError as exc:
            raise DeadlineExceededError(f"no answer on {subject} before the deadline") from exc

    async def _request_inbox(
        self, handler: ReplyHandler, subject: str, payload: bytes, within_s: float
    ) -> bytes:
        # As NATS does: the answer comes back on a fresh inbox, from whoever `respond`s to it.
        inbox = f"_INBOX.mem.{next(self._inbox_seq)}"
        answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.inboxes[inbox] = answer
        try:
            async with asyncio.timeout(within_s):
                await handler(subject, payload, inbox)
                return await answer
        except TimeoutError as exc:
            raise DeadlineExceededError(f"no answer on {subject} before the deadline") from exc
        finally:
            self.inboxes.pop(inbox, None)

    @staticmethod
    async def _deliver(sub: _Sub, subject: str, payload: bytes, headers: Headers) -> bytes:
        # Its own task, as with NATS: the handler's context (subject, trace) is not the caller's.
        assert sub.request is not None
        SUBJECT.set(subject)
        if "traceparent" in headers:
            TRACEPARENT.set(headers["traceparent"])
        return await sub.request(payload, headers)

    async def serve(
        self,
        subject: str,
        handler: RequestHandler,
        *,
        queue: str | None = None,
        bounded: bool = False,  # no bound on requests in flight here: NatsBus has it
    ) -> _Sub:
        sub = _Sub(self, subject, queue, request=handler)
        self.subs.add(sub)
        return sub

    async def publish(self, subject: str, payload: bytes) -> None:
        self.published.append((subject, payload))
        waiting = self.inboxes.get(subject)
        if waiting is not None:
            if not waiting.done():
                waiting.set_result(payload)
            return
        for sub in sorted(self.subs, key=lambda s: s.seq):
            if sub.event and matches(sub.pattern, subject):
                await sub.event(subject, payload)
            elif sub.replying and matches(sub.pattern, subject):
                await sub.replying(subject, payload, "")

    async def subscribe(self, subject: str, handler: EventHandler) -> _Sub:
        sub = _Sub(self, subject, None, event=handler)
        self.subs.add(sub)
        return sub

    async def subscribe_with_reply(self, subject: str, handler: ReplyHandler) -> _Sub:
        sub = _Sub(self, subject, None, replying=handler)
        self.subs.add(sub)
        return sub

    async def respond(self, reply_subject: str, payload: bytes) -> None:
        await self.publish(reply_subject, payload)

    async def kv_put(self, bucket: str, key: str, value: bytes) -> None:
        self.kv.setdefault(bucket, {})[key] = value
        self.revisions[(bucket, key)] = next(self._revision)
        for watched, handler in list(self.watchers):
            if watched == bucket:
                handler(key, value)

    async def kv_get(self, bucket: str, key: str) -> bytes | None:
        return self.kv.get(bucket, {}).get(key)

    async def kv_create(
        self, bucket: str, key: str, value: bytes, *, ttl_s: float | None = None
    ) -> bool:
        if key in self.kv.get(bucket, {}):
            return False
        await self.kv_put(bucket, key, value)
        return True

    async def kv_delete(self, bucket: str, key: str) -> None:
        if self.kv.get(bucket, {}).pop(key, None) is None:
            return
        for watched, handler in list(self.watchers):
            if watched == bucket:
                handler(key, None)

    async def kv_entry(self, bucket: str, key: str) -> tuple[bytes, int] | None:
        value = self.kv.get(bucket, {}).get(key)
        return None if value is None else (value, self.revisions[(bucket, key)])

    async def kv_update(self, bucket: str, key: str, value: bytes, revision: int) -> int | None:
        held = key in self.kv.get(bucket, {})
        if (self.revisions.get((bucket, key), 0) if held else 0) != revision:
            return None
        await self.kv_put(bucket, key, value)
        return self.revisions[(bucket, key)]

    async def kv_watch(
        self, bucket: str, handler: Callable[[str, bytes | None], None], *, keys: str = ">"
    ) -> _Watch:
        def wanted(key: str, value: bytes | None) -> None:
            if matches(keys, key):
                handler(key, value)

        for key, value in self.kv.get(bucket, {}).items():
            wanted(key, value)
        entry = (bucket, wanted)
        self.watchers.append(entry)
        return _Watch(self, entry)

    async def log_append(self, log: str, key: str, record: bytes, limits: LogLimits) -> None:
        self.logs.setdefault((log, key), []).append(record)
        self._appended.set()
        self._appended = asyncio.Event()

    async def log_follow(self, log: str, key: str) -> AsyncGenerator[bytes, None]:
        seen = 0
        while True:
            records = self.logs.get((log, key), [])
            appended = self._appended
            while seen < len(records):
                seen += 1
                yield records[seen - 1]
            await appended.wait()

    async def flush(self) -> None:
        return None

    async def close(self) -> None:
        self.subs.clear()
