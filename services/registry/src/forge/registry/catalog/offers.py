"""A gateway's tools and the rest it offers: the SQL the store runs inside its transactions."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from forge.proto.catalog import Gateway, ToolRecord
from forge.proto.mcp import Tool
from forge.registry.catalog import contents, ownership
from forge.registry.catalog.contents import Contents, Stored
from forge.registry.catalog.ownership import Placement
from forge.registry.times import timestamp

_ENC = msgspec.json.Encoder()
_UNPLACED = Placement(None, None, "public")
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

    tools: list[ToolRecord]  # the gateway's tools now; empty when more than INLINE_TOOLS
    added: int
    removed: int
    updated: int
    servers: list[str]  # ids of servers that lost a tool, resource, template or prompt
    contents: Stored
    count: int = 0  # how many tools the gateway has now


# Bulk statements: tools travel to PostgreSQL by COPY (binary, one stream), and a tool-set swap
# is set-based SQL against a staging table, so a gateway of 100,000 tools is stored in seconds;
# the caller's transaction makes it one change (a failure leaves nothing behind).
_COLUMNS = ("id", "gateway_id", "name", "original_name", "definition", "owner", "team_id")
_STAGE = (
    "CREATE TEMP TABLE staged_tools (id text, name text, original_name text, definition jsonb)"
    " ON COMMIT DROP"
)
_GONE = (
    "SELECT t.id FROM tools t WHERE t.gateway_id = $1 AND NOT EXISTS"
    " (SELECT 1 FROM staged_tools s WHERE s.original_name = t.original_name)"
)
_UPDATE = (
    "UPDATE tools t SET name = s.name, definition = s.definition, updated_at = now()"
    " FROM staged_tools s WHERE t.gateway_id = $1 AND t.original_name = s.original_name"
    " AND (t.name <> s.name OR t.definition <> s.definition)"
)
_PLACE = (
    "UPDATE tools SET owner = $2, team_id = $3, visibility = $4 WHERE gateway_id = $1"
    " AND (owner IS DISTINCT FROM $2 OR team_id IS DISTINCT FROM $3 OR visibility <> $4)"
)
_FRESH = (
    "INSERT INTO tools (id, gateway_id, name, original_name, definition, owner, team_id,"
    " visibility) SELECT s.id, $1, s.name, s.original_name, s.definition, $2, $3, $4"
    " FROM staged_tools s WHERE NOT EXISTS (SELECT 1 FROM tools t"
    " WHERE t.gateway_id = $1 AND t.original_name = s.original_name)"
)
# Tools read in bulk: their columns as rows, their definitions as one JSON array (one typed
# decode), in the same order; the same records as `rows.tool` makes of each row.
_TOOL_COLUMNS = (
    "SELECT id, name, original_name, gateway_id, enabled, owner, team_id, visibility,"
    " created_at, updated_at FROM tools"
)
_DEFINITIONS = "SELECT coalesce(json_agg(definition ORDER BY name, id), '[]')::text FROM tools"
_TOOLS = msgspec.json.Decoder(list[Tool])


def _rows(
    gateway_id: str | None, tools: Sequence[NewTool], at: Placement
) -> Iterator[tuple[Any, ...]]:
    """COPY rows: of `tools` for the gateway, or (no gateway) of the staging table."""
    for t in tools:
        definition = _ENC.encode(t.tool).decode()
        if gateway_id is None:
            yield (t.id, t.name, t.tool.name, definition)
        else:
            yield (t.id, gateway_id, t.name, t.tool.name, definition, *at)


async def insert_tools(conn: Any, gateway_id: str, tools: Sequence[NewTool], at: Placement) -> None:
    """Store new tools (no rows come back: read them with `tools_of`)."""
    if tools:
        await conn.copy_records_to_table(
            "tools", records=_rows(gateway_id, tools, at), columns=(*_COLUMNS, "visibility")
        )


async def stage(conn: Any) -> None:
    """The transaction's staging table, which `staged` fills and `swap_staged` empties."""
    await conn.execute(_STAGE)


async def staged(conn: Any, tools: Sequence[NewTool]) -> None:
    """Add tools to the staging table (one batch of a streamed discovery)."""
    if tools:
        await conn.copy_records_to_table(
            "staged_tools",
            records=_rows(None, tools, _UNPLACED),  # staged rows have no placement
            columns=("id", "name", "original_name", "definition"),
        )


async def swap(conn: Any, gw: Gateway, tools: Sequence[NewTool], found: Contents) -> Replaced:
    """Swap what the gateway offers for what discovery found, keeping ids by upstream name."""
    await stage(conn)
    await staged(conn, tools)
    return await swap_staged(conn, gw, tools, found)


async def swap_staged(
    conn: Any, gw: Gateway, tools: Sequence[NewTool] | None, found: Contents
) -> Replaced:
    """Swap what the gateway offers for the staged tools and `found`, keeping ids by upstream
    name; `tools` (the staged ones, when they are few) make the records announced."""
    at = ownership.of(gw)
    gone = [r["id"] for r in await conn.fetch(_GONE, gw.id)]
    servers = [r["server_id"] for r in await conn.fetch(_AFFECTED, gone)]  # before the cascade
    await conn.execute("DELETE FROM tools WHERE id = any($1::text[])", gone)
    await conn.execute(_PLACE, gw.id, *at)
    updated = int((await conn.execute(_UPDATE, gw.id)).split()[-1])
    added = int((await conn.execute(_FRESH, gw.id, *at)).split()[-1])
    count = await conn.fetchval("SELECT count(*) FROM staged_tools")
    await conn.execute("DROP TABLE staged_tools")
    records = await stored_records(conn, gw, tools) if tools is not None else []
    stored = await contents.replace_all(conn, gw.id, found, at)
    affected = sorted({*servers, *stored.servers})
    return Replaced(records, added, len(gone), updated, affected, stored, count)


