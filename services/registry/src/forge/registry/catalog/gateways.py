"""Gateway operations: register, update, refresh, delete, and re-sealing their credentials."""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import msgspec

from forge.core.errors import DeadlineExceededError, ForbiddenError, InvalidParamsError
from forge.core.sealing import SealingError
from forge.proto.catalog import (
    INLINE_TOOLS,
    Deleted,
    Gateway,
    ToolsChanged,
    UpstreamAuth,
)
from forge.proto.catalog_params import CreateGatewayParams, IdParams, UpdateGatewayParams
from forge.registry.catalog import agents, credentials, endpoints, launches, offers, ownership
from forge.registry.catalog.contents import Stored
from forge.registry.catalog.discovery import discover
from forge.registry.catalog.intake import Intake
from forge.registry.catalog.operation import (
    Context,
    contents_changed,
    net_guard,
    offers_changed,
    publish,
    servers_changed,
    tools_changed,
)
from forge.registry.catalog.params import (
    check_endpoint,
    check_env,
    check_gateway_url,
    check_name,
    check_tags,
    check_transport,
    env_not_for,
    slugify,
)
from forge.registry.catalog.store import MISSING_GATEWAY

log = logging.getLogger("forge.registry")


def shown(gateway: Gateway) -> Gateway:
    """A gateway as callers get it: its sealed credentials stay inside the mesh."""
    return msgspec.structs.replace(gateway, auth=None)


async def _check_addresses(ctx: Context, gateway: Gateway, auth: UpstreamAuth | None) -> None:
    await endpoints.check_addresses(net_guard(ctx), gateway, auth)


async def create_gateway(p: CreateGatewayParams, ctx: Context) -> Gateway:
    if p.timeout_s is not None and p.timeout_s <= 0:
        raise InvalidParamsError("timeout_s must be positive", {"field": "timeout_s"})
    transport = check_transport(p.transport)
    if transport == "stdio":  # starting a process: checked before anything else is looked at
        await launches.require_permission(ctx, "", p.name, p.command or [])
    url, command = check_endpoint(transport, p)
    name = check_name(p.name)
    if command is not None:
        await launches.check_command(ctx, "", name, command, p.env)
    at = ownership.place(
        ctx.principal, ctx.config.default_visibility, p.visibility, p.team_id, "gateways.create"
    )
    auth = credentials.upstream_auth(p)
    gateway_id = uuid.uuid4().hex
    gateway = Gateway(
        id=gateway_id,
        name=name,
        slug=slugify(name),
        url=url,
        transport=transport,
        description=p.description,
        tags=check_tags(p.tags),
        timeout_s=p.timeout_s,
        command=command,
        env=dict.fromkeys(p.env, ""),  # names only: the values are sealed with the credentials
        owner=at.owner,
        team_id=at.team_id,
        visibility=at.visibility,
        auth_type=auth.type,
        auth=credentials.seal(ctx.config, gateway_id, credentials.with_env(auth, p.env)),
    )
    await _check_addresses(ctx, gateway, auth)
    started = time.perf_counter()
    # One transaction: the row, then the tools in batches as the discovery's pages arrive,
    # then the rest; a failure anywhere leaves nothing behind.
    async with ctx.store.writing() as conn:
        gateway = await ctx.store.add_gateway(conn, gateway)
        intake = Intake(conn, gateway, ctx.config.tool_name_separator, "tools")
        gateway, found = await discover(ctx, gateway, intake)
        discovered = time.perf_counter()
        records = await ctx.store.registered(conn, gateway, intake.kept, found)
    inserted = time.perf_counter()
    announced = False
    try:
        if time.time() >= ctx.deadline:
            # The caller was told it failed (504): what it was told must be what stays.
            raise DeadlineExceededError("registering the gateway took past the request's deadline")
        stored = await ctx.store.get_gateway(gateway.id)
        await publish(ctx, "gateways", "changed", stored)
        await tools_changed(
            ctx, stored.id, records if intake.kept is not None else None, intake.tools
        )
        await contents_changed(ctx, stored.id, await ctx.store.gateway_contents(stored.id))
        announced = True
    finally:
        if not announced:
            # A gateway the caches may not have heard of must not stay half-registered.
            await _forget(ctx, gateway.id)
    log.info(
        "gateway registered: %d tools, discovery and store %.2f s, the rest %.2f s,"
        " announce %.2f s",
        intake.tools,
        discovered - started,
        inserted - discovered,
        time.perf_counter() - inserted,
        extra={"gateway_id": gateway.id},
    )
    return shown(stored)


