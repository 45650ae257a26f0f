"""The router's tool index: per-gateway swaps keep one name order; pages go by key."""

from __future__ import annotations

import msgspec

from forge.proto.catalog import LeanTool, LeanToolRecord
from forge.router.tool_index import ToolIndex


def tool(
    gateway: str, name: str, tool_id: str | None = None, *, enabled: bool = True
) -> LeanToolRecord:
    return LeanToolRecord(
        tool_id or f"{gateway}:{name}",
        f"{gateway}-{name}",
        name,
        gateway,
        LeanTool(name=name),
        enabled,
    )


def walk(index: ToolIndex, size: int) -> list[str]:
    names: list[str] = []
    after = None
    while True:
        page, after = index.page(after, size, lambda r: r.enabled)
        names += [t.name for t in page]
        if after is None:
            return names


def test_pages_are_in_name_order_under_catalog_names_and_skip_what_is_not_accepted() -> None:
    index = ToolIndex([tool("b", "x"), tool("a", "y"), tool("a", "z", enabled=False)])
    assert walk(index, 1) == ["a-y", "b-x"]
    first, after = index.page(None, 1, lambda r: True)
    assert [t.name for t in first] == ["a-y"] and after == "a-y"


def test_a_gateway_swap_changes_its_own_tools_and_keeps_the_order() -> None:
    index = ToolIndex([tool("a", f"t{n}") for n in range(5)] + [tool("b", "t0")])
    index.replace("a", [tool("a", "t1"), tool("a", "t9"), tool("a", "t3")])
    assert walk(index, 2) == ["a-t1", "a-t3", "a-t9", "b-t0"]
    assert set(index.by_name) == {"a-t1", "a-t3", "a-t9", "b-t0"}
    assert len(index.by_id) == 4
    index.replace("a", [])
    assert walk(index, 2) == ["b-t0"] and set(index.by_id) == {"b:t0"}


def test_a_name_taken_over_by_another_gateway_stays_listed_once() -> None:
    # b's event (taking the name a held) arrives before a's (letting it go).
    index = ToolIndex([tool("a", "x", "1")])
    taken = LeanToolRecord("2", "a-x", "x", "b", LeanTool(name="x"))
    index.replace("b", [taken])
    assert walk(index, 5) == ["a-x"] and index.by_name["a-x"] is taken
    index.replace("a", [])
    assert walk(index, 5) == ["a-x"] and index.by_name["a-x"] is taken
    assert set(index.by_id) == {"2"}


def test_compacting_keeps_every_record_as_it_lists_and_skips_what_was_replaced() -> None:
    schema = b'{"type":"object","properties":{"q":{"type":"string"}}}'
    message = (
        b"["
        + b",".join(
            b'{"id":"%d","name":"a-t%d","original_name":"t%d","gateway_id":"a","tool":{"name":"t%d",'
            b'"inputSchema":%s},"owner":"me@x","created_at":"2026-01-01T00:00:00.000000Z"}'
            % (n, n, n, n, schema)
            for n in range(5)
        )
        + b"]"
    )
    records = msgspec.json.decode(message, type=list[LeanToolRecord])
    index = ToolIndex(records)
    before = {r.id: msgspec.json.encode(r) for r in index.by_id.values()}
    index.replace("a", [*records[:4], tool("a", "t4", "4")])  # the last one replaced
    replaced = index.by_id["4"]
    assert not index.compact(100)  # one chunk: nothing left
    assert {i: msgspec.json.encode(r) for i, r in index.by_id.items() if i != "4"} == {
        i: b for i, b in before.items() if i != "4"
    }
    # the replaced one stays the replacement (the decoded one before it is not put back)
    assert msgspec.json.encode(index.by_id["4"]) == msgspec.json.encode(replaced)
    assert all(index.by_name[r.name] is r for r in index.by_id.values())
    # The records of a chunk share one copy of what they have in common.
    assert len({id(r.gateway_id) for r in index.by_id.values() if r.id in "0123"}) == 1
    assert bytes(index.by_id["0"].tool.inputSchema) == schema
