"""What a server or a plugin binding shows of other entries: only those the caller can see."""

from __future__ import annotations

from typing import Any

from registry_harness import ADMIN, Client, code_of

from forge.core.errors import NOT_FOUND
from forge.proto.access import BUILTIN_ROLES
from forge.proto.envelope import Principal


def _person(subject: str, *teams: str) -> Principal:
    """A team_admin bound globally, member of `teams`."""
    role = "team_admin"
    return Principal(subject, teams=teams, roles=(role,), permissions=BUILTIN_ROLES[role])


ALICE = _person("alice@x", "p-alice", "team-a")
BOB = _person("bob@x", "p-bob", "team-a")
CAROL = _person("carol@x", "p-carol", "team-b")
URL = "http://127.0.0.1:9000/mcp"


async def _ids(client: Client, entity: str, gateway_id: str) -> list[str]:
    return [e["id"] for e in await client(entity, "list") if e["gateway_id"] == gateway_id]


async def _mixed_server(client: Client, visibility: str) -> tuple[dict[str, Any], set[str]]:
    """Alice's team-a server holding her private gateway's entries and team-a's: returns it
    and the ids of her private entries."""
    private = {"name": "Mine", "url": URL, "visibility": "private", "team_id": "team-a"}
    shared = {"name": "Ours", "url": URL, "visibility": "team", "team_id": "team-a"}
    hidden_gw = await client("gateways", "create", private, as_=ALICE)
    shared_gw = await client("gateways", "create", shared, as_=ALICE)
    hidden = set()
    params: dict[str, Any] = {"name": "Mixed", "visibility": visibility, "team_id": "team-a"}
    for entity, field in (
        ("tools", "associated_tools"),
        ("resources", "associated_resources"),
        ("resource_templates", "associated_resources"),
        ("prompts", "associated_prompts"),
    ):
        mine = await _ids(client, entity, hidden_gw["id"])
        hidden.update(mine)
        params[field] = [
            *params.get(field, []),
            *mine,
            *await _ids(client, entity, shared_gw["id"]),
        ]
    server = await client("servers", "create", params, as_=ALICE)
    return server, hidden


def _held(server: dict[str, Any]) -> set[str]:
    fields = ("associated_tools", "associated_resources", "associated_prompts")
    return {i for f in fields for i in server[f]}


async def test_a_server_lists_only_the_entry_ids_the_caller_sees(client: Client) -> None:
    server, hidden = await _mixed_server(client, "public")
    everything = _held(server)
    assert hidden and hidden < everything
    # A teammate sees the team's entries but not Alice's private ones; another team sees none.
    for who, expected in ((BOB, everything - hidden), (CAROL, set())):
        [listed] = await client("servers", "list", as_=who)
        got = await client("servers", "get", {"id": server["id"]}, as_=who)
        assert _held(listed) == _held(got) == expected
    for who in (ALICE, ADMIN):
        [listed] = await client("servers", "list", as_=who)
        assert listed == await client("servers", "get", {"id": server["id"]}, as_=who) == server


async def test_an_update_replaces_only_what_the_caller_sees(client: Client) -> None:
    server, hidden = await _mixed_server(client, "team")
    visible_tools = [t for t in server["associated_tools"] if t not in hidden]
    update = {"id": server["id"], "associated_tools": visible_tools[:1], "description": "new"}
    changed = await client("servers", "update", update, as_=BOB)
    assert changed["associated_tools"] == visible_tools[:1]  # the answer shows Bob his share
    kept = (await client("servers", "get", {"id": server["id"]}, as_=ALICE))["associated_tools"]
    assert kept[:1] == visible_tools[:1] and set(kept[1:]) == hidden & set(
        server["associated_tools"]
    )
    # The router's copy (the event) holds everything: it filters per caller itself.
    assert set(client.events("servers", "changed")[-1]["associated_tools"]) == set(kept)


async def test_a_binding_naming_a_tool_the_caller_cannot_see_does_not_exist_for_them(
    client: Client,
) -> None:
    private = {"name": "Mine", "url": URL, "visibility": "private", "team_id": "team-a"}
    await client("gateways", "create", private, as_=ALICE)
    bound = {"plugin": "pii", "team_id": "team-a", "tool": "mine-echo", "visibility": "team"}
    binding = await client("plugin_bindings", "create", bound, as_=ALICE)
    pattern = {**bound, "tool": "mine-*"}
    wide = await client("plugin_bindings", "create", pattern, as_=ALICE)
    assert [b["id"] for b in await client("plugin_bindings", "list", as_=BOB)] == [wide["id"]]
    for op, params in (
        ("get", {"id": binding["id"]}),
        ("update", {"id": binding["id"], "priority": 3}),
        ("delete", {"id": binding["id"]}),
    ):
        assert await code_of(client("plugin_bindings", op, params, as_=BOB)) == NOT_FOUND
    listed = await client("plugin_bindings", "list", as_=ALICE)
    assert {b["id"] for b in listed} == {binding["id"], wide["id"]}
