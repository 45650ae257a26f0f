"""The catalog's PostgreSQL store: one method per statement (or transaction), proto Structs out."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any

import asyncpg
import msgspec

from forge.core.errors import ConflictError, InvalidParamsError, NotFoundError
from forge.proto.agents import Agent
from forge.proto.catalog import Gateway, Server, Snapshot, ToolRecord
from forge.proto.plugins import PluginBinding
from forge.registry import pg
from forge.registry.catalog import agent_tools, contents, offers, ownership, rows, slugs
from forge.registry.catalog.contents import Contents, Kind, Stored
from forge.registry.catalog.offers import NewTool, Replaced
from forge.registry.pg import PooledStore

__all__ = [
    "MISSING_AGENT",
    "MISSING_GATEWAY",
    "MISSING_SERVER",
    "MISSING_TOOL",
    "NewTool",
    "Replaced",
    "Store",
]

# Key of the advisory lock that serialises migrations across replicas ("forge.registry").
MIGRATION_LOCK = 0x666F726765
# The class of the advisory locks held while one agent's card is refreshed ("card"), the
# object being hashtext(agent id).
CARD_REFRESH_LOCK = 0x63617264
# What an unknown id is told; an entry the caller cannot see is told exactly the same.
MISSING_GATEWAY = "no gateway has this id"
MISSING_TOOL = "no tool has this id"
MISSING_SERVER = "no server has this id"
MISSING_BINDING = "no plugin binding has this id"
MISSING_AGENT = "no agent has this id"
_ENC = msgspec.json.Encoder()
_CONFLICTS = {
    # Names are unique per team (migration 006): a clash is with an entry of the caller's team.
    "gateways_name_key": "a gateway with this name already exists in this team",
    "tools_name_key": "a tool with this exposed name already exists",
    "tools_gateway_original_key": "the upstream lists the same tool name twice",
    "servers_name_key": "a server with this name already exists in this team",
    "agents_name_key": "an agent with this name already exists in this team",
    # The slug names the agent's tool: the holder may be another team's agent.
    "agents_slug_key": "an agent whose name gives the same slug already exists",
    **contents.CONFLICTS,
}
_NAME_KEYS = frozenset(
    {
        "gateways_name_key",
        "servers_name_key",
        "tools_name_key",
        "prompts_name_key",
        "agents_name_key",
        "agents_slug_key",
    }
)
_SERVERS = contents.SERVERS
_LINKS = ("server_tools", "server_resources", "server_resource_templates", "server_prompts")


def _conflict(exc: asyncpg.UniqueViolationError) -> ConflictError:
    constraint = exc.constraint_name or ""
    message = _CONFLICTS.get(constraint, "an entry with these values already exists")
    # Never the driver's detail: it spells out index expressions and the stored values.
    if constraint in _NAME_KEYS:
        return ConflictError(message, {"field": "name"})
    return ConflictError(message)


def _binding_conflict(exc: asyncpg.UniqueViolationError) -> ConflictError:
    return ConflictError(
        "a binding of this plugin for this team and tool already exists", {"field": "plugin"}
    )


def _invalid(exc: asyncpg.CheckViolationError) -> InvalidParamsError:
    # The handlers check first; this only keeps a slip from becoming an internal error.
    return InvalidParamsError("visibility must be private, team or public, a team one with a team")


class _Checked:
    """Around a write: the driver's unique violations become `conflict`s, its check violations
    bad params. A class, not a contextlib generator, so that type checkers see that it never
    swallows an exception."""

    def __init__(
        self, conflict: Callable[[asyncpg.UniqueViolationError], ConflictError] = _conflict
    ) -> None:
        self._conflict = conflict

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, asyncpg.UniqueViolationError):
            raise self._conflict(exc) from exc
        if isinstance(exc, asyncpg.CheckViolationError):
            raise _invalid(exc) from exc


class Store(PooledStore):
    """The catalog tables behind one asyncpg pool."""

    database = "catalog"

    async def list_gateways(self) -> list[Gateway]:
        found = await self.pool.fetch("SELECT * FROM gateways ORDER BY created_at, id")
        return [rows.gateway(r) for r in found]

    async def get_gateway(self, gateway_id: str, conn: Any = None) -> Gateway:
        row = await (conn or self.pool).fetchrow("SELECT * FROM gateways WHERE id = $1", gateway_id)
        if row is None:
            raise NotFoundError(MISSING_GATEWAY)
        return rows.gateway(row)

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[Any]:
        """A connection in a transaction of its own, for a change made in steps (a streamed
        discovery's): committed when the block ends, rolled back if it raises; unique and
        check violations become conflicts and bad params."""
        with _Checked():
            async with self.pool.acquire() as conn, conn.transaction():
                yield conn

    async def add_gateway(self, conn: Any, gw: Gateway) -> Gateway:
        """Insert the gateway's row (in `conn`'s transaction, nothing it offers yet); returned
        with its slug: the one its name gives, or the first free numbered one when another
        gateway holds that."""
        slug = await slugs.claim(conn, gw.id, gw.slug)
        gw = msgspec.structs.replace(gw, slug=slug)
        await self._insert_row(conn, gw)
        return gw

    async def registered(
        self, conn: Any, gw: Gateway, kept: Sequence[NewTool] | None, found: Contents
    ) -> list[ToolRecord]:
        """A new gateway's last steps once its tools are in: its discovery fields, contents, and
        the records of `kept` (its tools, when few enough to announce inline)."""
        await self._discovered(conn, gw)
        await contents.replace_all(conn, gw.id, found, ownership.of(gw))
        return await offers.stored_records(conn, gw, kept) if kept is not None else []

    async def swapped(
        self,
        conn: Any,
        gw: Gateway,
        kept: Sequence[NewTool] | None,
        found: Contents,
    ) -> Replaced:
        """A rediscovered gateway's last steps once its tools are staged (`offers.stage`): its
        discovery fields, then the swap of what it offers, with placement as stored now."""
        current = await self.get_gateway(gw.id, conn)
        await self._discovered(conn, gw)
        return await offers.swap_staged(conn, current, kept, found)

    async def insert_gateway(
        self, gw: Gateway, tools: Sequence[NewTool], found: Contents = contents.NOTHING
    ) -> list[ToolRecord]:
        """Store a gateway, its tools and contents in one transaction; returns the stored tools.

        `gw.slug` is the one its name gives: when another gateway holds it, the gateway and the
        exposed names of what it offers take the first free numbered slug instead.
        """
        with _Checked():
            async with self.pool.acquire() as conn, conn.transaction():
                slug = await slugs.claim(conn, gw.id, gw.slug)
                if slug != gw.slug:
                    tools, found = slugs.reslugged(tools, found, gw.slug, slug)
                    gw = msgspec.structs.replace(gw, slug=slug)
                await self._insert_row(conn, gw)
                at = ownership.of(gw)
                await offers.insert_tools(conn, gw.id, tools, at)
                await contents.replace_all(conn, gw.id, found, at)
                return await offers.stored_records(conn, gw, tools)

    async def _insert_row(self, conn: Any, gw: Gateway) -> None:
        await conn.execute(
            "INSERT INTO gateways (id, name, slug, url, transport, description,"
            " protocol_version, capabilities, server_info, timeout_s, tags, command, env,"
            " owner, team_id, visibility, auth_type, auth)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10, $11::jsonb,"
            " $12::jsonb, $13::jsonb, $14, $15, $16, $17, $18)",
            *(gw.id, gw.name, gw.slug, gw.url, gw.transport, gw.description),
            *(gw.protocol_version, _ENC.encode(gw.capabilities).decode()),
            *(_ENC.encode(gw.server_info).decode(), gw.timeout_s),
            _ENC.encode(gw.tags).decode(),
            *(_ENC.encode(gw.command).decode(), _ENC.encode(gw.env).decode()),
            *(gw.owner, gw.team_id, gw.visibility, gw.auth_type, gw.auth),
        )

    async def delete_gateway(self, gateway_id: str) -> list[str]:
        """Delete a gateway and (by cascade) all it offers; returns the servers that lost any."""
        async with self.pool.acquire() as conn, conn.transaction():
            servers = await contents.affected_by_gateway(conn, gateway_id)
            if await conn.execute("DELETE FROM gateways WHERE id = $1", gateway_id) == "DELETE 0":
                raise NotFoundError(MISSING_GATEWAY)
        return servers

    async def replace_tools(
        self, gw: Gateway, tools: Sequence[NewTool], found: Contents = contents.NOTHING
    ) -> Replaced:
        """Update the gateway's discovery fields and swap what it offers, keeping ids by key."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                current = await self.get_gateway(gw.id, conn)  # placement as stored now
                await self._discovered(conn, gw)
                return await offers.swap(conn, current, tools, found)
        except asyncpg.UniqueViolationError as exc:
            raise _conflict(exc) from exc

    async def _discovered(self, conn: Any, gw: Gateway) -> None:
        updated = await conn.fetchrow(
            "UPDATE gateways SET protocol_version = $2, capabilities = $3::jsonb,"
            " server_info = $4::jsonb, reachable = true, updated_at = now()"
            " WHERE id = $1 RETURNING id",
            *(gw.id, gw.protocol_version, _ENC.encode(gw.capabilities).decode()),
            _ENC.encode(gw.server_info).decode(),
        )
        if updated is None:
            raise NotFoundError(MISSING_GATEWAY)

    async def update_gateway(
        self,
        gw: Gateway,
        *,
        separator: str | None,
        discovered: tuple[Sequence[NewTool], Contents] | None,
        sealed: bool,
    ) -> Replaced | None:
        """Store the gateway's own fields, and its credentials when `sealed` says they changed
        (else a re-seal running meanwhile is kept); its entries follow its placement, or are
        swapped for what a new discovery found.

        `separator` is given when the new name gives a new slug (`gw.slug`, or the first free
        numbered one when another gateway holds it): exposed names become
        `<slug><separator><upstream name>`.
        """
        with _Checked():
            async with self.pool.acquire() as conn, conn.transaction():
                old_slug = gw.slug
                gw, prefix = await self.set_gateway(conn, gw, separator=separator, sealed=sealed)
                if discovered is not None and gw.slug != old_slug:
                    discovered = slugs.reslugged(*discovered, old_slug, gw.slug)
                if discovered is None:
                    await offers.follow(conn, gw, prefix)
                    return None
                await self._discovered(conn, gw)
                return await offers.swap(conn, gw, *discovered)

    async def set_gateway(
        self, conn: Any, gw: Gateway, *, separator: str | None, sealed: bool
    ) -> tuple[Gateway, str | None]:
        """`update_gateway`'s first step in `conn`'s transaction: the gateway's own fields (its
        credentials when `sealed`); returns it with its slug, and the exposed names' new prefix
        when `separator` says its name gives a new slug."""
        prefix = None
        if separator is not None:
            slug = await slugs.claim(conn, gw.id, gw.slug)
            gw = msgspec.structs.replace(gw, slug=slug)
            prefix = f"{slug}{separator}"
        updated = await conn.fetchrow(
            "UPDATE gateways SET name = $2, slug = $3, url = $4, description = $5,"
            " enabled = $6, tags = $7::jsonb, team_id = $8, visibility = $9,"
            " updated_at = now() WHERE id = $1 RETURNING id",
            *(gw.id, gw.name, gw.slug, gw.url, gw.description, gw.enabled),
            *(_ENC.encode(gw.tags).decode(), gw.team_id, gw.visibility),
        )
        if updated is None:
            raise NotFoundError(MISSING_GATEWAY)
        if sealed:
            await conn.execute(
                "UPDATE gateways SET auth_type = $2, auth = $3, env = $4::jsonb WHERE id = $1",
                *(gw.id, gw.auth_type, gw.auth, _ENC.encode(gw.env).decode()),
            )
        return gw, prefix

    async def count_tools(self, gateway_id: str) -> int:
        async with self.pool.acquire() as conn:
            return await offers.count_tools(conn, gateway_id)

    async def tool_chunks(self, gateway_id: str, size: int) -> AsyncIterator[tuple[bytes, bool]]:
        """The gateway's tools as JSON arrays of at most `size` ToolRecords in name order,
        each with whether it is the last, all read in one snapshot of the table (at least
        one, perhaps empty)."""
        async with self.pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                after = None
                while True:
                    records, after = await offers.tools_page(conn, gateway_id, after, size)
                    yield records, after is None
                    if after is None:
                        return

    async def tools_page(
        self, gateway_id: str, after: str | None, limit: int
    ) -> tuple[bytes, str | None]:
        """`offers.tools_page`: a JSON array of ToolRecords, and the name to go on after."""
        async with self.pool.acquire() as conn:
            return await offers.tools_page(conn, gateway_id, after, limit)

    async def sealed_gateways(self) -> list[str]:
        """Ids of the gateways that hold credentials: sealed, or (stored before sealing) an
        environment with values in clear."""
        found = await self.pool.fetch(
            "SELECT id FROM gateways WHERE auth IS NOT NULL OR EXISTS"
            " (SELECT 1 FROM jsonb_each_text(env) e WHERE e.value <> '') ORDER BY id"
        )
        return [r["id"] for r in found]

    async def reseal_gateway(
        self, gateway_id: str, reseal: Callable[[str | None, dict[str, str]], str | None]
    ) -> Gateway | None:
        """Replace the gateway's credentials with `reseal(sealed, env)` (its environment keeps
        only its names) under a row lock, so that a concurrent update is neither lost nor
        overwritten; None if nothing changed."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT auth, env FROM gateways WHERE id = $1 FOR UPDATE", gateway_id
            )
            if row is None:
                return None
            env = rows.env(row["env"])
            sealed = reseal(row["auth"], env)
            if sealed is None:
                return None
            await conn.execute(
                "UPDATE gateways SET auth = $2, env = $3::jsonb WHERE id = $1",
                *(gateway_id, sealed, _ENC.encode(dict.fromkeys(env, "")).decode()),
            )
            return await self.get_gateway(gateway_id, conn)

    async def gateway_contents(self, gateway_id: str) -> Stored:
        async with self.pool.acquire() as conn:
            return await contents.of_gateway(conn, gateway_id)

    async def gateway_tools(self, gateway_id: str) -> list[ToolRecord]:
        async with self.pool.acquire() as conn:
            return await offers.tools_of(conn, gateway_id)

    async def list_entries(self, kind: Kind) -> list[Any]:
        """Every resource, template or prompt (by `kind`), in key order."""
        async with self.pool.acquire() as conn:
            return await contents.every(conn, kind)

    async def get_entry(self, kind: Kind, entry_id: str) -> Any:
        async with self.pool.acquire() as conn:
            found = await contents.one(conn, kind, entry_id)
        if found is None:
            raise NotFoundError(kind.missing)
        return found

    async def resolve_entries(
        self, kinds: Sequence[Kind], refs: Sequence[str]
    ) -> list[tuple[str, Any]]:
        """(name, entry) of the entries whose id or uri / uriTemplate / prompt name is a ref."""
        async with self.pool.acquire() as conn:
            return await contents.resolve(conn, kinds, refs)

    async def list_tools(self) -> list[ToolRecord]:
        async with self.pool.acquire() as conn:
            return await offers.all_tools(conn)

    async def get_tool(self, tool_id: str) -> ToolRecord:
        row = await self.pool.fetchrow("SELECT * FROM tools WHERE id = $1", tool_id)
        if row is None:
            raise NotFoundError(MISSING_TOOL)
        return rows.tool(row)

    async def resolve_tools(self, refs: Iterable[str]) -> list[ToolRecord]:
        """The tools whose id or exposed name is one of the refs."""
        matches = await self.pool.fetch(
            "SELECT * FROM tools WHERE id = any($1::text[]) OR name = any($1::text[])",
            list(refs),
        )
        return [rows.tool(r) for r in matches]

    async def placements(self, ids: Iterable[str]) -> dict[str, ownership.Placement]:
        """Placement of each tool, resource, template or prompt among `ids`, by id."""
        async with self.pool.acquire() as conn:
            return await contents.placements(conn, list(ids))

    async def list_servers(self) -> list[Server]:
        found = await self.pool.fetch(_SERVERS + " ORDER BY s.created_at, s.id")
        return [rows.server(r) for r in found]

    async def get_server(self, server_id: str, conn: Any = None) -> Server:
        row = await (conn or self.pool).fetchrow(_SERVERS + " WHERE s.id = $1", server_id)
        if row is None:
            raise NotFoundError(MISSING_SERVER)
        return rows.server(row)

    async def insert_server(self, server: Server) -> Server:
        with _Checked():
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO servers (id, name, description, tags, owner, team_id, visibility,"
                    " original_names, aliases) VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8,"
                    " $9::jsonb)",
                    *(server.id, server.name, server.description),
                    _ENC.encode(server.tags).decode(),
                    *(server.owner, server.team_id, server.visibility),
                    *(server.original_names, _ENC.encode(server.aliases).decode()),
                )
                await self._link(conn, server)
                return await self.get_server(server.id, conn)

    async def _link(self, conn: Any, server: Server) -> None:
        await conn.executemany(
            "INSERT INTO server_tools (server_id, tool_id, position) VALUES ($1, $2, $3)",
            [(server.id, t, i) for i, t in enumerate(server.associated_tools)],
        )
        await contents.link_server(
            conn, server.id, server.associated_resources, server.associated_prompts
        )

    async def update_server(self, server: Server, *, relink: bool) -> Server:
        """Store the server's own fields and, when `relink`, its associations as given."""
        with _Checked():
            async with self.pool.acquire() as conn, conn.transaction():
                updated = await conn.fetchrow(
                    "UPDATE servers SET name = $2, description = $3, tags = $4::jsonb,"
                    " enabled = $5, team_id = $6, visibility = $7, original_names = $8,"
                    " aliases = $9::jsonb, updated_at = now() WHERE id = $1 RETURNING id",
                    *(server.id, server.name, server.description),
                    *(_ENC.encode(server.tags).decode(), server.enabled),
                    *(server.team_id, server.visibility),
                    *(server.original_names, _ENC.encode(server.aliases).decode()),
                )
                if updated is None:
                    raise NotFoundError(MISSING_SERVER)
                if relink:
                    for table in _LINKS:
                        await conn.execute(f"DELETE FROM {table} WHERE server_id = $1", server.id)
                    await self._link(conn, server)
                return await self.get_server(server.id, conn)

    async def delete_server(self, server_id: str) -> None:
        if await self.pool.execute("DELETE FROM servers WHERE id = $1", server_id) == "DELETE 0":
            raise NotFoundError(MISSING_SERVER)

    async def list_plugin_bindings(self) -> list[PluginBinding]:
        found = await self.pool.fetch("SELECT * FROM plugin_bindings ORDER BY created_at, id")
        return [rows.plugin_binding(r) for r in found]

    async def get_plugin_binding(self, binding_id: str) -> PluginBinding:
        row = await self.pool.fetchrow("SELECT * FROM plugin_bindings WHERE id = $1", binding_id)
        if row is None:
            raise NotFoundError(MISSING_BINDING)
        return rows.plugin_binding(row)

    async def insert_plugin_binding(self, b: PluginBinding) -> PluginBinding:
        with _Checked(_binding_conflict):
            row = await self.pool.fetchrow(
                "INSERT INTO plugin_bindings (id, plugin, team_id, tool, mode, config, priority,"
                " owner, visibility) VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9)"
                " RETURNING *",
                *(b.id, b.plugin, b.team_id, b.tool, b.mode, _ENC.encode(b.config).decode()),
                *(b.priority, b.owner, b.visibility),
            )
        return rows.plugin_binding(row)

    async def update_plugin_binding(self, b: PluginBinding) -> PluginBinding:
        """Store every field but owner and created_at."""
        with _Checked(_binding_conflict):
            row = await self.pool.fetchrow(
                "UPDATE plugin_bindings SET plugin = $2, team_id = $3, tool = $4, mode = $5,"
                " config = $6::jsonb, priority = $7, visibility = $8, updated_at = now()"
                " WHERE id = $1 RETURNING *",
                *(b.id, b.plugin, b.team_id, b.tool, b.mode, _ENC.encode(b.config).decode()),
                *(b.priority, b.visibility),
            )
        if row is None:
            raise NotFoundError(MISSING_BINDING)
        return rows.plugin_binding(row)

    async def delete_plugin_binding(self, binding_id: str) -> None:
        deleted = await self.pool.execute("DELETE FROM plugin_bindings WHERE id = $1", binding_id)
        if deleted == "DELETE 0":
            raise NotFoundError(MISSING_BINDING)

    async def list_agents(self) -> list[Agent]:
        found = await self.pool.fetch("SELECT * FROM agents ORDER BY created_at, id")
        return [rows.agent(r) for r in found]

    async def get_agent(self, agent_id: str, conn: Any = None) -> Agent:
        row = await (conn or self.pool).fetchrow("SELECT * FROM agents WHERE id = $1", agent_id)
        if row is None:
            raise NotFoundError(MISSING_AGENT)
        return rows.agent(row)

    async def insert_agent(self, a: Agent, tool: NewTool | None) -> Agent:
        """Store an agent and its tool (agent_tools) in one transaction."""
        with _Checked():
            async with self.pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "INSERT INTO agents (id, name, slug, url, card_url, description, enabled,"
                    " protocol_version, binding, card, streaming, timeout_s, tags, owner,"
                    " team_id, visibility, auth_type, auth) VALUES ($1, $2, $3, $4, $5, $6, $7,"
                    " $8, $9, $10::jsonb, $11, $12, $13::jsonb, $14, $15, $16, $17, $18)",
                    *(a.id, a.name, a.slug, a.url, a.card_url, a.description, a.enabled),
                    *(a.protocol_version, a.binding, _ENC.encode(a.card).decode(), a.streaming),
                    *(a.timeout_s, _ENC.encode(a.tags).decode(), a.owner, a.team_id),
                    *(a.visibility, a.auth_type, a.auth),
                )
                await agent_tools.put(conn, a, tool)
                return await self.get_agent(a.id, conn)

    async def update_agent(self, a: Agent, tool: NewTool | None, *, sealed: bool) -> list[str]:
        """Store the agent's fields (its credentials when `sealed` says they changed) and make
        its tool `tool` (agent_tools.put); returns the servers that lost the tool."""
        with _Checked():
            async with self.pool.acquire() as conn, conn.transaction():
                updated = await conn.fetchrow(
                    "UPDATE agents SET name = $2, slug = $3, url = $4, card_url = $5,"
                    " description = $6, enabled = $7, reachable = $8, protocol_version = $9,"
                    " binding = $10, card = $11::jsonb, streaming = $12, timeout_s = $13,"
                    " tags = $14::jsonb, team_id = $15, visibility = $16, updated_at = now()"
                    " WHERE id = $1 RETURNING id",
                    *(a.id, a.name, a.slug, a.url, a.card_url, a.description, a.enabled),
                    *(a.reachable, a.protocol_version, a.binding, _ENC.encode(a.card).decode()),
                    *(a.streaming, a.timeout_s, _ENC.encode(a.tags).decode(), a.team_id),
                    a.visibility,
                )
                if updated is None:
                    raise NotFoundError(MISSING_AGENT)
                if sealed:
                    await conn.execute(
                        "UPDATE agents SET auth_type = $2, auth = $3 WHERE id = $1",
                        *(a.id, a.auth_type, a.auth),
                    )
                return await agent_tools.put(conn, a, tool)

    async def claim_card_refreshes(
        self, every_s: float, limit: int, done: Sequence[str] = ()
    ) -> list[Agent]:
        """Claim up to `limit` enabled agents (not in `done`, this round's) whose card was last
        fetched `every_s` ago or more, stamping them fetched now: a row another replica is
        claiming is skipped, a claimed one is not due again for `every_s`."""
        found = await self.pool.fetch(
            "UPDATE agents SET card_refreshed_at = now() WHERE id IN (SELECT id FROM agents"
            " WHERE enabled AND card_refreshed_at <= now() - make_interval(secs => $1)"
            " AND NOT (id = ANY($3::text[]))"
            " ORDER BY card_refreshed_at, id LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING *",
            every_s,
            limit,
            list(done),
        )
        return [rows.agent(r) for r in found]

    @contextlib.asynccontextmanager
    async def card_refresh_lock(self, agent_id: str) -> AsyncIterator[bool]:
        """Whether this replica holds the agent's refresh lock (a session advisory lock, on a
        connection kept for the refresh): a refresh outlasting `every_s` is not run twice."""
        async with self.pool.acquire() as conn:
            held = await conn.fetchval(
                "SELECT pg_try_advisory_lock($1, hashtext($2))", CARD_REFRESH_LOCK, agent_id
            )
            try:
                yield bool(held)
            finally:
                if held:
                    await conn.execute(
                        "SELECT pg_advisory_unlock($1, hashtext($2))", CARD_REFRESH_LOCK, agent_id
                    )

    async def sealed_agents(self) -> list[str]:
        """Ids of the agents that hold sealed credentials."""
        found = await self.pool.fetch("SELECT id FROM agents WHERE auth IS NOT NULL ORDER BY id")
        return [r["id"] for r in found]

    async def reseal_agent(
        self, agent_id: str, reseal: Callable[[str | None], str | None]
    ) -> Agent | None:
        """Replace the agent's credentials with `reseal(sealed)` under a row lock; None if
        nothing changed."""
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow("SELECT auth FROM agents WHERE id = $1 FOR UPDATE", agent_id)
            if row is None:
                return None
            sealed = reseal(row["auth"])
            if sealed is None:
                return None
            await conn.execute("UPDATE agents SET auth = $2 WHERE id = $1", agent_id, sealed)
            return await self.get_agent(agent_id, conn)

    async def delete_agent(self, agent_id: str) -> list[str]:
        """Delete an agent and (by cascade) its tool; returns the servers that held the tool."""
        async with self.pool.acquire() as conn, conn.transaction():
            servers = await contents.affected_by_gateway(conn, agent_id)
            if await conn.execute("DELETE FROM agents WHERE id = $1", agent_id) == "DELETE 0":
                raise NotFoundError(MISSING_AGENT)
        return servers

    async def snapshot(self) -> Snapshot:
        """The whole catalog as of one instant."""
        async with self.pool.acquire() as conn:
            async with conn.transaction(isolation="repeatable_read", readonly=True):
                gateways = await conn.fetch("SELECT * FROM gateways ORDER BY created_at, id")
                tools = await offers.all_tools(conn)
                servers = await conn.fetch(_SERVERS + " ORDER BY s.created_at, s.id")
                resources = await contents.every(conn, contents.RESOURCES)
                templates = await contents.every(conn, contents.TEMPLATES)
                prompts = await contents.every(conn, contents.PROMPTS)
                agents = await conn.fetch("SELECT * FROM agents ORDER BY created_at, id")
        return Snapshot(
            gateways=[rows.gateway(r) for r in gateways],
            tools=tools,
            servers=[rows.server(r) for r in servers],
            resources=resources,
            resource_templates=templates,
            prompts=prompts,
            agents=[rows.agent(r) for r in agents],
        )


async def apply_migrations(dsn: str, migrations: Iterable[tuple[int, str, str]]) -> list[int]:
    """Apply the (version, name, sql) migrations not yet recorded, each in its own transaction,
    replicas starting together taking turns."""
    return await pg.apply_migrations(
        dsn, migrations, database="catalog", lock=MIGRATION_LOCK, table="schema_migrations"
    )
