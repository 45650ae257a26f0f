"""The whole catalog's tools, indexed so that a change costs what changed, not the catalog.

By id, by exposed name, by gateway, and every name in sorted order (tools/list without a
server pages through it by key: `page`). A gateway's change swaps that gateway's entries only;
the name order is re-sorted in near-linear time (the kept names are one sorted run, the new
ones another). The listed form of a tool (the upstream's definition under its catalog name)
is made when a page shows it: nothing per tool is held twice. Records are `LeanToolRecord`s:
their schemas stay the bytes they arrived as (decision 0034).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable

import msgspec

from forge.proto.catalog import LeanTool, LeanToolRecord


def _listed(record: LeanToolRecord) -> LeanTool:
    if record.tool.name == record.name:
        return record.tool
    return msgspec.structs.replace(record.tool, name=record.name)


def compacted(record: LeanToolRecord, shared: dict[str | None, str | None]) -> LeanToolRecord:
    """The record holding nothing of the message it was decoded from (its schemas' bytes
    copied out of it: a Raw keeps the whole message alive), and one copy of the strings that
    records share (gateway id, placement, times: a gateway's records are written together)."""
    tool = record.tool
    tool = msgspec.structs.replace(
        tool, inputSchema=tool.inputSchema.copy(), outputSchema=tool.outputSchema.copy()
    )
    one = shared.setdefault
    return msgspec.structs.replace(
        record,
        tool=tool,
        gateway_id=one(record.gateway_id, record.gateway_id),
        owner=one(record.owner, record.owner),
        team_id=one(record.team_id, record.team_id),
        visibility=one(record.visibility, record.visibility),
        created_at=one(record.created_at, record.created_at),
        updated_at=one(record.updated_at, record.updated_at),
    )


class ToolIndex:
    def __init__(self, records: Iterable[LeanToolRecord] = ()) -> None:
        self.by_id: dict[str, LeanToolRecord] = {}
        self.by_name: dict[str, LeanToolRecord] = {}
        self._by_gateway: dict[str, list[str]] = {}
        # Records as decoded, to be `compact`ed (in the background: a change shows at once).
        self._loose: list[LeanToolRecord] = []
        for record in records:
            self._add(record)
        self.order: list[str] = sorted(self.by_name)

    def _add(self, record: LeanToolRecord) -> None:
        self.by_id[record.id] = record
        self.by_name[record.name] = record
        self._by_gateway.setdefault(record.gateway_id, []).append(record.id)
        self._loose.append(record)

    def compact(self, most: int) -> bool:
        """Compact up to `most` of the records held as decoded (`compacted`); whether more
        are left. A record replaced meanwhile is skipped."""
        chunk = self._loose[-most:]
        del self._loose[-most:]
        shared: dict[str | None, str | None] = {}
        for record in chunk:
            if self.by_id.get(record.id) is not record:
                continue
            lean = compacted(record, shared)
            self.by_id[record.id] = lean
            if self.by_name.get(record.name) is record:
                self.by_name[record.name] = lean
        return bool(self._loose)

    def replace(self, gateway_id: str, records: Iterable[LeanToolRecord]) -> None:
        """Swap one gateway's (or agent's) tools for `records`."""
        gone: set[str] = set()
        for tool_id in self._by_gateway.pop(gateway_id, []):
            record = self.by_id.pop(tool_id, None)
            if record is not None and self.by_name.get(record.name) is record:
                del self.by_name[record.name]
                gone.add(record.name)
        added = []
        taken = False  # whether an added name is listed already (another gateway's, say)
        for record in records:
            taken = taken or record.name in self.by_name
            prior = self.by_id.get(record.id)
            if prior is not None and prior.gateway_id != gateway_id:
                # Moved to this gateway (not seen in practice): forget it where it was.
                self._by_gateway[prior.gateway_id].remove(record.id)
                if self.by_name.get(prior.name) is prior:
                    del self.by_name[prior.name]
                    gone.add(prior.name)
            self._add(record)
            added.append(record.name)
        kept = [n for n in self.order if n not in gone] if gone else self.order
        if added or gone:
            names = set(added)
            if taken:
                kept = [n for n in kept if n not in names]
            elif kept is self.order:
                kept = list(kept)
            kept.extend(sorted(names))
            kept.sort()  # two sorted runs: a merge
        self.order = kept

    def page(
        self, after: str | None, size: int, accept: Callable[[LeanToolRecord], bool]
    ) -> tuple[list[LeanTool], str | None]:
        """Up to `size` accepted tools in name order after the name `after` (None: from the
        first), and the key to continue after when more accepted ones follow."""
        order, by_name = self.order, self.by_name
        i = 0 if after is None else bisect.bisect_right(order, after)
        found: list[LeanTool] = []
        last = None
        while i < len(order):
            record = by_name[order[i]]
            i += 1
            if not accept(record):
                continue
            if len(found) == size:
                return found, last  # one more follows
            found.append(_listed(record))
            last = record.name
        return found, None
