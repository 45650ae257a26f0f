"""Roles and bindings: effective permissions in UserAccess, republishing on a role change,
admin-only management, the last admin, and the audit log of every change."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from identity_harness import ADMIN_EMAIL, GOOD_PASSWORD, Identity, code_of, started

from forge.core.bus import NatsBus
from forge.core.errors import CONFLICT, FORBIDDEN, INVALID_PARAMS, NOT_FOUND
from forge.proto.access import BUILTIN_ROLES

ALICE, BOB = "alice@example.com", "bob@example.com"


@pytest.fixture
async def idn(nats_url: str, fresh_database: str, bus: NatsBus) -> AsyncIterator[Identity]:
    async with started(nats_url, fresh_database, bus) as running:
        yield running


async def test_user_access_holds_global_bindings_and_what_each_team_binding_adds(
    idn: Identity,
) -> None:
    admin = await idn.admin()
    assert admin.is_admin and admin.permissions == ("*",) and admin.roles == ("platform_admin",)
    alice = await idn.new_user(ALICE, roles=["viewer"])
    assert alice.permissions == tuple(sorted(BUILTIN_ROLES["viewer"])) and not alice.is_admin
    auditor = {"name": "auditor", "permissions": ["audit.read", "users.read"]}
    assert (await idn.call(admin, "roles", "create", auditor))["builtin"] is False
    team = await idn.call(admin, "teams", "create", {"name": "Core"})
    grant = {"email": ALICE, "role": "auditor", "team_id": team["id"]}
    assert (await idn.call(admin, "bindings", "grant", grant))["team_id"] == team["id"]
    assert (await idn.call(admin, "bindings", "grant", grant))["role"] == "auditor"  # idempotent
    alice = await idn.as_user(ALICE)
    # The team binding grants on that team only: apart from the global ones.
    assert alice.roles == ("viewer",) and alice.team_roles == {team["id"]: ("auditor",)}
    assert alice.permissions == tuple(sorted(BUILTIN_ROLES["viewer"]))
    assert alice.team_permissions == {team["id"]: ("audit.read", "users.read")}
    assert await idn.call(alice, "audit", "list", {"limit": 1})  # the new role lets her read it
    # platform_admin bound on one team is `*` there, never a platform admin.
    grant = {"email": ALICE, "role": "platform_admin", "team_id": team["id"]}
    await idn.call(admin, "bindings", "grant", grant)
    alice = await idn.as_user(ALICE)
    assert not alice.is_admin and alice.team_permissions == {team["id"]: ("*",)}
    await idn.call(admin, "bindings", "revoke", grant)
    await idn.call(admin, "bindings", "grant", {"email": ALICE, "role": "platform_admin"})
    alice = await idn.as_user(ALICE)
    assert alice.is_admin and alice.permissions == ("*",)
    bindings = await idn.call(alice, "bindings", "list", {"email": ALICE})
    assert [(b["role"], b["team_id"]) for b in bindings] == [
        ("auditor", team["id"]),
        ("platform_admin", None),
        ("viewer", None),
    ]


async def test_changing_a_role_republishes_every_user_bound_to_it(idn: Identity) -> None:
    admin = await idn.admin()
    await idn.call(admin, "roles", "create", {"name": "ops", "permissions": ["tools.read"]})
    await idn.new_user(ALICE, roles=["ops"])
    await idn.new_user(BOB, roles=["ops", "viewer"])
    await idn.new_user("carol@example.com", roles=["viewer"])
    update = {"name": "ops", "permissions": ["tools.read", "gateways.delete"]}
    assert (await idn.call(admin, "roles", "update", update))["permissions"] == update[
        "permissions"
    ]
    for email in (ALICE, BOB):
        changed = await idn.wait_for(
            "users.changed",
            lambda u, email=email: u["email"] == email and "gateways.delete" in u["permissions"],
        )
        assert "tools.read" in changed["permissions"]
    carol = [u for u in idn.seen("users.changed") if u["email"] == "carol@example.com"]
    assert len(carol) == 1  # only at creation

    assert await idn.call(admin, "roles", "delete", {"name": "ops"}) == {
        "name": "ops",
        "deleted": True,
    }
    # UserAccess leaves out empty fields: no roles, no permissions.
    gone = await idn.wait_for("users.changed", lambda u: u["email"] == ALICE and "roles" not in u)
    assert "permissions" not in gone
    assert (await idn.as_user(BOB)).roles == ("viewer",)


async def test_only_admins_manage_roles_and_bindings(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    admin = await idn.admin()
    role = {"name": "mine", "permissions": ["tools.read"]}
    assert await code_of(idn.call(alice, "roles", "create", role)) == FORBIDDEN
    grant = {"email": ALICE, "role": "platform_admin"}
    assert await code_of(idn.call(alice, "bindings", "grant", grant)) == FORBIDDEN
    assert await code_of(idn.call(alice, "bindings", "list")) == FORBIDDEN
    assert await code_of(idn.call(alice, "bindings", "list", {"email": ADMIN_EMAIL})) == FORBIDDEN
    assert [b["role"] for b in await idn.call(alice, "bindings", "list", {"email": ALICE})] == [
        "developer"
    ]
    assert await code_of(idn.call(alice, "users", "create", {"email": BOB})) == FORBIDDEN
    assert await code_of(idn.call(alice, "users", "get", {"email": ADMIN_EMAIL})) == FORBIDDEN
    assert [u["email"] for u in await idn.call(alice, "users", "list")] == [ALICE]
    deactivate = {"email": ALICE, "active": False}
    assert await code_of(idn.call(alice, "users", "update", deactivate)) == FORBIDDEN
    renamed = await idn.call(alice, "users", "update", {"email": ALICE, "full_name": "Al"})
    assert renamed["full_name"] == "Al"
    bad = {"name": "bad", "permissions": ["tools.read", "root"]}
    assert await code_of(idn.call(admin, "roles", "create", bad)) == INVALID_PARAMS
    unknown = {"email": ALICE, "role": "no-such-role"}
    assert await code_of(idn.call(admin, "bindings", "grant", unknown)) == NOT_FOUND
    assert await code_of(idn.call(admin, "bindings", "revoke", unknown)) == NOT_FOUND


async def test_built_in_roles_cannot_be_changed_or_deleted(idn: Identity) -> None:
    admin = await idn.admin()
    listed = {r["name"]: r for r in await idn.call(admin, "roles", "list")}
    assert set(listed) == set(BUILTIN_ROLES)
    assert all(r["builtin"] for r in listed.values())
    assert listed["developer"]["permissions"] == list(BUILTIN_ROLES["developer"])
    update = {"name": "developer", "permissions": ["*"]}
    assert await code_of(idn.call(admin, "roles", "update", update)) == FORBIDDEN
    assert await code_of(idn.call(admin, "roles", "delete", {"name": "viewer"})) == FORBIDDEN
    copy = {"name": "developer", "permissions": []}
    assert await code_of(idn.call(admin, "roles", "create", copy)) == CONFLICT


async def test_the_last_active_admin_stays_one(idn: Identity) -> None:
    admin = await idn.admin()
    revoke = {"email": ADMIN_EMAIL, "role": "platform_admin"}
    assert await code_of(idn.call(admin, "bindings", "revoke", revoke)) == CONFLICT
    deactivate = {"email": ADMIN_EMAIL, "active": False}
    assert await code_of(idn.call(admin, "users", "update", deactivate)) == CONFLICT
    assert await code_of(idn.call(admin, "users", "delete", {"email": ADMIN_EMAIL})) == CONFLICT
    await idn.new_user(ALICE, is_admin=True)
    assert (await idn.call(admin, "bindings", "revoke", revoke))["revoked"]
    assert not (await idn.as_user(ADMIN_EMAIL)).is_admin


async def test_the_audit_log_records_each_change_without_secrets(idn: Identity) -> None:
    admin = await idn.admin()
    alice = await idn.new_user(ALICE)
    await idn.call(admin, "users", "update", {"email": ALICE, "password": "Reset-Password-42"})
    await idn.call(alice, "teams", "create", {"name": "Core"})
    token = await idn.call(alice, "tokens", "create", {"name": "ci"})
    await idn.call(alice, "tokens", "revoke", {"id": token["record"]["id"]})
    await idn.call(admin, "bindings", "grant", {"email": ALICE, "role": "viewer"})
    entries = await idn.call(admin, "audit", "list")
    assert [(e["actor"], e["action"]) for e in entries[:6]] == [
        (ADMIN_EMAIL, "bindings.grant"),
        (ALICE, "tokens.revoke"),
        (ALICE, "tokens.create"),
        (ALICE, "teams.create"),
        (ADMIN_EMAIL, "users.update"),
        (ADMIN_EMAIL, "users.create"),
    ]
    assert entries[4]["details"] == {"fields": ["password"]}
    assert entries[-1]["action"] == "roles.sync_builtin"
    text = str(entries)
    for secret in (GOOD_PASSWORD, "Reset-Password-42", token["token"], "argon2"):
        assert secret not in text
    only = await idn.call(admin, "audit", "list", {"actor": ALICE, "action": "tokens.create"})
    assert [e["target"] for e in only] == [token["record"]["id"]]
    assert await code_of(idn.call(admin, "audit", "list", {"limit": 0})) == INVALID_PARAMS
