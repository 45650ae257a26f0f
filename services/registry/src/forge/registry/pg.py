"""What the registry's two databases (the catalog, `forge.registry.catalog.store`, and the identity
database, `forge.registry.identity.store`) do alike: open and hold one asyncpg pool, and apply
migrations under an advisory lock. Private to those two store modules; with them, the only
registry module that imports asyncpg (app.py takes `INPUT_ERRORS` from here to translate them)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from typing import Any, ClassVar, Self

import asyncpg

from forge.core import tracing
from forge.core.errors import ServiceUnavailableError

# Opening a pool or migrating happens only at start: the driver's text (a refused password, an
# unreachable host) goes to the operator in these errors and never to a caller.
_OPEN_ERRORS = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)
# Values the database refuses to take rather than a failure of the database: SQLSTATE class 22
# (a NUL in text or jsonb, text that is no uuid, a number out of range) and asyncpg's own check
# of an argument (it raises the same class), and text with no UTF-8 form (an unpaired
# surrogate). The edge refuses these first; should one get through, the caller made a mistake.
INPUT_ERRORS: tuple[type[Exception], ...] = (asyncpg.DataError, UnicodeEncodeError)
# How long opening one connection may take (asyncpg waits 60 s by default): a database whose
# host drops packets makes a request that needs a new connection fail as unavailable after
# this, rather than hang until its caller's deadline.
CONNECT_TIMEOUT_S = 3.0
# The database is not there now (refused or dropped connection, a server shutting down or
# starting, a pool being closed, a connection not made within CONNECT_TIMEOUT_S, which is a
# TimeoutError and so an OSError): the operation may succeed later, so the caller gets
# "unavailable" (503, retryable), never an internal error.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.OperatorInterventionError,
)


_OPERATION = re.compile(r"\s*([A-Za-z]+)")  # a statement's first word: SELECT, BEGIN, ...


def _traced(database: str) -> type[asyncpg.Connection]:
    """Connections whose every query is a CLIENT span when tracing is on (off: the shared
    do-nothing context, no span): the database and the statement's operation (SELECT, INSERT,
    ...), never the statement or its values."""

    def span(query: str) -> Any:
        if not tracing.enabled():
            return tracing.span("")
        found = _OPERATION.match(query)
        operation = found.group(1).upper() if found else ""
        attributes = {"db.system": "postgresql", "db.operation": operation, "db.name": database}
        return tracing.span(f"{operation} {database}", tracing.CLIENT, attributes)

    class Traced(asyncpg.Connection):  # type: ignore[misc]
        async def execute(self, query: str, *args: Any, **kwargs: Any) -> Any:
            with span(query):
                return await super().execute(query, *args, **kwargs)

        async def executemany(self, command: str, *args: Any, **kwargs: Any) -> Any:
            with span(command):
                return await super().executemany(command, *args, **kwargs)

        async def fetch(self, query: str, *args: Any, **kwargs: Any) -> Any:
            with span(query):
                return await super().fetch(query, *args, **kwargs)

        async def fetchrow(self, query: str, *args: Any, **kwargs: Any) -> Any:
            with span(query):
                return await super().fetchrow(query, *args, **kwargs)

        async def fetchval(self, query: str, *args: Any, **kwargs: Any) -> Any:
            with span(query):
                return await super().fetchval(query, *args, **kwargs)

    return Traced


class PooledStore:
    """Tables behind one asyncpg pool; `database` names them in errors ("catalog")."""

    database: ClassVar[str]

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> Self:
        try:
            pool = await asyncpg.create_pool(
                dsn,
                min_size=min_size,
                max_size=max_size,
                connection_class=_traced(cls.database),
                timeout=CONNECT_TIMEOUT_S,
            )
        except _OPEN_ERRORS as exc:
            raise ServiceUnavailableError(
                f"cannot open the {cls.database} database: {exc}"
            ) from exc
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    def alive(self) -> bool:
        return not self.pool.is_closing()

    async def unreachable(self, timeout_s: float = 1.0) -> str | None:
        """Why the database cannot be used now (a readiness probe), or None when it answers."""
        if self.pool.is_closing():
            return f"the {self.database} database pool is closed"
        try:
            async with asyncio.timeout(timeout_s):
                await self.pool.fetchval("SELECT 1")
        except (*_OPEN_ERRORS, TimeoutError):
            return f"the {self.database} database does not answer"
        return None

    def pool_sizes(self) -> dict[str, int]:
        """The pool's connections: open, idle (the rest are in use) and the most it opens."""
        size, idle = self.pool.get_size(), self.pool.get_idle_size()
        return {"open": size, "idle": idle, "in_use": size - idle, "max": self.pool.get_max_size()}


async def apply_migrations(
    dsn: str,
    migrations: Iterable[tuple[int, str, str]],
    *,
    database: str,
    lock: int,
    table: str,
) -> list[int]:
    """Apply the (version, name, sql) migrations not yet recorded in `table`, each in its own
    transaction.

    A session advisory lock (`lock`) makes concurrent callers (replicas starting together) take
    turns.
    """
    try:
        conn = await asyncpg.connect(dsn)
    except _OPEN_ERRORS as exc:
        raise ServiceUnavailableError(f"cannot open the {database} database: {exc}") from exc
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", lock)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {r["version"] for r in await conn.fetch(f"SELECT version FROM {table}")}
        done = []
        for version, name, sql in migrations:
            if version in applied:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    f"INSERT INTO {table} (version, name) VALUES ($1, $2)", version, name
                )
            done.append(version)
        return done
    finally:
        await conn.close()  # closing the session releases the advisory lock
