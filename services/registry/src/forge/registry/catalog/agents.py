"""A2A agent operations: register (the card fetched and read), update, toggle, refresh the card,
delete; each agent's one tool (agent_tools) follows, and every cache hears of both.

Events: `agents.changed` (AgentsChanged) or `agents.deleted` (Deleted), then `tools.changed`
(ToolsChanged with the agent's id as gateway_id), then `servers.changed` of each server that lost
the tool. Credentials are sealed as gateways' are (context = agent id) and never shown.
"""

from __future__ import annotations

import logging
import time
import uuid
from typing import Any

import msgspec

from forge.core.errors import ForgeError, InvalidParamsError
from forge.core.sealing import Keyring, SealingError
from forge.proto.agents import Agent, AgentsChanged
from forge.proto.catalog import Deleted, ToolsChanged, UpstreamAuth
from forge.proto.catalog_params import (
    AgentCredentials,
    CreateAgentParams,
    IdParams,
    ToggleAgentParams,
    UpdateAgentParams,
)
from forge.registry.catalog import agent_tools, cards, credentials, endpoints, ownership
from forge.registry.catalog.operation import Context, net_guard, publish, servers_changed
from forge.registry.catalog.params import check_name, check_tags, check_url, slugify
from forge.registry.catalog.store import MISSING_AGENT

log = logging.getLogger("forge.registry")
# The credentials an agent may hold (UpstreamAuth.type): what A2A agents' security schemes use
# (an API key in a query parameter is one of them); the a2a-bridge opens each of these.
AUTH_TYPES = ("none", "bearer", "headers", "basic", "query_param", "oauth_client_credentials")


def shown(agent: Agent) -> Agent:
    """An agent as callers get it: its sealed credentials stay inside the mesh."""
    return msgspec.structs.replace(agent, auth=None)


def _with_value(p: AgentCredentials) -> AgentCredentials:
    """ContextForge's `auth_value` as the field it stands for: the bearer token, or the value of
    the header `auth_header_key`."""
    if p.auth_value is None:
        return p
    kind = (p.auth_type or "").strip().lower()
    if kind == "bearer" and p.auth_token is None:
        return msgspec.structs.replace(p, auth_token=p.auth_value, auth_value=None)
    if kind in ("authheaders", "headers") and p.auth_header_key and p.auth_header_value is None:
        return msgspec.structs.replace(p, auth_header_value=p.auth_value, auth_value=None)
    raise InvalidParamsError(
        "auth_value goes with auth_type bearer, or authheaders and auth_header_key",
        {"field": "auth_value"},
    )


def _auth(p: AgentCredentials) -> UpstreamAuth:
    auth = credentials.upstream_auth(_with_value(p))
    if auth.type not in AUTH_TYPES or auth.client_cert_pem is not None:
        raise InvalidParamsError(
            f"an agent's auth_type must be one of: {', '.join(AUTH_TYPES)}",
            {"field": "auth_type"},
        )
    return auth


def _timeout(timeout_s: float | None) -> float | None:
    if timeout_s is not None and timeout_s <= 0:
        raise InvalidParamsError("timeout_s must be positive", {"field": "timeout_s"})
    return timeout_s


def _base_url(url: str | None, endpoint_url: str | None) -> str | None:
    """The agent's URL, given as `url` or ContextForge's `endpoint_url` (not both, differing)."""
    if url and endpoint_url and url != endpoint_url:
        raise InvalidParamsError("give url or endpoint_url, not both", {"field": "endpoint_url"})
    given = url or endpoint_url
    return check_url(given) if given else None


async def _card(ctx: Context, base: str, auth: UpstreamAuth | None) -> cards.Card:
    """The agent's card, and its OAuth token endpoint checked, through the SSRF guard."""
    guard = net_guard(ctx)
    if auth is not None and auth.token_url is not None:
        await endpoints.check_oauth_endpoint(guard, auth.token_url, "auth.token_url")
    left = ctx.deadline - time.time() - 1.0
    return await cards.fetch(guard, base, max(1.0, min(cards.CARD_TIMEOUT_S, left)))


def _carded(agent: Agent, card: cards.Card, description: str | None) -> Agent:
    """The agent with what its card says (its description, unless the caller chose one)."""
    return msgspec.structs.replace(
        agent,
        url=card.url,
        card_url=card.card_url,
        card=card.card,
        protocol_version=card.protocol_version,
        binding=card.binding,
        streaming=card.streaming,
        description=description if description is not None else card.description,
        reachable=True,
    )


