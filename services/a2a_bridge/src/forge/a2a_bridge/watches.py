"""Watches held by leases in JetStream KV, so that any bridge replica carries a watch on.

A watch (push.py: polling one task, delivering its new states) is a record in KV, key
`watch.<agent_id>.<sha256 of the agent's task id>`: the agent and task, the replica that holds
it (`owner`) until `expires`, the end of the whole watch (`until`) and the last state it
delivered (`last`). Every write is a compare-and-set on the revision read, so one replica at a
time holds a watch: the holder renews its lease every `RENEW_S` (a lease lasts `LEASE_S`);
every replica follows the records (a KV watch on `watch.>`) and every `TEND_S` claims one
whose lease expired or was released; a replica that stops releases its leases (`release`),
so another takes them at once; one killed outright loses them within `LEASE_S`. A claimed
watch goes on from `last`: the state already delivered is not sent again (at-least-once: a
holder that dies between delivering and recording its delivery has it sent again).
Lease expiry compares this replica's clock with the holder's: a skew only makes a watch
change hands early (the old holder's next write fails and it stops), never two holders write.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import msgspec

from forge.core.bus import Bus, Subscription
from forge.proto.agents import PushWatchLease

log = logging.getLogger("forge.a2a_bridge.watches")
PREFIX = "watch."
LEASE_S = 5.0
RENEW_S = 1.5  # a held lease is written again when it has less than LEASE_S - RENEW_S left
TEND_S = 1.0  # how often a replica renews its leases and looks for watches nobody holds
_ENC = msgspec.json.Encoder()


Lease = PushWatchLease
_LEASE = msgspec.json.Decoder(Lease)


@dataclass(eq=False)
class Held:
    """A watch this replica holds: its record as last written and that write's revision."""

    key: str
    lease: Lease
    revision: int
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    task: asyncio.Task[None] | None = None


def _decode(value: bytes) -> Lease | None:
    try:
        return _LEASE.decode(value)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


