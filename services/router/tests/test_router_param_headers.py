"""tools/call with `x-mcp-header` arguments: the client's headers checked, the upstream's set."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest
from router_harness import DOCS, FakeUpstream, ask, envelope, start_router

from forge.core import rpc, subjects
from forge.core.errors import HeaderMismatchError
from forge.proto.catalog import Snapshot, ToolRecord
from forge.proto.envelope import Envelope
from forge.proto.mcp import Tool
from forge.router.app import Router
from forge.testing.membus import MemoryBus

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "text": {"type": "string"},
    },
}
ROUTE = ToolRecord("x1", "docs-route", "route", "g1", Tool(name="route", inputSchema=SCHEMA))
PLAIN = ToolRecord("x2", "docs-plain", "plain", "g1", Tool(name="plain"))
CALL = b'{"name":"docs-route","arguments":{"region":"eu-west","text":"hi"}}'


@pytest.fixture
async def upstream(membus: MemoryBus) -> FakeUpstream:
    fake = FakeUpstream()
    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), fake.rpc, queue=None)
    return fake


@pytest.fixture
async def router(membus: MemoryBus, upstream: FakeUpstream) -> Router:
    return await start_router(membus, Snapshot(gateways=[DOCS], tools=[ROUTE, PLAIN], servers=[]))


def with_headers(env: Envelope, headers: dict[str, str]) -> Envelope:
    return msgspec.structs.replace(env, param_headers=headers)


async def test_headers_that_repeat_the_arguments_reach_the_upstream_as_it_expects(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    env = with_headers(envelope("tools/call", CALL), {"mcp-param-region": "eu-west"})
    assert await ask(membus, env) == {"ok": True}
    _, forwarded = upstream.seen[-1]
    assert forwarded.param_headers == {"Mcp-Param-Region": "eu-west"}


@pytest.mark.parametrize(
    "headers",
    [{}, {"mcp-param-region": "us-east"}, {"mcp-param-region": "=?base64?%%?="}],
    ids=["missing", "contradicting", "malformed"],
)
async def test_a_modern_client_whose_headers_disagree_with_the_body_is_refused(
    router: Router, membus: MemoryBus, upstream: FakeUpstream, headers: dict[str, str]
) -> None:
    with pytest.raises(HeaderMismatchError):
        await ask(membus, with_headers(envelope("tools/call", CALL), headers))
    assert upstream.seen == []


async def test_a_legacy_client_sends_no_headers_and_the_upstream_still_gets_them(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    await ask(membus, envelope("tools/call", CALL, era="legacy"))
    _, forwarded = upstream.seen[-1]
    assert forwarded.param_headers == {"Mcp-Param-Region": "eu-west"}


async def test_headers_for_a_tool_that_declares_none_are_ignored_and_not_forwarded(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    env = with_headers(envelope("tools/call", b'{"name":"docs-plain"}'), {"mcp-param-x": "1"})
    await ask(membus, env)
    _, forwarded = upstream.seen[-1]
    assert forwarded.param_headers is None


async def test_a_modern_client_on_a_transport_without_headers_is_not_checked(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    # SSE and WebSocket carry no per-request headers: the edge sends None, not {}.
    await ask(membus, envelope("tools/call", CALL))
    _, forwarded = upstream.seen[-1]
    assert forwarded.param_headers == {"Mcp-Param-Region": "eu-west"}
