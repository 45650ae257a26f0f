"""Helpers for a2a-bridge tests: agent records, envelopes, and calls over the bus."""

from __future__ import annotations

import time
import uuid
from typing import Any

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.proto.agents import Agent, AgentCallParams
from forge.proto.envelope import Envelope, Principal


def agent(url: str, version: str = "1.0", binding: str = "jsonrpc", **fields: Any) -> Agent:
    slug = f"echo-{uuid.uuid4().hex[:6]}"
    return Agent(
        id=uuid.uuid4().hex[:12],
        name=slug,
        slug=slug,
        url=url,
        protocol_version=version,
        binding=binding,
        **fields,
    )


def envelope(
    arguments: dict[str, Any], *, timeout: float = 10.0, progress_token: str | int | None = None
) -> Envelope:
    params = AgentCallParams(arguments=arguments, era="modern", progress_token=progress_token)
    return Envelope(
        id=uuid.uuid4().hex,
        method="a2a.call",
        params=msgspec.Raw(msgspec.json.encode(params)),
        principal=Principal(subject="tester"),
        deadline=time.time() + timeout,
    )


async def call(bus: Bus, agent_id: str, arguments: dict[str, Any], within_s: float = 10.0) -> Any:
    """The CallToolResult of one call, decoded; a ForgeError when the bridge answers an error."""
    sent = envelope(arguments, timeout=within_s)
    data = await rpc.call(bus, subjects.a2a(agent_id, "call"), sent)
    return msgspec.json.decode(data)


def meta(result: dict[str, Any]) -> dict[str, Any]:
    return result["_meta"]["forge/a2a"]
