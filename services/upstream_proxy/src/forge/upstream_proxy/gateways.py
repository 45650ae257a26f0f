"""The gateway cache: filled from the registry's snapshot, kept fresh by gateway events."""

from __future__ import annotations

import logging
from typing import Protocol

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.snapshot import load_snapshot
from forge.proto.catalog import Deleted, Gateway
from forge.proto.envelope import Envelope, Principal

log = logging.getLogger("forge.upstream_proxy.gateways")

_GATEWAY = msgspec.json.Decoder(Gateway)
_DELETED = msgspec.json.Decoder(Deleted)
_SYSTEM = Principal(subject="forge-upstream-proxy", is_admin=True)


class Listener(Protocol):
    """Told when a gateway appears, and when its pooled session no longer fits the catalog."""

    async def gateway_added(self, gateway_id: str) -> None: ...

    async def gateway_stale(self, gateway_id: str, *, removed: bool) -> None: ...


class Gateways:
    """Gateway id → Gateway, with a listener told of additions, moves and removals."""

    def __init__(self, bus: Bus, listener: Listener, *, snapshot_timeout_s: float) -> None:
        self.bus = bus
        self.listener = listener
        self.snapshot_timeout_s = snapshot_timeout_s
        self.by_id: dict[str, Gateway] = {}
        self._pending: list[tuple[str, bytes]] | None = []  # events seen while loading

    def get(self, gateway_id: str) -> Gateway | None:
        return self.by_id.get(gateway_id)

    async def fetch(self, gateway_id: str, deadline: float) -> Gateway:
        """A gateway the cache has not heard of yet, asked of the registry once.

        The router only routes to gateways it has seen in the catalog, so a miss here means
        the gateway's event has not reached this replica yet; NotFoundError if it is really gone.
        """
        envelope = Envelope(
            id=f"upstream-proxy-gateway-{gateway_id}",
            method="catalog.gateways.get",
            params=msgspec.Raw(msgspec.json.encode({"id": gateway_id})),
            principal=_SYSTEM,
            deadline=deadline,
        )
        data = await rpc.call(
            self.bus, subjects.registry(subjects.CATALOG, "gateways", "get"), envelope
        )
        gateway = _GATEWAY.decode(data)
        self.by_id.setdefault(gateway.id, gateway)
        return self.by_id[gateway.id]

    async def start(self) -> None:
        """Subscribe first, then load: an event racing the snapshot is buffered, not lost."""
        await self._subscribe()
        await self.load()

    async def follow(self) -> None:
        """Follow gateway events without loading the catalog: gateways are fetched when first
        asked for (a cache of the gateways one process calls, forge.upstream_proxy.local)."""
        self._pending = None
        await self._subscribe()

    async def _subscribe(self) -> None:
        await self.bus.subscribe(
            subjects.entity_events(subjects.CATALOG, "gateways"), self._on_event
        )

    async def load(self) -> None:
        """Ask the registry for the catalog, retrying with backoff until it answers."""
        snapshot = await load_snapshot(self.bus, "forge-upstream-proxy", self.snapshot_timeout_s)
        self.by_id = {g.id: g for g in snapshot.gateways}
        for gateway_id in list(self.by_id):
            await self.listener.gateway_added(gateway_id)
        # Events that arrived while loading are applied in order; the loop re-checks because
        # applying one awaits, and the list is only retired once it is empty.
        while self._pending:
            subject, data = self._pending.pop(0)
            await self._apply(subject, data)
        self._pending = None
        log.info("gateways loaded", extra={"gateways": len(self.by_id)})

    async def _on_event(self, subject: str, data: bytes) -> None:
        if self._pending is not None:
            self._pending.append((subject, data))
            return
        await self._apply(subject, data)

    async def _apply(self, subject: str, data: bytes) -> None:
        kind = subject.rsplit(".", 1)[-1]
        try:
            if kind == "changed":
                gateway = _GATEWAY.decode(data)
            elif kind == "deleted":
                gone = _DELETED.decode(data).id
            else:
                return
        except (msgspec.DecodeError, msgspec.ValidationError):
            log.warning("ignored a malformed gateway event on %s", subject)
            return
        if kind == "deleted":
            self.by_id.pop(gone, None)
            await self.listener.gateway_stale(gone, removed=True)
            return
        old = self.by_id.get(gateway.id)
        self.by_id[gateway.id] = gateway
        if old is None:
            await self.listener.gateway_added(gateway.id)
        elif _endpoint(old) != _endpoint(gateway) or not gateway.enabled:
            await self.listener.gateway_stale(gateway.id, removed=False)


def _endpoint(gateway: Gateway) -> tuple[object, ...]:
    """What a pooled session is bound to: a change means a new session (a rename does not)."""
    env = tuple(sorted(gateway.env.items()))
    endpoint = (gateway.transport, gateway.url, tuple(gateway.command or ()), env)
    return (*endpoint, gateway.auth_type, gateway.auth)
