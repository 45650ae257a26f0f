"""The router's handlers on the in-memory bus: resolution, listing, dispatch, hooks, events."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from router_harness import FakeUpstream, envelope

from forge.core import rpc, subjects, tasks
from forge.core.errors import (
    InvalidParamsError,
    MethodNotFoundError,
    MissingClientCapabilityError,
    NotFoundError,
    ServiceUnavailableError,
)
from forge.proto.catalog import Deleted, Gateway, Server, Snapshot, ToolRecord, ToolsChanged
from forge.proto.envelope import Envelope
from forge.proto.mcp import Tool
from forge.router.app import Router
from forge.router.config import RouterConfig
from forge.testing.membus import MemoryBus

GATEWAY = Gateway(id="g1", name="one", slug="one", url="http://127.0.0.1:1/mcp")
ECHO = ToolRecord(
    id="t1", name="one-echo", original_name="echo", gateway_id="g1", tool=Tool(name="echo")
)
ADD = ToolRecord(
    id="t2", name="one-add", original_name="add", gateway_id="g1", tool=Tool(name="add")
)
SERVER = Server(id="s1", name="only-echo", associated_tools=["t1"])


@pytest.fixture
async def router(membus: MemoryBus) -> Router:
    snapshot = Snapshot(gateways=[GATEWAY], tools=[ECHO, ADD], servers=[SERVER])

    async def serve_snapshot(env: Envelope) -> bytes:
        return msgspec.json.encode(snapshot)

    await rpc.serve_envelopes(
        membus, subjects.registry(subjects.CATALOG, "snapshot", "get"), serve_snapshot, queue=None
    )
    router = Router(membus, RouterConfig())
    await router.start()
    return router


async def ask(bus: MemoryBus, env: Envelope) -> bytes:
    return await rpc.call(bus, subjects.ROUTER_RPC, env)


async def test_tools_list_for_a_modern_client_carries_the_cache_fields(
    router: Router, membus: MemoryBus
) -> None:
    result = msgspec.json.decode(await ask(membus, envelope("tools/list")))
    assert [t["name"] for t in result["tools"]] == ["one-add", "one-echo"]
    assert result["resultType"] == "complete"
    assert result["cacheScope"] == "private"


async def test_tools_list_for_a_legacy_client_has_no_modern_fields(
    router: Router, membus: MemoryBus
) -> None:
    result = msgspec.json.decode(await ask(membus, envelope("tools/list", era="legacy")))
    assert "resultType" not in result


async def test_a_virtual_server_lists_only_its_tools(router: Router, membus: MemoryBus) -> None:
    result = msgspec.json.decode(await ask(membus, envelope("tools/list", server_id="s1")))
    assert [t["name"] for t in result["tools"]] == ["one-echo"]


async def test_tools_call_goes_to_the_gateway_with_the_upstream_name_and_raw_arguments(
    router: Router, membus: MemoryBus
) -> None:
    seen: list[Envelope] = []

    async def upstream(env: Envelope) -> bytes:
        seen.append(env)
        return b'{"content":[],"isError":false}'

    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), upstream, queue=None)
    params = b'{"name":"one-echo","arguments":{"text":"hi",  "n":1}}'
    result = await ask(membus, envelope("tools/call", params))
    assert result == b'{"content":[],"isError":false}'
    assert membus.requests[-1][0] == subjects.upstream("g1", "rpc")
    assert bytes(seen[0].params) == b'{"name":"echo","arguments":{"text":"hi",  "n":1}}'


async def test_unknown_tool_and_tool_outside_the_server_are_both_unknown(
    router: Router, membus: MemoryBus
) -> None:
    with pytest.raises(InvalidParamsError):
        await ask(membus, envelope("tools/call", b'{"name":"nope"}'))
    with pytest.raises(InvalidParamsError):
        await ask(membus, envelope("tools/call", b'{"name":"one-add"}', server_id="s1"))


async def test_unknown_method_and_unknown_server_are_refused(
    router: Router, membus: MemoryBus
) -> None:
    with pytest.raises(MethodNotFoundError):
        await ask(membus, envelope("tools/explode"))
    with pytest.raises(NotFoundError):
        await ask(membus, envelope("tools/list", server_id="missing"))


async def test_catalog_events_change_what_is_listed_and_callable(
    router: Router, membus: MemoryBus
) -> None:
    other = ToolRecord(
        id="t9", name="one-new", original_name="new", gateway_id="g1", tool=Tool(name="new")
    )
    await membus.publish(
        subjects.event(subjects.CATALOG, "tools", "changed"),
        msgspec.json.encode(ToolsChanged(gateway_id="g1", tools=[other])),
    )
    result = msgspec.json.decode(await ask(membus, envelope("tools/list")))
    assert [t["name"] for t in result["tools"]] == ["one-new"]
    await membus.publish(
        subjects.event(subjects.CATALOG, "gateways", "deleted"),
        msgspec.json.encode(Deleted(id="g1")),
    )
    result = msgspec.json.decode(await ask(membus, envelope("tools/list")))
    assert result["tools"] == []


async def test_a_served_hook_no_runner_answers_fails_closed_until_its_manifest_is_stale(
    router: Router, membus: MemoryBus
) -> None:
    async def upstream(env: Envelope) -> bytes:
        return b'{"content":[]}'

    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), upstream, queue=None)
    now = [100.0]
    router.ctx.hooks.clock = lambda: now[0]
    # A manifest claims a hook, but no plugin-runner answers: refused, not let through.
    await membus.publish(
        subjects.PLUGINS_MANIFEST,
        b'{"hooks":["tool_pre_invoke","tool_post_invoke"],"replica":"gone"}',
    )
    with pytest.raises(ServiceUnavailableError):
        await ask(membus, envelope("tools/call", b'{"name":"one-echo"}'))
    now[0] += router.config.plugin_manifest_ttl_s + 1  # no announcement since: it is gone
    assert await ask(membus, envelope("tools/call", b'{"name":"one-echo"}')) == b'{"content":[]}'
    assert not router.ctx.hooks.served


async def test_with_no_manifest_ever_heard_calls_skip_the_hooks(
    router: Router, membus: MemoryBus
) -> None:
    async def upstream(env: Envelope) -> bytes:
        return b'{"content":[]}'

    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), upstream, queue=None)
    assert not router.ctx.hooks.served
    assert await ask(membus, envelope("tools/call", b'{"name":"one-echo"}')) == b'{"content":[]}'


async def test_initialize_negotiates_a_legacy_version(router: Router, membus: MemoryBus) -> None:
    params = b'{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c"}}'
    result = msgspec.json.decode(await ask(membus, envelope("initialize", params, era="legacy")))
    assert result["protocolVersion"] == "2025-06-18"
    params = b'{"protocolVersion":"1999-01-01","capabilities":{},"clientInfo":{"name":"c"}}'
    result = msgspec.json.decode(await ask(membus, envelope("initialize", params, era="legacy")))
    assert result["protocolVersion"] == "2025-11-25"


async def test_discover_offers_the_modern_version(router: Router, membus: MemoryBus) -> None:
    result = msgspec.json.decode(await ask(membus, envelope("server/discover")))
    assert "2026-07-28" in result["supportedVersions"]
    assert result["resultType"] == "complete"


async def test_tools_call_passes_every_other_param_member_through_to_the_upstream(
    router: Router, membus: MemoryBus
) -> None:
    seen: list[Envelope] = []

    async def upstream(env: Envelope) -> bytes:
        seen.append(env)
        return b'{"content":[]}'

    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), upstream, queue=None)
    params = (
        b'{"name":"one-echo","arguments":{"a":1},"inputResponses":{"q":{"action":"accept"}},'
        b'"requestState":"opaque-state","task":{"ttl":1000}}'
    )
    await ask(membus, envelope("tools/call", params))
    sent = msgspec.json.decode(seen[0].params)
    assert sent == {
        "name": "echo",
        "arguments": {"a": 1},
        "inputResponses": {"q": {"action": "accept"}},
        "requestState": "opaque-state",
        "task": {"ttl": 1000},
    }


OWNER = tasks.owner("tester")  # the harness's principal
DECLARED = b'{"extensions":{"io.modelcontextprotocol/tasks":{}}}'


def declaring(env: Envelope, capabilities: bytes = DECLARED) -> Envelope:
    """The envelope of a modern client that declared the tasks extension."""
    assert env.protocol is not None
    protocol = msgspec.structs.replace(env.protocol, capabilities=msgspec.Raw(capabilities))
    return msgspec.structs.replace(env, protocol=protocol)


async def test_a_task_handle_names_its_gateway_and_tasks_requests_reach_it(
    router: Router, membus: MemoryBus
) -> None:
    seen: list[Envelope] = []

    async def upstream(env: Envelope) -> bytes:
        seen.append(env)
        if env.method == "tools/call":
            return b'{"resultType":"task","taskId":"t-42","status":"working"}'
        return b'{"taskId":"t-42","status":"completed","resultType":"complete"}'

    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), upstream, queue=None)
    handle = msgspec.json.decode(
        await ask(membus, declaring(envelope("tools/call", b'{"name":"one-echo"}')))
    )
    assert handle["taskId"] == f"g1.t1~{OWNER}~t-42"
    get = declaring(envelope("tasks/get", msgspec.json.encode({"taskId": handle["taskId"]})))
    polled = msgspec.json.decode(await ask(membus, get))
    assert polled["taskId"] == handle["taskId"] and polled["status"] == "completed"
    assert msgspec.json.decode(seen[-1].params) == {"taskId": "t-42"}
    with pytest.raises(InvalidParamsError):
        await ask(membus, declaring(envelope("tasks/get", b'{"taskId":"nowhere~t-1"}')))


async def test_another_principals_task_id_is_an_unknown_task(
    router: Router, membus: MemoryBus
) -> None:
    upstream = FakeUpstream(b'{"taskId":"t-1","status":"working","resultType":"complete"}')
    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), upstream.rpc, queue=None)
    theirs = f"g1~{tasks.owner('someone-else')}~t-1"
    for method in ("tasks/get", "tasks/cancel", "tasks/update"):
        params = msgspec.json.encode({"taskId": theirs})
        with pytest.raises(InvalidParamsError, match="unknown task"):
            await ask(membus, declaring(envelope(method, params)))
    assert upstream.seen == []  # refused before any upstream heard of it


async def test_a_modern_client_without_the_extension_gets_32021_and_no_removed_methods(
    router: Router, membus: MemoryBus
) -> None:
    mine = msgspec.json.encode({"taskId": f"g1~{OWNER}~t-1"})
    for method in ("tasks/get", "tasks/update", "tasks/cancel"):
        with pytest.raises(MissingClientCapabilityError) as refused:
            await ask(membus, envelope(method, mine))
        assert refused.value.data == {
            "requiredCapabilities": {"extensions": {"io.modelcontextprotocol/tasks": {}}}
        }
    for method in ("tasks/result", "tasks/list"):  # gone in 2026-07-28 (SEP-2663)
        with pytest.raises(MethodNotFoundError):
            await ask(membus, declaring(envelope(method, mine)))


async def test_a_legacy_task_handle_is_tagged_inside_its_task_member(
    router: Router, membus: MemoryBus
) -> None:
    async def upstream(env: Envelope) -> bytes:
        return b'{"task":{"taskId":"abc","status":"working"}}'

    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), upstream, queue=None)
    result = msgspec.json.decode(
        await ask(membus, envelope("tools/call", b'{"name":"one-echo"}', era="legacy"))
    )
    assert result["task"]["taskId"] == f"g1.t1~{OWNER}~abc"


async def test_tasks_list_gathers_every_task_capable_gateways_tasks_with_tagged_ids(
    membus: MemoryBus,
) -> None:
    tasks_gateway = Gateway(
        id="g2", name="two", slug="two", url="http://127.0.0.1:2/mcp", capabilities={"tasks": {}}
    )
    snapshot = Snapshot(gateways=[GATEWAY, tasks_gateway], tools=[ECHO], servers=[])

    async def serve_snapshot(env: Envelope) -> bytes:
        return msgspec.json.encode(snapshot)

    async def upstream(env: Envelope) -> bytes:
        return b'{"tasks":[{"taskId":"a","status":"working"},{"taskId":"b","status":"completed"}]}'

    await rpc.serve_envelopes(
        membus, subjects.registry(subjects.CATALOG, "snapshot", "get"), serve_snapshot, queue=None
    )
    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), upstream, queue=None)
    router = Router(membus, RouterConfig())
    await router.start()
    listed = msgspec.json.decode(await ask(membus, envelope("tasks/list", era="legacy")))
    assert [t["taskId"] for t in listed["tasks"]] == [f"g2~{OWNER}~a", f"g2~{OWNER}~b"]
    assert membus.requests[-1][0] == subjects.upstream("g2", "rpc")


async def test_discovery_and_the_handshake_offer_the_tasks_extension_of_the_servers_upstreams(
    membus: MemoryBus,
) -> None:
    offered: dict[str, Any] = {
        "extensions": {"io.modelcontextprotocol/tasks": {}, "com.example/other": {}}
    }
    tasks_gateway = Gateway(
        id="g2", name="two", slug="two", url="http://127.0.0.1:2/mcp", capabilities=offered
    )
    slow = ToolRecord(
        id="t3", name="two-slow", original_name="slow", gateway_id="g2", tool=Tool(name="slow")
    )
    with_tasks = Server(id="s2", name="with-tasks", associated_tools=["t3"])
    snapshot = Snapshot(
        gateways=[GATEWAY, tasks_gateway], tools=[ECHO, slow], servers=[SERVER, with_tasks]
    )

    async def serve_snapshot(env: Envelope) -> bytes:
        return msgspec.json.encode(snapshot)

    await rpc.serve_envelopes(
        membus, subjects.registry(subjects.CATALOG, "snapshot", "get"), serve_snapshot, queue=None
    )
    router = Router(membus, RouterConfig())
    await router.start()

    async def capabilities(server_id: str | None, method: str = "server/discover") -> Any:
        params = b'{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{}}'
        era = "legacy" if method == "initialize" else "modern"
        env = envelope(method, params, era=era, server_id=server_id)
        return msgspec.json.decode(await ask(membus, env))["capabilities"]

    # Only the extension Forge knows how to route is passed on.
    assert (await capabilities("s2"))["extensions"] == {"io.modelcontextprotocol/tasks": {}}
    assert (await capabilities(None))["extensions"] == {"io.modelcontextprotocol/tasks": {}}
    assert (await capabilities("s2", "initialize"))["extensions"] == {
        "io.modelcontextprotocol/tasks": {}
    }
    assert "extensions" not in await capabilities("s1")  # its only upstream offers none
