"""Legacy MCP sessions as sealed tokens any edge replica opens; revocations in a NATS KV bucket."""

from __future__ import annotations

import base64
import binascii
import os
import time
import uuid

import msgspec
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from forge.core.bus import Bus
from forge.core.errors import SessionNotFoundError

REVOKED_BUCKET = "forge-sessions-revoked"


class SessionState(msgspec.Struct, frozen=True, array_like=True):
    """What a legacy session id carries: negotiated at initialize, never stored server-side."""

    sid: str
    subject: str
    version: str
    issued: float
    capabilities: msgspec.Raw = msgspec.Raw(b"{}")
    client_info: msgspec.Raw = msgspec.Raw(b"{}")
    # Where the session was opened (`endpoint()`); it is refused anywhere else, so a session
    # negotiated for one virtual server cannot carry requests to another. Ids sealed before
    # this field existed open nowhere: their clients initialize again.
    endpoint: str = ""


def endpoint(transport: str, server_id: str | None) -> str:
    """The name a session is bound to: its transport ("mcp", "sse") and virtual server."""
    return f"servers/{server_id}/{transport}" if server_id is not None else transport


_STATE = msgspec.json.Decoder(SessionState)


class Sessions:
    """Seal and open session ids; a revoked id is refused by every replica once the KV says so."""

    def __init__(self, key: bytes, ttl_s: int) -> None:
        self.aead = AESGCM(key)
        self.ttl_s = ttl_s
        self.revoked: set[str] = set()
        self._opened: dict[str, SessionState] = {}

    def seal(self, state: SessionState) -> str:
        nonce = os.urandom(12)
        sealed = self.aead.encrypt(nonce, msgspec.json.encode(state), b"forge-session")
        return base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode()

    def new(
        self,
        subject: str,
        version: str,
        capabilities: msgspec.Raw,
        client_info: msgspec.Raw,
        endpoint: str,
    ) -> tuple[str, SessionState]:
        state = SessionState(
            uuid.uuid4().hex, subject, version, time.time(), capabilities, client_info, endpoint
        )
        return self.seal(state), state

    def open(self, token: str, subject: str, endpoint: str) -> SessionState:
        """The session's state, or SessionNotFoundError if forged, expired, revoked, not yours,
        or opened on another endpoint (the same 404 for all: nothing to learn from which)."""
        state = self._opened.get(token)
        if state is None:
            state = self._unseal(token)
            if len(self._opened) > 10_000:
                self._opened.clear()
            self._opened[token] = state
        if (
            state.sid in self.revoked
            or state.subject != subject
            or state.endpoint != endpoint
            or state.issued + self.ttl_s < time.time()
        ):
            raise SessionNotFoundError("session not found: it has ended or was never valid")
        return state

    def _unseal(self, token: str) -> SessionState:
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plain = self.aead.decrypt(raw[:12], raw[12:], b"forge-session")
            return _STATE.decode(plain)
        except (InvalidTag, ValueError, binascii.Error, msgspec.DecodeError) as exc:
            raise SessionNotFoundError(
                "session not found: it has ended or was never valid"
            ) from exc

    def on_revoked(self, key: str, value: bytes | None) -> None:
        if value is not None:
            self.revoked.add(key)

    async def watch(self, bus: Bus) -> None:
        await bus.kv_watch(REVOKED_BUCKET, self.on_revoked)

    async def revoke(self, bus: Bus, state: SessionState) -> None:
        # Stored first: when JetStream cannot take it the caller gets 503 and may retry, rather
        # than a session refused here alone that the other replicas still accept.
        await bus.kv_put(REVOKED_BUCKET, state.sid, str(int(time.time())).encode())
        self.revoked.add(state.sid)
