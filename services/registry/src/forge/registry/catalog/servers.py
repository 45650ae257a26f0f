"""Virtual server operations: compose catalog entries the creator can see, update, delete.

A server the caller sees may hold entries they do not (another member's private tool in a team
server): its lists show them only the ids of entries they see, as the router's lists do.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

import msgspec

from forge.core.errors import InvalidParamsError, NotFoundError
from forge.proto.catalog import Deleted, Server
from forge.proto.catalog_params import CreateServerParams, IdParams, UpdateServerParams
from forge.registry.catalog import contents, ownership, server_names
from forge.registry.catalog.contents import Kind
from forge.registry.catalog.operation import Context, publish
from forge.registry.catalog.params import check_name, check_tags
from forge.registry.catalog.store import MISSING_AGENT, MISSING_SERVER

_RESOURCE_KINDS = (contents.RESOURCES, contents.TEMPLATES)
_PROMPT_KINDS = (contents.PROMPTS,)


def _unknown(what: str, ref: str) -> InvalidParamsError:
    # One message for a ref that does not exist and one the caller cannot see.
    return InvalidParamsError(f"unknown {what} in associated_{what}s: {ref}", {what: ref})


async def _tools(ctx: Context, given: list[str]) -> list[str]:
    """The ids of the given tool ids or exposed names, once each in order."""
    refs = list(dict.fromkeys(given))
    known: dict[str, str] = {}
    for tool in ownership.seen(ctx.principal, await ctx.store.resolve_tools(refs)):
        known[tool.name] = known[tool.id] = tool.id
    for ref in refs:
        if ref not in known:
            raise _unknown("tool", ref)
    return list(dict.fromkeys(known[ref] for ref in refs))


async def _agent_tools(ctx: Context, given: list[str]) -> list[str]:
    """The tools of the given A2A agents (ContextForge's `associated_a2a_agents`, agent ids),
    once each in order: an agent the caller cannot see is unknown, a disabled one has none."""
    found: list[str] = []
    for ref in dict.fromkeys(given):
        try:
            agent = await ctx.store.get_agent(ref)
            ownership.require_visible(ctx.principal, agent, MISSING_AGENT)
        except NotFoundError:
            raise _unknown("a2a_agent", ref) from None
        tools = await ctx.store.gateway_tools(agent.id)
        if not tools:
            raise InvalidParamsError(
                f"agent {ref} in associated_a2a_agents is disabled: it offers no tool",
                {"a2a_agent": ref},
            )
        found.extend(t.id for t in tools)
    return found


async def _without_agents(ctx: Context, tool_ids: list[str]) -> list[str]:
    """The tool ids less the A2A agents' tools the caller sees (those they could name)."""
    agents = {a.id for a in await ctx.store.list_agents()}
    records = await ctx.store.resolve_tools(tool_ids)
    drop = {t.id for t in records if t.gateway_id in agents and ownership.visible(ctx.principal, t)}
    return [i for i in tool_ids if i not in drop]


async def _entries(ctx: Context, kinds: tuple[Kind, ...], given: list[str], what: str) -> list[str]:
    """The ids of the given refs, once each in order; a uri two gateways share goes to the
    first-registered gateway's resource that the caller can see."""
    refs = list(dict.fromkeys(given))
    known: dict[str, str] = {}
    for name, record in await ctx.store.resolve_entries(kinds, refs):
        if ownership.visible(ctx.principal, record):
            known.setdefault(name, record.id)
            known[record.id] = record.id
    for ref in refs:
        if ref not in known:
            raise _unknown(what, ref)
    return list(dict.fromkeys(known[ref] for ref in refs))


def _held(server: Server) -> list[str]:
    return [*server.associated_tools, *server.associated_resources, *server.associated_prompts]


async def _unseen(ctx: Context, servers: Iterable[Server]) -> set[str]:
    """The ids, among what the servers hold, of the entries the caller cannot see."""
    placed = await ctx.store.placements({i for s in servers for i in _held(s)})
    return {i for i, at in placed.items() if not ownership.visible(ctx.principal, at)}


async def _shown(ctx: Context, servers: list[Server]) -> list[Server]:
    """The servers as the caller gets them: without the ids of entries they cannot see."""
    unseen = await _unseen(ctx, servers)
    if not unseen:
        return servers

    def keep(ids: list[str]) -> list[str]:
        return [i for i in ids if i not in unseen]

    return [
        msgspec.structs.replace(
            s,
            associated_tools=keep(s.associated_tools),
            associated_resources=keep(s.associated_resources),
            associated_prompts=keep(s.associated_prompts),
            aliases={i: a for i, a in s.aliases.items() if i not in unseen},
        )
        for s in servers
    ]


def _kept(given: list[str], current: list[str], unseen: set[str]) -> list[str]:
    """A list given replaces what the caller sees of the current one: entries they cannot see
    (and so could not name) stay, after the given ones."""
    return [*given, *(i for i in current if i in unseen and i not in given)]


async def create_server(p: CreateServerParams, ctx: Context) -> Server:
    name = check_name(p.name)
    tags = check_tags(p.tags)
    at = ownership.place(
        ctx.principal, ctx.config.default_visibility, p.visibility, p.team_id, "servers.create"
    )
    server = Server(
        id=uuid.uuid4().hex,
        name=name,
        description=p.description,
        associated_tools=list(
            dict.fromkeys(
                [
                    *await _tools(ctx, p.associated_tools),
                    *await _agent_tools(ctx, p.associated_a2a_agents),
                ]
            )
        ),
        associated_resources=await _entries(
            ctx, _RESOURCE_KINDS, p.associated_resources, "resource"
        ),
        associated_prompts=await _entries(ctx, _PROMPT_KINDS, p.associated_prompts, "prompt"),
        tags=tags,
        owner=at.owner,
        team_id=at.team_id,
        visibility=at.visibility,
        original_names=p.original_names,
    )
    aliases = await server_names.resolve(ctx, p.aliases, server)
    server = msgspec.structs.replace(server, aliases=aliases)
    await server_names.check_unique(ctx, server)
    stored = await ctx.store.insert_server(server)
    await publish(ctx, "servers", "changed", stored)
    return stored


async def update_server(p: UpdateServerParams, ctx: Context) -> Server:
    """Change what is given; associations given must be visible to the one who changes them."""
    current = await _managed(ctx, p.id, "servers.update")
    at = ownership.replace(
        ctx.principal, ownership.of(current), p.visibility, p.team_id, "servers.create"
    )
    changes: dict[str, Any] = {"team_id": at.team_id, "visibility": at.visibility}
    if p.name is not None:
        changes["name"] = check_name(p.name)
    if p.description is not msgspec.UNSET:
        changes["description"] = p.description
    if p.tags is not None:
        changes["tags"] = check_tags(p.tags)
    if p.enabled is not None:
        changes["enabled"] = p.enabled
    relink = any(
        given is not None
        for given in (
            p.associated_tools,
            p.associated_resources,
            p.associated_prompts,
            p.associated_a2a_agents,
        )
    )
    unseen = await _unseen(ctx, [current]) if relink else set()
    if p.associated_tools is not None:
        tools = await _tools(ctx, p.associated_tools)
        changes["associated_tools"] = _kept(tools, current.associated_tools, unseen)
    if p.associated_a2a_agents is not None:  # the agents' tools the caller sees are replaced
        held = await _without_agents(ctx, changes.get("associated_tools", current.associated_tools))
        agents = await _agent_tools(ctx, p.associated_a2a_agents)
        changes["associated_tools"] = list(dict.fromkeys([*held, *agents]))
    if p.associated_resources is not None:
        resources = await _entries(ctx, _RESOURCE_KINDS, p.associated_resources, "resource")
        changes["associated_resources"] = _kept(resources, current.associated_resources, unseen)
    if p.associated_prompts is not None:
        prompts = await _entries(ctx, _PROMPT_KINDS, p.associated_prompts, "prompt")
        changes["associated_prompts"] = _kept(prompts, current.associated_prompts, unseen)
    if p.original_names is not None:
        changes["original_names"] = p.original_names
    server = msgspec.structs.replace(current, **changes)
    if p.aliases is not None or relink:
        server = await _renamed(ctx, server, p.aliases, current)
    if p.aliases is not None or relink or p.original_names is not None:
        await server_names.check_unique(ctx, server)
    stored = await ctx.store.update_server(server, relink=relink)
    await publish(ctx, "servers", "changed", stored)
    return (await _shown(ctx, [stored]))[0]


async def _renamed(
    ctx: Context, server: Server, given: dict[str, str] | None, current: Server
) -> Server:
    """The server with aliases given (they replace those the caller sees; aliases of entries
    they cannot see stay) or, when only its entries changed, the aliases of entries it keeps."""
    held = {*server.associated_tools, *server.associated_prompts}
    aliases = {i: a for i, a in current.aliases.items() if i in held}
    if given is not None:
        unseen = await _unseen(ctx, [current])
        aliases = {i: a for i, a in aliases.items() if i in unseen}
        aliases |= await server_names.resolve(ctx, given, server)
    return msgspec.structs.replace(server, aliases=aliases)


async def _managed(ctx: Context, server_id: str, permission: str) -> Server:
    server = await ctx.store.get_server(server_id)
    return ownership.require_manager(ctx.principal, server, MISSING_SERVER, "server", permission)


async def list_servers(params: None, ctx: Context) -> list[Server]:
    return await _shown(ctx, ownership.seen(ctx.principal, await ctx.store.list_servers()))


async def get_server(params: IdParams, ctx: Context) -> Server:
    server = await ctx.store.get_server(params.id)
    ownership.require_visible(ctx.principal, server, MISSING_SERVER)
    return (await _shown(ctx, [server]))[0]


async def delete_server(params: IdParams, ctx: Context) -> dict[str, Any]:
    server_id = (await _managed(ctx, params.id, "servers.delete")).id
    await ctx.store.delete_server(server_id)
    await publish(ctx, "servers", "deleted", Deleted(id=server_id))
    return {"id": server_id, "deleted": True}
