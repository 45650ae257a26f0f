"""Schema migrations of both registries' databases: versioned SQL files shipped inside the
package, applied in order."""

from __future__ import annotations

import logging
import re
from importlib import resources
from typing import NamedTuple

from forge.registry.catalog import store
from forge.registry.identity import store as identity_store

log = logging.getLogger("forge.registry.migrate")
CATALOG = "forge.registry.catalog"
IDENTITY = "forge.registry.identity"
_FILE = re.compile(r"^(\d+)_([a-z0-9_]+)\.sql$")


class Migration(NamedTuple):
    version: int
    name: str
    sql: str


def load_migrations(package: str = CATALOG) -> list[Migration]:
    """Every `NNN_name.sql` in the package's migrations folder, by version; duplicates are
    refused. `forge.registry.catalog` holds the catalog's, `forge.registry.identity` the
    identity's."""
    folder = resources.files(package) / "migrations"
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE.match(entry.name)
        if match is None:
            continue
        version = int(match.group(1))
        if version in found:
            raise RuntimeError(f"two migrations have version {version}")
        found[version] = Migration(version, match.group(2), entry.read_text(encoding="utf-8"))
    return [found[v] for v in sorted(found)]


async def migrate(dsn: str) -> list[int]:
    """Bring the catalog database up to date; returns the versions applied now."""
    applied = await store.apply_migrations(dsn, load_migrations())
    if applied:
        log.info("applied migrations", extra={"versions": ",".join(map(str, applied))})
    else:
        log.info("catalog database is up to date")
    return applied


async def migrate_identity(dsn: str) -> list[int]:
    """Bring the identity database up to date; returns the versions applied now."""
    applied = await identity_store.apply_migrations(dsn, load_migrations(IDENTITY))
    if applied:
        log.info("applied identity migrations", extra={"versions": ",".join(map(str, applied))})
    else:
        log.info("identity database is up to date")
    return applied
