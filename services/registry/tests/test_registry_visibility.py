"""Ownership and visibility: who sees, changes and deletes gateways, their entries and servers."""

from __future__ import annotations

from typing import Any

import pytest
from registry_harness import ADMIN, Client, FakeUpstreamProxy, code_of, error_of, person

from forge.core.errors import CONFLICT, FORBIDDEN, INVALID_PARAMS, NOT_FOUND
from forge.proto.envelope import Principal

# The owner of what the tests create: team_admin holds every catalog permission (a developer
# holds no *.delete), so what is tested is ownership.
ALICE = person("alice@x", "p-alice", "team-a", role="team_admin")
BOB = person("bob@x", "p-bob", "team-a", role="developer")
CAROL = person("carol@x", "p-carol", "team-b", role="developer")
DANA = person("dana@x", "p-dana", "team-a", role="team_admin")
VIEWER = person("vic@x", role="platform_viewer")
LONER = person("loner@x", role="developer")  # a member of no team
WHO = {"owner": ALICE, "same team": BOB, "other team": CAROL, "team admin": DANA}
WHO |= {"admin": ADMIN, "platform viewer": VIEWER}
# Who sees an entry of each visibility, and who may change or delete it.
SEES = {
    "private": {"owner", "admin", "platform viewer"},
    "team": {"owner", "same team", "team admin", "admin", "platform viewer"},
    "public": set(WHO),
}
MANAGES = {
    "private": {"owner", "admin"},
    "team": {"owner", "team admin", "admin"},
    "public": {"owner", "team admin", "admin"},
}
MATRIX = [(v, who) for v in ("private", "team", "public") for who in WHO]


def gateway_params(visibility: str, name: str = "Alpha") -> dict[str, Any]:
    url = "http://127.0.0.1:9000/mcp"
    return {"name": name, "url": url, "visibility": visibility, "team_id": "team-a"}


async def expect(call: Any, ok: bool, denied: int) -> Any:
    """The result when `ok`, else assert the call fails with `denied`."""
    if ok:
        return await call
    assert await code_of(call) == denied
    return None


@pytest.mark.parametrize(("visibility", "who"), MATRIX)
async def test_a_gateway_and_its_entries_are_seen_by_exactly_those_its_visibility_admits(
    client: Client, visibility: str, who: str
) -> None:
    gateway = await client("gateways", "create", gateway_params(visibility), as_=ALICE)
    principal, sees = WHO[who], who in SEES[visibility]
    listed = await client("gateways", "list", as_=principal)
    assert [g["id"] for g in listed] == ([gateway["id"]] if sees else [])
    await expect(client("gateways", "get", {"id": gateway["id"]}, as_=principal), sees, NOT_FOUND)
    for entity in ("tools", "resources", "resource_templates", "prompts"):
        mine = await client(entity, "list", as_=ALICE)
        assert mine and all(e["visibility"] == visibility for e in mine)
        assert all(e["team_id"] == "team-a" and e["owner"] == "alice@x" for e in mine)
        assert len(await client(entity, "list", as_=principal)) == (len(mine) if sees else 0)
        get = client(entity, "get", {"id": mine[0]["id"]}, as_=principal)
        await expect(get, sees, NOT_FOUND)


@pytest.mark.parametrize(("visibility", "who"), MATRIX)
async def test_only_owners_team_admins_and_admins_change_or_delete_a_gateway(
    client: Client, visibility: str, who: str
) -> None:
    gateway = await client("gateways", "create", gateway_params(visibility), as_=ALICE)
    principal = WHO[who]
    denied = FORBIDDEN if who in SEES[visibility] else NOT_FOUND
    allowed = who in MANAGES[visibility]
    update = {"id": gateway["id"], "description": f"by {who}"}
    changed = await expect(client("gateways", "update", update, as_=principal), allowed, denied)
    if allowed:
        assert changed["description"] == f"by {who}" and changed["owner"] == "alice@x"
    refresh = client("gateways", "refresh", {"id": gateway["id"]}, as_=principal)
    await expect(refresh, allowed, denied)
    delete = client("gateways", "delete", {"id": gateway["id"]}, as_=principal)
    await expect(delete, allowed, denied)
    assert len(await client("gateways", "list")) == (0 if allowed else 1)


