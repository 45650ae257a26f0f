"""A virtual server's own names (original names, aliases) on its endpoint; catalog names on /mcp."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from router_harness import DOCS, MIRROR, FakeUpstream, ask, envelope, start_router

from forge.core import rpc, subjects
from forge.core.errors import INVALID_PARAMS, ForgeError
from forge.proto.catalog import PromptRecord, Server, Snapshot, ToolRecord
from forge.proto.envelope import Envelope
from forge.proto.mcp import Prompt, Tool
from forge.router.app import Router
from forge.testing.membus import MemoryBus

# Two gateways offer a tool named `echo`: one server takes up original names and aliases the
# second echo, another keeps catalog names.
ECHO = ToolRecord("a1", "docs-echo", "echo", "g1", Tool(name="echo"))
ADD = ToolRecord("a2", "docs-add", "add", "g1", Tool(name="add"))
OTHER_ECHO = ToolRecord("b1", "mirror-echo", "echo", "g2", Tool(name="echo"))
GREET = PromptRecord("p1", "docs-greet", "greet", "g1", Prompt(name="greet"))
ORIGINAL = Server(
    id="orig",
    name="original",
    associated_tools=["a1", "a2", "b1"],
    associated_prompts=["p1"],
    original_names=True,
    aliases={"b1": "echo_again", "p1": "hello"},
)
PREFIXED = Server(id="pref", name="prefixed", associated_tools=["a1", "b1"])
SNAPSHOT = Snapshot(
    gateways=[DOCS, MIRROR],
    tools=[ECHO, ADD, OTHER_ECHO],
    servers=[ORIGINAL, PREFIXED],
    prompts=[GREET],
)


@pytest.fixture
async def router(membus: MemoryBus) -> Router:
    return await start_router(membus, SNAPSHOT)


@pytest.fixture
async def upstream(membus: MemoryBus) -> FakeUpstream:
    fake = FakeUpstream()
    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), fake.rpc, queue=None)
    return fake


async def names(bus: MemoryBus, method: str, member: str, server_id: str | None) -> list[str]:
    listed: dict[str, Any] = await ask(bus, envelope(method, server_id=server_id))
    return [item["name"] for item in listed[member]]


async def test_a_server_with_original_names_lists_upstream_names_and_aliases(
    router: Router, membus: MemoryBus
) -> None:
    assert await names(membus, "tools/list", "tools", "orig") == ["echo", "add", "echo_again"]
    assert await names(membus, "prompts/list", "prompts", "orig") == ["hello"]


async def test_a_server_without_them_and_the_gateway_wide_list_keep_catalog_names(
    router: Router, membus: MemoryBus
) -> None:
    assert await names(membus, "tools/list", "tools", "pref") == ["docs-echo", "mirror-echo"]
    listed = await names(membus, "tools/list", "tools", None)
    assert listed == ["docs-add", "docs-echo", "mirror-echo"]
    assert await names(membus, "prompts/list", "prompts", None) == ["docs-greet"]


@pytest.mark.parametrize(
    ("name", "gateway", "upstream_name"),
    [
        ("echo", "g1", "echo"),  # the original name
        ("echo_again", "g2", "echo"),  # an alias
        ("mirror-echo", "g2", "echo"),  # the catalog name still resolves
    ],
)
async def test_tools_call_on_the_server_resolves_its_names_to_the_upstream_name(
    router: Router,
    membus: MemoryBus,
    upstream: FakeUpstream,
    name: str,
    gateway: str,
    upstream_name: str,
) -> None:
    params = msgspec.json.encode({"name": name, "arguments": {"x": 1}})
    await ask(membus, envelope("tools/call", params, server_id="orig"))
    sent = {"name": upstream_name, "arguments": {"x": 1}}
    assert upstream.last() == (gateway, "tools/call", sent)


async def test_a_server_name_is_unknown_on_mcp_and_on_other_servers(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    for server_id in (None, "pref"):
        with pytest.raises(ForgeError) as info:
            await ask(membus, envelope("tools/call", b'{"name":"echo_again"}', server_id=server_id))
        assert info.value.code == INVALID_PARAMS
    await ask(membus, envelope("tools/call", b'{"name":"mirror-echo"}'))
    assert upstream.last()[:2] == ("g2", "tools/call")


async def test_prompts_get_and_completion_resolve_a_prompt_alias(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    await ask(membus, envelope("prompts/get", b'{"name":"hello"}', server_id="orig"))
    assert upstream.last() == ("g1", "prompts/get", {"name": "greet"})
    params = b'{"ref":{"type":"ref/prompt","name":"hello"},"argument":{"name":"a","value":""}}'
    await ask(membus, envelope("completion/complete", params, server_id="orig"))
    assert upstream.last()[2]["ref"] == {"type": "ref/prompt", "name": "greet"}
    with pytest.raises(ForgeError) as info:
        await ask(membus, envelope("prompts/get", b'{"name":"hello"}'))
    assert info.value.code == INVALID_PARAMS


async def test_plugins_see_the_catalog_name_of_a_tool_called_by_its_alias(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    seen: list[bytes] = []

    async def runner(env: Envelope) -> bytes:
        seen.append(bytes(env.params))
        return b'{"modified":false}'

    hook = "tool_pre_invoke"
    await rpc.serve_envelopes(membus, subjects.plugins_call(hook), runner, queue=None)
    await membus.publish(subjects.PLUGINS_MANIFEST, b'{"hooks":["tool_pre_invoke"],"replica":"r"}')
    await ask(membus, envelope("tools/call", b'{"name":"echo_again"}', server_id="orig"))
    assert msgspec.json.decode(seen[-1])["payload"]["name"] == "mirror-echo"
    assert upstream.last() == ("g2", "tools/call", {"name": "echo"})
