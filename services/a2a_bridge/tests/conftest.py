"""Fixtures: the sample agents as real processes, and an a2a-bridge on the real NATS bus."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import msgspec
import pytest

from forge.a2a_bridge.app import Bridge
from forge.a2a_bridge.config import A2aBridgeConfig
from forge.core import rpc, subjects
from forge.core.bus import NatsBus
from forge.proto.agents import Agent
from forge.proto.catalog import Snapshot
from forge.proto.envelope import Envelope
from forge.servers.process import ServerProcess, spawn

StartBridge = Callable[..., Awaitable[Bridge]]
# The sample agents listen on loopback, which the SSRF guard refuses unless allowed.
LOOPBACK = "127.0.0.0/8,::1/128"


@pytest.fixture(scope="session")
def echo() -> Iterator[ServerProcess]:
    """The A2A 1.0 echo agent on a2a-sdk (JSON-RPC on /, HTTP+JSON under /rest)."""
    with spawn("forge.agents.echo", path="/") as agent:
        yield agent


@pytest.fixture(scope="session")
def echo03() -> Iterator[ServerProcess]:
    """The A2A 0.3 echo agent in plain JSON-RPC."""
    with spawn("forge.agents.echo03", path="/") as agent:
        yield agent


@pytest.fixture
async def start_bridge(bus: NatsBus) -> AsyncIterator[StartBridge]:
    """Start an a2a-bridge whose registry snapshot holds the given agents.

    Settings are A2aBridgeConfig fields; loopback agents are allowed unless
    `upstream_allowed_networks` says otherwise.
    """
    bridges: list[Bridge] = []

    async def start(*agents: Agent, **settings: object) -> Bridge:
        snapshot = msgspec.json.encode(
            Snapshot(gateways=[], tools=[], servers=[], agents=list(agents))
        )

        async def serve_snapshot(env: Envelope) -> bytes:
            return snapshot

        await rpc.serve_envelopes(
            bus, subjects.registry(subjects.CATALOG, "snapshot", "get"), serve_snapshot, queue=None
        )
        settings.setdefault("upstream_allowed_networks", LOOPBACK)
        bridge = Bridge(bus, msgspec.convert(settings, A2aBridgeConfig))
        await bridge.start()
        bridges.append(bridge)
        return bridge

    yield start
    for bridge in bridges:
        await bridge.close()
