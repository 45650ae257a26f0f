"""Helpers for upstream-proxy tests: gateways, envelopes, and calls over the bus."""

from __future__ import annotations

import time
import uuid

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.proto.catalog import Gateway
from forge.proto.envelope import Envelope, Principal, Protocol


def gateway(url: str, name: str = "up") -> Gateway:
    return Gateway(id=uuid.uuid4().hex[:12], name=name, slug=name, url=url)


def envelope(
    method: str, params: object = None, *, era: str | None = "modern", timeout: float = 5.0
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
