"""Virtual server operations: compose catalog entries the creator can see, update, delete."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from forge.core.errors import InvalidParamsError
from forge.proto.catalog import Deleted, Server
from forge.registry import contents, ownership
from forge.registry.contents import Kind
from forge.registry.context import Context, publish
from forge.registry.params import (
    CreateServerParams,
    IdParams,
    UpdateServerParams,
    check_name,
    check_tags,
    decode,
)
from forge.registry.store import MISSING_SERVER

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


async def create_server(params: bytes, ctx: Context) -> Server:
    p = decode(CreateServerParams, params)
    name = check_name(p.name)
    tags = check_tags(p.tags)
    at = ownership.place(ctx.principal, ctx.config.default_visibility, p.visibility, p.team_id)
    server = Server(
        id=uuid.uuid4().hex,
        name=name,
        description=p.description,
        associated_tools=await _tools(ctx, p.associated_tools),
        associated_resources=await _entries(
            ctx, _RESOURCE_KINDS, p.associated_resources, "resource"
        ),
        associated_prompts=await _entries(ctx, _PROMPT_KINDS, p.associated_prompts, "prompt"),
        tags=tags,
        owner=at.owner,
        team_id=at.team_id,
        visibility=at.visibility,
    )
    stored = await ctx.store.insert_server(server)
    await publish(ctx, "servers", "changed", stored)
    return stored


async def update_server(params: bytes, ctx: Context) -> Server:
    """Change what is given; associations given must be visible to the one who changes them."""
    p = decode(UpdateServerParams, params)
    current = await _managed(ctx, p.id)
    at = ownership.replace(ctx.principal, ownership.of(current), p.visibility, p.team_id)
    changes: dict[str, Any] = {"team_id": at.team_id, "visibility": at.visibility}
    if p.name is not None:
        changes["name"] = check_name(p.name)
    if p.description is not msgspec.UNSET:
        changes["description"] = p.description
    if p.tags is not None:
        changes["tags"] = check_tags(p.tags)
    if p.enabled is not None:
        changes["enabled"] = p.enabled
    if p.associated_tools is not None:
        changes["associated_tools"] = await _tools(ctx, p.associated_tools)
    if p.associated_resources is not None:
        changes["associated_resources"] = await _entries(
            ctx, _RESOURCE_KINDS, p.associated_resources, "resource"
        )
    if p.associated_prompts is not None:
        changes["associated_prompts"] = await _entries(
            ctx, _PROMPT_KINDS, p.associated_prompts, "prompt"
        )
    relink = any(k.startswith("associated_") for k in changes)
    stored = await ctx.store.update_server(
        msgspec.structs.replace(current, **changes), relink=relink
    )
    await publish(ctx, "servers", "changed", stored)
    return stored


async def _managed(ctx: Context, server_id: str) -> Server:
    server = await ctx.store.get_server(server_id)
    return ownership.require_manager(ctx.principal, server, MISSING_SERVER, "server")


async def list_servers(params: bytes, ctx: Context) -> list[Server]:
    return ownership.seen(ctx.principal, await ctx.store.list_servers())


async def get_server(params: bytes, ctx: Context) -> Server:
    server = await ctx.store.get_server(decode(IdParams, params).id)
    return ownership.require_visible(ctx.principal, server, MISSING_SERVER)


async def delete_server(params: bytes, ctx: Context) -> dict[str, Any]:
    server_id = (await _managed(ctx, decode(IdParams, params).id)).id
    await ctx.store.delete_server(server_id)
    await publish(ctx, "servers", "deleted", Deleted(id=server_id))
    return {"id": server_id, "deleted": True}
