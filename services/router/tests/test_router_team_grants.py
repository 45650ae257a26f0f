"""Per-team grants through the router: a role bound on one team acts on that team's entries only."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest
from router_harness import FakeUpstream, ask, start_router

from forge.core import rpc, subjects
from forge.core.errors import FORBIDDEN, INVALID_PARAMS, NOT_FOUND, ForgeError
from forge.proto.access import BUILTIN_ROLES
from forge.proto.catalog import Gateway, PromptRecord, Server, Snapshot, ToolRecord
from forge.proto.envelope import Envelope, Principal, Protocol
from forge.proto.mcp import Prompt, Tool
from forge.router.app import Router
from forge.router.catalog import Catalog
from forge.testing.membus import MemoryBus

TEAMS = ("team-a", "team-c")
# A member of both teams: viewer everywhere, developer (tools.execute) on team A only.
ANN = Principal(
    subject="ann@x",
    teams=("p-ann", *TEAMS),
    roles=("viewer",),
    permissions=BUILTIN_ROLES["viewer"],
    team_roles={"team-a": ("developer",)},
    team_permissions={"team-a": ("tools.execute",)},
)
# Holds nothing globally: reads and calls on team A only.
ONLY_A = Principal(
    subject="ona@x",
    teams=("p-ona", *TEAMS),
    team_roles={"team-a": ("developer",)},
    team_permissions={"team-a": BUILTIN_ROLES["developer"]},
)


def snapshot() -> Snapshot:
    def at(team: str) -> dict[str, Any]:
        return {"owner": "owner@x", "team_id": team, "visibility": "team"}

    gateways = [
        Gateway(id=f"g-{t}", name=t, slug=t, url=f"http://127.0.0.1:1/{t}", **at(t)) for t in TEAMS
    ]
    tools = [
        ToolRecord(f"t-{t}", f"{t}-echo", "echo", f"g-{t}", Tool(name="echo"), **at(t))
        for t in TEAMS
    ]
    prompts = [
        PromptRecord(f"p-{t}", f"{t}-greet", "greet", f"g-{t}", Prompt(name="greet"), **at(t))
        for t in TEAMS
    ]
    servers = [
        Server(id=f"s-{t}", name=f"s-{t}", associated_tools=[f"t-{t}"], **at(t)) for t in TEAMS
    ]
    return Snapshot(gateways, tools, servers, [], [], prompts)


def envelope(
    method: str, params: Any, principal: Principal, server_id: str | None = None
) -> Envelope:
    return Envelope(
        id="r1",
        method=method,
        params=msgspec.Raw(msgspec.json.encode(params)),
        principal=principal,
        deadline=time.time() + 5,
        protocol=Protocol(version="2026-07-28"),
        server_id=server_id,
    )


@pytest.fixture
async def router(membus: MemoryBus) -> Router:
    return await start_router(membus, snapshot())


@pytest.fixture
async def upstream(membus: MemoryBus) -> FakeUpstream:
    fake = FakeUpstream()
    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), fake.rpc, queue=None)
    return fake


async def error_of(bus: MemoryBus, env: Envelope) -> ForgeError:
    with pytest.raises(ForgeError) as info:
        await ask(bus, env)
    return info.value


async def test_execute_bound_on_one_team_calls_only_that_teams_tools(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    await ask(membus, envelope("tools/call", {"name": "team-a-echo", "arguments": {}}, ANN))
    assert upstream.last()[0] == "g-team-a"
    refused = await error_of(
        membus, envelope("tools/call", {"name": "team-c-echo", "arguments": {}}, ANN)
    )
    assert refused.code == FORBIDDEN  # the tool is listed to them: refusing reveals nothing


async def test_reads_bound_on_one_team_list_and_get_only_that_teams_entries(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    tools = await ask(membus, envelope("tools/list", {}, ONLY_A))
    assert [t["name"] for t in tools["tools"]] == ["team-a-echo"]
    prompts = await ask(membus, envelope("prompts/list", {}, ONLY_A))
    assert [p["name"] for p in prompts["prompts"]] == ["team-a-greet"]
    await ask(membus, envelope("prompts/get", {"name": "team-a-greet"}, ONLY_A))
    unread = await error_of(membus, envelope("prompts/get", {"name": "team-c-greet"}, ONLY_A))
    assert unread.code == INVALID_PARAMS  # not readable there: answered as an unknown prompt
    # A global viewer reads both teams' entries.
    both = await ask(membus, envelope("tools/list", {}, ANN))
    assert sorted(t["name"] for t in both["tools"]) == ["team-a-echo", "team-c-echo"]


async def test_servers_use_bound_on_one_team_reaches_only_that_teams_servers(
    router: Router, membus: MemoryBus
) -> None:
    listed = await ask(membus, envelope("tools/list", {}, ONLY_A, "s-team-a"))
    assert [t["name"] for t in listed["tools"]] == ["team-a-echo"]
    missing = await error_of(membus, envelope("tools/list", {}, ONLY_A, "s-team-c"))
    assert missing.code == NOT_FOUND


def test_lists_are_memoised_apart_for_principals_holding_reads_on_different_teams() -> None:
    catalog = Catalog()
    catalog.load(snapshot())
    on_a = catalog.listing("tools", None, ONLY_A)
    on_c = msgspec.structs.replace(ONLY_A, team_permissions={"team-c": ("tools.read",)})
    assert [t.name for t in catalog.listing("tools", None, on_c).items] == ["team-c-echo"]
    assert [t.name for t in on_a.items] == ["team-a-echo"]
