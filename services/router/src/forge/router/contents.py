"""Resources, prompts, completion and logging: listing from the cache, routing to the owner."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any, TypeVar

import msgspec

from forge.core.errors import (
    ForgeError,
    InvalidParamsError,
    LegacyResourceNotFoundError,
    MethodNotFoundError,
)
from forge.proto import mcp
from forge.proto.catalog import PromptRecord
from forge.proto.envelope import Envelope
from forge.router import pages
from forge.router.routing import (
    MODERN_LIST_TAIL,
    Context,
    Handler,
    check_server,
    empty_result,
    fields,
    forward,
    modern,
    rewrite,
    with_params,
)

_ENC = msgspec.json.Encoder()
T = TypeVar("T")
# MCP list method → (catalog kind, the result's member, the plugin hook run on each page).
LISTS = {
    "tools/list": ("tools", b"tools", "tools_post_list"),
    "resources/list": ("resources", b"resources", "resources_post_list"),
    "resources/templates/list": ("resource_templates", b"resourceTemplates", None),
    "prompts/list": ("prompts", b"prompts", "prompts_post_list"),
}


def resource_not_found(envelope: Envelope, uri: str) -> ForgeError:
    if modern(envelope):  # SEP-2164: invalid params, with the uri in data
        return InvalidParamsError("Resource not found", {"uri": uri})
    return LegacyResourceNotFoundError("Resource not found", {"uri": uri})


def _decode(decoder: msgspec.json.Decoder[T], envelope: Envelope, method: str) -> T:
    raw = bytes(envelope.params).strip()
    try:
        value: T = decoder.decode(b"{}" if raw in (b"", b"null") else raw)
        return value
    except msgspec.DecodeError as exc:  # ValidationError is a DecodeError too
        raise InvalidParamsError(f"invalid {method} params: {exc}") from exc


def lister(method: str) -> Handler:
    """The handler of one `*/list` method: a page of what the caller's server offers.

    Lists are memoised per visibility class; a list hook runs on the page served, per request
    (it may depend on who asks), and only while a plugin serves it.
    """
    kind, member, hook = LISTS[method]

    async def handle(envelope: Envelope, ctx: Context) -> bytes:
        check_server(envelope, ctx)
        params = _decode(mcp.LIST_PARAMS_DECODER, envelope, method)
        items: Sequence[Any]
        if kind == "tools" and envelope.server_id is None:  # the whole catalog: by name
            after = pages.after_key(kind, params.cursor)
            items, last = ctx.catalog.tools_page(envelope.principal, after, ctx.page_size)
            following = pages.key_cursor(kind, last) if last is not None else None
        else:
            listing = ctx.catalog.listing(kind, envelope.server_id, envelope.principal)
            items, following = pages.page(kind, listing, params.cursor, ctx.page_size)
        body = b'{"' + member + b'":' + _ENC.encode(items)
        if following is not None:
            body += b',"nextCursor":' + _ENC.encode(following)
        body += MODERN_LIST_TAIL if modern(envelope) else b"}"
        if hook is not None and ctx.hooks.serves(hook):
            body = await ctx.hooks.post(hook, envelope, body)
        return body

    return handle


def _uri(envelope: Envelope, method: str) -> str:
    named = _decode(mcp.NAMED_PARAMS_DECODER, envelope, method)
    if named.uri is None:
        raise InvalidParamsError(f"{method} needs a uri")
    return named.uri


async def read_resource(envelope: Envelope, ctx: Context) -> bytes:
    check_server(envelope, ctx)
    uri = _uri(envelope, "resources/read")
    served = ctx.catalog.serving(uri, envelope.server_id, envelope.principal)
    if served is None:
        raise resource_not_found(envelope, uri)
    answered: bytes | None = None
    if ctx.hooks.serves("resource_pre_fetch"):
        envelope, answered = await ctx.hooks.pre("resource_pre_fetch", envelope, served.team_id)
        changed = _uri(envelope, "resources/read")
        if changed != uri:  # a plugin may rewrite the uri, never to one the caller cannot read
            served = ctx.catalog.serving(changed, envelope.server_id, envelope.principal)
            if served is None:
                raise resource_not_found(envelope, changed)
    if answered is not None:
        result = answered
    else:
        started, ok = time.perf_counter(), False
        try:
            result = await forward(envelope, ctx, served.gateway_id)
            ok = True
        finally:
            elapsed = time.perf_counter() - started
            ctx.metrics.call(
                "resources", served.id, envelope.server_id, served.gateway_id, elapsed, ok
            )
    if ctx.hooks.serves("resource_post_fetch"):
        result = await ctx.hooks.post("resource_post_fetch", envelope, result, served.team_id)
    return result


async def get_prompt(envelope: Envelope, ctx: Context) -> bytes:
    check_server(envelope, ctx)
    prompt = _prompt(envelope, ctx)
    if _decode(mcp.NAMED_PARAMS_DECODER, envelope, "prompts/get").name != prompt.name:
        # A virtual server's own name (original or alias): plugins see the catalog name.
        envelope = with_params(envelope, rewrite(bytes(envelope.params), "name", prompt.name))
    answered: bytes | None = None
    if ctx.hooks.serves("prompt_pre_fetch"):
        envelope, answered = await ctx.hooks.pre("prompt_pre_fetch", envelope, prompt.team_id)
        prompt = _prompt(envelope, ctx)  # a renamed prompt must be one the caller sees too
    if answered is not None:
        result = answered
    else:
        # The upstream knows the prompt by its own name; arguments and _meta pass through.
        params = rewrite(bytes(envelope.params), "name", prompt.original_name)
        started, ok = time.perf_counter(), False
        try:
            result = await forward(with_params(envelope, params), ctx, prompt.gateway_id)
            ok = True
        finally:
            elapsed = time.perf_counter() - started
            ctx.metrics.call(
                "prompts", prompt.id, envelope.server_id, prompt.gateway_id, elapsed, ok
            )
    if ctx.hooks.serves("prompt_post_fetch"):
        result = await ctx.hooks.post("prompt_post_fetch", envelope, result, prompt.team_id)
    return result


def _prompt(envelope: Envelope, ctx: Context) -> PromptRecord:
    named = _decode(mcp.NAMED_PARAMS_DECODER, envelope, "prompts/get")
    prompt = ctx.catalog.prompt(named.name or "", envelope.server_id, envelope.principal)
    if prompt is None:
        raise InvalidParamsError(f"Unknown prompt: {named.name}", {"name": named.name})
    return prompt


async def complete(envelope: Envelope, ctx: Context) -> bytes:
    """completion/complete goes to the upstream that owns `ref`: a prompt, or a resource."""
    check_server(envelope, ctx)
    params = _decode(mcp.COMPLETE_PARAMS_DECODER, envelope, "completion/complete")
    ref = params.ref
    if ref.type == "ref/prompt":
        prompt = ctx.catalog.prompt(ref.name or "", envelope.server_id, envelope.principal)
        if prompt is None:
            raise InvalidParamsError(f"Unknown prompt: {ref.name}", {"name": ref.name})
        members = fields(bytes(envelope.params))
        ref_params = rewrite(bytes(members["ref"]), "name", prompt.original_name)
        members["ref"] = msgspec.Raw(ref_params)
        return await forward(with_params(envelope, _ENC.encode(members)), ctx, prompt.gateway_id)
    if ref.type == "ref/resource" and ref.uri is not None:
        catalog, server_id, principal = ctx.catalog, envelope.server_id, envelope.principal
        owner = catalog.owner_of_template(ref.uri, server_id, principal) or catalog.owner_of(
            ref.uri, server_id, principal
        )
        if owner is None:
            raise resource_not_found(envelope, ref.uri)
        return await forward(envelope, ctx, owner)
    raise InvalidParamsError("ref must be a ref/prompt with a name or a ref/resource with a uri")


def _subscribed_owner(envelope: Envelope, ctx: Context, uri: str) -> str:
    """The gateway serving `uri` to the caller (a listed resource or a template's match, the
    visibility of a read), or -32602: what a caller may not see is unknown to them.

    A URI nobody lists goes to the one upstream the caller reaches here (a virtual server over
    one gateway), which decides, as it would for a client connected to it directly (upstreams
    watch resources they do not list); with several upstreams there is nowhere to send it."""
    catalog, server_id, principal = ctx.catalog, envelope.server_id, envelope.principal
    owner = catalog.owner_of(uri, server_id, principal) or catalog.owner_of_template(
        uri, server_id, principal
    )
    if owner is None:
        sole = catalog.sole_source(server_id, principal)
        # Never a URI listed anywhere for others: the edge delivers a session every update of
        # the URIs it subscribed, whichever upstream sends them.
        if sole is not None and not catalog.listed(uri):
            return sole
        raise InvalidParamsError(
            f"Resource not found: no resource you can read here has the URI {uri!r}",
            {"uri": uri},
        )
    return owner


async def _subscribe_upstream(envelope: Envelope, ctx: Context, gateway_id: str, uri: str) -> None:
    """Subscribe the gateway's upstream to `uri`, if it offers subscriptions at all: a legacy
    one by `resources/subscribe`, a modern one on its listen stream (the upstream-proxy's)."""
    resources = ctx.catalog.gateways[gateway_id].capabilities.get("resources")
    if not (isinstance(resources, dict) and resources.get("subscribe")):
        return  # honoured, and never fires: the upstream sends no updates
    params = _ENC.encode({"uri": uri})
    subscribe = msgspec.structs.replace(envelope, method="resources/subscribe")
    await forward(with_params(subscribe, params), ctx, gateway_id)


async def subscribe(envelope: Envelope, ctx: Context) -> bytes:
    """resources/subscribe: passed on only to gateways that support it; unsubscribe: accepted.

    A URI the caller cannot read (none listed, no template matches, or not visible to them) is
    -32602. An upstream session serves every client of its gateway, so one client's unsubscribe
    must not end the others' updates: it is never passed on, and the edge stops writing that
    URI's updates to the session (docs/streams.md).
    """
    check_server(envelope, ctx)
    uri = _uri(envelope, envelope.method)
    if envelope.method == "resources/unsubscribe":
        return empty_result(envelope)
    gateway_id = _subscribed_owner(envelope, ctx, uri)
    await _subscribe_upstream(envelope, ctx, gateway_id, uri)
    return empty_result(envelope)


# One listen stream names at most this many resources (each is checked and subscribed upstream).
MAX_LISTEN_URIS = 100


async def listen(envelope: Envelope, ctx: Context) -> bytes:
    """A modern `subscriptions/listen`, before the edge opens its stream: the filter checked, each
    of its `resourceSubscriptions` a resource the caller can read (else -32602) and subscribed
    at its upstream, whatever the upstream's era. The result is the honoured filter."""
    if not modern(envelope):  # no such method before 2026-07-28
        raise MethodNotFoundError(f"Method not found: {envelope.method}")
    check_server(envelope, ctx)
    wanted = _decode(mcp.LISTEN_PARAMS_DECODER, envelope, "subscriptions/listen").notifications
    uris = list(dict.fromkeys(wanted.resourceSubscriptions or ()))
    if len(uris) > MAX_LISTEN_URIS:
        raise InvalidParamsError(
            f"a listen stream may name at most {MAX_LISTEN_URIS} resources, not {len(uris)}"
        )
    if any(not uri for uri in uris):
        raise InvalidParamsError("resourceSubscriptions holds an empty URI")
    owners = {uri: _subscribed_owner(envelope, ctx, uri) for uri in uris}
    await asyncio.gather(
        *(_subscribe_upstream(envelope, ctx, gateway, uri) for uri, gateway in owners.items())
    )
    honoured = mcp.SubscriptionFilter(
        toolsListChanged=wanted.toolsListChanged or None,
        promptsListChanged=wanted.promptsListChanged or None,
        resourcesListChanged=wanted.resourcesListChanged or None,
        resourceSubscriptions=uris or None,
    )
    return _ENC.encode({"notifications": honoured, "resultType": "complete"})


async def set_level(envelope: Envelope, ctx: Context) -> bytes:
    """Legacy logging/setLevel: accepted; Forge's own log level is its operator's setting."""
    params = _decode(mcp.SET_LEVEL_PARAMS_DECODER, envelope, "logging/setLevel")
    if params.level not in mcp.LOG_LEVELS:
        raise InvalidParamsError(f"unknown log level {params.level!r}", {"level": params.level})
    return empty_result(envelope)


METHODS: dict[str, Handler] = {
    **{method: lister(method) for method in LISTS},
    "resources/read": read_resource,
    "prompts/get": get_prompt,
    "completion/complete": complete,
    "resources/subscribe": subscribe,
    "resources/unsubscribe": subscribe,
    "subscriptions/listen": listen,
    "logging/setLevel": set_level,
}
