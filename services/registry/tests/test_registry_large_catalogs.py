"""Gateways with large catalogs: registered whole, or (when announcing them fails) not at all."""

from __future__ import annotations

import pytest
from registry_harness import Client, FakeUpstreamProxy, code_of

from forge.core.errors import PAYLOAD_TOO_LARGE, PayloadTooLargeError
from forge.proto.mcp import Tool

GATEWAY = {"name": "Many", "url": "http://127.0.0.1:9000/mcp"}


async def test_a_gateway_with_ten_thousand_tools_is_registered_and_announced_whole(
    client: Client, upstream: FakeUpstreamProxy
) -> None:
    upstream.tools = [Tool(name=f"tool_{n:05d}") for n in range(10_000)]
    gateway = await client("gateways", "create", GATEWAY)
    [changed] = client.events("tools", "changed")
    assert changed["gateway_id"] == gateway["id"] and len(changed["tools"]) == 10_000
    assert len(await client("tools", "list")) == 10_000


async def test_a_registration_whose_announcement_fails_leaves_nothing_behind(
    client: Client, upstream: FakeUpstreamProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish = client.bus.publish

    async def refuse_tools(subject: str, payload: bytes) -> None:
        if subject.endswith(".tools.changed") and b'"tools":[]' not in payload:
            raise PayloadTooLargeError("too large for the bus")
        await publish(subject, payload)

    monkeypatch.setattr(client.bus, "publish", refuse_tools)
    assert await code_of(client("gateways", "create", GATEWAY)) == PAYLOAD_TOO_LARGE
    assert await client("gateways", "list") == []
    assert await client("tools", "list") == []
    assert await client("resources", "list") == []
    # The caches that heard of it hear of its end.
    [announced] = client.events("gateways", "changed")
    assert client.events("gateways", "deleted") == [{"id": announced["id"]}]
    # Its name is free again.
    monkeypatch.setattr(client.bus, "publish", publish)
    assert (await client("gateways", "create", GATEWAY))["name"] == "Many"
