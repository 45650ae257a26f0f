"""Handlers: forward one MCP request to a gateway, and discover what a gateway offers."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import msgspec

from forge.core import operations, rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import (
    InvalidParamsError,
    ResultTooLargeError,
    ServiceUnavailableError,
    UpstreamTimeoutError,
)
from forge.proto.catalog import DiscoverPage, DiscoverResult
from forge.proto.envelope import Envelope
from forge.proto.upstream import DiscoverParams
from forge.upstream_proxy.auth.grants import AuthorizationRequiredError
from forge.upstream_proxy.eras.adapter import EraAdapter
from forge.upstream_proxy.eras.deadline import REPLY_MARGIN_S, budget
from forge.upstream_proxy.eras.resume import request_state
from forge.upstream_proxy.gateways import Gateways
from forge.upstream_proxy.leases import Leases
from forge.upstream_proxy.sessions.discovery import Send, discover_all
from forge.upstream_proxy.sessions.pool import Pool, identity, transport_of
from forge.upstream_proxy.transports.launcher import CannotStartError

_ENC = msgspec.json.Encoder()


@dataclass
class Context:
    bus: Bus
    gateways: Gateways
    pool: Pool
    eras: EraAdapter
    leases: Leases
    max_result_bytes: int = 16 * 1024 * 1024


async def call(envelope: Envelope, gateway_id: str, ctx: Context) -> bytes:
    """Send `envelope.method` with its params to the gateway; return the result bytes."""
    result = await _call(envelope, gateway_id, ctx)
    if len(result) > ctx.max_result_bytes:
        # Every way a result comes back (held, pinned, resumed) passes here, once.
        raise ResultTooLargeError(
            f"the upstream's result exceeds the limit of {ctx.max_result_bytes} bytes",
            {"size": len(result), "limit": ctx.max_result_bytes},
        )
    return result


async def _call(envelope: Envelope, gateway_id: str, ctx: Context) -> bytes:
    gateway = ctx.gateways.get(gateway_id) or await ctx.gateways.fetch(
        gateway_id, envelope.deadline
    )
    state = request_state(bytes(envelope.params))
    if state is not None and await ctx.eras.legacy_upstream(envelope, gateway):
        # A legacy upstream knows no requestState: this is the retry of a call Forge holds.
        return await ctx.eras.resume(envelope, gateway.id, state)
    if transport_of(gateway) == "stdio" and not ctx.leases.holds(gateway.id):
        return await _pinned(envelope, gateway.id, "pinned-rpc", ctx)
    return await ctx.eras.call(envelope, gateway)


async def _pinned(envelope: Envelope, gateway_id: str, op: str, ctx: Context) -> bytes:
    """A stdio gateway's request, for the replica holding its lease (perhaps this one, now)."""
    try:
        return await rpc.call(
            ctx.bus, subjects.upstream(gateway_id, op), envelope, margin=REPLY_MARGIN_S / 2
        )
    except ServiceUnavailableError:
        if not await ctx.leases.want(gateway_id):
            raise
    return await serve_pinned(envelope, gateway_id, op, ctx)


async def serve_pinned(envelope: Envelope, gateway_id: str, op: str, ctx: Context) -> bytes:
    """What the lease holder answers on `forge.upstream.<gateway>.pinned-*`."""
    gateway = ctx.gateways.get(gateway_id) or await ctx.gateways.fetch(
        gateway_id, envelope.deadline
    )
    if op == "pinned-rpc":
        return await ctx.eras.call(envelope, gateway)
    return await discover_here(envelope, _discover_params(envelope), ctx)


def _discover_params(envelope: Envelope) -> DiscoverParams:
    return operations.decode(DiscoverParams, envelope.params)


def _page_timeout(params: DiscoverParams) -> float | None:
    """Each page's deadline: the registry's, within the gateway's own timeout."""
    given = [t for t in (params.page_timeout_s, params.gateway.timeout_s) if t is not None]
    return min(given) if given else None


async def discover(envelope: Envelope, ctx: Context) -> bytes:
    """Handshake with a gateway (perhaps not in the catalog yet) and list all it offers."""
    params = _discover_params(envelope)
    gateway = params.gateway
    known = ctx.gateways.get(gateway.id)
    pooled = known is not None and identity(known) == identity(gateway)
    if pooled and transport_of(gateway) == "stdio" and not ctx.leases.holds(gateway.id):
        return await _pinned(envelope, gateway.id, "pinned-discover", ctx)
    return await discover_here(envelope, params, ctx)


async def discover_here(envelope: Envelope, params: DiscoverParams, ctx: Context) -> bytes:
    gateway = params.gateway
    # The whole works to the caller's deadline (none left: no session is made for nothing);
    # the gateway's timeout bounds each page instead.
    limit = budget(envelope, msgspec.structs.replace(gateway, timeout_s=None))
    known = ctx.gateways.get(gateway.id)
    pooled = known is not None and identity(known) == identity(gateway)
    # A gateway the catalog does not hold yet gets a session of its own (a stdio one: a child
    # of its own), closed afterwards, so probing never leaves a pooled session behind.
    caller = envelope.principal
    session = ctx.pool.get(gateway, caller) if pooled else ctx.pool.new(gateway, caller)
    page_timeout = _page_timeout(params)
    send = _sender(envelope, page_timeout, ctx) if params.streamed else None
    try:
        async with asyncio.timeout(limit):
            result = await discover_all(session, page_timeout, send)
    except AuthorizationRequiredError:
        if known is not None:
            raise  # a refresh by a user who has not authorized must not empty the catalog
        # Registered before anyone could authorize (the flow needs the gateway's id): nothing
        # to list yet; a user who has authorized refreshes it.
        result = DiscoverResult(protocol_version="")
    except TimeoutError as exc:
        raise UpstreamTimeoutError(f"gateway {gateway.name!r} did not answer in time") from exc
    except CannotStartError as exc:
        # Registering (or refreshing) a command that cannot run here is the request's problem.
        raise InvalidParamsError(exc.message, exc.data) from exc
    finally:
        if not pooled:
            ctx.pool.retire(session)  # closing (a DELETE perhaps) must not delay the answer
    return _ENC.encode(result)


def _sender(envelope: Envelope, page_timeout: float | None, ctx: Context) -> Send:
    """A streamed discovery's pages, each a request to the asking registry replica on
    `forge.discover.<request id>`: the next goes once this one is answered (its error raised)."""
    subject = subjects.discover_pages(envelope.id)

    async def send(page: DiscoverPage) -> None:
        deadline = envelope.deadline
        if page_timeout is not None:
            deadline = min(deadline, time.time() + page_timeout)
        rpc.unwrap(await ctx.bus.request(subject, _ENC.encode(page), deadline=deadline))

    return send
