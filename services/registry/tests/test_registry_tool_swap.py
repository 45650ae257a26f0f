"""A gateway's tool set stored in bulk (offers.py: COPY, a staging table, set-based SQL): what a
refresh keeps, changes, drops and adds, and whom it tells."""

from __future__ import annotations

from registry_harness import Client, FakeUpstreamProxy

from forge.proto.mcp import Tool

GATEWAY = {"name": "Docs", "url": "http://127.0.0.1:9000/mcp"}
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}}


async def test_a_refresh_keeps_ids_counts_changes_and_tells_the_servers_that_lost_a_tool(
    client: Client, upstream: FakeUpstreamProxy
) -> None:
    upstream.tools = [Tool(name=f"t{n}", inputSchema=SCHEMA) for n in range(3000)]
    gateway = await client("gateways", "create", GATEWAY)
    before = {t["original_name"]: t for t in await client("tools", "list")}
    assert len(before) == 3000
    server = await client(
        "servers", "create", {"name": "Few", "associated_tools": ["docs-t0", "docs-t1"]}
    )
    # t0 goes, t1 changes its description, t2.. stay as they were, t3000 comes.
    upstream.tools = [
        Tool(name="t1", inputSchema=SCHEMA, description="new"),
        *(Tool(name=f"t{n}", inputSchema=SCHEMA) for n in range(2, 3001)),
    ]
    summary = await client("gateways", "refresh", {"id": gateway["id"]})
    assert (summary["tools"], summary["added"], summary["removed"], summary["updated"]) == (
        3000,
        1,
        1,
        1,
    )
    after = {t["original_name"]: t for t in await client("tools", "list")}
    assert "t0" not in after and "t3000" in after
    assert all(after[f"t{n}"]["id"] == before[f"t{n}"]["id"] for n in range(1, 3000))
    assert after["t1"]["tool"]["description"] == "new"
    assert after["t2"]["updated_at"] == before["t2"]["updated_at"]
    [announced] = client.events("tools", "changed")[-1:]
    assert {t["original_name"] for t in announced["tools"]} == set(after)
    changed = [s for s in client.events("servers", "changed") if s["id"] == server["id"]]
    assert changed and changed[-1]["associated_tools"] == [before["t1"]["id"]]
