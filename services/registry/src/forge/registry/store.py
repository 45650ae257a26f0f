"""The catalog's PostgreSQL store: one method per statement (or transaction), proto Structs out."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import msgspec

from forge.core.errors import ConflictError, NotFoundError, ServiceUnavailableError
from forge.proto.catalog import Gateway, Server, Snapshot, ToolRecord
from forge.proto.mcp import Tool
from forge.registry import contents, rows
from forge.registry.contents import Contents, Kind, Stored

# Key of the advisory lock that serialises migrations across replicas ("forge.registry").
MIGRATION_LOCK = 0x666F726765
_ENC = msgspec.json.Encoder()
_CONFLICTS = {
    "gateways_name_key": "a gateway with this name already exists",
    "gateways_slug_key": "a gateway whose name gives the same slug already exists",
    "tools_name_key": "a tool with this exposed name already exists",
    "tools_gateway_original_key": "the upstream lists the same tool name twice",
    "servers_name_key": "a server with this name already exists",
    **contents.CONFLICTS,
}
_SERVERS = contents.SERVERS
_AFFECTED = "SELECT DISTINCT server_id FROM server_tools WHERE tool_id = any($1::text[])"


@dataclass(frozen=True)
class NewTool:
    """A tool about to be stored: id, exposed name and the upstream's definition."""

    id: str
    name: str
    tool: Tool


@dataclass(frozen=True)
class Replaced:
    """What a tool-set replacement did."""

    tools: list[ToolRecord]
    added: int
    removed: int
    updated: int
    servers: list[str]  # ids of servers that lost a tool, resource, template or prompt
    contents: Stored


def _conflict(exc: asyncpg.UniqueViolationError) -> ConflictError:
    message = _CONFLICTS.get(exc.constraint_name or "", "an entry with these values already exists")
    return ConflictError(message, {"detail": exc.detail})


