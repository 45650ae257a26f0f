"""Names are unique per team: a clash with another team's entry tells nothing about it; gateway
slugs (which name exposed tools) stay unique across the catalog."""

from __future__ import annotations

from typing import Any

import asyncpg
from registry_harness import Client, error_of

from forge.core.errors import CONFLICT
from forge.proto.access import BUILTIN_ROLES
from forge.proto.envelope import Principal
from forge.registry.catalog.store import apply_migrations
from forge.registry.migrate import load_migrations


def _person(subject: str, *teams: str) -> Principal:
    """A developer bound globally, member of `teams`."""
    role = "developer"
    return Principal(subject, teams=teams, roles=(role,), permissions=BUILTIN_ROLES[role])


ALICE = _person("alice@x", "p-alice", "team-a")
BOB = _person("bob@x", "p-bob", "team-a")
CAROL = _person("carol@x", "p-carol", "team-b")
URL = "http://127.0.0.1:9000/mcp"


def gateway(name: str, team: str, visibility: str = "private") -> dict[str, Any]:
    return {"name": name, "url": URL, "visibility": visibility, "team_id": team}


async def test_another_teams_private_gateway_name_is_free_and_gets_a_slug_of_its_own(
    client: Client,
) -> None:
    theirs = await client("gateways", "create", gateway("Payroll", "team-a"), as_=ALICE)
    mine = await client("gateways", "create", gateway("Payroll", "team-b", "team"), as_=CAROL)
    assert (mine["name"], mine["team_id"]) == ("Payroll", "team-b")
    assert (theirs["slug"], mine["slug"]) == ("payroll", "payroll-2")
    assert theirs["id"] not in str(mine)
    tools = {t["name"] for t in await client("tools", "list", as_=CAROL)}
    assert tools == {"payroll-2-echo", "payroll-2-add"}
    prompts = {p["name"] for p in await client("prompts", "list", as_=CAROL)}
    assert prompts == {"payroll-2-greet"}
    assert [g["id"] for g in await client("gateways", "list", as_=CAROL)] == [mine["id"]]


async def test_a_gateway_name_taken_in_the_callers_own_team_is_a_conflict(client: Client) -> None:
    await client("gateways", "create", gateway("Payroll", "team-a", "team"), as_=ALICE)
    clash = await error_of(client("gateways", "create", gateway("Payroll", "team-a"), as_=BOB))
    assert clash.code == CONFLICT and clash.data == {"field": "name"}


async def test_a_rename_onto_a_taken_slug_takes_a_free_one_and_renames_the_tools(
    client: Client,
) -> None:
    await client("gateways", "create", gateway("Payroll", "team-a"), as_=ALICE)
    mine = await client("gateways", "create", gateway("Billing", "team-b"), as_=CAROL)
    renamed = await client("gateways", "update", {"id": mine["id"], "name": "PAYROLL"}, as_=CAROL)
    assert renamed["slug"] == "payroll-2"
    tools = {t["name"] for t in await client("tools", "list", as_=CAROL)}
    assert tools == {"payroll-2-echo", "payroll-2-add"}
    # A name giving the same slug keeps the numbered one; another update leaves it alone.
    again = await client("gateways", "update", {"id": mine["id"], "name": "payroll"}, as_=CAROL)
    described = await client("gateways", "update", {"id": mine["id"], "tags": ["x"]}, as_=CAROL)
    assert again["slug"] == described["slug"] == "payroll-2"


async def test_a_rename_with_a_new_url_names_the_rediscovered_tools_after_the_free_slug(
    client: Client,
) -> None:
    await client("gateways", "create", gateway("Payroll", "team-a"), as_=ALICE)
    mine = await client("gateways", "create", gateway("Billing", "team-b"), as_=CAROL)
    changed = {"id": mine["id"], "name": "Payroll", "url": "http://127.0.0.1:9001/mcp"}
    assert (await client("gateways", "update", changed, as_=CAROL))["slug"] == "payroll-2"
    tools = {t["name"] for t in await client("tools", "list", as_=CAROL)}
    assert tools == {"payroll-2-echo", "payroll-2-add"}


async def test_server_names_are_unique_per_team(client: Client) -> None:
    await client("servers", "create", {"name": "Ops", "visibility": "private"}, as_=ALICE)
    theirs = await client("servers", "create", {"name": "Ops", "team_id": "team-b"}, as_=CAROL)
    assert theirs["name"] == "Ops"
    clash = await error_of(client("servers", "create", {"name": "Ops"}, as_=ALICE))
    assert clash.code == CONFLICT and clash.data == {"field": "name"}


async def test_entries_without_a_team_are_unique_per_owner(client: Client) -> None:
    loner, other = _person("loner@x"), _person("other@x")
    await client("servers", "create", {"name": "Mine"}, as_=loner)
    assert (await client("servers", "create", {"name": "Mine"}, as_=other))["owner"] == "other@x"
    clash = client("servers", "create", {"name": "Mine"}, as_=loner)
    assert (await error_of(clash)).code == CONFLICT


async def test_the_migration_keeps_existing_names_and_frees_them_across_teams(
    fresh_database: str,
) -> None:
    await apply_migrations(fresh_database, [m for m in load_migrations() if m.version <= 5])
    conn = await asyncpg.connect(fresh_database)
    try:
        insert = (
            "INSERT INTO gateways (id, name, slug, url, transport, owner, team_id, visibility)"
            " VALUES ($1, 'Same', $2, 'http://h/mcp', 'streamablehttp', $3, $4, 'private')"
        )
        await conn.execute(insert, "g1", "same", "a@x", "team-a")
        await apply_migrations(fresh_database, load_migrations())
        await conn.execute(insert, "g2", "same-2", "b@x", "team-b")
        try:
            await conn.execute(insert, "g3", "same-3", "c@x", "team-a")
        except asyncpg.UniqueViolationError as exc:
            assert exc.constraint_name == "gateways_name_key"
        else:
            raise AssertionError("a second 'Same' in team-a was stored")
    finally:
        await conn.close()
