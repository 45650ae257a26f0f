"""Push watches held by leases (watches.py), two replicas on one bus: a released watch is taken
at once, an expired one after its lease, one holder at a time, and the new holder goes on from
the last state recorded. MemoryBus keeps NatsBus's compare-and-set contract (test_bus_kv.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import msgspec
import pytest

from forge.a2a_bridge import watches
from forge.a2a_bridge.watches import Held, Watches
from forge.testing import eventually
from forge.testing.membus import MemoryBus

BUCKET = "test_push"


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # The same rules on a shorter clock: a lease of 0.6 s, tended every 0.05 s.
    monkeypatch.setattr(watches, "LEASE_S", 0.6)
    monkeypatch.setattr(watches, "RENEW_S", 0.2)
    monkeypatch.setattr(watches, "TEND_S", 0.05)
    yield


class Replica:
    """One replica's watches; its run records what it saw and waits until told to stop."""

    def __init__(self, bus: MemoryBus, name: str) -> None:
        self.name = name
        self.watches = Watches(bus, BUCKET, self.run)
        self.started: list[str] = []  # the `last` each watch it ran started from
        self.finish = asyncio.Event()

    async def run(self, held: Held) -> None:
        self.started.append(held.lease.last)
        if not held.lease.last:
            assert await self.watches.record(held, "state-1")
        await self.finish.wait()
        await self.watches.end(held)


def owner(bus: MemoryBus, key: str) -> str:
    value = bus.kv.get(BUCKET, {}).get(watches.PREFIX + key)
    return "" if value is None else str(msgspec.json.decode(value)["owner"])


async def test_a_released_watch_is_taken_at_once_and_goes_on_from_its_last_state() -> None:
    bus = MemoryBus()
    a, b = Replica(bus, "a"), Replica(bus, "b")
    await a.watches.start()
    await b.watches.start()
    await a.watches.begin("agent.t1", "agent", "t1", 60)
    await eventually(lambda: a.started == [""] or None)
    assert owner(bus, "agent.t1") == a.watches.me
    await a.watches.release()
    await eventually(lambda: b.started == ["state-1"] or None, within_s=5)
    assert owner(bus, "agent.t1") == b.watches.me
    b.finish.set()
    await eventually(lambda: watches.PREFIX + "agent.t1" not in bus.kv[BUCKET] or None)
    await b.watches.release()


async def test_a_watch_whose_holder_died_is_taken_when_its_lease_expires() -> None:
    bus = MemoryBus()
    a, b = Replica(bus, "a"), Replica(bus, "b")
    await a.watches.start()
    await a.watches.begin("agent.t2", "agent", "t2", 60)
    await eventually(lambda: a.started == [""] or None)
    await a.watches.close()  # gone without releasing anything (its NATS connection died)
    await b.watches.start()
    await eventually(lambda: b.started == ["state-1"] or None, within_s=5)
    assert owner(bus, "agent.t2") == b.watches.me
    await b.watches.release()


async def test_one_replica_holds_a_watch_and_a_holder_that_lost_it_stops() -> None:
    bus = MemoryBus()
    replicas = [Replica(bus, name) for name in "abc"]
    for replica in replicas:
        await replica.watches.start()
    await replicas[0].watches.begin("agent.t3", "agent", "t3", 60)
    # Begun again elsewhere (another config of the same task): nothing more runs.
    await replicas[1].watches.begin("agent.t3", "agent", "t3", 60)
    await asyncio.sleep(0.8)  # past a lease (0.6 s): renewed by its holder, never taken
    assert [len(r.started) for r in replicas] == [1, 0, 0]
    # Its record overwritten behind its back (a holder too slow to renew): its next write
    # fails, its watch stops, and the others see a lease they must wait out.
    key = watches.PREFIX + "agent.t3"
    entry = await bus.kv_entry(BUCKET, key)
    assert entry is not None
    stolen = {**msgspec.json.decode(entry[0]), "owner": "elsewhere", "expires": 0.0}
    await bus.kv_update(BUCKET, key, msgspec.json.encode(stolen), entry[1])
    await eventually(lambda: sum(len(r.started) for r in replicas) == 2 or None, within_s=5)
    holders = [r for r in replicas if key in r.watches.held]
    assert len(holders) == 1 and owner(bus, "agent.t3") == holders[0].watches.me
    assert holders[0].started[-1] == "state-1"  # taken from its last state
    for replica in replicas:
        await replica.watches.release()


async def test_a_watch_past_its_end_is_dropped_not_taken() -> None:
    bus = MemoryBus()
    a, b = Replica(bus, "a"), Replica(bus, "b")
    await a.watches.start()
    await a.watches.begin("agent.t4", "agent", "t4", 0.3)
    await eventually(lambda: a.started == [""] or None)
    await a.watches.close()
    await b.watches.start()
    await eventually(lambda: watches.PREFIX + "agent.t4" not in bus.kv[BUCKET] or None, within_s=5)
    assert b.started == []
    await b.watches.release()