@pytest.mark.parametrize(("visibility", "who"), MATRIX)
async def test_servers_follow_the_same_visibility_and_management_rules(
    client: Client, visibility: str, who: str
) -> None:
    params = {"name": "Demo", "visibility": visibility, "team_id": "team-a"}
    server = await client("servers", "create", params, as_=ALICE)
    assert (server["owner"], server["team_id"], server["visibility"]) == (
        "alice@x",
        "team-a",
        visibility,
    )
    principal, sees = WHO[who], who in SEES[visibility]
    listed = await client("servers", "list", as_=principal)
    assert [s["id"] for s in listed] == ([server["id"]] if sees else [])
    await expect(client("servers", "get", {"id": server["id"]}, as_=principal), sees, NOT_FOUND)
    denied = FORBIDDEN if sees else NOT_FOUND
    allowed = who in MANAGES[visibility]
    update = {"id": server["id"], "description": "changed"}
    await expect(client("servers", "update", update, as_=principal), allowed, denied)
    delete = client("servers", "delete", {"id": server["id"]}, as_=principal)
    await expect(delete, allowed, denied)


async def test_an_unseen_entry_answers_exactly_as_an_unknown_id(client: Client) -> None:
    gateway = await client("gateways", "create", gateway_params("private"), as_=ALICE)
    [tool, *_] = await client("tools", "list", as_=ALICE)
    for entity, entry_id in (("gateways", gateway["id"]), ("tools", tool["id"])):
        unseen = await error_of(client(entity, "get", {"id": entry_id}, as_=CAROL))
        unknown = await error_of(client(entity, "get", {"id": "no-such-id"}, as_=CAROL))
        assert (unseen.code, unseen.message) == (unknown.code, unknown.message)
    for op in ("update", "delete", "refresh"):
        unseen = await error_of(client("gateways", op, {"id": gateway["id"]}, as_=CAROL))
        unknown = await error_of(client("gateways", op, {"id": "no-such-id"}, as_=CAROL))
        assert (unseen.code, unseen.message) == (unknown.code, unknown.message)


async def test_team_b_cannot_compose_team_a_private_tools_by_name_or_by_id(
    client: Client,
) -> None:
    await client("gateways", "create", gateway_params("team"), as_=ALICE)
    tools = {t["name"]: t["id"] for t in await client("tools", "list", as_=ALICE)}
    for ref in ("alpha-echo", tools["alpha-echo"]):
        params = {"name": "Stolen", "associated_tools": [ref]}
        refused = await error_of(client("servers", "create", params, as_=CAROL))
        unknown = await error_of(
            client("servers", "create", {**params, "associated_tools": [ref + "x"]}, as_=CAROL)
        )
        assert refused.code == unknown.code == INVALID_PARAMS
        assert refused.message == unknown.message.replace(ref + "x", ref)
    for field, ref in (
        ("associated_resources", "file:///readme"),
        ("associated_prompts", "alpha-greet"),
    ):
        params = {"name": "Stolen", field: [ref]}
        assert await code_of(client("servers", "create", params, as_=CAROL)) == INVALID_PARAMS
    server = await client(
        "servers", "create", {"name": "Ours", "associated_tools": ["alpha-echo"]}, as_=BOB
    )
    assert server["associated_tools"] == [tools["alpha-echo"]]
    assert await client("servers", "list", as_=CAROL) == []


async def test_a_shared_uri_resolves_to_the_first_registered_resource_the_creator_sees(
    client: Client,
) -> None:
    await client("gateways", "create", gateway_params("private"), as_=ALICE)
    later = await client("gateways", "create", gateway_params("public", "Beta"), as_=ALICE)
    params = {"name": "Reader", "associated_resources": ["file:///readme"]}
    server = await client("servers", "create", params, as_=CAROL)
    [chosen] = server["associated_resources"]
    resource = await client("resources", "get", {"id": chosen}, as_=CAROL)
    assert resource["gateway_id"] == later["id"]


async def test_new_entries_default_to_the_callers_personal_team(client: Client) -> None:
    gateway = await client(
        "gateways", "create", {"name": "G", "url": "http://127.0.0.1:1/"}, as_=ALICE
    )
    assert (gateway["owner"], gateway["team_id"], gateway["visibility"]) == (
        "alice@x",
        "p-alice",
        "team",
    )
    loner = await client("servers", "create", {"name": "Mine"}, as_=LONER)
    assert (loner["owner"], loner["team_id"], loner["visibility"]) == ("loner@x", None, "private")
    assert await client("servers", "list", as_=ALICE) == []


