"""The agent cache: filled from the registry's snapshot, kept fresh by agent events."""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.snapshot import load_snapshot
from forge.proto.agents import Agent, AgentsChanged
from forge.proto.catalog import Deleted
from forge.proto.envelope import Envelope, Principal

log = logging.getLogger("forge.a2a_bridge.agents")

_AGENT = msgspec.json.Decoder(Agent)
_CHANGED = msgspec.json.Decoder(AgentsChanged)
_DELETED = msgspec.json.Decoder(Deleted)
_SYSTEM = Principal(subject="forge-a2a-bridge", is_admin=True)


class Agents:
    """Agent id → Agent; `stale` is told of each agent that changed or went away."""

    def __init__(
        self, bus: Bus, *, snapshot_timeout_s: float, stale: Callable[[str], None] | None = None
    ) -> None:
        self.bus = bus
        self.snapshot_timeout_s = snapshot_timeout_s
        self.stale = stale or (lambda agent_id: None)
        self.by_id: dict[str, Agent] = {}
        self._pending: list[tuple[str, bytes]] | None = []  # events seen while loading

    def get(self, agent_id: str) -> Agent | None:
        return self.by_id.get(agent_id)

    def put(self, agent: Agent) -> None:
        """Know an agent without the registry (tests, and the answer of a fetch)."""
        self.by_id[agent.id] = agent
        self.stale(agent.id)

    async def fetch(self, agent_id: str, deadline: float) -> Agent:
        """An agent the cache has not heard of yet, asked of the registry once.

        The router routes only to agents whose tool it has seen, so a miss means the agent's
        event has not reached this replica yet; NotFoundError if it is really gone.
        """
        envelope = Envelope(
            id=f"a2a-bridge-agent-{agent_id}",
            method="catalog.agents.get",
            params=msgspec.Raw(msgspec.json.encode({"id": agent_id})),
            principal=_SYSTEM,
            deadline=deadline,
        )
        data = await rpc.call(
            self.bus, subjects.registry(subjects.CATALOG, "agents", "get"), envelope
        )
        agent = _AGENT.decode(data)
        self.by_id.setdefault(agent.id, agent)
        return self.by_id[agent.id]

    async def start(self) -> None:
        """Subscribe first, then load: an event racing the snapshot is buffered, not lost."""
        await self.bus.subscribe(subjects.entity_events(subjects.CATALOG, "agents"), self._on_event)
        snapshot = await load_snapshot(self.bus, "forge-a2a-bridge", self.snapshot_timeout_s)
        self.by_id = {a.id: a for a in snapshot.agents}
        while self._pending:
            self._apply(*self._pending.pop(0))
        self._pending = None
        log.info("agents loaded", extra={"agents": len(self.by_id)})

    async def _on_event(self, subject: str, data: bytes) -> None:
        if self._pending is not None:
            self._pending.append((subject, data))
            return
        self._apply(subject, data)

    def _apply(self, subject: str, data: bytes) -> None:
        kind = subject.rsplit(".", 1)[-1]
        try:
            if kind == "changed":
                agent = _CHANGED.decode(data).agent
                self.by_id[agent.id] = agent
                self.stale(agent.id)
            elif kind == "deleted":
                gone = _DELETED.decode(data).id
                self.by_id.pop(gone, None)
                self.stale(gone)
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("ignored a malformed agent event on %s", subject)
