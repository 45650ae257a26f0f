"""Catalog operations over the bus: validation, discovery, transactions, events, conflicts."""

from __future__ import annotations

import pytest
from registry_harness import Client, FakeUpstreamProxy

from forge.core.errors import (
    CONFLICT,
    INVALID_PARAMS,
    NOT_FOUND,
    UPSTREAM_UNAVAILABLE,
    ForgeError,
)
from forge.proto.mcp import Tool

GATEWAY = {"name": "My Time Server", "url": "http://127.0.0.1:9000/mcp"}


async def code_of(call: object) -> int:
    with pytest.raises(ForgeError) as info:
        await call  # type: ignore[misc]
    return info.value.code


async def test_a_created_gateway_is_listed_fetched_and_deleted_with_events(client: Client) -> None:
    gateway = await client("gateways", "create", GATEWAY)
    assert gateway["slug"] == "my-time-server"
    assert gateway["protocol_version"] == "2025-11-25"
    assert gateway["created_at"].endswith("Z")
    assert [g["id"] for g in await client("gateways", "list")] == [gateway["id"]]
    assert await client("gateways", "get", {"id": gateway["id"]}) == gateway
    tools = await client("tools", "list")
    assert sorted(t["name"] for t in tools) == ["my-time-server-add", "my-time-server-echo"]
    assert client.events("gateways", "changed") == [gateway]
    [changed] = client.events("tools", "changed")
    assert changed["gateway_id"] == gateway["id"] and len(changed["tools"]) == 2

    assert await client("gateways", "delete", {"id": gateway["id"]}) == {
        "id": gateway["id"],
        "deleted": True,
    }
    assert await client("gateways", "list") == []
    assert await client("tools", "list") == []
    assert client.events("gateways", "deleted") == [{"id": gateway["id"]}]
    assert client.events("tools", "changed")[-1] == {"gateway_id": gateway["id"], "tools": []}
    assert await code_of(client("gateways", "get", {"id": gateway["id"]})) == NOT_FOUND


async def test_discovery_is_asked_on_the_gateways_own_subject(
    client: Client, upstream: FakeUpstreamProxy
) -> None:
    gateway = await client("gateways", "create", {**GATEWAY, "transport": "STREAMABLEHTTP"})
    assert gateway["transport"] == "streamablehttp"
    [seen] = upstream.seen
    assert seen["id"] == gateway["id"] and seen["url"] == GATEWAY["url"]
    assert client.bus.requests[-1][0] == f"forge.upstream.{gateway['id']}.discover"


async def test_a_duplicate_gateway_name_is_a_conflict(client: Client) -> None:
    await client("gateways", "create", GATEWAY)
    assert await code_of(client("gateways", "create", GATEWAY)) == CONFLICT
    assert len(await client("gateways", "list")) == 1


async def test_a_name_with_a_taken_slug_gets_the_first_free_numbered_slug(client: Client) -> None:
    await client("gateways", "create", GATEWAY)
    second = await client("gateways", "create", {**GATEWAY, "name": "my time  server!"})
    third = await client("gateways", "create", {**GATEWAY, "name": "MY TIME SERVER"})
    assert (second["slug"], third["slug"]) == ("my-time-server-2", "my-time-server-3")
    names = {t["name"] for t in await client("tools", "list") if t["gateway_id"] == second["id"]}
    assert names == {"my-time-server-2-echo", "my-time-server-2-add"}
    prompts = await client("prompts", "list")
    assert "my-time-server-3-greet" in {p["name"] for p in prompts}


@pytest.mark.parametrize(
    "params",
    [
        {**GATEWAY, "url": "ftp://example.com/mcp"},
        {**GATEWAY, "url": "not a url"},
        {**GATEWAY, "url": "http:///nohost"},
        {**GATEWAY, "url": "http://host:99999/"},
        {**GATEWAY, "name": ""},
        {**GATEWAY, "name": "x" * 256},
        {**GATEWAY, "name": "bad\nname"},
        {**GATEWAY, "name": "!!!"},
        {**GATEWAY, "transport": "carrier-pigeon"},
        {**GATEWAY, "timeout_s": -1},
        {"url": GATEWAY["url"]},
        {"name": 7, "url": GATEWAY["url"]},
    ],
)
async def test_invalid_gateway_params_are_refused_before_discovery(
    client: Client, upstream: FakeUpstreamProxy, params: dict[str, object]
) -> None:
    assert await code_of(client("gateways", "create", params)) == INVALID_PARAMS
    assert upstream.seen == []


async def test_a_failed_discovery_stores_nothing_and_passes_the_error_on(
    client: Client, upstream: FakeUpstreamProxy
) -> None:
    upstream.fail = True
    assert await code_of(client("gateways", "create", GATEWAY)) == UPSTREAM_UNAVAILABLE
    assert await client("gateways", "list") == []
    assert await client("tools", "list") == []
    assert client.events("gateways", "changed") == []


