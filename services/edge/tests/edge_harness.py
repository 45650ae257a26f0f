"""Edge test harness: small real peers on the bus (identity registry, router, catalog registry),
users by role, an edge over a real bus, and that edge served by uvicorn on a free port."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

import httpx
import msgspec
import uvicorn

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import NotFoundError
from forge.edge.app import build_asgi, build_edge
from forge.edge.config import EdgeConfig
from forge.edge.state import Edge
from forge.proto.access import BUILTIN_ROLES
from forge.proto.envelope import Envelope
from forge.proto.identity import IdentitySnapshot, Revocation, TokenEntry, UserAccess

SECRET = "s" * 40
_ENC = msgspec.json.Encoder()
_ANY = msgspec.json.Decoder()


def user(email: str, role: str = "developer", *, active: bool = True, **extra: Any) -> UserAccess:
    """A user holding one built-in role, a member of their personal team and of `team-a`."""
    personal = f"personal-{email}"
    fields: dict[str, Any] = {
        "email": email,
        "id": f"u-{email}",
        "active": active,
        "is_admin": role == "platform_admin",
        "roles": (role,),
        "teams": ("team-a", personal),
        "personal_team": personal,
        "permissions": BUILTIN_ROLES[role],
        **extra,
    }
    return UserAccess(**fields)


class IdentityRegistry:
    """The identity registry's two request subjects, answered from fixed data.

    `hidden` users are known to `users.access` but absent from the snapshot (created after it).
    Every request is recorded in `asked` (subject, params).
    """

    def __init__(
        self,
        bus: Bus,
        users: Iterable[UserAccess] = (),
        tokens: Iterable[TokenEntry] = (),
        revocations: Iterable[Revocation] = (),
        hidden: Iterable[UserAccess] = (),
    ) -> None:
        self.bus = bus
        self.snapshot = IdentitySnapshot(list(users), list(tokens), list(revocations))
        self.hidden = {u.email: u for u in hidden}
        self.asked: list[tuple[str, dict[str, Any]]] = []

    async def start(self) -> IdentityRegistry:
        async def snapshot(envelope: Envelope) -> bytes:
            self.asked.append(("snapshot.get", {}))
            return _ENC.encode(self.snapshot)

        async def access(envelope: Envelope) -> bytes:
            params = _ANY.decode(envelope.params)
            self.asked.append(("users.access", params))
            found = self.hidden.get(params["email"])
            if found is None:
                raise NotFoundError(f"no user {params['email']}")
            return _ENC.encode(found)

        identity = subjects.IDENTITY
        await rpc.serve_envelopes(
            self.bus, subjects.registry(identity, "snapshot", "get"), snapshot, queue=None
        )
        await rpc.serve_envelopes(
            self.bus, subjects.registry(identity, "users", "access"), access, queue=None
        )
        return self

    async def publish(self, entity: str, kind: str, body: msgspec.Struct | dict[str, Any]) -> None:
        """A `forge.events.identity.<entity>.<kind>` event, as the registry sends it."""
        await self.bus.publish(subjects.event(subjects.IDENTITY, entity, kind), _ENC.encode(body))
        await self.bus.flush()


async def until(edge: Edge, condition: Callable[[], bool]) -> None:
    """Wait (up to 5 s) until an identity change makes `condition` true."""
    changed = asyncio.Event()
    edge.identity.listeners.append(changed.set)
    try:
        async with asyncio.timeout(5):
            while not condition():
                await changed.wait()
                changed.clear()
    finally:
        edge.identity.listeners.remove(changed.set)


async def router(bus: Bus) -> list[Envelope]:
    """A router that answers every method with what it was asked: method, principal, server.

    Returns the list the envelopes it receives are appended to.
    """
    seen: list[Envelope] = []

    async def handle(envelope: Envelope) -> bytes:
        seen.append(envelope)
        return _ENC.encode(
            {
                "method": envelope.method,
                "server_id": envelope.server_id,
                "principal": envelope.principal,
            }
        )

    await rpc.serve_envelopes(bus, subjects.ROUTER_RPC, handle, queue=None)
    return seen


async def edge_on(bus: Bus, **settings: Any) -> Edge:
    """An edge on `bus` whose identity cache has loaded (the registry must be answering)."""
    config = EdgeConfig(**{"jwt_secret": SECRET, "request_timeout_s": 5, **settings})
    edge = build_edge(config, bus)
    await edge.identity.start()
    async with asyncio.timeout(10):
        await edge.identity.loaded.wait()
    return edge


async def stop(edge: Edge) -> None:
    await edge.identity.close()
    await edge.auth.close()


def client(
    edge: Edge, token: str | None = None, ip: str = "127.0.0.1", **headers: str
) -> httpx.AsyncClient:
    """HTTP into the edge's ASGI app (no socket), from `ip`, with a bearer token."""
    sent = dict(headers)
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    transport = httpx.ASGITransport(app=build_asgi(edge), client=(ip, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://edge", headers=sent)


@contextlib.asynccontextmanager
async def served(edge: Edge) -> AsyncIterator[str]:
    """The edge on a real socket (uvicorn, as in production): yields its base URL."""
    # Listening before uvicorn starts: a client that connects early waits in the backlog.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    port = sock.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_asgi(edge), lifespan="off", access_log=False, log_config=None)
    )
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        edge.closing.set()
        server.should_exit = True
        await serving


def rpc_body(
    method: str, params: dict[str, Any] | None = None, request_id: int = 1
) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params or {}}
