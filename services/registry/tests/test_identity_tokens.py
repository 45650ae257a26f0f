"""API tokens and revocations: the raw token once and only its hash kept, scopes that only
narrow, ownership, usage counts, and what the edge's snapshot holds."""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest
from identity_harness import ADMIN_EMAIL, EDGE, Identity, code_of, started

from forge.core import subjects
from forge.core.bus import NatsBus
from forge.core.errors import CONFLICT, FORBIDDEN, INVALID_PARAMS, NOT_FOUND
from forge.proto.envelope import Principal
from forge.proto.identity import TokenUsage

ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture
async def idn(nats_url: str, fresh_database: str, bus: NatsBus) -> AsyncIterator[Identity]:
    async with started(nats_url, fresh_database, bus) as running:
        yield running


def sha256(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


async def snapshot(idn: Identity) -> dict[str, Any]:
    found: dict[str, Any] = await idn.call(EDGE, "snapshot", "get")
    return found


async def test_a_token_is_shown_once_and_only_its_hash_is_kept(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    created = await idn.call(alice, "tokens", "create", {"name": "ci", "expires_in_days": 30})
    raw, record = created["token"], created["record"]
    assert raw.startswith("forge_") and len(raw) > 40
    assert record["user_email"] == ALICE and record["active"]
    assert "token_hash" not in record and raw not in str(record)
    listed = await idn.call(alice, "tokens", "list")
    fetched = await idn.call(alice, "tokens", "get", {"id": record["id"]})
    for seen in (listed[0], fetched):
        assert "token_hash" not in seen and raw not in str(seen)
    snap = await snapshot(idn)
    [entry] = snap["tokens"]
    assert entry["id"] == record["id"] and entry["token_hash"] == sha256(raw)
    assert raw not in str(snap)
    assert abs(entry["expires_at"] - (idn.clock.now + 30 * 86400)) < 1
    changed = await idn.wait_for("tokens.changed", lambda e: e["id"] == record["id"])
    assert changed["token_hash"] == sha256(raw) and raw not in str(changed)


async def test_a_tokens_scope_only_narrows_what_its_owner_may_do(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    admin = await idn.admin()
    other_team = await idn.call(admin, "teams", "create", {"name": "Not Alices"})
    refused: list[dict[str, Any]] = [
        {"permissions": ["users.delete"]},  # a developer lacks it
        {"permissions": ["*"]},
        {"permissions": ["no.such"]},
        {"teams": [other_team["id"]]},
        {"cidrs": ["10.0.0.0/33"]},
        {"cidrs": ["not-a-network"]},
        {"window_start": "25:00", "window_end": "06:00"},
        {"window_start": "9:00", "window_end": "17:00"},
        {"window_start": "09:00"},
        {"window_days": [0]},
        {"window_days": [8]},
        {"expires_in_days": 0},
        {"expires_in_days": -3},
        {"name": ""},
    ]
    for scope in refused:
        params = {"name": "scoped", **scope}
        assert await code_of(idn.call(alice, "tokens", "create", params)) == INVALID_PARAMS, scope
    assert await code_of(idn.call(alice, "tokens", "list", {"all": True})) == FORBIDDEN
    params = {
        "name": "scoped",
        "permissions": ["tools.read", "tools.execute", "tools.read"],
        "teams": [alice.teams[0]],
        "server_id": "srv-1",
        "cidrs": ["10.1.2.3/8", "2001:db8::/32"],
        "window_start": "22:00",
        "window_end": "06:30",
        "window_days": [5, 1, 5],
    }
    record = (await idn.call(alice, "tokens", "create", params))["record"]
    assert record["permissions"] == ["tools.read", "tools.execute"]
    assert record["cidrs"] == ["10.0.0.0/8", "2001:db8::/32"]
    assert record["window_days"] == [1, 5] and record["teams"] == [alice.teams[0]]
    # An admin may give any permission, and make tokens for others (within their scope).
    assert await idn.call(admin, "tokens", "create", {"name": "all", "permissions": ["*"]})
    for_alice = {"name": "for alice", "user_email": ALICE, "permissions": ["users.delete"]}
    assert await code_of(idn.call(admin, "tokens", "create", for_alice)) == INVALID_PARAMS
    for_admin = {"name": "for the admin", "user_email": ADMIN_EMAIL}
    assert await code_of(idn.call(alice, "tokens", "create", for_admin)) == FORBIDDEN
    made = await idn.call(admin, "tokens", "create", {**for_alice, "permissions": []})
    assert made["record"]["user_email"] == ALICE


def using(principal: Principal, token: dict[str, Any]) -> Principal:
    """The principal the edge builds for a request authenticated with this API token."""
    return msgspec.structs.replace(principal, auth_method="api_token", token_id=token["id"])


async def test_a_token_made_with_a_token_never_exceeds_it(idn: Identity) -> None:
    await idn.new_user(ALICE)
    alice = await idn.as_user(ALICE)
    other_team = (await idn.call(alice, "teams", "create", {"name": "Other"}))["id"]
    alice = await idn.as_user(ALICE)
    scope = {
        "permissions": ["tokens.create", "tools.read"],
        "teams": [alice.teams[0]],
        "cidrs": ["10.0.0.0/8"],
        "window_start": "09:00",
        "window_end": "17:00",
        "window_days": [1, 2, 3, 4, 5],
        "expires_in_days": 10,
    }
    narrow = (await idn.call(alice, "tokens", "create", {"name": "narrow", **scope}))["record"]
    with_it = using(alice, narrow)
    # Left out, every scope is inherited: "no narrowing" never means "wider than the creator".
    made = (await idn.call(with_it, "tokens", "create", {"name": "child"}))["record"]
    for field in ("permissions", "teams", "cidrs", "window_start", "window_end", "window_days"):
        assert made[field] == narrow[field], field
    assert made["expires_at"] == narrow["expires_at"]
    wider: list[dict[str, Any]] = [
        {"permissions": ["tools.execute"]},  # the owner holds it, the creating token does not
        {"permissions": ["tools.read", "tokens.revoke"]},
        {"teams": [other_team]},
        {"cidrs": ["0.0.0.0/0"]},
        {"cidrs": ["11.0.0.0/8"]},
        {"cidrs": ["::/0"]},
        {"window_start": "08:00", "window_end": "12:00"},
        {"window_start": "16:00", "window_end": "10:00"},
        {"window_days": [6]},
        {"expires_in_days": 30},
    ]
    for params in wider:
        refused = {"name": "wider", **params}
        assert await code_of(idn.call(with_it, "tokens", "create", refused)) == FORBIDDEN, params
    narrower = {
        "name": "narrower",
        "permissions": ["tools.read"],
        "cidrs": ["10.1.0.0/16"],
        "window_start": "10:00",
        "window_end": "11:00",
        "window_days": [2],
        "expires_in_days": 5,
        "server_id": "srv-1",
    }
    child = (await idn.call(with_it, "tokens", "create", narrower))["record"]
    assert (child["permissions"], child["window_days"]) == (["tools.read"], [2])
    # A server-bound creator passes its server on and refuses another.
    bound = using(alice, child)
    assert (await idn.call(bound, "tokens", "create", {"name": "b"}))["record"]["server_id"] == (
        "srv-1"
    )
    other_server = {"name": "b", "server_id": "srv-2"}
    assert await code_of(idn.call(bound, "tokens", "create", other_server)) == FORBIDDEN
    # A revoked token creates nothing; a session keeps the owner's full reach.
    await idn.call(alice, "tokens", "revoke", {"id": narrow["id"]})
    assert await code_of(idn.call(with_it, "tokens", "create", {"name": "x"})) == FORBIDDEN
    wide = {"name": "wide", "permissions": ["tools.execute"], "teams": [other_team]}
    assert (await idn.call(alice, "tokens", "create", wide))["record"]["teams"] == [other_team]


async def test_users_see_and_revoke_only_their_own_tokens(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    bob = await idn.new_user(BOB)
    token = (await idn.call(alice, "tokens", "create", {"name": "mine"}))["record"]
    assert await code_of(idn.call(bob, "tokens", "get", {"id": token["id"]})) == NOT_FOUND
    assert await code_of(idn.call(bob, "tokens", "revoke", {"id": token["id"]})) == NOT_FOUND
    assert await idn.call(bob, "tokens", "list") == []
    revoked = await idn.call(alice, "tokens", "revoke", {"id": token["id"]})
    assert not revoked["active"] and revoked["revoked_at"]
    assert await idn.wait_for("tokens.deleted", lambda b: b == {"id": token["id"]})
    assert (await snapshot(idn))["tokens"] == []
    # The admin sees every token and revokes any.
    other = (await idn.call(bob, "tokens", "create", {"name": "bobs"}))["record"]
    admin = await idn.admin()
    assert {t["id"] for t in await idn.call(admin, "tokens", "list", {"all": True})} == {
        token["id"],
        other["id"],
    }
    assert not (await idn.call(admin, "tokens", "revoke", {"id": other["id"]}))["active"]


async def test_usage_batches_add_counts_and_last_use(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    token = (await idn.call(alice, "tokens", "create", {"name": "used"}))["record"]
    at = time.time()
    for counts in ({token["id"]: 3, "unknown-token": 1}, {token["id"]: 2}):
        batch = TokenUsage(counts=counts, last_used={token["id"]: at})
        reply = await idn.bus.request(
            subjects.TOKEN_USAGE, msgspec.json.encode(batch), deadline=time.time() + 5
        )
        assert msgspec.json.decode(reply) == {"result": {"tokens": 1}}
    seen = await idn.call(alice, "tokens", "get", {"id": token["id"]})
    assert seen["use_count"] == 5 and seen["last_used_at"].endswith("Z")


async def test_deactivating_a_user_revokes_their_tokens_for_good(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    created = (await idn.access(ALICE))["tokens_since"]
    token = (await idn.call(alice, "tokens", "create", {"name": "ci"}))["record"]
    admin = await idn.admin()
    idn.clock.advance(10)
    await idn.call(admin, "users", "update", {"email": ALICE, "active": False})
    assert await idn.wait_for("tokens.deleted", lambda b: b == {"id": token["id"]})
    snap = await snapshot(idn)
    assert snap["tokens"] == [] and ALICE not in {u["email"] for u in snap["users"]}
    assert not (await idn.call(admin, "tokens", "get", {"id": token["id"]}))["active"]
    inactive = {"name": "new", "user_email": ALICE}
    assert await code_of(idn.call(admin, "tokens", "create", inactive)) == CONFLICT
    idn.clock.advance(10)
    await idn.call(admin, "users", "update", {"email": ALICE, "active": True})
    # Reactivated: the old API token stays revoked, and JWTs issued until now stay refused.
    back = await idn.wait_for(
        "users.changed",
        lambda u: u["email"] == ALICE and u.get("active", True) and u["tokens_since"] > created,
    )
    assert abs(back["tokens_since"] - idn.clock.now) < 0.01
    assert (await snapshot(idn))["tokens"] == []
    # Announced once, at creation: reactivation brings back no token.
    assert len([e for e in idn.seen("tokens.changed") if e["id"] == token["id"]]) == 1


async def test_a_recreated_email_is_another_account(idn: Identity) -> None:
    first = await idn.access((await idn.new_user(ALICE)).subject)
    token = (await idn.call(await idn.as_user(ALICE), "tokens", "create", {"name": "t"}))["record"]
    admin = await idn.admin()
    await idn.call(admin, "users", "delete", {"email": ALICE})
    assert await idn.wait_for("tokens.deleted", lambda b: b == {"id": token["id"]})
    second = await idn.access((await idn.new_user(ALICE)).subject)
    assert second["id"] != first["id"] and second["tokens_since"] >= first["tokens_since"]
    entry = (await snapshot(idn))["tokens"]
    assert entry == []  # the old token went with the old account
    made = (await idn.call(await idn.as_user(ALICE), "tokens", "create", {"name": "t"}))["record"]
    [announced] = [e for e in idn.seen("tokens.changed") if e["id"] == made["id"]]
    assert announced["user_id"] == second["id"]


async def test_revocations_are_for_admins_or_the_token_in_use(idn: Identity) -> None:
    await idn.new_user(ALICE)
    alice = await idn.as_user(ALICE, token_id="jti-alice")
    expires = time.time() + 3600
    other = {"jti": "jti-bob", "expires_at": expires}
    assert await code_of(idn.call(alice, "revocations", "create", other)) == FORBIDDEN
    own = {"jti": "jti-alice", "expires_at": expires, "reason": "logout"}
    made = await idn.call(alice, "revocations", "create", own)
    assert (made["jti"], made["reason"]) == ("jti-alice", "logout")
    assert abs(made["expires_at"] - expires) < 0.001
    assert await idn.wait_for("revocations.changed", lambda r: r["jti"] == "jti-alice")
    assert await code_of(idn.call(alice, "revocations", "list")) == FORBIDDEN
    admin = await idn.admin()
    await idn.call(admin, "revocations", "create", other)
    gone = {"jti": "jti-old", "expires_at": time.time() - 10}
    await idn.call(admin, "revocations", "create", gone)
    live = await idn.call(admin, "revocations", "list")
    assert [r["jti"] for r in live] == ["jti-alice", "jti-bob"]
    assert [r["jti"] for r in (await snapshot(idn))["revocations"]] == ["jti-alice", "jti-bob"]
