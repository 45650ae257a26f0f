"""Migrations apply once, in order, safely when replicas run them at the same time."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable

import asyncpg

from forge.proto.envelope import Principal
from forge.registry.catalog.ownership import visible
from forge.registry.catalog.store import Store, apply_migrations
from forge.registry.migrate import load_migrations, migrate


def test_the_packaged_migrations_are_numbered_from_one() -> None:
    versions = [m.version for m in load_migrations()]
    assert versions[0] == 1
    assert versions == sorted(set(versions))


async def test_running_migrations_twice_applies_them_once(fresh_database: str) -> None:
    assert await migrate(fresh_database) == [m.version for m in load_migrations()]
    assert await migrate(fresh_database) == []


async def test_concurrent_migrations_apply_each_version_exactly_once(fresh_database: str) -> None:
    results = await asyncio.gather(*(migrate(fresh_database) for _ in range(4)))
    applied = sorted(v for result in results for v in result)
    assert applied == [m.version for m in load_migrations()]
    conn = await asyncpg.connect(fresh_database)
    try:
        rows = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    assert [(r["version"], r["name"]) for r in rows] == [
        (m.version, m.name) for m in load_migrations()
    ]


def run_migrate_command(dsn: str, identity_dsn: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORGE_")}
    env["FORGE_CATALOG_DATABASE_URL"] = dsn
    if identity_dsn:  # the command migrates the identity database too
        env["FORGE_IDENTITY_DATABASE_URL"] = identity_dsn
    return subprocess.run(
        [sys.executable, "-m", "forge.registry", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_migrate_command_migrates_and_exits(
    fresh_database: str, database_factory: Callable[[], str]
) -> None:
    identity = database_factory()
    done = run_migrate_command(fresh_database, identity)
    assert done.returncode == 0, done.stderr
    assert run_migrate_command(fresh_database, identity).returncode == 0


def test_the_migrate_command_fails_clearly_without_a_database(fresh_database: str) -> None:
    done = run_migrate_command(fresh_database.rsplit("/", 1)[0] + "/no_such_database")
    assert done.returncode == 1
    assert "cannot open the catalog database" in done.stderr


async def test_entries_stored_before_ownership_stay_visible_to_everyone(
    fresh_database: str,
) -> None:

    await apply_migrations(fresh_database, [m for m in load_migrations() if m.version <= 3])
    conn = await asyncpg.connect(fresh_database)
    try:
        await conn.execute(
            "INSERT INTO gateways (id, name, slug, url, transport, env)"
            " VALUES ('g1', 'old', 'old', 'http://h/', 'stdio', '{\"KEY\": \"v\"}')"
        )
        await conn.execute(
            "INSERT INTO tools (id, gateway_id, name, original_name, definition)"
            " VALUES ('t1', 'g1', 'old-echo', 'echo', '{\"name\": \"echo\"}')"
        )
        await conn.execute("INSERT INTO servers (id, name) VALUES ('s1', 'old')")
    finally:
        await conn.close()
    assert await migrate(fresh_database) == [m.version for m in load_migrations() if m.version > 3]
    store = await Store.connect(fresh_database)
    try:
        snapshot = await store.snapshot()
    finally:
        await store.close()
    for entity in (snapshot.gateways[0], snapshot.tools[0], snapshot.servers[0]):
        assert (entity.owner, entity.team_id, entity.visibility) == (None, None, "public")
    assert (snapshot.gateways[0].auth_type, snapshot.gateways[0].auth) == ("none", None)
    stranger = Principal(subject="anyone@x")
    assert all(visible(stranger, e) for e in (snapshot.gateways[0], snapshot.tools[0]))
