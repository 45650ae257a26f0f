"""How a virtual server names its tools and prompts: original names, aliases, clashes refused."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from registry_harness import Client, code_of, error_of

from forge.core.errors import CONFLICT, INVALID_PARAMS
from forge.proto.catalog import Server
from forge.registry.catalog.store import Store

URL = "http://127.0.0.1:9000/mcp"


async def _two_gateways(client: Client) -> dict[str, str]:
    """Gateways `one` and `two`, both offering tools echo and add and prompt greet: the ids by
    catalog name (`one-echo`, `two-greet`, ...)."""
    for name in ("one", "two"):
        await client("gateways", "create", {"name": name, "url": URL})
    entries = [*await client("tools", "list"), *await client("prompts", "list")]
    return {e["name"]: e["id"] for e in entries}


async def test_original_names_that_clash_within_a_server_are_refused_naming_them(
    client: Client,
) -> None:
    ids = await _two_gateways(client)
    params = {"name": "both", "associated_tools": ["one-echo", "two-echo"], "original_names": True}
    error = await error_of(client("servers", "create", params))
    assert error.code == CONFLICT
    assert error.data["name"] == "echo" and error.data["kind"] == "tool"
    assert sorted(error.data["entries"]) == ["one-echo", "two-echo"]
    # Without original names the catalog names are unique: accepted.
    del params["original_names"]
    server = await client("servers", "create", params)
    assert server["associated_tools"] == [ids["one-echo"], ids["two-echo"]]


async def test_an_alias_settles_a_clash_and_is_stored_by_entry_id(
    client: Client, store: Store
) -> None:
    ids = await _two_gateways(client)
    params: dict[str, Any] = {
        "name": "both",
        "associated_tools": ["one-echo", "two-echo"],
        "associated_prompts": [ids["one-greet"]],
        "original_names": True,
        "aliases": {"two-echo": "echo_two", ids["one-greet"]: "hello"},
    }
    server = await client("servers", "create", params)
    assert server["original_names"] is True
    assert server["aliases"] == {ids["two-echo"]: "echo_two", ids["one-greet"]: "hello"}
    assert await client("servers", "get", {"id": server["id"]}) == server
    stored = await store.get_server(server["id"])
    assert stored.exposed(ids["one-echo"], "one-echo", "echo") == "echo"
    assert stored.exposed(ids["two-echo"], "two-echo", "echo") == "echo_two"
    # Caches learn the names from the event.
    [event] = client.events("servers", "changed")
    assert msgspec.convert(event, Server).aliases == server["aliases"]


async def test_an_alias_that_clashes_with_an_original_name_is_refused(client: Client) -> None:
    await _two_gateways(client)
    params = {
        "name": "s",
        "associated_tools": ["one-echo", "one-add"],
        "original_names": True,
        "aliases": {"one-add": "echo"},
    }
    assert await code_of(client("servers", "create", params)) == CONFLICT


@pytest.mark.parametrize(
    "aliases",
    [
        {"two-echo": "x"},  # a tool the server does not hold
        {"nothing": "x"},  # no such entry
        {"one-echo": "has space"},  # not a tool name
        {"one-echo": ""},
    ],
)
async def test_aliases_of_entries_outside_the_server_or_bad_names_are_invalid_params(
    client: Client, aliases: dict[str, str]
) -> None:
    await _two_gateways(client)
    params = {"name": "s", "associated_tools": ["one-echo"], "aliases": aliases}
    assert await code_of(client("servers", "create", params)) == INVALID_PARAMS


async def test_an_update_checks_clashes_and_drops_aliases_of_entries_it_removes(
    client: Client,
) -> None:
    ids = await _two_gateways(client)
    params = {"name": "s", "associated_tools": ["one-echo", "two-echo"]}
    server = await client("servers", "create", params)
    turn_on = {"id": server["id"], "original_names": True}
    assert await code_of(client("servers", "update", turn_on)) == CONFLICT
    named = await client("servers", "update", {**turn_on, "aliases": {"two-echo": "echo2"}})
    assert named["original_names"] is True and named["aliases"] == {ids["two-echo"]: "echo2"}
    relinked = await client(
        "servers", "update", {"id": server["id"], "associated_tools": ["one-echo"]}
    )
    assert relinked["aliases"] == {}
    # Bringing the clash back without an alias is refused again.
    again = {"id": server["id"], "associated_tools": ["one-echo", "two-echo"]}
    assert await code_of(client("servers", "update", again)) == CONFLICT
