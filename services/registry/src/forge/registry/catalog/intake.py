"""What a streamed discovery brings in: pages taken in order, tools stored in batches.

The pages (`forge.proto.catalog.DiscoverPage`) arrive one at a time on
`forge.discover.<request id>` (discovery.py serves it); each is answered once taken, so the
upstream-proxy sends the next only then (flow control). Tools go to PostgreSQL in batches of
BATCH, by COPY, on the connection of the transaction the gateway is stored in: into `tools`
(a registration) or into the transaction's staging table (a refresh: `offers.swap_staged`
follows). No more than a batch of tools is held; a failure rolls the transaction back, so a
discovery that fails half way leaves nothing behind. Resources, templates and prompts are kept
until the end and stored with `contents` (gateways offer few of them).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from forge.core.errors import UpstreamBadResponseError
from forge.proto.catalog import INLINE_TOOLS, MAX_LIST_ENTRIES, DiscoverPage, Gateway
from forge.registry.catalog import offers, ownership
from forge.registry.catalog.contents import Contents, Entry
from forge.registry.catalog.offers import NewTool

log = logging.getLogger("forge.registry")
T = TypeVar("T")
# Tools stored per COPY: a batch is held at most (some 3 MiB of definitions for small tools).
BATCH = 5_000


class Intake:
    """One discovery's entries on their way into the gateway's transaction."""

    def __init__(
        self,
        conn: Any,
        gateway: Gateway,
        separator: str,
        into: Literal["tools", "staged"],
    ) -> None:
        self._conn = conn
        self._gateway = gateway
        self._prefix = f"{gateway.slug}{separator}"
        self._into = into
        self._at = ownership.of(gateway)
        self._batch: list[NewTool] = []
        self._seen: dict[str, set[str]] = {"tool": set(), "resource": set(), "template": set()}
        self._seen["prompt"] = set()
        self.seq = 0
        self.tools = 0
        # The tools themselves while they are few (their records are announced inline).
        self.kept: list[NewTool] | None = []
        self.resources: list[Entry] = []
        self.templates: list[Entry] = []
        self.prompts: list[Entry] = []

    def _fresh(self, what: str, items: list[T], key: Callable[[T], str]) -> list[T]:
        """The first of each key: a sloppy upstream may list one twice (even pages apart)."""
        seen = self._seen[what]
        fresh = []
        for item in items:
            if key(item) in seen:
                log.warning(
                    "upstream listed a %s twice", what, extra={"gateway_id": self._gateway.id}
                )
                continue
            seen.add(key(item))
            fresh.append(item)
        return fresh

    async def take(self, page: DiscoverPage) -> None:
        """Take the next page (its `seq` must be the next), storing a batch when one is full."""
        if page.seq != self.seq:
            raise UpstreamBadResponseError(
                f"discovery page {page.seq} arrived where page {self.seq} was due"
            )
        self.seq += 1
        prefix = self._prefix
        for t in self._fresh("tool", page.tools, lambda t: t.name):
            self._batch.append(NewTool(uuid.uuid4().hex, f"{prefix}{t.name}", t))
        for r in self._fresh("resource", page.resources, lambda r: r.uri):
            self.resources.append(Entry(uuid.uuid4().hex, r.uri, r))
        for m in self._fresh("template", page.resource_templates, lambda m: m.uriTemplate):
            self.templates.append(Entry(uuid.uuid4().hex, m.uriTemplate, m))
        for p in self._fresh("prompt", page.prompts, lambda p: p.name):
            self.prompts.append(Entry(uuid.uuid4().hex, p.name, p, name=f"{prefix}{p.name}"))
        counts = (self.tools + len(self._batch), len(self.resources), len(self.templates))
        if max(*counts, len(self.prompts)) > MAX_LIST_ENTRIES:
            raise UpstreamBadResponseError(f"a list of more than {MAX_LIST_ENTRIES} entries")
        if len(self._batch) >= BATCH:
            await self._store()

    async def _store(self) -> None:
        batch, self._batch = self._batch, []
        self.tools += len(batch)
        if self.kept is not None:
            self.kept.extend(batch)
            if len(self.kept) > INLINE_TOOLS:
                self.kept = None  # announced in chunks, read back from the database
        if self._into == "tools":
            await offers.insert_tools(self._conn, self._gateway.id, batch, self._at)
        else:
            await offers.staged(self._conn, batch)

    async def finish(self) -> Contents:
        """Store the last batch; what else the discovery found."""
        await self._store()
        return Contents(self.resources, self.templates, self.prompts)
