"""a2a-bridge wiring: the agent cache, credentials, one guarded HTTP client, the agent subjects."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from forge.a2a_bridge.agents import Agents
from forge.a2a_bridge.config import A2aBridgeConfig
from forge.a2a_bridge.credentials import Credentials
from forge.a2a_bridge.handlers import Context, call, task
from forge.a2a_bridge.inflight import Calls
from forge.a2a_bridge.mcp_tasks import Follower
from forge.a2a_bridge.serving import A2aServer
from forge.a2a_bridge.tasks import Owners
from forge.a2a_bridge.wire import AgentClient
from forge.core import claims, ops, rpc, service, subjects
from forge.core.bus import SUBJECT, Bus, Headers, NatsBus
from forge.core.config import ConfigError
from forge.core.netguard import NetGuard
from forge.core.sealing import Keyring, SealingError
from forge.proto.envelope import Envelope

log = logging.getLogger("forge.a2a_bridge")
QUEUE = "a2a-bridge"


class Bridge:
    """One replica; `start` returns once it serves every agent the catalog holds."""

    def __init__(self, bus: Bus, config: A2aBridgeConfig) -> None:
        self.bus = bus
        self.config = config
        if not 0 < config.max_result_bytes <= claims.MAX_MESSAGE_BYTES // 2:
            raise ConfigError(
                "FORGE_A2A_BRIDGE_MAX_RESULT_BYTES must be between 1 and "
                f"{claims.MAX_MESSAGE_BYTES // 2}"
            )
        try:
            # A malformed FORGE_SECRET_KEYS fails at start; none at all only fails sealed agents.
            keyring = None
            if config.secret_keys.strip() or len(config.jwt_secret) >= 32:
                keyring = Keyring.parse(config.secret_keys, fallback_secret=config.jwt_secret)
            # SSRF guard: every agent address is checked when dialled.
            guard = NetGuard(config.upstream_allowed_networks)
        except (ValueError, SealingError) as exc:
            raise ConfigError(f"bad a2a-bridge setting: {exc}") from None
        self.client = AgentClient(
            guard, connect_timeout_s=config.connect_timeout_s, max_bytes=config.max_result_bytes
        )
        self.credentials = Credentials(keyring, self.client.http)
        self.agents = Agents(
            bus, snapshot_timeout_s=config.snapshot_timeout_s, stale=self.credentials.forget
        )
        self.calls = Calls(bus)
        self.ctx = Context(
            bus=bus,
            agents=self.agents,
            credentials=self.credentials,
            client=self.client,
            calls=self.calls,
            follower=Follower(self.client, Owners(bus)),
        )
        # Forge as an A2A server: the edge's /a2a/{agent}/ requests (serving.py).
        self.server = A2aServer(bus, self.agents, self.credentials, self.client, self.calls)
        self.ctx.hooks = self.server.hooks  # the agent hooks a tool call's progress passes

    async def start(self) -> None:
        await self.calls.start()
        await self.agents.start()
        await rpc.serve_envelopes(self.bus, subjects.a2a_any("call"), self._call, queue=QUEUE)
        await self.server.start(QUEUE)
        # Served last: the edge's /ready counts the bridge once it serves the catalog's agents.
        await self.bus.serve(subjects.A2A_HEALTH, self._health, queue=QUEUE)

    async def close(self) -> None:
        await self.server.close()
        await self.client.close()

    async def _health(self, data: bytes, headers: Headers) -> bytes:
        return b'{"result":{"status":"ok"}}'

    async def _call(self, envelope: Envelope) -> bytes:
        # Served on `forge.a2a.*.call`: the agent is the subject's third token. The router
        # sends a tool call there, and the tasks/* of the MCP tasks such calls made (`a2a.task`).
        agent_id = subjects.agent_of(SUBJECT.get())
        if envelope.method == "a2a.task":
            return await task(envelope, agent_id, self.ctx)
        return await call(envelope, agent_id, self.ctx)


async def main(stop: asyncio.Event, config: A2aBridgeConfig) -> None:
    async with contextlib.AsyncExitStack() as stack:
        bus = await NatsBus.connect(
            config.nats_url, "forge-a2a-bridge", max_inflight=config.max_inflight
        )
        bridge = Bridge(bus, config)
        # Exit order is the reverse: drain the bus (in-flight calls finish), then close the
        # HTTP client.
        stack.push_async_callback(bridge.close)
        stack.push_async_callback(bus.close)
        # Start waits for the registry as long as it takes; a SIGTERM meanwhile must still stop.
        starting = asyncio.create_task(bridge.start())
        started = ops.flag("the agents are not loaded yet", starting.done)
        await ops.serve(
            stack,
            "a2a-bridge",
            config.ops_host,
            config.ops_port,
            ops.all_of(ops.nats(bus), started, service.draining(stop)),
        )
        if not await service.started(starting, stop):
            return
        log.info("a2a-bridge ready", extra={"agents": len(bridge.agents.by_id)})
        await stop.wait()
        await bus.stop_serving(config.drain_timeout_s)  # in-flight requests finish first
        await bridge.server.push.release()  # another replica carries on its push watches