async def list_gateways(params: None, ctx: Context) -> list[Gateway]:
    return [shown(g) for g in ownership.seen(ctx.principal, await ctx.store.list_gateways())]


async def get_gateway(params: IdParams, ctx: Context) -> Gateway:
    gateway = await ctx.store.get_gateway(params.id)
    return shown(ownership.require_visible(ctx.principal, gateway, MISSING_GATEWAY))


async def _managed(ctx: Context, gateway_id: str, permission: str) -> Gateway:
    gateway = await ctx.store.get_gateway(gateway_id)
    return ownership.require_manager(ctx.principal, gateway, MISSING_GATEWAY, "gateway", permission)


def _credentials(
    ctx: Context, current: Gateway, p: UpdateGatewayParams
) -> tuple[UpstreamAuth, dict[str, str]] | None:
    """The gateway's new credentials and environment, when the update changes either."""
    if not credentials.given(p) and p.env is None:
        return None
    if credentials.given(p) and p.env is not None:
        return credentials.upstream_auth(p), check_env(p.env)
    if current.auth is not None:
        old = credentials.open_sealed(ctx.config, current.id, current.auth)
        old_env = old.env
    else:  # nothing sealed yet: a gateway stored before credentials were sealed
        old, old_env = UpstreamAuth(), current.env
    auth = credentials.upstream_auth(p) if credentials.given(p) else old
    env = check_env(p.env) if p.env is not None else old_env
    return msgspec.structs.replace(auth, env={}), env


async def _check_stdio_update(ctx: Context, current: Gateway, p: UpdateGatewayParams) -> None:
    """An update never changes what runs (transport, command); a stdio gateway's environment
    changes only for those who may launch (LD_PRELOAD and kin would run other code)."""
    if p.transport is not None and check_transport(p.transport) != current.transport:
        raise InvalidParamsError("the transport cannot change", {"field": "transport"})
    if p.command is not None and p.command != current.command:
        raise InvalidParamsError("the command cannot change", {"field": "command"})
    if current.transport != "stdio" and p.env:
        raise env_not_for(current.transport)
    if current.transport == "stdio" and p.env is not None:
        command = current.command or []
        await launches.require_permission(ctx, current.id, current.name, command)
        await launches.check_command(ctx, current.id, current.name, command, p.env)


async def update_gateway(p: UpdateGatewayParams, ctx: Context) -> Gateway:
    """Change what is given; a new url or new credentials mean a new discovery first."""
    current = await _managed(ctx, p.id, "gateways.update")
    await _check_stdio_update(ctx, current, p)
    name = check_name(p.name) if p.name is not None else current.name
    # A new slug only for a name that gives one: a numbered slug (its name's own was taken when
    # it was registered) stays as long as the name keeps giving the same one.
    reslug = slugify(name) != slugify(current.name)
    slug = slugify(name) if reslug else current.slug
    url = current.url
    if p.url is not None:
        if current.transport == "stdio":
            raise InvalidParamsError("a stdio gateway has no url", {"field": "url"})
        url = check_gateway_url(current.transport, p.url)
    at = ownership.replace(
        ctx.principal, ownership.of(current), p.visibility, p.team_id, "gateways.create"
    )
    changes: dict[str, Any] = {
        "name": name,
        "slug": slug,
        "url": url,
        "team_id": at.team_id,
        "visibility": at.visibility,
    }
    if p.description is not msgspec.UNSET:
        changes["description"] = p.description
    if p.enabled is not None:
        changes["enabled"] = p.enabled
    if p.tags is not None:
        changes["tags"] = check_tags(p.tags)
    new_credentials = _credentials(ctx, current, p)
    auth = None
    if new_credentials is not None:
        auth, env = new_credentials
        changes["auth_type"] = auth.type
        changes["auth"] = credentials.seal(ctx.config, current.id, credentials.with_env(auth, env))
        changes["env"] = dict.fromkeys(env, "")
    gateway = msgspec.structs.replace(current, **changes)
    rediscover = url != current.url or new_credentials is not None
    if rediscover:
        await _check_addresses(ctx, gateway, auth)
    replaced = None
    separator = ctx.config.tool_name_separator
    async with ctx.store.writing() as conn:
        gateway, prefix = await ctx.store.set_gateway(
            conn,
            gateway,
            separator=separator if reslug else None,
            sealed=new_credentials is not None,
        )
        if rediscover:
            await offers.stage(conn)
            intake = Intake(conn, gateway, separator, "staged")
            gateway, found = await discover(ctx, gateway, intake)
            replaced = await ctx.store.swapped(conn, gateway, intake.kept, found)
        else:
            await offers.follow(conn, gateway, prefix)
    stored = await ctx.store.get_gateway(gateway.id)
    await publish(ctx, "gateways", "changed", stored)
    await offers_changed(ctx, stored.id)
    if replaced is not None:
        await servers_changed(ctx, replaced.servers)
    return shown(stored)