class Store:
    """The catalog tables behind one asyncpg pool."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    @classmethod
    async def connect(cls, dsn: str, *, min_size: int = 1, max_size: int = 10) -> Store:
        try:
            pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise ServiceUnavailableError(f"cannot open the catalog database: {exc}") from exc
        return cls(pool)

    async def close(self) -> None:
        await self.pool.close()

    def alive(self) -> bool:
        return not self.pool.is_closing()

    async def list_gateways(self) -> list[Gateway]:
        found = await self.pool.fetch("SELECT * FROM gateways ORDER BY created_at, id")
        return [rows.gateway(r) for r in found]

    async def get_gateway(self, gateway_id: str) -> Gateway:
        row = await self.pool.fetchrow("SELECT * FROM gateways WHERE id = $1", gateway_id)
        if row is None:
            raise NotFoundError("no gateway has this id")
        return rows.gateway(row)

    async def insert_gateway(
        self, gw: Gateway, tools: Sequence[NewTool], found: Contents = contents.NOTHING
    ) -> list[ToolRecord]:
        """Store a gateway, its tools and contents in one transaction; returns the stored tools."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO gateways (id, name, slug, url, transport, description,"
                    " protocol_version, capabilities, server_info, timeout_s, tags, command, env)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11::jsonb,"
                    " $12::jsonb, $13::jsonb)",
                    *(gw.id, gw.name, gw.slug, gw.url, gw.transport, gw.description),
                    *(gw.protocol_version, _ENC.encode(gw.capabilities).decode()),
                    *(_ENC.encode(gw.server_info).decode(), gw.timeout_s),
                    _ENC.encode(gw.tags).decode(),
                    *(_ENC.encode(gw.command).decode(), _ENC.encode(gw.env).decode()),
                )
                records = [await self._insert_tool(conn, gw.id, t) for t in tools]
                await contents.replace_all(conn, gw.id, found)
                return records
        except asyncpg.UniqueViolationError as exc:
            raise _conflict(exc) from exc

    async def _insert_tool(self, conn: Any, gateway_id: str, new: NewTool) -> ToolRecord:
        row = await conn.fetchrow(
            "INSERT INTO tools (id, gateway_id, name, original_name, definition)"
            " VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING *",
            *(new.id, gateway_id, new.name, new.tool.name, _ENC.encode(new.tool).decode()),
        )
        return rows.tool(row)

    async def delete_gateway(self, gateway_id: str) -> list[str]:
        """Delete a gateway and (by cascade) all it offers; returns the servers that lost any."""
        async with self.pool.acquire() as conn, conn.transaction():
            servers = await contents.affected_by_gateway(conn, gateway_id)
            if await conn.execute("DELETE FROM gateways WHERE id = $1", gateway_id) == "DELETE 0":
                raise NotFoundError("no gateway has this id")
        return servers

    async def replace_tools(
        self, gw: Gateway, tools: Sequence[NewTool], found: Contents = contents.NOTHING
    ) -> Replaced:
        """Update the gateway's discovery fields and swap what it offers, keeping ids by key."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                updated_row = await conn.fetchrow(
                    "UPDATE gateways SET protocol_version = $2, capabilities = $3::jsonb,"
                    " server_info = $4::jsonb, reachable = true, updated_at = now()"
                    " WHERE id = $1 RETURNING id",
                    *(gw.id, gw.protocol_version, _ENC.encode(gw.capabilities).decode()),
                    _ENC.encode(gw.server_info).decode(),
                )
                if updated_row is None:
                    raise NotFoundError("no gateway has this id")
                old = {
                    r["original_name"]: r
                    for r in await conn.fetch("SELECT * FROM tools WHERE gateway_id = $1", gw.id)
                }
                keep = {t.tool.name for t in tools}
                gone = [r["id"] for name, r in old.items() if name not in keep]
                servers = [r["server_id"] for r in await conn.fetch(_AFFECTED, gone)]
                await conn.execute("DELETE FROM tools WHERE id = any($1::text[])", gone)
                records, updated = [], 0
                for new in tools:
                    prior = old.get(new.tool.name)
                    if prior is None:
                        records.append(await self._insert_tool(conn, gw.id, new))
                        continue
                    definition = _ENC.encode(new.tool).decode()
                    row = await conn.fetchrow(
                        "UPDATE tools SET name = $2, definition = $3::jsonb, updated_at ="
                        " CASE WHEN name = $2 AND definition = $3::jsonb THEN updated_at"
                        " ELSE now() END WHERE id = $1 RETURNING *",
                        *(prior["id"], new.name, definition),
                    )
                    updated += row["updated_at"] != prior["updated_at"]
                    records.append(rows.tool(row))
                stored = await contents.replace_all(conn, gw.id, found)
        except asyncpg.UniqueViolationError as exc:
            raise _conflict(exc) from exc
        added = len(records) - (len(old) - len(gone))
        affected = sorted({*servers, *stored.servers})
        return Replaced(records, added, len(gone), updated, affected, stored)

    async def gateway_contents(self, gateway_id: str) -> Stored:
        async with self.pool.acquire() as conn:
            return await contents.of_gateway(conn, gateway_id)

    async def list_entries(self, kind: Kind) -> list[Any]:
        """Every resource, template or prompt (by `kind`), in key order."""
        async with self.pool.acquire() as conn:
            return await contents.every(conn, kind)

    async def get_entry(self, kind: Kind, entry_id: str) -> Any:
        async with self.pool.acquire() as conn:
            found = await contents.one(conn, kind, entry_id)
        if found is None:
            raise NotFoundError(f"no entry of {kind.table} has this id")
        return found

    async def resolve_entries(self, kinds: Sequence[Kind], refs: Sequence[str]) -> dict[str, str]:
        """Map each id or uri / uriTemplate / exposed prompt name that exists to its id."""
        async with self.pool.acquire() as conn:
            return await contents.resolve(conn, kinds, refs)

    async def list_tools(self) -> list[ToolRecord]:
        return [rows.tool(r) for r in await self.pool.fetch("SELECT * FROM tools ORDER BY name")]

    async def get_tool(self, tool_id: str) -> ToolRecord:
        row = await self.pool.fetchrow("SELECT * FROM tools WHERE id = $1", tool_id)
        if row is None:
            raise NotFoundError("no tool has this id")
        return rows.tool(row)

    async def resolve_tools(self, refs: Iterable[str]) -> dict[str, str]:
        """Map each tool id or exposed name that exists to its tool id."""
        matches = await self.pool.fetch(
            "SELECT id, name FROM tools WHERE id = any($1::text[]) OR name = any($1::text[])",
            list(refs),
        )
        found = {r["name"]: r["id"] for r in matches}
        found.update({r["id"]: r["id"] for r in matches})
        return found

    async def list_servers(self) -> list[Server]:
        found = await self.pool.fetch(_SERVERS + " ORDER BY s.created_at, s.id")
        return [rows.server(r) for r in found]

    async def get_server(self, server_id: str, conn: Any = None) -> Server:
        row = await (conn or self.pool).fetchrow(_SERVERS + " WHERE s.id = $1", server_id)
        if row is None:
            raise NotFoundError("no server has this id")
        return rows.server(row)

    async def insert_server(self, server: Server) -> Server:
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO servers (id, name, description, tags)"
                    " VALUES ($1, $2, $3, $4::jsonb)",
                    *(
                        server.id,
                        server.name,
                        server.description,
                        _ENC.encode(server.tags).decode(),
                    ),
                )
                await conn.executemany(
                    "INSERT INTO server_tools (server_id, tool_id, position) VALUES ($1, $2, $3)",
                    [(server.id, t, i) for i, t in enumerate(server.associated_tools)],
                )
                await contents.link_server(
                    conn, server.id, server.associated_resources, server.associated_prompts
                )
                return await self.get_server(server.id, conn)
        except asyncpg.UniqueViolationError as exc:
            raise _conflict(exc) from exc

    async def delete_server(self, server_id: str) -> None:
        if await self.pool.execute("DELETE FROM servers WHERE id = $1", server_id) == "DELETE 0":
            raise NotFoundError("no server has this id")

    async def snapshot(self) -> Snapshot:
        """The whole catalog as of one instant."""
        async with self.pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                gateways = await conn.fetch("SELECT * FROM gateways ORDER BY created_at, id")
                tools = await conn.fetch("SELECT * FROM tools ORDER BY name")
                servers = await conn.fetch(_SERVERS + " ORDER BY s.created_at, s.id")
                resources = await contents.every(conn, contents.RESOURCES)
                templates = await contents.every(conn, contents.TEMPLATES)
                prompts = await contents.every(conn, contents.PROMPTS)
        return Snapshot(
            gateways=[rows.gateway(r) for r in gateways],
            tools=[rows.tool(r) for r in tools],
            servers=[rows.server(r) for r in servers],
            resources=resources,
            resource_templates=templates,
            prompts=prompts,
        )


async def apply_migrations(dsn: str, migrations: Iterable[tuple[int, str, str]]) -> list[int]:
    """Apply the (version, name, sql) migrations not yet recorded, each in its own transaction.

    A session advisory lock makes concurrent callers (replicas starting together) take turns.
    """
    try:
        conn = await asyncpg.connect(dsn)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ServiceUnavailableError(f"cannot open the catalog database: {exc}") from exc
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY,"
            " name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        applied = {r["version"] for r in await conn.fetch("SELECT version FROM schema_migrations")}
        done = []
        for version, name, sql in migrations:
            if version in applied:
                continue
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
            done.append(version)
        return done
    finally:
        await conn.close()  # closing the session releases the advisory lock