async def follow(conn: Any, gw: Gateway, prefix: str | None) -> None:
    """Give the gateway's entries its placement and, when `prefix` is set, its new name prefix."""
    at = ownership.of(gw)
    await conn.execute(
        "UPDATE tools SET owner = $2, team_id = $3, visibility = $4 WHERE gateway_id = $1",
        *(gw.id, *at),
    )
    if prefix is not None:
        await conn.execute(
            "UPDATE tools SET name = $2 || original_name, updated_at = now() WHERE gateway_id = $1",
            *(gw.id, prefix),
        )
    await contents.follow(conn, gw.id, at, prefix)


_STAMPS = (
    "SELECT id, original_name, enabled, created_at, updated_at FROM tools WHERE gateway_id = $1"
)


async def stored_records(conn: Any, gw: Gateway, tools: Sequence[NewTool]) -> list[ToolRecord]:
    """The gateway's tools as just stored from `tools`, by name: their definitions as given
    (not read back: 100,000 of them would take seconds), ids, flags and times from their rows."""
    stamps = {r["original_name"]: r for r in await conn.fetch(_STAMPS, gw.id)}
    at_time = functools.cache(timestamp)  # a transaction's rows share times: format each once

    owner, team_id, visibility = ownership.of(gw)
    records = [
        ToolRecord(
            id=row["id"],
            name=t.name,
            original_name=t.tool.name,
            gateway_id=gw.id,
            tool=t.tool,
            enabled=row["enabled"],
            owner=owner,
            team_id=team_id,
            visibility=visibility,
            created_at=at_time(row["created_at"]),
            updated_at=at_time(row["updated_at"]),
        )
        for t in tools
        if (row := stamps.get(t.tool.name)) is not None
    ]
    records.sort(key=lambda r: r.name)
    return records


async def tools_of(conn: Any, gateway_id: str) -> list[ToolRecord]:
    """The gateway's tools by name."""
    return await _read(conn, " WHERE gateway_id = $1", gateway_id)


# A page of one gateway's tools: their rows, definitions as stored text (never decoded here),
# in upstream-name order: a range of the (gateway_id, original_name) index, not a sort.
_PAGE = (
    "SELECT id, name, original_name, gateway_id, definition::text AS definition, enabled,"
    " owner, team_id, visibility, created_at, updated_at FROM tools"
    " WHERE gateway_id = $1 AND original_name > $2 ORDER BY original_name LIMIT $3"
)


async def tools_page(
    conn: Any, gateway_id: str, after: str | None, limit: int
) -> tuple[bytes, str | None]:
    """Up to `limit` of the gateway's tools in upstream-name order after the upstream name
    `after`, as a JSON array of ToolRecords (each definition passed through as PostgreSQL has
    it: a cache reading a large gateway costs no decode nor re-encode of its tools here), and
    the upstream name to continue after (None: no more)."""
    # One more than asked says whether another page follows.
    found = await conn.fetch(_PAGE, gateway_id, after or "", limit + 1)
    more = len(found) > limit
    at_time = functools.cache(timestamp)  # rows written together share their times
    records = [
        {
            "id": row["id"],
            "name": row["name"],
            "original_name": row["original_name"],
            "gateway_id": row["gateway_id"],
            "tool": msgspec.Raw(row["definition"].encode()),
            "enabled": row["enabled"],
            "owner": row["owner"],
            "team_id": row["team_id"],
            "visibility": row["visibility"],
            "created_at": at_time(row["created_at"]),
            "updated_at": at_time(row["updated_at"]),
        }
        for row in found[:limit]
    ]
    return _ENC.encode(records), found[limit - 1]["original_name"] if more else None


async def count_tools(conn: Any, gateway_id: str) -> int:
    count: int = await conn.fetchval("SELECT count(*) FROM tools WHERE gateway_id = $1", gateway_id)
    return count


async def all_tools(conn: Any) -> list[ToolRecord]:
    """Every tool by name (the snapshot's)."""
    return await _read(conn, "")


async def _read(conn: Any, where: str, *args: Any) -> list[ToolRecord]:
    """Both reads in one snapshot of the table (the caller's transaction, else a read-only one)."""
    if conn.is_in_transaction():
        return await _both(conn, where, args)
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        return await _both(conn, where, args)


async def _both(conn: Any, where: str, args: tuple[Any, ...]) -> list[ToolRecord]:
    found = await conn.fetch(_TOOL_COLUMNS + where + " ORDER BY name, id", *args)
    definitions = _TOOLS.decode(await conn.fetchval(_DEFINITIONS + where, *args))
    at_time = functools.cache(timestamp)  # rows written together share their times

    return [
        ToolRecord(
            id=row["id"],
            name=row["name"],
            original_name=row["original_name"],
            gateway_id=row["gateway_id"],
            tool=tool,
            enabled=row["enabled"],
            owner=row["owner"],
            team_id=row["team_id"],
            visibility=row["visibility"],
            created_at=at_time(row["created_at"]),
            updated_at=at_time(row["updated_at"]),
        )
        for row, tool in zip(found, definitions, strict=True)
    ]