async def delete_gateway(params: IdParams, ctx: Context) -> dict[str, Any]:
    gateway_id = (await _managed(ctx, params.id, "gateways.delete")).id
    await _forget(ctx, gateway_id)
    return {"id": gateway_id, "deleted": True}


async def _forget(ctx: Context, gateway_id: str) -> None:
    """Delete a gateway with all it offers, and tell every cache."""
    servers = await ctx.store.delete_gateway(gateway_id)
    await publish(ctx, "gateways", "deleted", Deleted(id=gateway_id))
    await publish(ctx, "tools", "changed", ToolsChanged(gateway_id=gateway_id, tools=[]))
    await contents_changed(ctx, gateway_id, Stored())
    await servers_changed(ctx, servers)


async def refresh_gateway(params: IdParams, ctx: Context) -> dict[str, Any]:
    gateway = await _managed(ctx, params.id, "gateways.update")
    async with ctx.store.writing() as conn:
        await offers.stage(conn)
        intake = Intake(conn, gateway, ctx.config.tool_name_separator, "staged")
        gateway, found = await discover(ctx, gateway, intake)
        replaced = await ctx.store.swapped(conn, gateway, intake.kept, found)
    await publish(ctx, "gateways", "changed", await ctx.store.get_gateway(gateway.id))
    kept = replaced.tools if replaced.count <= INLINE_TOOLS else None
    await tools_changed(ctx, gateway.id, kept, replaced.count)
    await contents_changed(ctx, gateway.id, replaced.contents)
    await servers_changed(ctx, replaced.servers)
    return {
        "gateway_id": gateway.id,
        "tools": replaced.count,
        "added": replaced.added,
        "removed": replaced.removed,
        "updated": replaced.updated,
        "resources": len(replaced.contents.resources),
        "resource_templates": len(replaced.contents.templates),
        "prompts": len(replaced.contents.prompts),
    }


async def reseal_secrets(params: None, ctx: Context) -> dict[str, Any]:
    """Seal every gateway's and agent's credentials with the active key (admins only; safe
    while serving: each is re-sealed under a row lock, and caches follow its change event)."""
    if not ctx.principal.is_admin:
        raise ForbiddenError("only a platform admin may re-seal the stored credentials")
    keys = credentials.keyring(ctx.config)
    resealed, failed = 0, []
    for gateway_id in await ctx.store.sealed_gateways():

        def again(sealed: str | None, env: dict[str, str], gid: str = gateway_id) -> str | None:
            return credentials.reseal(keys, gid, sealed, env)

        try:
            changed = await ctx.store.reseal_gateway(gateway_id, again)
        except SealingError:
            log.warning("stored credentials do not open", extra={"gateway_id": gateway_id})
            failed.append(gateway_id)
            continue
        if changed is not None:
            resealed += 1
            await publish(ctx, "gateways", "changed", changed)
    agents_resealed, agents_failed = await agents.reseal(ctx, keys)
    resealed += agents_resealed
    failed += agents_failed
    result: dict[str, Any] = {"resealed": resealed}
    if failed:
        result["failed"] = failed
    return result
