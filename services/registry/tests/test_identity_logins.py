"""Signing in: one answer for unknown users and wrong passwords, the password policy, password
changes and rehashing, self sign-up and SSO team mapping (throttling: test_identity_throttle)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest
from argon2 import PasswordHasher
from identity_harness import (
    EDGE,
    GOOD_PASSWORD,
    Identity,
    code_of,
    error_of,
    started,
)

from forge.core.bus import NatsBus
from forge.core.errors import (
    CONFLICT,
    FORBIDDEN,
    INVALID_PARAMS,
    NOT_FOUND,
    UNAUTHORIZED,
)
from forge.registry.identity.passwords import Passwords

ALICE = "alice@example.com"


@pytest.fixture
async def idn(nats_url: str, fresh_database: str, bus: NatsBus) -> AsyncIterator[Identity]:
    async with started(nats_url, fresh_database, bus) as running:
        yield running


async def login(idn: Identity, email: str, password: str) -> dict[str, object]:
    found: dict[str, object] = await idn.call(
        EDGE, "users", "login", {"email": email, "password": password}
    )
    return found


async def test_a_login_answers_the_users_access(idn: Identity) -> None:
    await idn.new_user(ALICE, full_name="Alice")
    access = await login(idn, "Alice@Example.COM", GOOD_PASSWORD)
    assert access["email"] == ALICE and access["full_name"] == "Alice"
    assert access["roles"] == ["developer"] and not access.get("is_admin", False)
    assert "tools.execute" in access["permissions"]  # type: ignore[operator]
    assert access["teams"] == [access["personal_team"]]


async def test_unknown_users_and_wrong_passwords_get_the_same_answer(idn: Identity) -> None:
    await idn.new_user(ALICE)
    wrong = await error_of(login(idn, ALICE, "Not-The-Password-1"))
    unknown = await error_of(login(idn, "nobody@example.com", GOOD_PASSWORD))
    malformed = await error_of(login(idn, "not an email", GOOD_PASSWORD))
    assert wrong.code == unknown.code == malformed.code == UNAUTHORIZED
    assert wrong.message == unknown.message == malformed.message == "invalid email or password"


async def test_a_deactivated_user_cannot_log_in(idn: Identity) -> None:
    await idn.new_user(ALICE)
    await idn.call(await idn.admin(), "users", "update", {"email": ALICE, "active": False})
    refused = await error_of(login(idn, ALICE, GOOD_PASSWORD))
    assert refused.code == UNAUTHORIZED and refused.message == "invalid email or password"


WEAK = [
    ("Short-1", "length"),
    ("x" * 2000, "length"),
    ("xx-Alice.Smith-2024", "email"),
    ("alllowercaseletters", "classes"),
    ("12345678901234", "classes"),
]


async def test_weak_passwords_are_refused_with_the_rule_they_break(idn: Identity) -> None:
    admin = await idn.admin()
    for password, rule in WEAK:
        params = {"email": "alice.smith@example.com", "password": password}
        refused = await error_of(idn.call(admin, "users", "create", params))
        assert (refused.code, refused.data) == (INVALID_PARAMS, {"field": "password", "rule": rule})
        assert await code_of(idn.call(EDGE, "users", "register", params)) == INVALID_PARAMS
    assert await code_of(idn.access("alice.smith@example.com")) == NOT_FOUND


async def test_a_user_changes_their_own_password(idn: Identity) -> None:
    alice = await idn.new_user(ALICE)
    wrong = {"old_password": "Not-The-Password-1", "new_password": "Another-Secret-7"}
    assert await code_of(idn.call(alice, "users", "change_password", wrong)) == FORBIDDEN
    weak = {"old_password": GOOD_PASSWORD, "new_password": "weak"}
    assert await code_of(idn.call(alice, "users", "change_password", weak)) == INVALID_PARAMS
    good = {"old_password": GOOD_PASSWORD, "new_password": "Another-Secret-7"}
    assert await idn.call(alice, "users", "change_password", good) == {
        "email": ALICE,
        "changed": True,
    }
    assert await code_of(login(idn, ALICE, GOOD_PASSWORD)) == UNAUTHORIZED
    assert (await login(idn, ALICE, "Another-Secret-7"))["email"] == ALICE


async def test_a_hash_made_with_old_parameters_is_replaced_at_login(idn: Identity) -> None:
    await idn.new_user(ALICE)
    # e.g. an upgrade of argon2-cffi's defaults: one more pass than the harness's hasher
    stronger = PasswordHasher(time_cost=2, memory_cost=8, parallelism=1, hash_len=16)
    idn.registry.passwords = Passwords(12, stronger)
    await login(idn, ALICE, GOOD_PASSWORD)
    conn = await asyncpg.connect(idn.dsn)
    try:
        stored = await conn.fetchval("SELECT password_hash FROM users WHERE email = $1", ALICE)
    finally:
        await conn.close()
    assert stored.startswith("$argon2id$") and ",t=2," in stored
    assert not stronger.check_needs_rehash(stored)
    assert (await login(idn, ALICE, GOOD_PASSWORD))["email"] == ALICE


async def test_self_registration_makes_a_developer_with_a_personal_team(idn: Identity) -> None:
    params = {"email": ALICE, "password": GOOD_PASSWORD, "full_name": "Alice"}
    access = await idn.call(EDGE, "users", "register", params)
    assert access["roles"] == ["developer"] and access["teams"] == [access["personal_team"]]
    assert await code_of(idn.call(EDGE, "users", "register", params)) == CONFLICT
    assert (await login(idn, ALICE, GOOD_PASSWORD))["id"] == access["id"]


async def test_sso_logins_keep_mapped_team_memberships_in_step(idn: Identity) -> None:
    mapping = {"eng": "Engineering", "ops": "Operations", "x": "Engineering"}
    first = {
        "provider": "okta",
        "email": "Sam@Example.com",
        "full_name": "Sam",
        "groups": ["eng", "ops", "unmapped"],
        "team_mapping": mapping,
        "default_role": "viewer",
    }
    access = await idn.call(EDGE, "users", "sso_login", first)
    assert access["auth_provider"] == "sso:okta" and access["roles"] == ["viewer"]
    assert len(access["teams"]) == 3 and access["teams"][0] == access["personal_team"]
    admin = await idn.admin()
    by_name = {t["name"]: t["id"] for t in await idn.call(admin, "teams", "list")}
    assert {"Engineering", "Operations"} <= set(by_name)
    # A membership an admin set by hand is not the IdP's to remove.
    params = {"team_id": by_name["Operations"], "email": "sam@example.com", "role": "member"}
    await idn.call(admin, "members", "set", params)
    other = await idn.call(admin, "teams", "create", {"name": "Design"})
    params = {"team_id": other["id"], "email": "sam@example.com", "role": "member"}
    await idn.call(admin, "members", "set", params)

    again = await idn.call(EDGE, "users", "sso_login", {**first, "groups": ["ops"]})
    assert again["id"] == access["id"]
    assert set(again["teams"]) == {access["personal_team"], by_name["Operations"], other["id"]}
    assert "Engineering" in {t["name"] for t in await idn.call(admin, "teams", "list")}
    assert await code_of(login(idn, "sam@example.com", "")) == UNAUTHORIZED  # no password
