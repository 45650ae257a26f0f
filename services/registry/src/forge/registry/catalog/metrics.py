"""Per-entity metrics in the catalog: storing the routers' batches, rolling them up, and the
`metrics.*` operations (summary, one entity's, reset) that the edge's REST routes call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import msgspec

from forge.core import subjects
from forge.core.bus import Bus, Headers
from forge.core.errors import ForbiddenError, InvalidParamsError, NotFoundError
from forge.core.operations import Operation, bare, operation
from forge.proto import access
from forge.proto.metrics import KINDS, EntityMetrics, EntityMetricsParams, EntityStats, Kind
from forge.proto.metrics import ResetMetricsParams as ResetParams
from forge.registry.catalog import contents, ownership
from forge.registry.catalog.metric_rows import MetricRows
from forge.registry.catalog.operation import Context
from forge.registry.catalog.store import (
    MISSING_AGENT,
    MISSING_GATEWAY,
    MISSING_SERVER,
    MISSING_TOOL,
    Store,
)
from forge.registry.config import RegistryConfig

log = logging.getLogger("forge.registry.metrics")
_BATCH = msgspec.json.Decoder(dict[str, EntityStats])
# The permission that reads each kind's entries (and so their metrics).
READ: dict[Kind, str] = {
    "tools": "tools.read",
    "resources": "resources.read",
    "prompts": "prompts.read",
    "servers": "servers.read",
    "gateways": "gateways.read",
    "agents": "a2a.read",
}
# `GET /metrics` keys: ContextForge's (agents are its `a2a_agents`).
SUMMARY_KEYS: dict[Kind, str] = {kind: kind for kind in KINDS} | {"agents": "a2a_agents"}
# ContextForge's reset takes singular names; ours and the summary's keys are accepted too.
_RESET_NAMES: dict[str, Kind] = {
    **{kind: kind for kind in KINDS},
    **{kind[:-1]: kind for kind in KINDS},
    "a2a": "agents",
    "a2a_agent": "agents",
    "a2a_agents": "agents",
}
RESET = "admin.config"


async def _entries(ctx: Context, kind: Kind) -> list[Any]:
    """Every entry of the kind (resources: templates too, they serve resources/read)."""
    store = ctx.store
    if kind == "tools":
        return list(await store.list_tools())
    if kind == "resources":
        listed = await store.list_entries(contents.RESOURCES)
        return [*listed, *await store.list_entries(contents.TEMPLATES)]
    if kind == "prompts":
        return list(await store.list_entries(contents.PROMPTS))
    if kind == "servers":
        return list(await store.list_servers())
    if kind == "gateways":
        return list(await store.list_gateways())
    return list(await store.list_agents())


def _readable(ctx: Context, kind: Kind, entries: list[Any]) -> list[str]:
    permission = READ[kind]
    return [
        e.id
        for e in ownership.seen(ctx.principal, entries)
        if access.permits(ctx.principal, permission, e.team_id)
    ]


async def summary(params: None, ctx: Context) -> dict[str, EntityMetrics]:
    """Each kind's metrics summed over the entries the caller can see and read (everything,
    for platform admins: deleted entries' metrics too, until reset)."""
    rows = MetricRows(ctx.store.pool)
    out = {}
    for kind in KINDS:
        ids = None if ctx.principal.is_admin else _readable(ctx, kind, await _entries(ctx, kind))
        out[SUMMARY_KEYS[kind]] = await rows.read(kind, ids)
    return out


