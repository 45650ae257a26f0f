"""The periodic refresh of agents' cards (catalog/card_refresh.py): against a real card server
whose card changes and a real PostgreSQL, the agent follows its card, the caches hear of it
only when something changed, an unreachable agent keeps its last card, and two replicas never
refresh one agent twice at once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from registry_harness import ADMIN, CONFIG, Client

from forge.core.errors import ServiceUnavailableError
from forge.proto.catalog_params import IdParams
from forge.registry.catalog.card_refresh import FETCH_LEFT_S, CardRefresher, refresh_now
from forge.registry.catalog.operation import Context
from forge.registry.catalog.store import Store
from forge.testing import eventually
from forge.testing.card_server import CARD_PATH, CardServer, card_v03, card_v1
from forge.testing.membus import MemoryBus

# Due again 1 ms after the last fetch: each round refreshes every agent.
EVERY = msgspec.structs.replace(CONFIG, agent_card_refresh_s=0.001)


@pytest.fixture
def agent_server() -> Iterator[CardServer]:
    with CardServer() as server:
        server.serve_card(card_v1(server.url + "/a2a", "Echo Agent"))
        yield server


async def register(client: Client, server: CardServer, name: str = "Echo") -> dict[str, Any]:
    created: dict[str, Any] = await client(
        "agents", "create", {"name": name, "url": server.url, "team_id": "team-a"}
    )
    return created


def changes(client: Client, agent_id: str) -> list[dict[str, Any]]:
    return [e["agent"] for e in client.events("agents", "changed") if e["agent"]["id"] == agent_id]


async def test_the_refresh_follows_a_changed_card_and_is_quiet_when_nothing_changed(
    client: Client, membus: MemoryBus, store: Store, agent_server: CardServer
) -> None:
    agent = await register(client, agent_server)
    refresher = CardRefresher(membus, store, EVERY)
    assert await refresher.refresh_due() == 0  # the same card: no event
    assert len(changes(client, agent["id"])) == 1  # the registration's
    agent_server.serve_card(card_v03(agent_server.url + "/v03", "Echo Agent"))
    assert await refresher.refresh_due() == 1
    [_, changed] = changes(client, agent["id"])
    assert (changed["url"], changed["protocol_version"]) == (agent_server.url + "/v03", "0.3")
    assert (changed["streaming"], changed["description"]) == (False, "A 0.3 agent")
    assert changed["auth"] is None  # events never carry credentials
    [tools] = [e for e in client.events("tools", "changed") if e["gateway_id"] == agent["id"]][-1:]
    assert tools["tools"][0]["tool"]["description"] == "A 0.3 agent"
    stored = await client("agents", "get", {"id": agent["id"]})
    assert (stored["binding"], stored["reachable"]) == ("jsonrpc", True)


async def test_an_unreachable_agent_keeps_its_last_card_until_it_answers_again(
    client: Client, membus: MemoryBus, store: Store, agent_server: CardServer
) -> None:
    agent = await register(client, agent_server)
    refresher = CardRefresher(membus, store, EVERY)
    agent_server.clear()  # the card is gone (404 at both paths)
    assert await refresher.refresh_due() == 1
    kept = await client("agents", "get", {"id": agent["id"]})
    assert kept["reachable"] is False
    assert (kept["url"], kept["card"]) == (agent["url"], agent["card"])
    assert await refresher.refresh_due() == 0  # still away: nothing new to tell
    assert len(changes(client, agent["id"])) == 2
    agent_server.serve_card(card_v1(agent_server.url + "/a2a", "Echo Agent"))
    assert await refresher.refresh_due() == 1
    assert (await client("agents", "get", {"id": agent["id"]}))["reachable"] is True


async def test_replicas_never_refresh_one_agent_twice_at_once(
    client: Client, membus: MemoryBus, store: Store, agent_server: CardServer
) -> None:
    ids = [(await register(client, agent_server, f"Echo {n}"))["id"] for n in range(4)]
    await client("agents", "toggle", {"id": ids[3], "activate": False})
    agent_server.requests.clear()
    agent_server.serve_card(card_v1(agent_server.url + "/v2", "Echo Agent"))
    # Due once an hour, and last fetched two hours ago: each is due once.
    await store.pool.execute("UPDATE agents SET card_refreshed_at = now() - interval '2 hours'")
    hourly = msgspec.structs.replace(CONFIG, agent_card_refresh_s=3600.0)
    replicas = [CardRefresher(membus, store, hourly) for _ in range(3)]
    changed = await asyncio.gather(*(r.refresh_due() for r in replicas))
    # Each enabled agent claimed by one replica, its card fetched once; the disabled one not.
    assert sum(changed) == 3
    assert agent_server.requests == [CARD_PATH] * 3
    # An agent whose lock another replica holds is left alone.
    async with store.card_refresh_lock(ids[0]) as held:
        assert held
        agent_server.serve_card(card_v1(agent_server.url + "/v3", "Echo Agent"))
        assert await replicas[0].refresh(ids[0]) is False
        assert agent_server.requests == [CARD_PATH] * 3
    assert await replicas[0].refresh(ids[0]) is True


async def test_the_loop_picks_up_a_change_and_stops(
    client: Client, membus: MemoryBus, store: Store, agent_server: CardServer
) -> None:
    agent = await register(client, agent_server)
    stop = asyncio.Event()
    every = msgspec.structs.replace(CONFIG, agent_card_refresh_s=0.2)
    loop = asyncio.create_task(CardRefresher(membus, store, every).run(stop))
    agent_server.serve_card(card_v1(agent_server.url + "/a2a", "Echo Agent", streaming=False))

    def refreshed() -> bool:
        return any(a["streaming"] is False for a in changes(client, agent["id"]))

    await eventually(refreshed, within_s=10, what="the periodic refresh")
    stop.set()
    async with asyncio.timeout(10):
        await loop
    off = msgspec.structs.replace(CONFIG, agent_card_refresh_s=0.0)
    async with asyncio.timeout(1):  # 0: off, returns at once
        await CardRefresher(membus, store, off).run(asyncio.Event())


async def test_a_manual_refresh_waits_for_the_lock_the_periodic_refresh_holds(
    client: Client,
    membus: MemoryBus,
    store: Store,
    agent_server: CardServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = await register(client, agent_server)
    tries = 0
    locked = store.card_refresh_lock

    def counted(agent_id: str) -> Any:
        nonlocal tries
        tries += 1
        return locked(agent_id)

    monkeypatch.setattr(store, "card_refresh_lock", counted)
    agent_server.requests.clear()
    agent_server.serve_card(card_v1(agent_server.url + "/v2", "Echo Agent"))
    # A periodic refresh (another replica) holds the agent's lock: the manual one waits.
    async with locked(agent["id"]) as held:
        assert held
        manual = asyncio.create_task(client("agents", "refresh", {"id": agent["id"]}))
        await eventually(lambda: tries >= 3, within_s=10, what="the manual refresh tries the lock")
        assert not manual.done()
        assert agent_server.requests == []  # the card was not fetched meanwhile
    async with asyncio.timeout(10):
        refreshed = await manual
    assert refreshed["url"] == agent_server.url + "/v2"
    assert agent_server.requests == [CARD_PATH]
    # While a manual refresh holds it, the periodic one leaves the agent alone.
    async with locked(agent["id"]) as held:
        assert held
        assert await CardRefresher(membus, store, EVERY).refresh(agent["id"]) is False
    assert agent_server.requests == [CARD_PATH]


async def test_a_manual_refresh_is_a_503_when_the_lock_stays_held_past_its_deadline(
    client: Client, membus: MemoryBus, store: Store, agent_server: CardServer
) -> None:
    agent = await register(client, agent_server)
    agent_server.requests.clear()
    # Half a second more than the fetch needs left: the lock is tried for about that long.
    ctx = Context(membus, store, CONFIG, ADMIN, time.time() + FETCH_LEFT_S + 0.5)
    async with store.card_refresh_lock(agent["id"]) as held:
        assert held
        with pytest.raises(ServiceUnavailableError, match="being refreshed"):
            async with asyncio.timeout(10):
                await refresh_now(IdParams(id=agent["id"]), ctx)
    assert agent_server.requests == []
