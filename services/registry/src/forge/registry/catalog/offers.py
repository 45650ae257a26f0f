"""A gateway's tools and the rest it offers: the SQL the store runs inside its transactions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from forge.proto.catalog import Gateway, ToolRecord
from forge.proto.mcp import Tool
from forge.registry.catalog import contents, ownership, rows
from forge.registry.catalog.contents import Contents, Stored
from forge.registry.catalog.ownership import Placement

_ENC = msgspec.json.Encoder()
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


async def insert_tool(conn: Any, gateway_id: str, new: NewTool, at: Placement) -> ToolRecord:
    row = await conn.fetchrow(
        "INSERT INTO tools (id, gateway_id, name, original_name, definition, owner, team_id,"
        " visibility) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8) RETURNING *",
        *(new.id, gateway_id, new.name, new.tool.name, _ENC.encode(new.tool).decode(), *at),
    )
    return rows.tool(row)


async def swap(conn: Any, gw: Gateway, tools: Sequence[NewTool], found: Contents) -> Replaced:
    """Swap what the gateway offers for what discovery found, keeping ids by upstream name/key."""
    at = ownership.of(gw)
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
            records.append(await insert_tool(conn, gw.id, new, at))
            continue
        row = await conn.fetchrow(
            "UPDATE tools SET name = $2, definition = $3::jsonb, owner = $4, team_id = $5,"
            " visibility = $6, updated_at = CASE WHEN name = $2 AND definition = $3::jsonb"
            " THEN updated_at ELSE now() END WHERE id = $1 RETURNING *",
            *(prior["id"], new.name, _ENC.encode(new.tool).decode(), *at),
        )
        updated += row["updated_at"] != prior["updated_at"]
        records.append(rows.tool(row))
    stored = await contents.replace_all(conn, gw.id, found, at)
    added = len(records) - (len(old) - len(gone))
    affected = sorted({*servers, *stored.servers})
    return Replaced(records, added, len(gone), updated, affected, stored)


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


async def tools_of(conn: Any, gateway_id: str) -> list[ToolRecord]:
    found = await conn.fetch("SELECT * FROM tools WHERE gateway_id = $1 ORDER BY name", gateway_id)
    return [rows.tool(r) for r in found]