async def test_hostile_names_are_stored_verbatim(
    client: Client, upstream: FakeUpstreamProxy
) -> None:
    name = "x'); DROP TABLE gateways; -- \"}"
    upstream.tools = [Tool(name="t\"\\'; DELETE FROM tools; --")]
    gateway = await client("gateways", "create", {**GATEWAY, "name": name})
    assert gateway["name"] == name
    [tool] = await client("tools", "list")
    assert tool["original_name"] == upstream.tools[0].name
    assert (await client("tools", "get", {"id": tool["id"]}))["name"] == tool["name"]


async def test_ids_that_are_not_uuids_are_simply_not_found(client: Client) -> None:
    for entity in ("gateways", "tools", "servers"):
        assert await code_of(client(entity, "get", {"id": "'; select 1; --"})) == NOT_FOUND
    assert await code_of(client("gateways", "delete", {"id": "nope"})) == NOT_FOUND
    assert await code_of(client("gateways", "get", {})) == INVALID_PARAMS


async def test_refresh_keeps_the_ids_of_tools_that_remain(
    client: Client, upstream: FakeUpstreamProxy
) -> None:
    gateway = await client("gateways", "create", GATEWAY)
    before = {t["original_name"]: t["id"] for t in await client("tools", "list")}
    upstream.tools = [Tool(name="echo", description="now documented"), Tool(name="mul")]
    summary = await client("gateways", "refresh", {"id": gateway["id"]})
    assert summary == {
        "gateway_id": gateway["id"],
        "tools": 2,
        "added": 1,
        "removed": 1,
        "updated": 1,
        "resources": 1,
        "resource_templates": 1,
        "prompts": 1,
    }
    after = {t["original_name"]: t for t in await client("tools", "list")}
    assert after["echo"]["id"] == before["echo"]
    assert after["echo"]["tool"]["description"] == "now documented"
    assert "add" not in after
    last = client.events("tools", "changed")[-1]
    assert {t["original_name"] for t in last["tools"]} == {"echo", "mul"}


async def test_refresh_of_an_unknown_gateway_is_not_found(client: Client) -> None:
    assert await code_of(client("gateways", "refresh", {"id": "missing"})) == NOT_FOUND


async def test_a_server_takes_tools_by_id_or_exposed_name(client: Client) -> None:
    await client("gateways", "create", GATEWAY)
    tools = {t["name"]: t["id"] for t in await client("tools", "list")}
    server = await client(
        "servers",
        "create",
        {"name": "Demo", "associated_tools": ["my-time-server-echo", tools["my-time-server-add"]]},
    )
    assert server["associated_tools"] == [tools["my-time-server-echo"], tools["my-time-server-add"]]
    assert client.events("servers", "changed") == [server]
    assert await client("servers", "get", {"id": server["id"]}) == server
    assert await client("servers", "list") == [server]


async def test_a_server_with_an_unknown_tool_is_refused(client: Client) -> None:
    params = {"name": "Demo", "associated_tools": ["no-such-tool"]}
    assert await code_of(client("servers", "create", params)) == INVALID_PARAMS
    assert await client("servers", "list") == []


async def test_a_duplicate_server_name_is_a_conflict(client: Client) -> None:
    await client("servers", "create", {"name": "Demo"})
    assert await code_of(client("servers", "create", {"name": "Demo"})) == CONFLICT


async def test_deleting_a_gateway_removes_its_tools_from_servers(client: Client) -> None:
    gateway = await client("gateways", "create", GATEWAY)
    tool_ids = [t["id"] for t in await client("tools", "list")]
    server = await client("servers", "create", {"name": "Demo", "associated_tools": tool_ids})
    await client("gateways", "delete", {"id": gateway["id"]})
    fetched = await client("servers", "get", {"id": server["id"]})
    assert fetched.get("associated_tools", []) == []  # empty lists are omitted on the wire
    assert client.events("servers", "changed")[-1] == fetched


async def test_a_deleted_server_is_gone_and_announced(client: Client) -> None:
    server = await client("servers", "create", {"name": "Demo"})
    assert await client("servers", "delete", {"id": server["id"]}) == {
        "id": server["id"],
        "deleted": True,
    }
    assert client.events("servers", "deleted") == [{"id": server["id"]}]
    assert await code_of(client("servers", "delete", {"id": server["id"]})) == NOT_FOUND


async def test_the_snapshot_holds_every_gateway_tool_and_server(client: Client) -> None:
    gateway = await client("gateways", "create", GATEWAY)
    server = await client("servers", "create", {"name": "Demo"})
    snapshot = await client("snapshot", "get")
    assert snapshot["gateways"] == [gateway]
    assert len(snapshot["tools"]) == 2
    assert snapshot["servers"] == [server]
