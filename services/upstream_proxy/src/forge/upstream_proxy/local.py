"""FORGE_EDGE_UPSTREAM=local: the upstream-proxy's call path inside another process (the edge's).

The edge's local router calls `LocalUpstream.call` instead of sending `forge.upstream.<gw>.rpc`
for a gateway this process may reach itself: a network transport (Streamable HTTP, SSE,
WebSocket) and no stored credential. Every other gateway (a stdio child, any sealed credential,
per-user OAuth) stays with the upstream-proxy service: this process opens no secret (it is built
without FORGE_SECRET_KEYS) and starts no child. The call itself is the proxy's own
(`handlers.call`: era adaptation, calls held for a modern client's retry, cancellation,
in-flight messages on `forge.stream.<request>`, the result's size bound) on a pool of this
process's own, dialled through the same SSRF guard
(docs/decisions/0035-edge-local-upstream-calls.md).
"""

from __future__ import annotations

import uuid

import msgspec

from forge.core import metrics, rpc, subjects
from forge.core.aiohttp_dialer import Dialer
from forge.core.bus import Bus
from forge.core.config import ConfigError
from forge.core.netguard import NetGuard
from forge.proto.catalog import Gateway, canonical_transport
from forge.proto.envelope import Envelope
from forge.upstream_proxy.auth.credentials import Credentials
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.eras.adapter import EraAdapter
from forge.upstream_proxy.eras.inflight import Calls
from forge.upstream_proxy.eras.resume import Resumes
from forge.upstream_proxy.gateways import Gateways
from forge.upstream_proxy.handlers import Context, call
from forge.upstream_proxy.leases import Leases
from forge.upstream_proxy.sessions.pool import SESSIONS, Pool
from forge.upstream_proxy.transports import updates
from forge.upstream_proxy.transports.launcher import Launcher

# The transports a local call may take; stdio children stay on the upstream-proxy's lease holder.
NETWORK = frozenset({"streamablehttp", "sse", "websocket"})
# The served subject whose metrics (`forge_rpc_*`) and span a local call counts as.
WHERE = subjects.upstream_any("rpc")


def takes(gateway: Gateway) -> bool:
    """Whether a local upstream calls `gateway` itself: a network transport and no credential."""
    return (
        gateway.auth is None
        and gateway.auth_type == "none"
        and canonical_transport(gateway.transport) in NETWORK
    )


class LocalUpstream:
    """One process's calls to credential-free network gateways, made in that process."""

    def __init__(self, bus: Bus, config: UpstreamProxyConfig) -> None:
        # Nothing here may open a sealed credential or start a child, whatever the environment.
        config = msgspec.structs.replace(
            config, secret_keys="", jwt_secret="", stdio_allowed_commands=""
        )
        self.bus = bus
        self.replica = uuid.uuid4().hex
        try:
            dialer = Dialer(NetGuard(config.upstream_allowed_networks), config.connect_timeout_s)
        except ValueError as exc:
            raise ConfigError(f"bad upstream-proxy setting: {exc}") from None
        self.credentials = Credentials(config, bus, dialer)
        launcher = Launcher(bus, config, {}, f"local upstream {self.replica}")
        self.pool = Pool(
            config, launcher, updates.publisher(bus), credentials=self.credentials, dialer=dialer
        )
        self.gateways = Gateways(bus, self, snapshot_timeout_s=config.snapshot_timeout_s)
        self.calls = Calls(bus)
        self.resumes = Resumes(bus, self.replica, timeout_s=config.resume_timeout_s)
        self.eras = EraAdapter(bus, self.pool, self.calls, self.resumes)
        # Never started: no stdio gateway is called here, so no lease is ever wanted.
        leases = Leases(
            bus,
            self.replica,
            ttl_s=config.lease_ttl_s,
            renew_s=config.lease_renew_s,
            serve=_no_pinned,
            acquired=_nothing,
        )
        self.ctx = Context(
            bus=bus,
            gateways=self.gateways,
            pool=self.pool,
            eras=self.eras,
            leases=leases,
            max_result_bytes=config.max_result_bytes,
        )

    async def start(self) -> None:
        """Follow gateway events (gateways are fetched when first called), cancellations, and
        serve the retries of calls held here."""
        metrics.gauge(*SESSIONS, self.pool.sizes)
        await self.calls.start()
        await self.eras.start()
        await self.gateways.follow()

    async def close(self) -> None:
        self.resumes.close()
        await self.pool.close()
        await self.credentials.close()

    async def call(self, envelope: Envelope, gateway_id: str) -> bytes | None:
        """The gateway's answer, or None when this process does not call that gateway (the
        caller sends it to the upstream-proxy service)."""
        gateway = self.gateways.get(gateway_id) or await self.gateways.fetch(
            gateway_id, envelope.deadline
        )
        if not takes(gateway):
            return None
        ctx = self.ctx
        return await rpc.run_in_process(lambda sent: call(sent, gateway_id, ctx), envelope, WHERE)

    # Gateways' listener: a gateway's sessions go when its endpoint changes or it goes away.
    async def gateway_added(self, gateway_id: str) -> None:
        return

    async def gateway_stale(self, gateway_id: str, *, removed: bool) -> None:
        self.pool.discard(gateway_id)
        if removed:
            self.credentials.forget(gateway_id)


async def _no_pinned(envelope: Envelope, gateway_id: str, op: str) -> bytes:
    raise AssertionError("a local upstream serves no pinned request")  # never served


async def _nothing(gateway_id: str) -> None:
    return
