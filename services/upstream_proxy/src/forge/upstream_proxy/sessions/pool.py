"""The session pool: one session per gateway and era (and user, for per-user credentials), of
the kind its transport needs.

A Streamable HTTP upstream that speaks both eras is spoken to in each client's own era, so a
legacy client's call rides a legacy session (the upstream's mid-call questions reach it as they
would directly); the other transports speak the handshake era only, one session for both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, Protocol

from forge.core.aiohttp_dialer import Dialer
from forge.core.errors import UpstreamUnavailableError
from forge.proto.catalog import Gateway, canonical_transport
from forge.proto.envelope import Principal
from forge.upstream_proxy.auth.credentials import Credentials
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.transports.call import Call
from forge.upstream_proxy.transports.launcher import Launcher
from forge.upstream_proxy.transports.sse import SseSession
from forge.upstream_proxy.transports.stdio import StdioSession
from forge.upstream_proxy.transports.streamable import UpstreamSession
from forge.upstream_proxy.transports.updates import Publish
from forge.upstream_proxy.transports.websocket import WebSocketSession


class Session(Protocol):
    """What a call needs of an upstream session, whatever carries it."""

    gateway: Gateway
    caller: Principal | None
    era: str | None
    protocol_version: str | None
    capabilities: dict[str, Any]
    server_info: dict[str, Any]
    updated: Publish | None

    @property
    def label(self) -> str: ...

    async def open(self) -> None: ...

    async def request(self, method: str, params: bytes, inflight: Call | None = None) -> bytes: ...

    async def cancel(self, inflight: Call) -> None: ...

    async def close(self) -> None: ...


def transport_of(gateway: Gateway) -> str:
    """The canonical transport, or UpstreamUnavailableError naming the one we do not speak."""
    kind = canonical_transport(gateway.transport)
    if kind is None:
        raise UpstreamUnavailableError(
            f"gateway {gateway.name!r} uses transport {gateway.transport!r}, "
            "which this upstream-proxy does not speak"
        )
    return kind


def identity(gateway: Gateway) -> tuple[object, ...]:
    """What a session is bound to: a change means a new session (a rename does not)."""
    env = tuple(sorted(gateway.env.items()))
    endpoint = (transport_of(gateway), gateway.url, tuple(gateway.command or ()), env)
    return (*endpoint, gateway.auth_type, gateway.auth)


def _same(held: Gateway, gateway: Gateway) -> bool:
    # Every call passes the cached (frozen) Gateway itself: skip building identities then.
    return held is gateway or identity(held) == identity(gateway)


# The gauge of `Pool.sizes`, on the ops port of each process holding a pool.
SESSIONS = (
    "forge_upstream_sessions",
    "Upstream sessions this replica holds open, by transport and kind (shared, per_user).",
    ["transport", "kind"],
)

# Per-user sessions kept per gateway; the least recently used is closed beyond this.
MAX_USER_SESSIONS = 1000


class Pool:
    """The sessions of every gateway this replica has talked to, created on first use."""

    def __init__(
        self,
        config: UpstreamProxyConfig,
        launcher: Launcher,
        updates: Callable[[str], Publish] | None = None,
        *,
        credentials: Credentials,
        dialer: Dialer,
    ) -> None:
        self.config = config
        self.launcher = launcher
        self.updates = updates  # a gateway's resource updates go to `updates(gateway_id)`
        self.credentials = credentials
        self.dialer = dialer
        # gateway id → era → session
        self.sessions: dict[str, dict[str, Session]] = {}
        # gateway id → (user, era) → session, least recently used first (per-user credentials)
        self.user_sessions: dict[str, dict[tuple[str, str], Session]] = {}
        self._closing: set[asyncio.Task[None]] = set()

    def sizes(self) -> list[tuple[tuple[str, str], float]]:
        """Open sessions by (transport, shared or per_user): the ops port's gauge."""
        counts: dict[tuple[str, str], float] = {}
        for kind, held in (("shared", self.sessions), ("per_user", self.user_sessions)):
            for by_era in held.values():
                for session in by_era.values():
                    key = (canonical_transport(session.gateway.transport) or "unknown", kind)
                    counts[key] = counts.get(key, 0) + 1
        return list(counts.items())

    def new(
        self, gateway: Gateway, caller: Principal | None = None, era: str = "modern"
    ) -> Session:
        """A session of the gateway's kind, not pooled; `caller` matters for per-user ones, `era`
        (the one to speak if the upstream speaks both) for Streamable HTTP ones."""
        kind = transport_of(gateway)
        access = self.credentials.access(gateway)
        session: Session
        if kind == "stdio":
            session = StdioSession(gateway, self.config, self.launcher, access, self.dialer)
        elif kind == "sse":
            session = SseSession(gateway, self.config, access, self.dialer)
        elif kind == "websocket":
            session = WebSocketSession(gateway, self.config, access, self.dialer)
        else:
            session = UpstreamSession(gateway, self.config, access, self.dialer, era)
        session.caller = caller if access.per_user and kind != "stdio" else None
        if self.updates is not None:
            session.updated = self.updates(gateway.id)
        return session

    def get(
        self, gateway: Gateway, caller: Principal | None = None, era: str = "modern"
    ) -> Session:
        """The gateway's pooled session for a client of `era`; for per-user credentials, the
        caller's own one."""
        kind = transport_of(gateway)
        if kind != "streamablehttp":
            era = "legacy"  # the only era these transports speak: one session serves both
        # A stdio child serves everyone (per-user credentials mean nothing to it).
        if self.credentials.access(gateway).per_user and kind != "stdio":
            return self._users(gateway, caller, era)
        eras = self.sessions.get(gateway.id, {})
        session = eras.get(era)
        if session is not None and not _same(session.gateway, gateway):
            self.discard(gateway.id)
            session = None
        if session is None:
            session = self.new(gateway, era=era)
            self.sessions.setdefault(gateway.id, {})[era] = session
        else:
            session.gateway = gateway  # a rename changes only the label
        return session

    def _users(self, gateway: Gateway, caller: Principal | None, era: str) -> Session:
        # One user's calls never ride another user's session (nor its upstream session id).
        sessions = self.user_sessions.setdefault(gateway.id, {})
        key = (caller.subject if caller is not None else "", era)
        session = sessions.pop(key, None)
        if session is not None and not _same(session.gateway, gateway):
            self.retire(session)
            session = None
        if session is None:
            session = self.new(gateway, caller, era)
        else:
            session.gateway, session.caller = gateway, caller
        sessions[key] = session  # now the most recently used
        while len(sessions) > MAX_USER_SESSIONS:
            self.retire(sessions.pop(next(iter(sessions))))
        return session

    def discard(self, gateway_id: str) -> None:
        """Forget a gateway's sessions now; close them in the background."""
        for session in self.sessions.pop(gateway_id, {}).values():
            self.retire(session)
        for session in self.user_sessions.pop(gateway_id, {}).values():
            self.retire(session)

    def retire(self, session: Session) -> None:
        """Close a session that is no longer pooled, in the background."""
        task = asyncio.create_task(session.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def settled(self) -> None:
        """Wait until every retired session has finished closing."""
        while self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    async def close(self) -> None:
        for gateway_id in {*self.sessions, *self.user_sessions}:
            self.discard(gateway_id)
        await self.settled()
