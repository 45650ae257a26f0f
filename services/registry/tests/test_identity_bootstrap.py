"""Identity database start-up: migrations of both databases, and a bootstrap that makes one
platform admin however often and however many replicas run it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import asyncpg
import msgspec
import pytest
from identity_harness import (
    ADMIN_EMAIL,
    ADMIN_PASSWORD,
    EDGE,
    Identity,
    cheap_passwords,
    code_of,
    started,
)

from forge.core import subjects
from forge.core.bus import NatsBus
from forge.core.errors import UNAUTHORIZED
from forge.proto.access import BUILTIN_ROLES
from forge.registry.config import RegistryConfig
from forge.registry.identity.bootstrap import bootstrap
from forge.registry.identity.store import Store
from forge.registry.migrate import IDENTITY, load_migrations, migrate_identity
from forge.testing.fixtures import DatabaseFactory


@pytest.fixture
async def idn(nats_url: str, fresh_database: str, bus: NatsBus) -> AsyncIterator[Identity]:
    async with started(nats_url, fresh_database, bus) as running:
        yield running


async def counts(dsn: str) -> tuple[int, int, int]:
    """(users, platform_admin bindings, bootstrap audit rows)"""
    conn = await asyncpg.connect(dsn)
    try:
        return (
            await conn.fetchval("SELECT count(*) FROM users"),
            await conn.fetchval("SELECT count(*) FROM role_bindings WHERE role = 'platform_admin'"),
            await conn.fetchval(
                "SELECT count(*) FROM audit_log WHERE action = 'users.bootstrap_admin'"
            ),
        )
    finally:
        await conn.close()


async def test_identity_migrations_apply_once_even_when_run_together(fresh_database: str) -> None:
    versions = [m.version for m in load_migrations(IDENTITY)]
    assert versions[0] == 1
    results = await asyncio.gather(*(migrate_identity(fresh_database) for _ in range(3)))
    assert sorted(v for result in results for v in result) == versions
    assert await migrate_identity(fresh_database) == []


async def test_the_bootstrap_makes_one_admin_however_often_it_runs(idn: Identity) -> None:
    admin = await idn.call(
        EDGE, "users", "login", {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
    )
    assert admin["is_admin"] and admin["teams"] == [admin["personal_team"]]
    assert await idn.wait_for("users.changed", lambda u: u["email"] == ADMIN_EMAIL)
    config, passwords = idn.registry.config, idn.registry.passwords
    again = await asyncio.gather(*(bootstrap(idn.store, config, passwords) for _ in range(3)))
    assert again == [[], [], []]
    assert await counts(idn.dsn) == (1, 1, 1)


async def test_replicas_starting_together_make_one_admin(
    database_factory: DatabaseFactory,
) -> None:
    dsn = database_factory("identity")
    await migrate_identity(dsn)
    config = RegistryConfig(platform_admin_email="Root@Example.com")
    stores = [await Store.connect(dsn, min_size=1, max_size=2) for _ in range(2)]
    try:
        made = await asyncio.gather(*(bootstrap(s, config, cheap_passwords()) for s in stores))
    finally:
        for store in stores:
            await store.close()
    assert sorted(len(m) for m in made) == [0, 1]
    assert await counts(dsn) == (1, 1, 1)
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow("SELECT email, password_hash FROM users")
    finally:
        await conn.close()
    assert row["email"] == "root@example.com" and row["password_hash"] is None


async def test_an_admin_without_a_configured_password_cannot_log_in(
    nats_url: str, fresh_database: str, bus: NatsBus
) -> None:
    async with started(nats_url, fresh_database, bus, platform_admin_password="") as idn:
        assert (await idn.admin()).is_admin
        params = {"email": ADMIN_EMAIL, "password": ""}
        assert await code_of(idn.call(EDGE, "users", "login", params)) == UNAUTHORIZED


async def test_built_in_roles_edited_behind_our_back_are_restored(idn: Identity) -> None:
    conn = await asyncpg.connect(idn.dsn)
    try:
        await conn.execute("UPDATE roles SET permissions = '{}' WHERE name = 'platform_admin'")
    finally:
        await conn.close()
    changed = await bootstrap(idn.store, idn.registry.config, idn.registry.passwords)
    assert changed == [(await idn.access(ADMIN_EMAIL))["id"]]
    role = await idn.call(await idn.admin(), "roles", "get", {"name": "platform_admin"})
    assert role["permissions"] == list(BUILTIN_ROLES["platform_admin"])


async def test_the_identity_registry_answers_health_pings(idn: Identity) -> None:
    health = subjects.registry_health(subjects.IDENTITY)
    reply = await idn.bus.request(health, b"", deadline=time.time() + 5)
    assert msgspec.json.decode(reply) == {"result": {"status": "ok"}}


def run_migrate(catalog: str, identity: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    env["FORGE_CATALOG_DATABASE_URL"] = catalog
    env["FORGE_IDENTITY_DATABASE_URL"] = identity
    return subprocess.run(
        [sys.executable, "-m", "forge.registry", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_the_migrate_command_migrates_both_databases(
    database_factory: DatabaseFactory,
) -> None:
    catalog, identity = database_factory("catalog"), database_factory("identity")
    missing = identity.rsplit("/", 1)[0] + "/no_such_database"
    failed = await asyncio.to_thread(run_migrate, catalog, missing)
    assert failed.returncode == 1 and "cannot open the identity database" in failed.stderr
    done = await asyncio.to_thread(run_migrate, catalog, identity)
    assert done.returncode == 0, done.stderr
    for dsn, table in ((catalog, "gateways"), (identity, "users")):
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
        finally:
            await conn.close()
