"""Teams: personal teams, memberships in UserAccess, ownership rules, invitations, and names
that look like injections stored as text."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import asyncpg
import pytest
from identity_harness import Identity, code_of, error_of, started

from forge.core.bus import NatsBus
from forge.core.errors import CONFLICT, FORBIDDEN, INVALID_PARAMS, NOT_FOUND

ALICE, BOB, CAROL = "alice@example.com", "bob@example.com", "carol@example.com"
INJECTIONS = [
    "'; DROP TABLE users; --",
    '{"$ne": null}',
    "Robert'); DELETE FROM teams WHERE ('1'='1",
    "quotes \" and ' and `back`",
    "ünïcødé 团队 🚀",
    "$1 %s {0} \\x00",
]


@pytest.fixture
async def idn(nats_url: str, fresh_database: str, bus: NatsBus) -> AsyncIterator[Identity]:
    async with started(nats_url, fresh_database, bus) as running:
        yield running


async def test_every_user_owns_a_personal_team_listed_first(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    assert len(alice.teams) == 1
    [personal] = await idn.call(alice, "teams", "list")
    assert personal["personal"] and personal["id"] == alice.teams[0]
    [member] = await idn.call(alice, "members", "list", {"team_id": personal["id"]})
    assert (member["email"], member["role"]) == (ALICE, "owner")
    team = await idn.call(alice, "teams", "create", {"name": "Zeta"})
    assert (await idn.as_user(ALICE)).teams == (personal["id"], team["id"])
    assert await code_of(idn.call(alice, "teams", "delete", {"id": personal["id"]})) == CONFLICT
    params = {"team_id": personal["id"], "email": ALICE, "role": "member"}
    assert await code_of(idn.call(alice, "members", "set", params)) == INVALID_PARAMS


async def test_memberships_reach_user_access_and_are_announced(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    bob = await idn.new_user(BOB)
    team = await idn.call(alice, "teams", "create", {"name": "Core", "description": "the core"})
    params = {"team_id": team["id"], "email": BOB, "role": "member"}
    assert (await idn.call(alice, "members", "set", params))["role"] == "member"
    changed = await idn.wait_for(
        "users.changed", lambda u: u["email"] == BOB and team["id"] in u["teams"]
    )
    assert changed["teams"] == [bob.teams[0], team["id"]]
    assert (await idn.as_user(BOB)).teams == (bob.teams[0], team["id"])
    members = await idn.call(bob, "members", "list", {"team_id": team["id"]})
    assert [(m["email"], m["role"]) for m in members] == [(ALICE, "owner"), (BOB, "member")]

    await idn.call(alice, "members", "remove", {"team_id": team["id"], "email": BOB})
    assert (await idn.as_user(BOB)).teams == (bob.teams[0],)
    await idn.wait_for("users.changed", lambda u: u["email"] == BOB and len(u["teams"]) == 1)


async def test_only_owners_and_admins_manage_a_team(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    bob = await idn.new_user(BOB)
    carol = await idn.new_user(CAROL)
    team = await idn.call(alice, "teams", "create", {"name": "Core"})
    add_bob = {"team_id": team["id"], "email": BOB, "role": "member"}
    add_carol = {"team_id": team["id"], "email": CAROL, "role": "member"}
    # Carol, a developer outside the team, does not even see it; Bob, a plain member, may look.
    assert await code_of(idn.call(carol, "members", "set", add_bob)) == NOT_FOUND
    assert await code_of(idn.call(carol, "members", "list", {"team_id": team["id"]})) == NOT_FOUND
    assert await code_of(idn.call(carol, "teams", "get", {"id": team["id"]})) == NOT_FOUND
    await idn.call(alice, "members", "set", add_bob)
    assert await code_of(idn.call(bob, "members", "set", add_carol)) == FORBIDDEN
    assert await code_of(idn.call(bob, "teams", "delete", {"id": team["id"]})) == FORBIDDEN
    update = {"id": team["id"], "name": "Mine"}
    assert await code_of(idn.call(bob, "teams", "update", update)) == FORBIDDEN
    assert await code_of(idn.call(carol, "audit", "list")) == FORBIDDEN
    assert [t["name"] for t in await idn.call(carol, "teams", "list")] == [CAROL]
    # The platform admin manages any team.
    admin = await idn.admin()
    assert (await idn.call(admin, "members", "set", add_carol))["email"] == CAROL
    assert len(await idn.call(admin, "teams", "list")) == 5  # four personal teams and Core


async def test_a_team_keeps_at_least_one_owner(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    await idn.new_user(BOB)
    team = await idn.call(alice, "teams", "create", {"name": "Core"})
    demote = {"team_id": team["id"], "email": ALICE, "role": "member"}
    assert await code_of(idn.call(alice, "members", "set", demote)) == CONFLICT
    leave = {"team_id": team["id"], "email": ALICE}
    assert await code_of(idn.call(alice, "members", "remove", leave)) == CONFLICT
    await idn.call(alice, "members", "set", {"team_id": team["id"], "email": BOB, "role": "owner"})
    await idn.call(alice, "members", "remove", leave)  # now Bob owns it
    admin = await idn.admin()
    assert await code_of(idn.call(admin, "users", "delete", {"email": BOB})) == CONFLICT
    assert await idn.call(admin, "teams", "delete", {"id": team["id"]}) == {
        "id": team["id"],
        "deleted": True,
    }
    assert await idn.call(admin, "users", "delete", {"email": BOB}) == {
        "email": BOB,
        "deleted": True,
    }
    assert await idn.wait_for("users.deleted", lambda b: b == {"email": BOB})


async def test_an_invitation_is_accepted_once_by_the_invited_email(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    bob = await idn.new_user(BOB)
    carol = await idn.new_user(CAROL)
    team = await idn.call(alice, "teams", "create", {"name": "Core"})
    invite = {"team_id": team["id"], "email": "BOB@example.com", "role": "member"}
    assert await code_of(idn.call(carol, "invitations", "create", invite)) == NOT_FOUND
    created = await idn.call(alice, "invitations", "create", invite)
    raw = created["token"]
    assert created["email"] == BOB and len(raw) >= 40 and created["expires_at"].endswith("Z")
    [listed] = await idn.call(alice, "invitations", "list", {"team_id": team["id"]})
    assert listed["id"] == created["id"] and raw not in str(listed)

    assert await code_of(idn.call(carol, "invitations", "accept", {"token": raw})) == FORBIDDEN
    bad = {"token": raw + "x"}
    assert await code_of(idn.call(bob, "invitations", "accept", bad)) == NOT_FOUND
    joined = await idn.call(bob, "invitations", "accept", {"token": raw})
    assert (joined["email"], joined["role"], joined["team_id"]) == (BOB, "member", team["id"])
    assert team["id"] in (await idn.as_user(BOB)).teams
    assert await code_of(idn.call(bob, "invitations", "accept", {"token": raw})) == NOT_FOUND
    assert await idn.call(alice, "invitations", "list", {"team_id": team["id"]}) == []

    conn = await asyncpg.connect(idn.dsn)
    try:
        stored = await conn.fetchval("SELECT count(*) FROM invitations")
        hashes = await conn.fetch("SELECT token_hash FROM invitations")
    finally:
        await conn.close()
    assert stored == 0 and hashes == []
    # A second invitation is stored by hash only; declining it deletes it.
    again = await idn.call(alice, "invitations", "create", {**invite, "email": CAROL})
    conn = await asyncpg.connect(idn.dsn)
    try:
        [row] = await conn.fetch("SELECT token_hash FROM invitations")
    finally:
        await conn.close()
    assert row["token_hash"] == hashlib.sha256(again["token"].encode()).hexdigest()
    assert await idn.call(carol, "invitations", "delete", {"id": again["id"]}) == {
        "id": again["id"],
        "deleted": True,
    }
    assert await code_of(idn.call(carol, "invitations", "accept", again)) == NOT_FOUND


async def test_a_hidden_team_answers_exactly_as_an_unknown_one(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    bob = await idn.new_user(BOB)
    team = await idn.call(alice, "teams", "create", {"name": "Hidden"})
    invitation = await idn.call(
        alice, "invitations", "create", {"team_id": team["id"], "email": CAROL, "role": "member"}
    )

    def calls(team_id: str, invitation_id: str) -> list[tuple[str, str, dict[str, str]]]:
        member = {"team_id": team_id, "email": ALICE}
        return [
            ("teams", "get", {"id": team_id}),
            ("teams", "update", {"id": team_id, "name": "Renamed"}),
            ("teams", "delete", {"id": team_id}),
            ("members", "list", {"team_id": team_id}),
            ("members", "set", {**member, "role": "member"}),
            ("members", "remove", member),
            ("members", "remove", {"team_id": team_id, "email": BOB}),  # leaving it
            ("invitations", "create", {**member, "email": BOB, "role": "member"}),
            ("invitations", "list", {"team_id": team_id}),
            ("invitations", "delete", {"id": invitation_id}),
        ]

    hidden = calls(team["id"], invitation["id"])
    unknown = calls("no-such-team", "no-such-invitation")
    for (entity, op, seen), (_, _, missing) in zip(hidden, unknown, strict=True):
        a = await error_of(idn.call(bob, entity, op, seen))
        b = await error_of(idn.call(bob, entity, op, missing))
        assert (a.code, a.message) == (b.code, b.message) == (NOT_FOUND, b.message), (entity, op)
    # A member who may see the team but not manage it is told so.
    await idn.call(alice, "members", "set", {"team_id": team["id"], "email": BOB, "role": "member"})
    update = {"id": team["id"], "name": "Renamed"}
    assert await code_of(idn.call(bob, "teams", "update", update)) == FORBIDDEN
    assert (await idn.call(bob, "teams", "get", {"id": team["id"]}))["name"] == "Hidden"


async def test_names_that_look_like_injections_are_stored_verbatim(idn: Identity) -> None:
    admin = await idn.admin()
    for i, text in enumerate(INJECTIONS):
        email = f"user{i}@example.com"
        user = await idn.call(admin, "users", "create", {"email": email, "full_name": text})
        assert user["full_name"] == text
        assert (await idn.access(email))["full_name"] == text
        team = await idn.call(admin, "teams", "create", {"name": text, "description": text})
        assert (await idn.call(admin, "teams", "get", {"id": team["id"]}))["name"] == text
        token = await idn.call(await idn.as_user(email), "tokens", "create", {"name": text})
        assert token["record"]["name"] == text
        role = {"name": text, "permissions": []}
        assert await code_of(idn.call(admin, "roles", "create", role)) == INVALID_PARAMS
    names = {t["name"] for t in await idn.call(admin, "teams", "list")}
    assert set(INJECTIONS) <= names
    assert len(await idn.call(admin, "users", "list")) == len(INJECTIONS) + 1


HOSTILE: list[tuple[str, str, dict[str, object]]] = [
    ("users", "create", {"email": {"$ne": None}}),
    ("users", "create", {"email": "'; DROP TABLE users; --@example.com"}),
    ("users", "create", {"email": "x@example.com", "full_name": "line\nbreak"}),
    ("users", "create", {"email": "x@example.com", "roles": ["'; DROP TABLE roles; --"]}),
    ("users", "get", {"email": ["admin@forge.test"]}),
    ("users", "login", {"email": "a@b.c", "password": {"$ne": None}}),
    ("teams", "create", {"name": {"$gt": ""}}),
    ("teams", "create", {"name": "nul \x00 byte"}),
    ("teams", "create", {"name": "   "}),
    ("teams", "get", {"id": "nul \x00 byte"}),
    ("roles", "get", {"name": "\x00"}),
    ("tokens", "create", {"name": "t", "permissions": ["tools.read' OR '1'='1"]}),
]


async def test_malformed_or_hostile_params_are_refused_as_invalid(idn: Identity) -> None:
    admin = await idn.admin()
    for entity, op, params in HOSTILE:
        assert await code_of(idn.call(admin, entity, op, params)) == INVALID_PARAMS, params
    assert len(await idn.call(admin, "users", "list")) == 1
