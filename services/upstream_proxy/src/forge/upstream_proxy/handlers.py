"""Handlers: forward one MCP request to a gateway, and discover what a gateway offers."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import msgspec

from forge.core import operations, rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import (
    DeadlineExceededError,
    ForgeError,
    InvalidParamsError,
    RequestCancelledError,
    ResultTooLargeError,
    ServiceUnavailableError,
    UpstreamTimeoutError,
)
from forge.proto.catalog import DiscoverResult, Gateway
from forge.proto.envelope import Envelope
from forge.proto.upstream import DiscoverParams
from forge.upstream_proxy.auth.grants import AuthorizationRequiredError
from forge.upstream_proxy.eras import mrtr, resume
from forge.upstream_proxy.eras.held import Answered, Held
from forge.upstream_proxy.gateways import Gateways
from forge.upstream_proxy.leases import Leases
from forge.upstream_proxy.sessions.discovery import discover_all
from forge.upstream_proxy.sessions.inflight import CallCancelledError, Calls, InFlight
from forge.upstream_proxy.sessions.pool import Pool, Session, identity, transport_of
from forge.upstream_proxy.transports.codec import complete_result
from forge.upstream_proxy.transports.launcher import CannotStartError

log = logging.getLogger("forge.upstream_proxy.handlers")
# Answer this long before the envelope's deadline: the router stops waiting 0.05 s before it,
# and our reply still has to cross NATS to get there.
REPLY_MARGIN_S = 0.1
# Telling an upstream about a cancel is a courtesy: never wait long on it.
CANCEL_TIMEOUT_S = 1.0


_ENC = msgspec.json.Encoder()


@dataclass
class Context:
    bus: Bus
    gateways: Gateways
    pool: Pool
    calls: Calls
    leases: Leases
    resumes: resume.Resumes
    max_result_bytes: int = 16 * 1024 * 1024
    background: set[asyncio.Task[None]] = field(default_factory=set)


def _budget(envelope: Envelope, gateway: Gateway) -> float:
    budget = envelope.deadline - time.time() - REPLY_MARGIN_S
    if gateway.timeout_s is not None:
        budget = min(budget, gateway.timeout_s)
    if budget <= 0:
        raise DeadlineExceededError(f"no time left to call gateway {gateway.name!r}")
    return budget


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
    state = resume.request_state(bytes(envelope.params))
    if state is not None and await _legacy(envelope, gateway, ctx):
        # A legacy upstream knows no requestState: this is the retry of a call Forge holds.
        return await ctx.resumes.resume(envelope, gateway.id, state)
    if transport_of(gateway) == "stdio" and not ctx.leases.holds(gateway.id):
        return await _pinned(envelope, gateway.id, "pinned-rpc", ctx)
    return await call_here(envelope, gateway, ctx)


async def _legacy(envelope: Envelope, gateway: Gateway, ctx: Context) -> bool:
    if transport_of(gateway) != "streamablehttp":
        return True  # SSE, WebSocket and stdio sessions speak the handshake era only
    session = ctx.pool.get(gateway, envelope.principal)
    if session.era is None:
        try:
            async with asyncio.timeout(_budget(envelope, gateway)):
                await session.open()
        except TimeoutError as exc:
            raise UpstreamTimeoutError(f"gateway {gateway.name!r} did not answer in time") from exc
    return session.era == "legacy"


async def call_here(envelope: Envelope, gateway: Gateway, ctx: Context) -> bytes:
    """The call on this replica's own session, with its in-flight messages and cancel."""
    session = ctx.pool.get(gateway, envelope.principal)
    client_modern = envelope.protocol is None or envelope.protocol.era == "modern"
    if client_modern and await _legacy(envelope, gateway, ctx):
        # Held, so that a legacy upstream's questions can go to the client as input_required.
        return await run_held(Held(ctx.bus, session, envelope, gateway.id), envelope, ctx)
    with ctx.calls.track(envelope) as inflight:
        inflight.gateway_id = gateway.id
        try:
            async with asyncio.timeout(_budget(envelope, gateway)):
                return await inflight.race(_exchange(session, envelope, inflight))
        except CallCancelledError as exc:
            _tell_cancel(session, inflight, ctx)
            raise RequestCancelledError("the client cancelled the request") from exc
        except TimeoutError as exc:
            _tell_cancel(session, inflight, ctx)  # the upstream may stop working on it
            raise UpstreamTimeoutError(f"gateway {gateway.name!r} did not answer in time") from exc