async def _announce(ctx: Context, agent: Agent, servers: list[str]) -> None:
    """Tell every cache the agent as it is stored now, its tool, and the servers that lost it."""
    await publish(ctx, "agents", "changed", AgentsChanged(agent=agent))
    tools = await ctx.store.gateway_tools(agent.id)
    await publish(ctx, "tools", "changed", ToolsChanged(gateway_id=agent.id, tools=tools))
    await servers_changed(ctx, servers)


async def create_agent(p: CreateAgentParams, ctx: Context) -> Agent:
    name = check_name(p.name)
    slug = slugify(name)
    base = _base_url(p.url, p.endpoint_url)
    if base is None:
        raise InvalidParamsError("url (or endpoint_url) is required", {"field": "url"})
    at = ownership.place(
        ctx.principal, ctx.config.default_visibility, p.visibility, p.team_id, "a2a.create"
    )
    auth = _auth(p)
    agent_id = uuid.uuid4().hex
    card = await _card(ctx, base, auth)
    agent = Agent(
        id=agent_id,
        name=name,
        slug=slug,
        url=base,
        enabled=p.enabled,
        timeout_s=_timeout(p.timeout_s),
        tags=check_tags(p.tags),
        owner=at.owner,
        team_id=at.team_id,
        visibility=at.visibility,
        auth_type=auth.type,
        auth=credentials.seal(ctx.config, agent_id, auth),
    )
    agent = _carded(agent, card, p.description)
    stored = await ctx.store.insert_agent(agent, agent_tools.new_tool(agent))
    announced = False
    try:
        await _announce(ctx, stored, [])
        announced = True
    finally:
        if not announced:  # caches that may not have heard of it must not keep half of it
            await _forget(ctx, stored.id)
    return shown(stored)


async def list_agents(params: None, ctx: Context) -> list[Agent]:
    return [shown(a) for a in ownership.seen(ctx.principal, await ctx.store.list_agents())]


async def get_agent(params: IdParams, ctx: Context) -> Agent:
    """The agent; with its sealed credentials for platform admins only, as in the snapshot: the
    a2a-bridge asks for an agent its cache has not heard of yet and must open them (the REST
    view drops them for everyone)."""
    agent = ownership.require_visible(
        ctx.principal, await ctx.store.get_agent(params.id), MISSING_AGENT
    )
    return agent if ctx.principal.is_admin else shown(agent)


async def _managed(ctx: Context, agent_id: str, permission: str) -> Agent:
    agent = await ctx.store.get_agent(agent_id)
    return ownership.require_manager(ctx.principal, agent, MISSING_AGENT, "agent", permission)


async def _store(ctx: Context, agent: Agent, *, sealed: bool = False) -> Agent:
    """Store the changed agent, keep its tool as it should be now, and announce both."""
    tool = agent_tools.new_tool(agent)
    servers = await ctx.store.update_agent(agent, tool, sealed=sealed)
    stored = await ctx.store.get_agent(agent.id)
    await _announce(ctx, stored, servers)
    return shown(stored)


async def update_agent(p: UpdateAgentParams, ctx: Context) -> Agent:
    """Change what is given; a new url or new credentials mean the card is fetched again."""
    current = await _managed(ctx, p.id, "a2a.update")
    name = check_name(p.name) if p.name is not None else current.name
    at = ownership.replace(
        ctx.principal, ownership.of(current), p.visibility, p.team_id, "a2a.create"
    )
    changes: dict[str, Any] = {
        "name": name,
        "slug": slugify(name),
        "team_id": at.team_id,
        "visibility": at.visibility,
    }
    if p.description is not msgspec.UNSET:
        changes["description"] = p.description
    if p.timeout_s is not msgspec.UNSET:
        changes["timeout_s"] = _timeout(p.timeout_s)
    if p.enabled is not None:
        changes["enabled"] = p.enabled
    if p.tags is not None:
        changes["tags"] = check_tags(p.tags)
    auth = None
    if credentials.given(p) or p.auth_value is not None:
        auth = _auth(p)
        changes["auth_type"] = auth.type
        changes["auth"] = credentials.seal(ctx.config, current.id, auth)
    agent = msgspec.structs.replace(current, **changes)
    base = _base_url(p.url, p.endpoint_url)
    if base is not None and base != current.card_url and base != _origin_of(current):
        card = await _card(ctx, base, auth)
        agent = _carded(msgspec.structs.replace(agent, url=base), card, _kept(p, current))
    elif auth is not None and auth.token_url is not None:
        await endpoints.check_oauth_endpoint(net_guard(ctx), auth.token_url, "auth.token_url")
    return await _store(ctx, agent, sealed=auth is not None)


