"""A gateway's resources, templates and prompts: the SQL the store runs inside its transactions."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec

from forge.proto.catalog import PromptRecord, ResourceRecord, TemplateRecord
from forge.registry.catalog import rows
from forge.registry.catalog.ownership import Placement

_ENC = msgspec.json.Encoder()


@dataclass(frozen=True)
class Entry:
    """One entry about to be stored: id, the upstream's key, its definition, an exposed name."""

    id: str
    key: str  # the upstream's uri, uriTemplate or prompt name
    definition: msgspec.Struct
    name: str | None = None  # prompts only: the exposed name


@dataclass(frozen=True)
class Contents:
    """Everything but tools that discovery found on one gateway."""

    resources: Sequence[Entry] = ()
    templates: Sequence[Entry] = ()
    prompts: Sequence[Entry] = ()


@dataclass
class Stored:
    """A gateway's stored contents, and the servers that lost an entry on the way."""

    resources: list[ResourceRecord] = field(default_factory=list)
    templates: list[TemplateRecord] = field(default_factory=list)
    prompts: list[PromptRecord] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Kind:
    """Where one kind of entry lives: its table, key column, server link table, row builder."""

    table: str
    key: str
    link: str
    link_col: str
    build: Callable[[Mapping[str, Any]], Any]
    ref: str  # the column (and record field) a server association may name it by

    @property
    def missing(self) -> str:
        """What an unknown (or unseen) id is told."""
        return f"no entry of {self.table} has this id"


RESOURCES = Kind("resources", "uri", "server_resources", "resource_id", rows.resource, "uri")
TEMPLATES = Kind(
    "resource_templates",
    "uri_template",
    "server_resource_templates",
    "template_id",
    rows.template,
    "uri_template",
)
PROMPTS = Kind("prompts", "original_name", "server_prompts", "prompt_id", rows.prompt, "name")
KINDS = (RESOURCES, TEMPLATES, PROMPTS)
# Unique constraints of these tables → what a caller is told on a clash.
CONFLICTS = {
    "prompts_name_key": "a prompt with this exposed name already exists",
    "prompts_gateway_original_key": "the upstream lists the same prompt name twice",
    "resources_gateway_uri_key": "the upstream lists the same resource uri twice",
    "resource_templates_gateway_template_key": "the upstream lists the same template twice",
}
NOTHING = Contents()

# SELECT list of a server row with every association in the order given.
SERVERS = """
    SELECT s.*,
        ARRAY(SELECT tool_id FROM server_tools WHERE server_id = s.id ORDER BY position)
            AS tool_ids,
        ARRAY(SELECT resource_id FROM server_resources WHERE server_id = s.id ORDER BY position)
            AS resource_ids,
        ARRAY(SELECT template_id FROM server_resource_templates WHERE server_id = s.id
              ORDER BY position) AS template_ids,
        ARRAY(SELECT prompt_id FROM server_prompts WHERE server_id = s.id ORDER BY position)
            AS prompt_ids
    FROM servers s
"""


async def _insert(conn: Any, kind: Kind, gateway_id: str, entry: Entry, at: Placement) -> Any:
    definition = _ENC.encode(entry.definition).decode()
    if kind is PROMPTS:
        row = await conn.fetchrow(
            "INSERT INTO prompts (id, gateway_id, name, original_name, definition, owner,"
            " team_id, visibility) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8) RETURNING *",
            *(entry.id, gateway_id, entry.name, entry.key, definition, *at),
        )
    else:
        row = await conn.fetchrow(
            f"INSERT INTO {kind.table} (id, gateway_id, {kind.key}, definition, owner, team_id,"
            " visibility) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7) RETURNING *",
            *(entry.id, gateway_id, entry.key, definition, *at),
        )
    return kind.build(row)


async def _replace(
    conn: Any, kind: Kind, gateway_id: str, entries: Sequence[Entry], at: Placement
) -> tuple[list[Any], list[str]]:
    """Swap one kind's entries of a gateway, keeping ids by key; returns the affected servers."""
    old = {
        r[kind.key]: r
        for r in await conn.fetch(f"SELECT * FROM {kind.table} WHERE gateway_id = $1", gateway_id)
    }
    keep = {e.key for e in entries}
    gone = [r["id"] for key, r in old.items() if key not in keep]
    servers = await conn.fetch(
        f"SELECT DISTINCT server_id FROM {kind.link} WHERE {kind.link_col} = any($1::text[])", gone
    )
    await conn.execute(f"DELETE FROM {kind.table} WHERE id = any($1::text[])", gone)
    records = []
    for entry in entries:
        prior = old.get(entry.key)
        if prior is None:
            records.append(await _insert(conn, kind, gateway_id, entry, at))
            continue
        name = entry.name if kind is PROMPTS else prior[kind.key]
        name_col = "name" if kind is PROMPTS else kind.key
        row = await conn.fetchrow(
            f"UPDATE {kind.table} SET {name_col} = $2, definition = $3::jsonb, owner = $4,"
            f" team_id = $5, visibility = $6, updated_at = CASE WHEN {name_col} = $2"
            " AND definition = $3::jsonb THEN updated_at ELSE now() END WHERE id = $1 RETURNING *",
            *(prior["id"], name, _ENC.encode(entry.definition).decode(), *at),
        )
        records.append(kind.build(row))
    return records, [r["server_id"] for r in servers]


