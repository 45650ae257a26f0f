"""The era adapter: the one place where a client's era meets its upstream's.

Same era, the call passes through. A modern client on a legacy upstream: the call is held, so
that the upstream's questions reach the client as input_required results (held, resume), and
its result gets the modern fields a legacy upstream omits (results). A legacy client on a
modern upstream: the upstream's input_required results are asked of the client as in-flight
requests (mrtr). Below it, sessions speak each upstream in the client's era when the upstream
speaks it (a dual-era upstream sees each client's own era: nothing to translate), else in the
upstream's.
"""

from __future__ import annotations

import asyncio
import logging

from forge.core import rpc
from forge.core.bus import Bus, Headers
from forge.core.errors import (
    DeadlineExceededError,
    ForgeError,
    RequestCancelledError,
    UpstreamTimeoutError,
)
from forge.core.results import complete_result
from forge.proto.catalog import Gateway
from forge.proto.envelope import Envelope
from forge.upstream_proxy.eras import mrtr
from forge.upstream_proxy.eras.deadline import budget
from forge.upstream_proxy.eras.held import Answered, Held
from forge.upstream_proxy.eras.inflight import CallCancelledError, Calls, InFlight, Local
from forge.upstream_proxy.eras.resume import GATEWAY_HEADER, Resumes, parse
from forge.upstream_proxy.sessions.pool import Pool, Session, transport_of

log = logging.getLogger("forge.upstream_proxy.eras.adapter")
# Telling an upstream about a cancel is a courtesy: never wait long on it.
CANCEL_TIMEOUT_S = 1.0


def client_era(envelope: Envelope) -> str:
    """The era of the client that made the call (Forge's own calls are modern)."""
    return (
        "legacy"
        if envelope.protocol is not None and envelope.protocol.era == "legacy"
        else "modern"
    )


class EraAdapter:
    """Calls on this replica's pooled sessions, each answered in its client's era."""

    def __init__(self, bus: Bus, pool: Pool, calls: Calls, resumes: Resumes) -> None:
        self.bus = bus
        self.pool = pool
        self.calls = calls
        self.resumes = resumes
        self.background: set[asyncio.Task[None]] = set()
        self.local: Local | None = None  # set in the edge's process (forge.upstream_proxy.local)

    async def start(self) -> None:
        """Serve the retries other replicas pass on to the calls held here."""
        await self.bus.serve(self.resumes.subject, self._serve)

    async def legacy_upstream(
        self, envelope: Envelope, gateway: Gateway, session: Session | None = None
    ) -> bool:
        """Whether the gateway speaks the handshake era (its first call may have to find out).

        `session`: the pooled one of this client's era, when the caller has it already.
        """
        if transport_of(gateway) != "streamablehttp":
            return True  # SSE, WebSocket and stdio sessions speak the handshake era only
        if session is None:
            session = self.pool.get(gateway, envelope.principal, client_era(envelope))
        if session.era is None:
            try:
                async with asyncio.timeout(budget(envelope, gateway)):
                    await session.open()
            except TimeoutError as exc:
                raise UpstreamTimeoutError(
                    f"gateway {gateway.name!r} did not answer in time"
                ) from exc
        return session.era == "legacy"

    async def call(self, envelope: Envelope, gateway: Gateway) -> bytes:
        """The call on this replica's own session, with its in-flight messages and cancel."""
        era = client_era(envelope)
        modern_client = era == "modern"
        if envelope.method == "resources/subscribe":
            # One way of subscribing per gateway, whichever client's era asks: the session that
            # speaks 2026-07-28 when the upstream does (its listen stream), else the handshake
            # era's. Two ways would bring each update twice.
            era = "modern"
        session = self.pool.get(gateway, envelope.principal, era)
        # A modern client's session is the one of its own era (`era` is "modern" then).
        if modern_client and await self.legacy_upstream(envelope, gateway, session):
            # Held, so that a legacy upstream's questions can go to the client as input_required.
            held = Held(self.bus, session, envelope, gateway.id, self.local)
            return await self._held(held, envelope)
        # Tracked as `Calls.track` does (inline: this is every call's path).
        inflight = InFlight(self.bus, envelope, self.local)
        inflight.gateway_id = gateway.id
        by_id = self.calls.by_id
        by_id[envelope.id] = inflight
        try:
            limit = budget(envelope, gateway)
            return await inflight.race(self._exchange(session, envelope, inflight), limit)
        except CallCancelledError as exc:
            self._tell_cancel(session, inflight)
            raise RequestCancelledError("the client cancelled the request") from exc
        except TimeoutError as exc:
            self._tell_cancel(session, inflight)  # the upstream may stop working on it
            raise UpstreamTimeoutError(f"gateway {gateway.name!r} did not answer in time") from exc
        finally:
            if by_id.get(envelope.id) is inflight:
                del by_id[envelope.id]
            inflight.close()

    async def resume(self, envelope: Envelope, gateway_id: str, state: str) -> bytes:
        """A modern client's retry of a held call, wherever it is held: its result or next round."""
        subject, key = parse(state)
        if subject == self.resumes.subject:
            return await self._resume_here(envelope, gateway_id, key)
        return await self.resumes.forward(envelope, gateway_id, subject)

    async def _serve(self, data: bytes, headers: Headers) -> bytes:
        gateway_id = headers.get(GATEWAY_HEADER, "")

        async def handle(envelope: Envelope) -> bytes:
            return await self._resume_here(envelope, gateway_id, self.resumes.key_here(envelope))

        return await rpc.answer(handle, data, self.resumes.subject)

    async def _resume_here(self, envelope: Envelope, gateway_id: str, key: str) -> bytes:
        held = await self.resumes.take(envelope, gateway_id, key)
        return await self._held(held, envelope)

    async def _held(self, held: Held, envelope: Envelope) -> bytes:
        """A modern client's call (or its retry) until the upstream answers or asks the client."""
        session = held.session
        try:
            limit = budget(envelope, session.gateway)
        except DeadlineExceededError:
            held.drop("the call ran out of time")
            raise
        with self.calls.follow(envelope, held.inflight):
            try:
                async with asyncio.timeout(limit):
                    result = await held.wait(lambda: self.resumes.hold(held))
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
        # (The edge completes every modern client's result with the same function, whatever
        # produced it: this keeps the upstream-proxy's own answer whole for any other caller.)
        if session.era == "legacy":
            result = complete_result(envelope.method, result)
        return result

    async def _exchange(self, session: Session, envelope: Envelope, inflight: InFlight) -> bytes:
        params = bytes(envelope.params)
        result = await session.request(envelope.method, params, inflight)
        if client_era(envelope) == "legacy" and session.era == "modern":
            # A legacy client knows no input_required results: Forge asks it the questions.
            result = await mrtr.complete(session, envelope.method, params, inflight, result)
        return result

    def _tell_cancel(self, session: Session, inflight: InFlight) -> None:
        async def tell() -> None:
            try:
                async with asyncio.timeout(CANCEL_TIMEOUT_S):
                    await session.cancel(inflight)
            except (ForgeError, TimeoutError):
                log.debug("gateway %s was not told of a cancel", session.label)

        # In the background: the caller's answer must not wait for the upstream.
        task = asyncio.create_task(tell())
        self.background.add(task)
        task.add_done_callback(self.background.discard)
