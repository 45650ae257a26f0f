"""Held calls by requestState: any replica's retry reaches the replica holding the call."""

from __future__ import annotations

import asyncio
import re
import secrets

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import InvalidParamsError, ServiceUnavailableError
from forge.proto.envelope import ENCODER, Envelope
from forge.proto.mcp import RETRY_PARAMS_DECODER
from forge.upstream_proxy.eras.held import Held

# requestState = "forge1." + the holder's resume subject + "." + the held call's random key.
STATE_PREFIX = "forge1."
_STATE = re.compile(r"forge1\.(forge\.upstream\.resume\.[0-9a-f]{32})\.([0-9a-f]{32})")
GATEWAY_HEADER = "Forge-Gateway"
UNKNOWN_STATE = "unknown or expired requestState: start the call again without it"
# Answer this long before the retry's deadline, so the answer still reaches the router in time.
HOP_MARGIN_S = 0.05


def request_state(params: bytes) -> str | None:
    """The requestState of a retry's params, if any (decided without decoding, mostly)."""
    if b'"requestState"' not in params:
        return None
    try:
        return RETRY_PARAMS_DECODER.decode(params).requestState
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidParamsError("requestState must be a string") from exc


def parse(state: str) -> tuple[str, str]:
    """The subject of the replica holding the call, and the held call's key."""
    match = _STATE.fullmatch(state)
    if match is None:
        raise InvalidParamsError(UNKNOWN_STATE)
    subject, key = match.groups()
    return subject, key


class Resumes:
    """This replica's held calls, served on its own subject `forge.upstream.resume.<replica>`."""

    def __init__(self, bus: Bus, replica: str, *, timeout_s: float) -> None:
        self.bus = bus
        self.subject = subjects.resume(replica)
        self.timeout_s = timeout_s
        self.held: dict[str, Held] = {}

    def hold(self, held: Held) -> str:
        """Keep `held` for the client's retry (at most `timeout_s`); its requestState."""
        held.key = secrets.token_hex(16)  # unguessable: the state is all a retry needs
        self.held[held.key] = held
        loop = asyncio.get_running_loop()
        held.expiry = loop.call_later(self.timeout_s, self._expire, held)
        return f"{STATE_PREFIX}{self.subject}.{held.key}"

    async def forward(self, envelope: Envelope, gateway_id: str, subject: str) -> bytes:
        """The retry, passed on to the replica holding its call: its answer."""
        try:
            data = await self.bus.request(
                subject,
                ENCODER.encode(envelope),
                deadline=envelope.deadline - HOP_MARGIN_S,
                headers={GATEWAY_HEADER: gateway_id},
            )
        except ServiceUnavailableError as exc:  # the holder is gone, and its calls with it
            raise InvalidParamsError(UNKNOWN_STATE) from exc
        return rpc.unwrap(data)

    def key_here(self, envelope: Envelope) -> str:
        """The key of a passed-on retry's call, which must be held here."""
        subject, key = parse(request_state(bytes(envelope.params)) or "")
        if subject != self.subject:
            raise InvalidParamsError(UNKNOWN_STATE)
        return key

    async def take(self, envelope: Envelope, gateway_id: str, key: str) -> Held:
        """The held call this retry goes on with, given the retry's answers."""
        held = self.held.get(key)
        # Only the caller who started it, on the same gateway, may go on with it.
        if held is None or held.gateway_id != gateway_id:
            raise InvalidParamsError(UNKNOWN_STATE)
        if held.principal != envelope.principal.subject:
            raise InvalidParamsError(UNKNOWN_STATE)
        del self.held[key]
        if held.expiry is not None:
            held.expiry.cancel()
        try:
            responses = RETRY_PARAMS_DECODER.decode(envelope.params).inputResponses or {}
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            held.drop("the client sent malformed inputResponses")
            raise InvalidParamsError("inputResponses must be an object") from exc
        await held.answer(responses)
        return held

    def _expire(self, held: Held) -> None:
        if self.held.get(held.key) is held:
            del self.held[held.key]
            held.drop("the client did not answer in time")

    def close(self) -> None:
        """Give up every held call (the bus drains their subscription)."""
        for held in list(self.held.values()):
            held.drop("the gateway's proxy is shutting down")
        self.held.clear()