class Watches:
    """The watches of one replica; `run(held)` is one watch's work, in its own task."""

    def __init__(self, bus: Bus, bucket: str, run: Callable[[Held], Awaitable[None]]) -> None:
        self.bus = bus
        self.bucket = bucket
        self.run = run
        self.me = f"{socket.gethostname()}/{os.getpid()}/{uuid.uuid4().hex[:8]}"
        self.held: dict[str, Held] = {}
        self.known: dict[str, Lease] = {}  # every watch's record, as the KV watch reports them
        self._follow: Subscription | None = None
        self._tender: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._follow = await self.bus.kv_watch(self.bucket, self._heard, keys=PREFIX + ">")
        self._tender = asyncio.create_task(self._tend())

    def _heard(self, key: str, value: bytes | None) -> None:
        lease = None if value is None else _decode(value)
        if lease is None:
            self.known.pop(key, None)
        else:
            self.known[key] = lease

    async def begin(self, key: str, agent: str, task: str, window_s: float) -> None:
        """Watch a task here, unless a replica watches it already."""
        key = PREFIX + key
        if key in self.held:
            return
        now = time.time()
        lease = Lease(agent, task, until=now + window_s, owner=self.me, expires=now + LEASE_S)
        if await self.bus.kv_create(self.bucket, key, _ENC.encode(lease)):
            entry = await self.bus.kv_entry(self.bucket, key)
            if entry is not None and _decode(entry[0]) == lease:
                self._hold(key, lease, entry[1])
            return
        entry = await self.bus.kv_entry(self.bucket, key)
        old = None if entry is None else _decode(entry[0])
        if entry is not None and (old is None or old.until <= now):  # a watch over: begin anew
            revision = await self.bus.kv_update(self.bucket, key, _ENC.encode(lease), entry[1])
            if revision is not None:
                self._hold(key, lease, revision)

    def _hold(self, key: str, lease: Lease, revision: int) -> None:
        held = Held(key, lease, revision)
        self.held[key] = held
        held.task = asyncio.create_task(self._run(held))

    async def _run(self, held: Held) -> None:
        try:
            await self.run(held)
        except Exception as exc:  # a task's boundary (see _tend)
            # Not renewed from now on: another replica takes the watch when the lease expires.
            log.warning("a push watch failed here: %s", type(exc).__name__)
        finally:
            if self.held.get(held.key) is held:
                del self.held[held.key]

    async def record(self, held: Held, last: str) -> bool:
        """The state just delivered, kept in the lease (renewing it); False: the lease is lost."""
        lease = msgspec.structs.replace(held.lease, last=last, expires=time.time() + LEASE_S)
        return await self._write(held, lease)

    async def end(self, held: Held) -> None:
        """The watch is over (its task ended, its time passed): its record goes."""
        async with held.lock:
            self.held.pop(held.key, None)
            await self.bus.kv_delete(self.bucket, held.key)

    async def _write(self, held: Held, lease: Lease) -> bool:
        async with held.lock:
            if self.held.get(held.key) is not held:
                return False
            revision = await self.bus.kv_update(
                self.bucket, held.key, _ENC.encode(lease), held.revision
            )
            if revision is None:  # another replica took it (this one was too late to renew)
                log.warning("a push watch was taken over by another replica")
                self.held.pop(held.key, None)
                if held.task is not None and held.task is not asyncio.current_task():
                    held.task.cancel()
                return False
            held.lease, held.revision = lease, revision
            return True

    async def _tend(self) -> None:
        while True:
            await asyncio.sleep(TEND_S)
            # The loop outlives NATS trouble (a write that fails is tried again next round);
            # the bus's errors are nats-py's, not importable outside forge.core.bus.
            try:
                await self._renew()
                await self._claim_free()
            except Exception as exc:
                log.warning("push watches not tended this round: %s", type(exc).__name__)

    async def _renew(self) -> None:
        now = time.time()
        for held in list(self.held.values()):
            if held.lease.expires - now < LEASE_S - RENEW_S:
                await self._write(held, msgspec.structs.replace(held.lease, expires=now + LEASE_S))

    async def _claim_free(self) -> None:
        for key, seen in list(self.known.items()):
            now = time.time()
            if key in self.held or (seen.owner and seen.expires >= now):
                continue
            entry = await self.bus.kv_entry(self.bucket, key)
            lease = None if entry is None else _decode(entry[0])
            if entry is None or lease is None or (lease.owner and lease.expires >= now):
                continue
            if lease.until <= now:  # nobody carried it to its end: it is over
                await self.bus.kv_delete(self.bucket, key)
                continue
            mine = msgspec.structs.replace(lease, owner=self.me, expires=now + LEASE_S)
            revision = await self.bus.kv_update(self.bucket, key, _ENC.encode(mine), entry[1])
            if revision is not None:  # else another replica claimed it first
                log.info("took over a push watch", extra={"from": lease.owner or "released"})
                self._hold(key, mine, revision)

    async def release(self) -> None:
        """Stop watching and hand every held watch back (drain): another replica takes it."""
        if self._tender is not None:
            self._tender.cancel()
        if self._follow is not None:
            with contextlib.suppress(Exception):  # nats-py's errors (see _tend)
                await self._follow.unsubscribe()
        for held in list(self.held.values()):
            if held.task is not None:
                held.task.cancel()
                await asyncio.wait({held.task})
            with contextlib.suppress(Exception):  # kept until it expires, then claimed
                await self._release(held)
        self.held.clear()

    async def _release(self, held: Held) -> None:
        released = msgspec.structs.replace(held.lease, owner="", expires=0.0)
        value = _ENC.encode(released)
        if await self.bus.kv_update(self.bucket, held.key, value, held.revision) is not None:
            return
        # A write cancelled above may still have landed (a newer revision, still this
        # replica's): release that one.
        entry = await self.bus.kv_entry(self.bucket, held.key)
        lease = None if entry is None else _decode(entry[0])
        if entry is not None and lease is not None and lease.owner == self.me:
            released = msgspec.structs.replace(lease, owner="", expires=0.0)
            await self.bus.kv_update(self.bucket, held.key, _ENC.encode(released), entry[1])

    async def close(self) -> None:
        """Stop (the bus may be gone already: leases not released expire)."""
        if self._tender is not None:
            self._tender.cancel()
        for held in list(self.held.values()):
            if held.task is not None:
                held.task.cancel()
                await asyncio.wait({held.task})
        self.held.clear()
