"""Catalog change notices: a large gateway's tools.changed chunks make one notice, at the last."""

from __future__ import annotations

import asyncio

import msgspec

from forge.core import subjects
from forge.edge.transports import notices
from forge.edge.transports.notices import Notices
from forge.testing.membus import MemoryBus

CHANGED = subjects.event(subjects.CATALOG, "tools", "changed")


def chunk(n: int, final: bool) -> bytes:
    body = {"gateway_id": "g1", "tools": [], "change": "c", "chunk": n, "final": final}
    return msgspec.json.encode({**body, "count": 1_000_000})


async def test_only_the_final_chunk_of_a_tools_change_is_a_list_change() -> None:
    bus = MemoryBus()
    heard: list[frozenset[str]] = []
    listening = Notices(bus)
    await listening.add(heard.append)
    for n in range(3):
        await bus.publish(CHANGED, chunk(n, final=False))
    await asyncio.sleep(notices.DEBOUNCE_S * 2)
    assert heard == []
    await bus.publish(CHANGED, chunk(3, final=True))
    await bus.publish(CHANGED, b'{"gateway_id":"g2","tools":[]}')  # a small change, inline
    await asyncio.sleep(notices.DEBOUNCE_S * 2)
    assert heard == [frozenset({"tools"})]
