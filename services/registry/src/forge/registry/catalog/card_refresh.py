"""The periodic refresh of A2A agents' cards: every `FORGE_REGISTRY_AGENT_CARD_REFRESH_S`, each
enabled agent's card is fetched again (through the SSRF guard, as at registration) and the
agent follows what it says now (agents.refresh_card: endpoint, version, binding, streaming,
description; an event only when something changed; an unreachable agent keeps its last card).

Every replica runs the loop. A replica claims the agents that are due (store.claim_card_refreshes:
FOR UPDATE SKIP LOCKED, stamping `card_refreshed_at` in the same statement, so one claim per
agent and period) and refreshes each under the agent's advisory lock (store.card_refresh_lock),
so that no two refreshes of one agent run at once across replicas, even one outlasting the
period. A manual refresh (`POST /a2a/{id}/card/refresh`, `refresh_now`) takes the same lock,
waiting for a periodic one that holds it, so the two never overlap either.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from forge.core.bus import Bus
from forge.core.errors import NotFoundError, ServiceUnavailableError
from forge.proto.agents import Agent
from forge.proto.catalog_params import IdParams
from forge.proto.envelope import Principal
from forge.registry.catalog import agents, cards, ownership
from forge.registry.catalog.operation import Context
from forge.registry.catalog.store import MISSING_AGENT, Store
from forge.registry.config import RegistryConfig

log = logging.getLogger("forge.registry.card_refresh")
BATCH = 16  # agents claimed at once: a replica holds no more claims than it works on soon
LONGEST_WAIT_S = 60.0  # an agent registered meanwhile is due at most this late past its time
LOCK_POLL_S = 0.05  # how often a manual refresh tries the lock a periodic one holds
FETCH_LEFT_S = 2.0  # a manual refresh stops waiting for the lock when less would be left
# Who the refresh acts as (it checks no permission; events carry no principal).
REFRESHER = Principal(subject="forge-registry:card-refresh")


class CardRefresher:
    """One replica's share of the periodic card refreshes."""

    def __init__(self, bus: Bus, store: Store, config: RegistryConfig) -> None:
        self.bus = bus
        self.store = store
        self.config = config

    async def run(self, stop: asyncio.Event) -> None:
        """Refresh the due cards until `stop`; off when the period is 0."""
        every = self.config.agent_card_refresh_s
        if every <= 0:
            return
        wait = min(every / 2, LONGEST_WAIT_S)
        while not stop.is_set():
            await self.refresh_due()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), wait)

    async def refresh_due(self) -> int:
        """Refresh every agent due now (claimed in batches); how many changed. A failed round
        is logged and retried at the next one."""
        changed = 0
        done: list[str] = []  # an agent due again within the round waits for the next one
        try:
            while claimed := await self.store.claim_card_refreshes(
                self.config.agent_card_refresh_s, BATCH, done
            ):
                for agent in claimed:
                    done.append(agent.id)
                    changed += await self.refresh(agent.id)
        except Exception:  # the loop's adapter: a database hiccup must not end the refreshes
            log.exception("agent card refresh failed; retried at the next round")
        return changed

    async def refresh(self, agent_id: str) -> bool:
        """One agent's refresh under its lock; whether the agent changed."""
        async with self.store.card_refresh_lock(agent_id) as held:
            if not held:  # another replica is refreshing it right now
                return False
            try:
                current = await self.store.get_agent(agent_id)  # as it is now, not as claimed
            except NotFoundError:  # deleted meanwhile
                return False
            if not current.enabled:
                return False
            deadline = time.time() + cards.CARD_TIMEOUT_S + 2.0
            ctx = Context(self.bus, self.store, self.config, REFRESHER, deadline)
            return await agents.refresh_card(ctx, current) is not None


async def refresh_now(params: IdParams, ctx: Context) -> Agent:
    """`agents.refresh` (`POST /a2a/{id}/card/refresh`): agents.refresh_agent under the agent's
    card-refresh lock. A periodic refresh holding it is waited for (its fetch is bounded by the
    card timeout) while at least FETCH_LEFT_S of the request's deadline would be left for the
    fetch; past that, a 503. Meanwhile the periodic refresh leaves the agent alone."""
    agent = await ctx.store.get_agent(params.id)
    # The caller's right first: a lock is never waited for on an agent they may not manage.
    ownership.require_manager(ctx.principal, agent, MISSING_AGENT, "agent", "a2a.update")
    while True:
        async with ctx.store.card_refresh_lock(agent.id) as held:
            if held:
                return await agents.refresh_agent(params, ctx)
        if time.time() + LOCK_POLL_S + FETCH_LEFT_S > ctx.deadline:
            raise ServiceUnavailableError(
                "the agent's card is being refreshed right now; try again shortly"
            )
        await asyncio.sleep(LOCK_POLL_S)
