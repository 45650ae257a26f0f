"""Pagination of every list the router builds: cursors, last pages, stale and foreign cursors."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from router_harness import SNAPSHOT, TOOLS, ask, envelope, start_router

from forge.core import subjects
from forge.core.errors import INVALID_PARAMS, ForgeError
from forge.proto.catalog import ToolRecord, ToolsChanged
from forge.proto.mcp import Tool
from forge.router import pages
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


async def test_a_catalog_listing_continues_by_name_across_a_change(
    router: Router, membus: MemoryBus
) -> None:
    first = await page(membus, "tools/list")
    assert [t["name"] for t in first["tools"]] == ["docs-t0", "docs-t1"]
    # t0 (already served) and t3 (not yet) go, t9 comes: the walk goes on after docs-t1.
    changed = [t for t in TOOLS if t.id not in ("x0", "x3")]
    changed.append(ToolRecord("x9", "docs-t9", "t9", "g1", Tool(name="t9")))
    await membus.publish(
        subjects.event(subjects.CATALOG, "tools", "changed"),
        msgspec.json.encode(ToolsChanged(gateway_id="g1", tools=changed)),
    )
    second = await page(membus, "tools/list", first["nextCursor"])
    assert [t["name"] for t in second["tools"]] == ["docs-t2", "docs-t4"]
    third = await page(membus, "tools/list", second["nextCursor"])
    assert [t["name"] for t in third["tools"]] == ["docs-t9"] and "nextCursor" not in third


async def test_an_offset_cursor_of_another_list_version_is_invalid_params(
    router: Router, membus: MemoryBus
) -> None:
    # A virtual server's list is in its own order: its cursors are offsets bound to a digest.
    cursor = (await page(membus, "resources/list", server_id="s1", era="legacy")).get("nextCursor")
    templates = await page(membus, "resources/templates/list", era="legacy")
    assert cursor is None and "nextCursor" not in templates  # small lists: one page each
    forged = pages.cursor("resources", 1, "0000000000000000")
    assert await code_of(membus, "resources/templates/list", forged) == INVALID_PARAMS


async def test_a_cursor_is_honoured_by_another_replica_with_the_same_catalog(
    router: Router, membus: MemoryBus
) -> None:
    cursor = (await page(membus, "tools/list"))["nextCursor"]
    other = MemoryBus()
    await start_router(other, SNAPSHOT, page_size=2)
    second = await page(other, "tools/list", cursor)
    assert [t["name"] for t in second["tools"]] == ["docs-t2", "docs-t3"]