@pytest.mark.parametrize(
    ("principal", "params", "code"),
    [
        (ALICE, {"team_id": "team-b"}, FORBIDDEN),
        (ALICE, {"visibility": "secret"}, INVALID_PARAMS),
        (LONER, {"visibility": "team"}, INVALID_PARAMS),
    ],
)
async def test_a_team_must_be_the_callers_and_a_visibility_one_of_three(
    client: Client,
    upstream: FakeUpstreamProxy,
    principal: Principal,
    params: dict[str, str],
    code: int,
) -> None:
    gateway = {"name": "G", "url": "http://127.0.0.1:1/", **params}
    assert await code_of(client("gateways", "create", gateway, as_=principal)) == code
    assert (
        await code_of(client("servers", "create", {"name": "S", **params}, as_=principal)) == code
    )
    assert upstream.seen == []


async def test_an_admin_may_place_an_entry_in_any_team(client: Client) -> None:
    server = await client("servers", "create", {"name": "S", "team_id": "team-z"})
    assert (server["team_id"], server["visibility"]) == ("team-z", "team")


async def test_entries_follow_their_gateway_when_it_is_updated(client: Client) -> None:
    gateway = await client("gateways", "create", gateway_params("private"), as_=ALICE)
    assert await client("tools", "list", as_=BOB) == []
    update = {"id": gateway["id"], "visibility": "team", "name": "Renamed"}
    changed = await client("gateways", "update", update, as_=ALICE)
    assert (changed["visibility"], changed["slug"]) == ("team", "renamed")
    assert sorted(t["name"] for t in await client("tools", "list", as_=BOB)) == [
        "renamed-add",
        "renamed-echo",
    ]
    assert [p["name"] for p in await client("prompts", "list", as_=BOB)] == ["renamed-greet"]
    assert len(await client("resources", "list", as_=BOB)) == 1
    [event] = client.events("tools", "changed")[-1:]
    assert {t["visibility"] for t in event["tools"]} == {"team"}
    assert client.events("gateways", "changed")[-1]["visibility"] == "team"
    assert {p["visibility"] for p in client.events("prompts", "changed")[-1]["prompts"]} == {"team"}
    resources = client.events("resources", "changed")[-1]
    assert {r["visibility"] for r in resources["resources"] + resources["resource_templates"]} == {
        "team"
    }


async def test_a_gateway_moves_only_into_a_team_of_the_one_who_moves_it(client: Client) -> None:
    gateway = await client("gateways", "create", gateway_params("team"), as_=ALICE)
    move = {"id": gateway["id"], "team_id": "team-b"}
    assert await code_of(client("gateways", "update", move, as_=ALICE)) == FORBIDDEN
    moved = await client("gateways", "update", move)  # a platform admin may
    assert moved["team_id"] == "team-b"
    assert await code_of(client("gateways", "get", {"id": gateway["id"]}, as_=BOB)) == NOT_FOUND
    assert len(await client("tools", "list", as_=CAROL)) == 2


async def test_a_server_update_replaces_what_is_given_and_checks_associations(
    client: Client,
) -> None:
    await client("gateways", "create", gateway_params("team"), as_=ALICE)
    tools = {t["name"]: t["id"] for t in await client("tools", "list", as_=ALICE)}
    server = await client(
        "servers",
        "create",
        {"name": "S", "associated_tools": ["alpha-echo"], "associated_prompts": ["alpha-greet"]},
        as_=ALICE,
    )
    update = {"id": server["id"], "associated_tools": ["alpha-add", "alpha-echo"], "enabled": False}
    changed = await client("servers", "update", update, as_=ALICE)
    assert changed["associated_tools"] == [tools["alpha-add"], tools["alpha-echo"]]
    assert changed["associated_prompts"] == server["associated_prompts"]
    assert changed["enabled"] is False and changed["name"] == "S"
    assert client.events("servers", "changed")[-1] == changed
    carol_server = await client("servers", "create", {"name": "C"}, as_=CAROL)
    steal = {"id": carol_server["id"], "associated_tools": ["alpha-echo"]}
    assert await code_of(client("servers", "update", steal, as_=CAROL)) == INVALID_PARAMS
    # Alice's "S" is in another team: the name is free in Carol's; her own "S" then clashes.
    same_name = {"id": carol_server["id"], "name": "S"}
    assert (await client("servers", "update", same_name, as_=CAROL))["name"] == "S"
    other = await client("servers", "create", {"name": "C2"}, as_=CAROL)
    clash = {"id": other["id"], "name": "S"}
    assert await code_of(client("servers", "update", clash, as_=CAROL)) == CONFLICT
