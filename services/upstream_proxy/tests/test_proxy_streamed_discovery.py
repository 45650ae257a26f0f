"""A streamed discovery (`DiscoverParams.streamed`): the lists go out as pages on
`forge.discover.<request id>`, one at a time, each sent once the last is answered; the reply
counts them; a page the asker refuses ends the discovery with that refusal."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from proxy_harness import envelope, gateway

from conftest import StartProxy
from forge.core import rpc, subjects
from forge.core.bus import Headers, NatsBus
from forge.core.errors import ConflictError
from forge.proto.catalog import DISCOVER_PAGE_ENTRIES, DiscoverPage, DiscoverResult
from forge.testing.catalog_server import CatalogServer


class Asker:
    """The registry's side: takes pages (slowly), refusing page `refuse_at` when set."""

    def __init__(self, refuse_at: int | None = None) -> None:
        self.pages: list[DiscoverPage] = []
        self.refuse_at = refuse_at
        self.in_flight = 0
        self.most_in_flight = 0

    async def take(self, data: bytes, headers: Headers) -> bytes:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            page = msgspec.json.decode(data, type=DiscoverPage)
            await asyncio.sleep(0.01)
            if page.seq == self.refuse_at:
                return rpc.error_reply(ConflictError("a tool's name is taken").to_object())
            self.pages.append(page)
            return b'{"result":{}}'
        finally:
            self.in_flight -= 1


async def _discover(bus: NatsBus, url: str, asker: Asker) -> bytes:
    gw = gateway(url)
    env = envelope("discover", {"gateway": msgspec.to_builtins(gw), "streamed": True})
    await bus.serve(subjects.discover_pages(env.id), asker.take)
    return await rpc.call(bus, subjects.upstream(gw.id, "discover"), env)


async def test_a_streamed_discovery_sends_every_tool_in_ordered_pages_one_at_a_time(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    await start_proxy()
    asker = Asker()
    with CatalogServer(2_500, page_size=600, prefix="s") as server:
        result = msgspec.json.decode(
            await _discover(bus, server.url + "/mcp", asker), type=DiscoverResult
        )
    assert result.tools == [] and result.streamed is not None
    assert (result.streamed.pages, result.streamed.tools) == (3, 2_500)
    assert [p.seq for p in asker.pages] == [0, 1, 2]
    assert all(len(p.tools) <= DISCOVER_PAGE_ENTRIES for p in asker.pages)
    names = [t.name for p in asker.pages for t in p.tools]
    assert names == [f"s{n:06d}" for n in range(2_500)]
    assert asker.most_in_flight == 1  # the next page waits for the last one's answer


async def test_a_page_the_asker_refuses_ends_the_discovery_with_its_refusal(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    await start_proxy()
    asker = Asker(refuse_at=1)
    with CatalogServer(5_000, page_size=1_000) as server:
        with pytest.raises(ConflictError):
            await _discover(bus, server.url + "/mcp", asker)
        served = server.pages_served
    assert [p.seq for p in asker.pages] == [0]
    assert served <= 3  # it stopped listing the upstream too
