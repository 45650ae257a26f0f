"""The identity database: its pool, transactions that turn driver errors into domain errors, and
its migrations. The only identity module that imports asyncpg (besides the registry's private
`pg`, shared with the catalog's store); the SQL lives in `tables/`."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Any

import asyncpg

from forge.core.errors import (
    ConflictError,
    ForgeError,
    InvalidParamsError,
    ServiceUnavailableError,
)
from forge.registry import pg
from forge.registry.pg import PooledStore

Row = Mapping[str, Any]
# Advisory lock keys: migrations ("forge.identity"), and the bootstrap of the platform admin.
MIGRATION_LOCK = 0x666F7267652E6964
BOOTSTRAP_LOCK = 0x666F7267652E6962
# Its own name, so that an identity database can never be mistaken for a migrated catalog.
MIGRATIONS_TABLE = "identity_schema_migrations"

_CONFLICTS = {
    "users_email_key": "a user with this email already exists",
    "teams_name_key": "a team with this name already exists",
    "roles_pkey": "a role with this name already exists",
    "role_bindings_key": "this role is already bound to this user",
    "team_members_pkey": "this user is already a member of the team",
    "api_tokens_token_hash_key": "token collision; try again",
    "invitations_token_hash_key": "token collision; try again",
}


class Tx:
    """One connection, inside a transaction when taken with `Store.tx()`: the door to SQL."""

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._conn.fetch(sql, *args))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self._conn.fetchrow(sql, *args)
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._conn.fetchval(sql, *args)

    async def execute(self, sql: str, *args: Any) -> str:
        status: str = await self._conn.execute(sql, *args)
        return status

    async def executemany(self, sql: str, args: Iterable[Sequence[Any]]) -> None:
        await self._conn.executemany(sql, args)


def _translate(exc: BaseException) -> ForgeError:
    if isinstance(exc, asyncpg.UniqueViolationError):
        message = _CONFLICTS.get(exc.constraint_name or "", "an entry with these values exists")
        return ConflictError(message)
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return ConflictError("an entry this change refers to no longer exists")
    if isinstance(exc, asyncpg.SerializationError | asyncpg.DeadlockDetectedError):
        return ConflictError("a concurrent change got in the way; try again")
    if isinstance(exc, asyncpg.UndefinedTableError):
        return ServiceUnavailableError(
            "the identity database is not migrated: run `python -m forge.registry migrate`"
        )
    if isinstance(exc, asyncpg.DataError | asyncpg.IntegrityConstraintViolationError):
        # e.g. a NUL character in a lookup key: a bad value, never an internal error.
        return InvalidParamsError("a value in the request cannot be stored or looked up")
    return ServiceUnavailableError("the identity database is unavailable")


_DRIVER_ERRORS = (
    asyncpg.UniqueViolationError,
    asyncpg.ForeignKeyViolationError,
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.UndefinedTableError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    OSError,
)


class Store(PooledStore):
    """The identity tables behind one asyncpg pool."""

    database = "identity"

    @contextlib.asynccontextmanager
    async def tx(self, *, lock: int | None = None) -> AsyncIterator[Tx]:
        """A read-write transaction; `lock` takes that advisory lock until it ends."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                if lock is not None:
                    await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
                yield Tx(conn)
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[Tx]:
        """A read-only transaction that sees one instant (snapshots, multi-statement reads)."""
        try:
            async with (
                self.pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                yield Tx(conn)
        except _DRIVER_ERRORS as exc:
            raise _translate(exc) from exc


async def apply_migrations(dsn: str, migrations: Iterable[tuple[int, str, str]]) -> list[int]:
    """Apply the (version, name, sql) migrations not yet recorded, each in its own transaction,
    replicas starting together taking turns."""
    return await pg.apply_migrations(
        dsn, migrations, database="identity", lock=MIGRATION_LOCK, table=MIGRATIONS_TABLE
    )
