"""Every upstream transport discovers and calls: Streamable HTTP, HTTP+SSE, WebSocket, stdio."""

from __future__ import annotations

import msgspec
import pytest
from proxy_harness import call, discover, envelope, gateway, stdio_gateway, text_of, tool_call

from conftest import StartProxy
from forge.core.bus import NatsBus
from forge.proto.catalog import Gateway
from forge.servers.process import ServerProcess


def upstream(request: pytest.FixtureRequest, transport: str) -> Gateway:
    if transport == "stdio":
        return stdio_gateway()
    fixture = {"streamablehttp": "demo_legacy", "sse": "demo_sse", "websocket": "wsecho"}
    server: ServerProcess = request.getfixturevalue(fixture[transport])
    return gateway(server.url, transport=transport)


@pytest.mark.parametrize("transport", ["streamablehttp", "sse", "websocket", "stdio"])
async def test_each_transport_discovers_and_calls(
    bus: NatsBus, start_proxy: StartProxy, request: pytest.FixtureRequest, transport: str
) -> None:
    gw = upstream(request, transport)
    await start_proxy(gw)
    found = await discover(bus, gw)
    assert found["protocol_version"] == "2025-11-25"
    assert "echo" in {t["name"] for t in found["tools"]}  # type: ignore[attr-defined]
    result = await call(bus, gw, tool_call("echo", text=f"over {transport}"))
    assert text_of(result) == f"over {transport}"


@pytest.mark.parametrize("transport", ["streamablehttp", "sse", "stdio"])
async def test_discovery_returns_the_demos_resources_templates_and_prompts(
    bus: NatsBus, start_proxy: StartProxy, request: pytest.FixtureRequest, transport: str
) -> None:
    gw = upstream(request, transport)
    await start_proxy(gw)
    found = await discover(bus, gw)
    assert [r["uri"] for r in found["resources"]] == ["forge://demo/readme"]  # type: ignore[attr-defined]
    templates = [t["uriTemplate"] for t in found["resource_templates"]]  # type: ignore[attr-defined]
    assert templates == ["forge://demo/numbers/{n}"]
    assert {p["name"] for p in found["prompts"]} == {"greeting", "summarize"}  # type: ignore[attr-defined]


async def test_discovery_of_a_modern_upstream_lists_everything_too(
    bus: NatsBus, start_proxy: StartProxy, demo: ServerProcess
) -> None:
    await start_proxy()
    found = await discover(bus, gateway(demo.url))
    assert found["protocol_version"] == "2026-07-28"
    assert len(found["resources"]) == 1 and len(found["prompts"]) == 2  # type: ignore[arg-type]


async def test_an_upstream_without_a_capability_is_not_asked_for_that_list(
    bus: NatsBus, start_proxy: StartProxy, wsecho: ServerProcess
) -> None:
    await start_proxy()
    found = await discover(bus, gateway(wsecho.url, transport="websocket"))
    # wsecho answers -32601 to anything but tools: asking would have failed discovery.
    assert (found["resources"], found["resource_templates"], found["prompts"]) == ([], [], [])


async def test_a_resource_read_and_a_prompt_pass_through_a_stdio_child(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    gw = stdio_gateway()
    await start_proxy(gw)
    read = await call(bus, gw, envelope("resources/read", {"uri": "forge://demo/numbers/3"}))
    prompt = await call(
        bus, gw, envelope("prompts/get", {"name": "greeting", "arguments": {"name": "Ada"}})
    )
    assert msgspec.json.decode(read)["contents"][0]["text"] == "[1, 2, 3]"
    assert "Ada" in msgspec.json.decode(prompt)["messages"][0]["content"]["text"]
