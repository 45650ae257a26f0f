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


class ToolIndex:
    def __init__(self, records: Iterable[LeanToolRecord] = ()) -> None:
        self.by_id: dict[str, LeanToolRecord] = {}
        self.by_name: dict[str, LeanToolRecord] = {}
        self._by_gateway: dict[str, list[str]] = {}
        for record in records:
            self._add(record)
        self.order: list[str] = sorted(self.by_name)

    def _add(self, record: LeanToolRecord) -> None:
        self.by_id[record.id] = record
        self.by_name[record.name] = record
        self._by_gateway.setdefault(record.gateway_id, []).append(record.id)

    def replace(self, gateway_id: str, records: Iterable[LeanToolRecord]) -> None:
        """Swap one gateway's (or agent's) tools for `records`."""
        gone: set[str] = set()
        for tool_id in self._by_gateway.pop(gateway_id, []):
            record = self.by_id.pop(tool_id, None)
            if record is not None and self.by_name.get(record.name) is record:
                del self.by_name[record.name]
                gone.add(record.name)
        added = []
        for record in records:
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
            kept = [n for n in kept if n not in names]
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
