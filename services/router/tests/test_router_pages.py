"""Pagination of every list the router builds: cursors, last pages, stale and foreign cursors."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from router_harness import SNAPSHOT, TOOLS, ask, envelope, start_router

from forge.core import subjects
from forge.core.errors import INVALID_PARAMS, ForgeError
from forge.proto.catalog import ToolsChanged
from forge.router.app import Router
from forge.testing.membus import MemoryBus


@pytest.fixture
async def router(membus: MemoryBus) -> Router:
    return await start_router(membus, SNAPSHOT, page_size=2)


async def page(bus: MemoryBus, method: str, cursor: str | None = None, **kw: Any) -> Any:
    params = msgspec.json.encode({} if cursor is None else {"cursor": cursor})
    return await ask(bus, envelope(method, params, **kw))


async def code_of(bus: MemoryBus, method: str, cursor: str) -> int:
    with pytest.raises(ForgeError) as info:
        await page(bus, method, cursor)
    return info.value.code


async def test_tools_list_pages_through_every_tool_then_stops(
    router: Router, membus: MemoryBus
) -> None:
    names: list[str] = []
    cursor = None
    for _ in range(len(TOOLS)):
        result = await page(membus, "tools/list", cursor)
        names += [t["name"] for t in result["tools"]]
        assert len(result["tools"]) <= 2 and result["resultType"] == "complete"
        cursor = result.get("nextCursor")
        if cursor is None:
            break
    assert names == sorted(t.name for t in TOOLS)


@pytest.mark.parametrize(
    ("method", "member", "total"),
    [
        ("resources/list", "resources", 2),
        ("resources/templates/list", "resourceTemplates", 2),
        ("prompts/list", "prompts", 2),
    ],
)
async def test_a_list_that_fits_one_page_has_no_next_cursor(
    router: Router, membus: MemoryBus, method: str, member: str, total: int
) -> None:
    result = await page(membus, method, era="legacy")
    assert len(result[member]) == total and "nextCursor" not in result


@pytest.mark.parametrize("cursor", ["", "!!!", "bm90IGpzb24", "WyJ0b29scyIsOTksIngiXQ"])
async def test_a_malformed_or_made_up_cursor_is_invalid_params(
    router: Router, membus: MemoryBus, cursor: str
) -> None:
    assert await code_of(membus, "tools/list", cursor) == INVALID_PARAMS


async def test_a_cursor_of_another_list_is_invalid_params(
    router: Router, membus: MemoryBus
) -> None:
    cursor = (await page(membus, "tools/list"))["nextCursor"]
    assert await code_of(membus, "prompts/list", cursor) == INVALID_PARAMS


async def test_a_cursor_from_before_a_catalog_change_is_invalid_params(
    router: Router, membus: MemoryBus
) -> None:
    cursor = (await page(membus, "tools/list"))["nextCursor"]
    assert (await page(membus, "tools/list", cursor))["tools"]  # valid while nothing changes
    await membus.publish(
        subjects.event(subjects.CATALOG, "tools", "changed"),
        msgspec.json.encode(ToolsChanged(gateway_id="g1", tools=TOOLS[:4])),
    )
    assert await code_of(membus, "tools/list", cursor) == INVALID_PARAMS


async def test_a_cursor_is_honoured_by_another_replica_with_the_same_catalog(
    router: Router, membus: MemoryBus
) -> None:
    cursor = (await page(membus, "tools/list"))["nextCursor"]
    other = MemoryBus()
    await start_router(other, SNAPSHOT, page_size=2)
    second = await page(other, "tools/list", cursor)
    assert [t["name"] for t in second["tools"]] == ["docs-t2", "docs-t3"]