async def replace_all(conn: Any, gateway_id: str, contents: Contents, at: Placement) -> Stored:
    """Store a gateway's contents in place of what it had (nothing, for a new gateway)."""
    stored = Stored()
    servers: set[str] = set()
    for kind, entries, into in (
        (RESOURCES, contents.resources, stored.resources),
        (TEMPLATES, contents.templates, stored.templates),
        (PROMPTS, contents.prompts, stored.prompts),
    ):
        records, affected = await _replace(conn, kind, gateway_id, entries, at)
        into.extend(records)
        servers.update(affected)
    stored.servers = sorted(servers)
    return stored


async def of_gateway(conn: Any, gateway_id: str) -> Stored:
    """A gateway's stored contents."""
    found = [
        [
            kind.build(r)
            for r in await conn.fetch(
                f"SELECT * FROM {kind.table} WHERE gateway_id = $1 ORDER BY {kind.key}", gateway_id
            )
        ]
        for kind in KINDS
    ]
    return Stored(resources=found[0], templates=found[1], prompts=found[2])


async def every(conn: Any, kind: Kind) -> list[Any]:
    """Every entry of one kind, in key order."""
    order = "name" if kind is PROMPTS else kind.key
    found = await conn.fetch(f"SELECT * FROM {kind.table} ORDER BY {order}, id")
    return [kind.build(r) for r in found]


async def one(conn: Any, kind: Kind, entry_id: str) -> Any | None:
    row = await conn.fetchrow(f"SELECT * FROM {kind.table} WHERE id = $1", entry_id)
    return None if row is None else kind.build(row)


async def affected_by_gateway(conn: Any, gateway_id: str) -> list[str]:
    """The servers that hold any tool, resource, template or prompt of the gateway."""
    parts = [
        "SELECT st.server_id FROM server_tools st JOIN tools t ON t.id = st.tool_id"
        " WHERE t.gateway_id = $1"
    ] + [
        f"SELECT l.server_id FROM {k.link} l JOIN {k.table} e ON e.id = l.{k.link_col}"
        " WHERE e.gateway_id = $1"
        for k in KINDS
    ]
    found = await conn.fetch(" UNION ".join(parts), gateway_id)
    return sorted(r["server_id"] for r in found)


async def follow(conn: Any, gateway_id: str, at: Placement, prefix: str | None) -> None:
    """Give a gateway's entries its placement and, when `prefix` is set, its new name prefix."""
    for kind in KINDS:
        await conn.execute(
            f"UPDATE {kind.table} SET owner = $2, team_id = $3, visibility = $4"
            " WHERE gateway_id = $1",
            *(gateway_id, *at),
        )
    if prefix is not None:
        await conn.execute(
            "UPDATE prompts SET name = $2 || original_name, updated_at = now()"
            " WHERE gateway_id = $1",
            *(gateway_id, prefix),
        )


async def resolve(conn: Any, kinds: Sequence[Kind], refs: Sequence[str]) -> list[tuple[str, Any]]:
    """(uri / uriTemplate / exposed prompt name, record) of each record whose id or that name is
    one of the refs, in registration order of their gateways: of a uri two gateways share, the
    first-registered gateway's resource comes first.
    """
    found: list[tuple[str, Any]] = []
    for kind in kinds:
        matches = await conn.fetch(
            f"SELECT e.* FROM {kind.table} e JOIN gateways g ON g.id = e.gateway_id"
            f" WHERE e.id = any($1::text[]) OR e.{kind.ref} = any($1::text[])"
            " ORDER BY g.created_at, g.id",
            list(refs),
        )
        found.extend((r[kind.ref], kind.build(r)) for r in matches)
    return found


async def placements(conn: Any, ids: Sequence[str]) -> dict[str, Placement]:
    """Owner, team and visibility of each tool, resource, template or prompt among `ids` (ids
    are unique across the four tables)."""
    found = await conn.fetch(
        " UNION ALL ".join(
            f"SELECT id, owner, team_id, visibility FROM {table} WHERE id = any($1::text[])"
            for table in ("tools", *(k.table for k in KINDS))
        ),
        list(ids),
    )
    return {r["id"]: Placement(r["owner"], r["team_id"], r["visibility"]) for r in found}


async def link_server(conn: Any, server_id: str, resources: list[str], prompts: list[str]) -> None:
    """Attach resources (and templates: ids of either kind) and prompts to a new server."""
    templates = {
        r["id"]
        for r in await conn.fetch(
            "SELECT id FROM resource_templates WHERE id = any($1::text[])", resources
        )
    }
    for kind, ids in (
        (RESOURCES, [i for i in resources if i not in templates]),
        (TEMPLATES, [i for i in resources if i in templates]),
        (PROMPTS, prompts),
    ):
        await conn.executemany(
            f"INSERT INTO {kind.link} (server_id, {kind.link_col}, position) VALUES ($1, $2, $3)",
            [(server_id, entry_id, i) for i, entry_id in enumerate(ids)],
        )