def _origin_of(agent: Agent) -> str | None:
    """The base URL the agent was registered with (its card's URL, less the card's path)."""
    if agent.card_url is None:
        return None
    for path in (cards.CARD_PATH, cards.LEGACY_CARD_PATH):
        if agent.card_url.endswith(path):
            return agent.card_url[: -len(path)]
    return agent.card_url


def _kept(p: UpdateAgentParams, current: Agent) -> str | None:
    """The description after an update that fetched the card: the one given, else the card's."""
    return None if p.description is msgspec.UNSET else p.description


async def toggle_agent(p: ToggleAgentParams, ctx: Context) -> Agent:
    current = await _managed(ctx, p.id, "a2a.update")
    enabled = (not current.enabled) if p.activate is None else p.activate
    if enabled == current.enabled:
        return shown(current)
    return await _store(ctx, msgspec.structs.replace(current, enabled=enabled))


async def refresh_agent(params: IdParams, ctx: Context) -> Agent:
    """Fetch the card again from where it was fetched; the agent follows what it says now."""
    current = await _managed(ctx, params.id, "a2a.update")
    card = await _card(ctx, current.card_url or current.url, None)
    return await _store(ctx, _recarded(current, card))


def _recarded(current: Agent, card: cards.Card) -> Agent:
    """The agent with its card fetched again: a description the caller chose stays."""
    description = current.description if current.description != _card_description(current) else None
    return _carded(current, card, description)


async def refresh_card(ctx: Context, current: Agent) -> Agent | None:
    """The periodic refresh of one agent's card (catalog/card_refresh.py): the agent as stored
    and announced when its card (or whether it is reachable) changed, None when nothing did.
    An agent whose card cannot be fetched keeps its last one, marked unreachable."""
    try:
        card = await _card(ctx, current.card_url or current.url, None)
    except ForgeError as exc:  # unreachable, refused by the guard, not a card: logged, kept
        log.warning(
            "agent card not refreshed; the agent keeps its last card",
            extra={"agent_id": current.id, "code": exc.code, "reason": exc.message},
        )
        if not current.reachable:
            return None
        return await _store(ctx, msgspec.structs.replace(current, reachable=False))
    refreshed = _recarded(current, card)
    if refreshed == current:
        return None
    return await _store(ctx, refreshed)


def _card_description(agent: Agent) -> str | None:
    value = agent.card.get("description")
    return value if isinstance(value, str) else None


async def delete_agent(params: IdParams, ctx: Context) -> dict[str, Any]:
    agent_id = (await _managed(ctx, params.id, "a2a.delete")).id
    await _forget(ctx, agent_id)
    return {"id": agent_id, "deleted": True}


async def _forget(ctx: Context, agent_id: str) -> None:
    """Delete an agent with its tool, and tell every cache."""
    servers = await ctx.store.delete_agent(agent_id)
    await publish(ctx, "agents", "deleted", Deleted(id=agent_id))
    await publish(ctx, "tools", "changed", ToolsChanged(gateway_id=agent_id, tools=[]))
    await servers_changed(ctx, servers)


async def reseal(ctx: Context, keys: Keyring) -> tuple[int, list[str]]:
    """Seal every agent's credentials with the active key (as gateways.reseal_secrets does for
    gateways): how many were re-sealed, and the ids of those whose credentials do not open."""
    resealed, failed = 0, []
    for agent_id in await ctx.store.sealed_agents():

        def again(sealed: str | None, aid: str = agent_id) -> str | None:
            return credentials.reseal(keys, aid, sealed, {})

        try:
            changed = await ctx.store.reseal_agent(agent_id, again)
        except SealingError:
            log.warning("stored credentials do not open", extra={"agent_id": agent_id})
            failed.append(agent_id)
            continue
        if changed is not None:
            resealed += 1
            await publish(ctx, "agents", "changed", AgentsChanged(agent=changed))
    return resealed, failed
