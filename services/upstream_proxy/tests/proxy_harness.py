"""Helpers for upstream-proxy tests: gateways, envelopes, and calls over the bus."""

from __future__ import annotations

import asyncio
import shlex
import sys
import time
import uuid

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus, Headers
from forge.proto.catalog import Gateway
from forge.proto.envelope import Envelope, Principal, Protocol
from forge.proto.identity import LaunchAudit
from forge.upstream_proxy.app import UpstreamProxy


def gateway(url: str, name: str = "up", transport: str = "streamablehttp") -> Gateway:
    return Gateway(id=uuid.uuid4().hex[:12], name=name, slug=name, url=url, transport=transport)


# The allow list of every test proxy: the demo server over stdio, with any further arguments.
DEMO_COMMAND = [sys.executable, "-m", "forge.servers.demo", "--transport", "stdio"]
ALLOWED_COMMANDS = shlex.join(DEMO_COMMAND) + " ..."
# The account of stdio children: the test runs as root on CI, and the interpreter of the
# workspace's venv may live under /root (unreachable for another account): keep the tester's.
STDIO_USER = ""


async def serve_audit(bus: Bus) -> list[LaunchAudit]:
    """Stand in for the identity registry's audit log: the launches, in the order sent."""
    seen: list[LaunchAudit] = []

    async def record(data: bytes, headers: Headers) -> bytes:
        seen.append(msgspec.json.decode(data, type=LaunchAudit))
        return b'{"result":{"stored":true}}'

    await bus.serve(subjects.AUDIT_LAUNCH, record)
    return seen


def stdio_gateway(*args: str, env: dict[str, str] | None = None) -> Gateway:
    """The demo server as a stdio child of the upstream-proxy."""
    command = [*DEMO_COMMAND, *args]
    return Gateway(
        id=uuid.uuid4().hex[:12],
        name="stdio-demo",
        slug="stdio-demo",
        url="",
        transport="stdio",
        command=command,
        env=env or {},
    )


def envelope(
    method: str, params: object = None, *, era: str | None = "modern", timeout: float = 10.0
) -> Envelope:
    protocol = None
    if era is not None:
        protocol = Protocol(version="2026-07-28" if era == "modern" else "2025-11-25", era=era)
    return Envelope(
        id=uuid.uuid4().hex,
        method=method,
        params=msgspec.Raw(msgspec.json.encode(params if params is not None else {})),
        principal=Principal(subject="tester"),
        deadline=time.time() + timeout,
        protocol=protocol,
    )


async def call(bus: Bus, gw: Gateway, env: Envelope) -> bytes:
    return await rpc.call(bus, subjects.upstream(gw.id, "rpc"), env)


async def discover(bus: Bus, gw: Gateway) -> dict[str, object]:
    env = envelope("discover", {"gateway": msgspec.to_builtins(gw)})
    data = await rpc.call(bus, subjects.upstream(gw.id, "discover"), env)
    result: dict[str, object] = msgspec.json.decode(data)
    return result


def text_of(result: bytes) -> str:
    content: list[dict[str, str]] = msgspec.json.decode(result)["content"]
    return content[0]["text"]


async def stats(bus: Bus, gw: Gateway) -> dict[str, int]:
    """fastecho's own counters: handshakes, discovers, calls, open sessions."""
    result = await call(bus, gw, envelope("tools/call", {"name": "stats"}))
    counts: dict[str, int] = msgspec.json.decode(text_of(result))
    return counts


def tool_call(tool: str, /, progress_token: str | None = None, **arguments: object) -> Envelope:
    """A tools/call envelope, asking for progress under `progress_token` if given."""
    params: dict[str, object] = {"name": tool, "arguments": arguments}
    if progress_token is not None:
        params["_meta"] = {"progressToken": progress_token}
    return envelope("tools/call", params)


async def publish_and_wait(bus: Bus, proxy: UpstreamProxy, subject: str, body: bytes) -> None:
    """Publish a catalog event and wait until the proxy has acted on it."""
    done = asyncio.Event()
    added, stale = proxy.gateway_added, proxy.gateway_stale

    async def on_added(gateway_id: str) -> None:
        await added(gateway_id)
        done.set()

    async def on_stale(gateway_id: str, *, removed: bool) -> None:
        await stale(gateway_id, removed=removed)
        done.set()

    proxy.gateway_added, proxy.gateway_stale = on_added, on_stale  # type: ignore[method-assign]
    await bus.publish(subject, body)
    async with asyncio.timeout(5):
        await done.wait()
    await proxy.pool.settled()
