"""Upstream-proxy wiring: gateway cache, the upstream subjects, leases, calls in flight, pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Mapping

from forge.core import claims, metrics, ops, rpc, service, subjects
from forge.core.aiohttp_dialer import Dialer
from forge.core.bus import SUBJECT, Bus, Headers, NatsBus
from forge.core.config import ConfigError
from forge.core.errors import UpstreamUnavailableError
from forge.core.netguard import NetGuard
from forge.core.sealing import SealingError
from forge.proto.envelope import Envelope
from forge.upstream_proxy.auth import authorize
from forge.upstream_proxy.auth.credentials import Credentials
from forge.upstream_proxy.config import UpstreamProxyConfig
from forge.upstream_proxy.eras.adapter import EraAdapter
from forge.upstream_proxy.eras.inflight import Calls
from forge.upstream_proxy.eras.resume import Resumes
from forge.upstream_proxy.gateways import Gateways
from forge.upstream_proxy.handlers import Context, call, discover, serve_pinned
from forge.upstream_proxy.leases import Leases
from forge.upstream_proxy.sessions.pool import SESSIONS, Pool, transport_of
from forge.upstream_proxy.transports import updates
from forge.upstream_proxy.transports.launcher import Launcher
from forge.upstream_proxy.transports.stdio import StdioSession

log = logging.getLogger("forge.upstream_proxy")
QUEUE = "upstream-proxy"


class UpstreamProxy:
    """One replica; `start` returns once it serves every gateway the catalog holds.

    `inherited_env` is the proxy's own environment, of which stdio children get PATH and LANG
    only.
    """

    def __init__(
        self, bus: Bus, config: UpstreamProxyConfig, inherited_env: Mapping[str, str] | None = None
    ) -> None:
        self.bus = bus
        self.config = config
        self.replica = uuid.uuid4().hex
        try:
            # SSRF guard: every upstream and token endpoint address is checked when dialled.
            self.dialer = Dialer(
                NetGuard(config.upstream_allowed_networks), config.connect_timeout_s
            )
            self.credentials = Credentials(config, bus, self.dialer)
        except (ValueError, SealingError) as exc:
            raise ConfigError(f"bad upstream-proxy setting: {exc}") from None
        if not 0 < config.max_result_bytes <= claims.MAX_MESSAGE_BYTES // 2:
            # Half the bus's bound leaves room for all that wraps the result on its way back.
            raise ConfigError(
                "FORGE_UPSTREAM_PROXY_MAX_RESULT_BYTES must be between 1 and "
                f"{claims.MAX_MESSAGE_BYTES // 2}"
            )
        try:
            # stdio children: the allow list, their account and limits (forge.core.launch).
            self.launcher = Launcher(
                bus, config, inherited_env or {}, f"upstream-proxy {self.replica}"
            )
        except ValueError as exc:
            raise ConfigError(f"bad upstream-proxy setting: {exc}") from None
        self.pool = Pool(
            config,
            self.launcher,
            updates.publisher(bus),
            credentials=self.credentials,
            dialer=self.dialer,
        )
        self.gateways = Gateways(bus, self, snapshot_timeout_s=config.snapshot_timeout_s)
        self.calls = Calls(bus)
        self.leases = Leases(
            bus,
            self.replica,
            ttl_s=config.lease_ttl_s,
            renew_s=config.lease_renew_s,
            serve=self._serve_pinned,
            acquired=self._lease_acquired,
        )
        self.resumes = Resumes(bus, self.replica, timeout_s=config.resume_timeout_s)
        self.eras = EraAdapter(bus, self.pool, self.calls, self.resumes)
        self.ctx = Context(
            bus=bus,
            gateways=self.gateways,
            pool=self.pool,
            eras=self.eras,
            leases=self.leases,
            max_result_bytes=config.max_result_bytes,
        )

    async def start(self) -> None:
        await self.credentials.start()
        await self.calls.start()
        await self.eras.start()
        await self.leases.start()
        await self.gateways.start()
        await rpc.serve_envelopes(self.bus, subjects.upstream_any("rpc"), self._call, queue=QUEUE)
        await rpc.serve_envelopes(
            self.bus, subjects.upstream_any("discover"), self._discover, queue=QUEUE
        )
        await rpc.serve_envelopes(
            self.bus, subjects.upstream_any("oauth"), self._oauth, queue=QUEUE
        )
        await self.bus.serve(subjects.UPSTREAM_HEALTH, self._health, queue=QUEUE)

    async def release(self) -> None:
        """Give up held calls and stdio leases while the bus works (others take over at once)."""
        self.resumes.close()
        await self.leases.close()
        await self.credentials.release()

    async def close(self) -> None:
        await self.leases.close()  # a no-op after `release`
        self.resumes.close()
        await self.pool.close()  # stdio children die with their sessions
        await self.credentials.close()

    async def gateway_added(self, gateway_id: str) -> None:
        # HTTP sessions open lazily, on the first call; a stdio child runs on its lease holder.
        gateway = self.gateways.get(gateway_id)
        if gateway is not None and gateway.enabled and self._is_stdio(gateway_id):
            await self.leases.want(gateway_id)

    async def gateway_stale(self, gateway_id: str, *, removed: bool) -> None:
        self.pool.discard(gateway_id)
        if removed:
            self.credentials.forget(gateway_id)
            await self.credentials.users.forget_gateway(gateway_id)
        gateway = self.gateways.get(gateway_id)
        if removed or gateway is None or not gateway.enabled or not self._is_stdio(gateway_id):
            await self.leases.give_up(gateway_id)
        elif self.leases.holds(gateway_id):
            await self._lease_acquired(gateway_id)  # a new command: its new child starts now
        else:
            await self.leases.want(gateway_id)

    def _is_stdio(self, gateway_id: str) -> bool:
        gateway = self.gateways.get(gateway_id)
        try:
            return gateway is not None and transport_of(gateway) == "stdio"
        except UpstreamUnavailableError:  # an unknown transport is refused when called
            return False

    async def _lease_acquired(self, gateway_id: str) -> None:
        gateway = self.gateways.get(gateway_id)
        if gateway is None:
            return
        session = self.pool.get(gateway)
        if isinstance(session, StdioSession):
            session.start()

    async def _serve_pinned(self, envelope: Envelope, gateway_id: str, op: str) -> bytes:
        return await serve_pinned(envelope, gateway_id, op, self.ctx)

    async def _call(self, envelope: Envelope) -> bytes:
        # Served on `forge.upstream.*.rpc`: the gateway is the subject's third token.
        return await call(envelope, subjects.gateway_of(SUBJECT.get()), self.ctx)

    async def _discover(self, envelope: Envelope) -> bytes:
        return await discover(envelope, self.ctx)

    async def _oauth(self, envelope: Envelope) -> bytes:
        gateway_id = subjects.gateway_of(SUBJECT.get())
        return await authorize.oauth(envelope, gateway_id, self.gateways, self.credentials)

    async def _health(self, data: bytes, headers: Headers) -> bytes:
        return b'{"result":{"status":"ok"}}'


async def main(
    stop: asyncio.Event, config: UpstreamProxyConfig, inherited_env: Mapping[str, str]
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        bus = await NatsBus.connect(
            config.nats_url, "forge-upstream-proxy", max_inflight=config.max_inflight
        )
        proxy = UpstreamProxy(bus, config, inherited_env)
        # Exit order is the reverse: give leases up, drain the bus (in-flight calls finish),
        # then close every pooled upstream session (stdio children are killed there).
        stack.push_async_callback(proxy.close)
        stack.push_async_callback(bus.close)
        stack.push_async_callback(proxy.release)
        # Start waits for the registry as long as it takes; a SIGTERM meanwhile must still stop.
        starting = asyncio.create_task(proxy.start())
        metrics.gauge(*SESSIONS, proxy.pool.sizes)
        started = ops.flag("the gateways are not loaded yet", starting.done)
        await ops.serve(
            stack,
            "upstream-proxy",
            config.ops_host,
            config.ops_port,
            ops.all_of(ops.nats(bus), started, service.draining(stop)),
        )
        if not await service.started(starting, stop):
            return
        log.info("upstream-proxy ready", extra={"gateways": len(proxy.gateways.by_id)})
        await stop.wait()
        await bus.stop_serving(config.drain_timeout_s)  # in-flight requests finish first
