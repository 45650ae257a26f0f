"""What every edge transport shares: settings, bus, identity, authenticator, sessions, notices,
updates, plugin hooks, and the edge's public URLs."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from forge.core import rpc, subjects
from forge.core.bus import Bus, Subscription
from forge.edge.auth.bearer import Authenticator
from forge.edge.auth.identity_cache import IdentityCache
from forge.edge.auth.metadata import PublicUrls
from forge.edge.auth.origins import Origins
from forge.edge.config import EdgeConfig
from forge.edge.hooks import EdgeHooks
from forge.edge.transports.notices import Notices
from forge.edge.transports.sessions import Sessions
from forge.edge.transports.updates import Updates
from forge.proto.envelope import Envelope


@dataclass
class Edge:
    """Everything an MCP request needs at the edge."""

    config: EdgeConfig
    bus: Bus
    auth: Authenticator
    sessions: Sessions
    identity: IdentityCache
    # Set at shutdown: long-lived streams end so that the HTTP server can drain.
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    notices: Notices = field(init=False)
    updates: Updates = field(init=False)
    urls: PublicUrls = field(init=False)
    origins: Origins = field(init=False)
    hooks: EdgeHooks = field(init=False)
    # Where the router's requests go: `forge.router.rpc` on the bus, or the router in this
    # process (FORGE_EDGE_ROUTER=local, forge.edge.local_router); the result JSON, or the
    # ForgeError of the router's answer.
    route: Callable[[Envelope], Awaitable[bytes]] = field(init=False)
    # With a local router: whether its catalog is loaded (readiness); None with a remote one.
    router_loaded: Callable[[], bool] | None = None
    # In-flight requests of this replica by envelope id, fed by one `forge.stream.*` subscription
    # (not one per call: a subscription per call costs NATS and nats-py more than the call).
    waiting: dict[str, Callable[[bytes, str], None]] = field(default_factory=dict)
    # MCP POSTs being answered, bounded by `config.max_inflight` (transports.mcp_http).
    mcp_inflight: int = 0
    _streams: Subscription | None = None
    _streams_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.notices = Notices(self.bus)
        self.updates = Updates(self.bus)
        self.urls = PublicUrls(self.config)
        self.origins = Origins(self.config, self.urls.origin)
        self.hooks = EdgeHooks(
            self.bus, self.config.plugin_manifest_ttl_s, self.config.request_timeout_s
        )
        self.route = functools.partial(rpc.call, self.bus, subjects.ROUTER_RPC)

    async def await_stream(self, request_id: str, on_message: Callable[[bytes, str], None]) -> None:
        """Send `forge.stream.<request_id>` messages to `on_message` until `forget_stream`."""
        if self._streams is None:
            async with self._streams_lock:
                if self._streams is None:
                    self._streams = await self.bus.subscribe_with_reply(
                        subjects.stream("*"), self._on_stream
                    )
        self.waiting[request_id] = on_message

    def forget_stream(self, request_id: str) -> None:
        self.waiting.pop(request_id, None)

    def stream_here(self, request_id: str, data: bytes, reply: str = "") -> bool:
        """A `forge.stream.<request_id>` message to the request of that id waiting here, if one
        does: from the bus, or from this very process (its local upstream), without the bus."""
        waiter = self.waiting.get(request_id)
        if waiter is None:
            return False
        waiter(data, reply)
        return True

    async def _on_stream(self, subject: str, data: bytes, reply: str) -> None:
        # Every replica hears every stream; only the one holding the request acts on it.
        self.stream_here(subjects.request_of(subject), data, reply)