async def run_held(held: Held, envelope: Envelope, ctx: Context) -> bytes:
    """A modern client's call (or its retry) until the upstream answers or asks the client."""
    session = held.session
    try:
        budget = _budget(envelope, session.gateway)
    except DeadlineExceededError:
        held.drop("the call ran out of time")
        raise
    with ctx.calls.follow(envelope, held.inflight):
        try:
            async with asyncio.timeout(budget):
                result = await held.wait(lambda: ctx.resumes.hold(held))
        except Answered as asked:
            return asked.result
        except CallCancelledError as exc:
            held.drop("the client cancelled the request")
            raise RequestCancelledError("the client cancelled the request") from exc
        except TimeoutError as exc:
            held.drop("the call ran out of time")  # the upstream may stop working on it
            label = session.label
            raise UpstreamTimeoutError(f"gateway {label} did not answer in time") from exc
    # A modern client validates results strictly; a legacy upstream omits the modern fields.
    if session.era == "legacy":
        result = complete_result(envelope.method, result)
    return result


async def _exchange(session: Session, envelope: Envelope, inflight: InFlight) -> bytes:
    params = bytes(envelope.params)
    result = await session.request(envelope.method, params, inflight)
    client_legacy = envelope.protocol is not None and envelope.protocol.era == "legacy"
    if client_legacy and session.era == "modern":
        # A legacy client knows no input_required results: Forge asks it the questions.
        result = await mrtr.complete(session, envelope.method, params, inflight, result)
    return result


def _tell_cancel(session: Session, inflight: InFlight, ctx: Context) -> None:
    async def tell() -> None:
        try:
            async with asyncio.timeout(CANCEL_TIMEOUT_S):
                await session.cancel(inflight)
        except (ForgeError, TimeoutError):
            log.debug("gateway %s was not told of a cancel", session.label)

    # In the background: the caller's answer must not wait for the upstream.
    task = asyncio.create_task(tell())
    ctx.background.add(task)
    task.add_done_callback(ctx.background.discard)


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
        return await call_here(envelope, gateway, ctx)
    return await discover_here(envelope, _discover_params(envelope), ctx)


def _discover_params(envelope: Envelope) -> Gateway:
    return operations.decode(DiscoverParams, envelope.params).gateway


async def discover(envelope: Envelope, ctx: Context) -> bytes:
    """Handshake with a gateway (perhaps not in the catalog yet) and list all it offers."""
    gateway = _discover_params(envelope)
    known = ctx.gateways.get(gateway.id)
    pooled = known is not None and identity(known) == identity(gateway)
    if pooled and transport_of(gateway) == "stdio" and not ctx.leases.holds(gateway.id):
        return await _pinned(envelope, gateway.id, "pinned-discover", ctx)
    return await discover_here(envelope, gateway, ctx)


async def discover_here(envelope: Envelope, gateway: Gateway, ctx: Context) -> bytes:
    known = ctx.gateways.get(gateway.id)
    pooled = known is not None and identity(known) == identity(gateway)
    # A gateway the catalog does not hold yet gets a session of its own (a stdio one: a child
    # of its own), closed afterwards, so probing never leaves a pooled session behind.
    caller = envelope.principal
    session = ctx.pool.get(gateway, caller) if pooled else ctx.pool.new(gateway, caller)
    try:
        async with asyncio.timeout(_budget(envelope, gateway)):
            result = await discover_all(session)
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