async def _require_visible(ctx: Context, kind: Kind, entity_id: str) -> None:
    """NotFoundError, as for an unknown id, unless the caller sees the entity."""
    store = ctx.store
    found: Any
    missing = "no entry of this kind has this id"
    if kind == "tools":
        found, missing = await store.get_tool(entity_id), MISSING_TOOL
    elif kind == "resources":
        try:
            found = await store.get_entry(contents.RESOURCES, entity_id)
        except NotFoundError:
            found = await store.get_entry(contents.TEMPLATES, entity_id)
        missing = contents.RESOURCES.missing
    elif kind == "prompts":
        found, missing = (
            await store.get_entry(contents.PROMPTS, entity_id),
            contents.PROMPTS.missing,
        )
    elif kind == "servers":
        found, missing = await store.get_server(entity_id), MISSING_SERVER
    elif kind == "gateways":
        found, missing = await store.get_gateway(entity_id), MISSING_GATEWAY
    else:
        found, missing = await store.get_agent(entity_id), MISSING_AGENT
    ownership.require_visible(ctx.principal, found, missing)


async def entity(params: EntityMetricsParams, ctx: Context) -> EntityMetrics:
    await _require_visible(ctx, params.kind, params.id)
    return await MetricRows(ctx.store.pool).read(params.kind, [params.id])


async def reset(params: ResetParams, ctx: Context) -> dict[str, Any]:
    """ContextForge's reset: every kind (no entity), one kind, or one entity of it."""
    if not access.permits(ctx.principal, RESET):
        raise ForbiddenError(
            f"permission denied: this needs the '{RESET}' permission", {"permission": RESET}
        )
    kinds: tuple[Kind, ...] = KINDS
    if params.entity is not None:
        kind = _RESET_NAMES.get(params.entity.strip().lower())
        if kind is None:
            raise InvalidParamsError(
                "entity must be one of tool, resource, prompt, server, gateway, a2a",
                {"field": "entity"},
            )
        kinds = (kind,)
    elif params.entity_id is not None:
        raise InvalidParamsError("entity_id needs an entity", {"field": "entity"})
    await MetricRows(ctx.store.pool).reset(kinds, params.entity_id)
    what = params.entity or "all entities"
    return {"status": "success", "message": f"Metrics reset for {what}"}


OPERATIONS: dict[tuple[str, str], Operation[Context]] = {
    ("metrics", "summary"): bare(summary),
    ("metrics", "get"): operation(EntityMetricsParams, entity),
    ("metrics", "reset"): operation(ResetParams, reset),
}


class Recorder:
    """Stores the routers' batches (each reaches one replica of the queue group) and rolls up
    the raw rows every `metrics_rollup_every_s`, on every replica (they claim disjoint rows)."""

    def __init__(self, bus: Bus, store: Store, config: RegistryConfig, queue: str) -> None:
        self.bus = bus
        self.rows = MetricRows(store.pool)
        self.config = config
        self.queue = queue

    async def start(self) -> None:
        for kind in KINDS:
            await self.bus.serve(subjects.metrics(kind), self._consumer(kind), queue=self.queue)

    def _consumer(self, kind: Kind) -> Any:
        async def consume(data: bytes, headers: Headers) -> bytes:
            return await self.store_batch(kind, data)

        return consume

    async def store_batch(self, kind: Kind, data: bytes) -> bytes:
        try:
            batch = _BATCH.decode(data)
        except msgspec.DecodeError:
            log.warning("dropped a malformed metrics batch", extra={"kind": kind})
            return b'{"result":{"stored":0}}'
        try:
            stored = await self.rows.insert_batch(kind, batch)
        except Exception:  # the consumer's adapter: one lost batch is logged, never a crash
            log.exception("a metrics batch was not stored", extra={"kind": kind})
            return b'{"result":{"stored":0}}'
        return b'{"result":{"stored":%d}}' % stored

    async def run(self, stop: asyncio.Event) -> None:
        """Roll up and expire until `stop`; a failed round is logged and retried next time."""
        while not stop.is_set():
            await self.roll_up()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.config.metrics_rollup_every_s)

    async def roll_up(self) -> int:
        try:
            rolled = await self.rows.roll_up(self.config.metrics_rollup_period_s)
            await self.rows.expire(self.config.metrics_raw_retention_s)
        except Exception:  # the loop's adapter: a database hiccup must not end the roll-ups
            log.exception("metrics roll-up failed; retried at the next round")
            return 0
        return rolled
