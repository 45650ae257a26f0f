"""Following paged tools.changed events: a large gateway's tools read from the registry.

A gateway with more than INLINE_TOOLS tools is announced in chunks (decision 0034); a cache
that missed one of them (or hears an event that holds no tools, `ToolsChanged.paged`) reads the
set with `catalog.tools.page`, one page after the other (each within the step's deadline), then
swaps it in at once, unless a later change of that gateway's
tools came meanwhile: then that change counts (an inline event, a deletion, or the fetch of a
later paged event, which replaces this one). Until the swap, the gateway's previous tools stay
listed. A failed read is retried (backed off) until it succeeds or is superseded, so every
cache ends up with what the database holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import ForgeError
from forge.proto.catalog import LeanToolRecord, LeanToolsPage
from forge.proto.catalog_params import ToolsPageParams
from forge.proto.envelope import Envelope, Principal
from forge.router.catalog import Catalog

log = logging.getLogger("forge.router.tool_pages")
_PAGE = msgspec.json.Decoder(LeanToolsPage)
_ENC = msgspec.json.Encoder()
_SUBJECT = subjects.registry(subjects.CATALOG, "tools", "page")
RETRY_MAX_S = 2.0
COMPACT_CHUNK = 1000  # records compacted between two turns of the event loop


class ToolPages:
    """The reads in flight, one per gateway; `applied` is called after each swap."""

    def __init__(
        self,
        bus: Bus,
        catalog: Catalog,
        step_timeout_s: float,
        who: str = "forge-router",
        applied: Callable[[], None] = lambda: None,
    ) -> None:
        self.bus = bus
        self.catalog = catalog
        self.step_timeout_s = step_timeout_s
        self.principal = Principal(subject=who, is_admin=True)
        self.applied = applied
        self._reading: dict[str, asyncio.Task[None]] = {}
        self._compacting: asyncio.Task[None] | None = None

    def compact_soon(self) -> None:
        """Compact the records a change brought (Catalog.compact) in the background, a chunk
        at a time between other work; once at a time."""
        if self._compacting is None or self._compacting.done():
            self._compacting = asyncio.create_task(self._compact())

    async def _compact(self) -> None:
        while True:
            if not self.catalog.compact(COMPACT_CHUNK):
                return
            await asyncio.sleep(0)  # a turn for requests and events between two chunks

    def follow(self, gateway_id: str) -> None:
        """Read the gateway's tools (its paged event was just applied), dropping an older read."""
        older = self._reading.pop(gateway_id, None)
        if older is not None:
            older.cancel()
        version = self.catalog.tools_version(gateway_id)
        task = asyncio.create_task(self._fetch(gateway_id, version))
        self._reading[gateway_id] = task
        task.add_done_callback(lambda done: self._done(gateway_id, done))

    def _done(self, gateway_id: str, task: asyncio.Task[None]) -> None:
        if self._reading.get(gateway_id) is task:
            del self._reading[gateway_id]

    def reading(self) -> int:
        return len(self._reading)

    async def settled(self) -> None:
        """Return once no read is in flight and all is compacted (tests, benches)."""
        while self._reading or (self._compacting is not None and not self._compacting.done()):
            tasks = [*self._reading.values(), *([self._compacting] if self._compacting else [])]
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        tasks = [*self._reading.values(), *([self._compacting] if self._compacting else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._reading.clear()

    async def _fetch(self, gateway_id: str, version: tuple[int, int]) -> None:
        delay = 0.1
        while self.catalog.tools_version(gateway_id) == version:
            try:
                records = await self._read(gateway_id)
            except ForgeError as exc:
                log.warning("reading a gateway's tools failed (%s); retrying", exc.message)
            except (msgspec.DecodeError, msgspec.ValidationError):
                log.warning("the catalog registry sent a malformed page of tools; retrying")
            else:
                if self.catalog.tools_fetched(gateway_id, version, records):
                    self.applied()
                    self.compact_soon()
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)

    async def _read(self, gateway_id: str) -> list[LeanToolRecord]:
        records: list[LeanToolRecord] = []
        after: str | None = None
        while True:
            envelope = Envelope(
                id=uuid.uuid4().hex,
                method="catalog.tools.page",
                params=msgspec.Raw(_ENC.encode(ToolsPageParams(gateway_id, after))),
                principal=self.principal,
                deadline=time.time() + self.step_timeout_s,
            )
            page = _PAGE.decode(await rpc.call(self.bus, _SUBJECT, envelope))
            records += page.tools
            if page.next is None:
                return records
            after = page.next
