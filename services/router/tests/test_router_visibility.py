"""What a principal can see through the router: lists, calls, servers, scoped tokens, the memo."""

from __future__ import annotations

import time
from typing import Any

import msgspec
import pytest
from router_harness import FakeUpstream, ask, start_router

from forge.core import rpc, subjects
from forge.core.errors import INVALID_PARAMS, NOT_FOUND, ForgeError
from forge.proto.access import BUILTIN_ROLES
from forge.proto.catalog import (
    Gateway,
    PromptRecord,
    ResourceRecord,
    Server,
    Snapshot,
    TemplateRecord,
    ToolRecord,
    ToolsChanged,
)
from forge.proto.envelope import Envelope, Principal, Protocol
from forge.proto.mcp import Prompt, Resource, ResourceTemplate, Tool
from forge.router.app import Router
from forge.router.catalog import Catalog
from forge.testing.membus import MemoryBus

DEV = BUILTIN_ROLES["developer"]
ALICE = Principal(subject="alice@x", teams=("p-alice", "team-a"), permissions=DEV)
BOB = Principal(subject="bob@x", teams=("p-bob", "team-a"), permissions=DEV)
CAROL = Principal(subject="carol@x", teams=("p-carol", "team-b"), permissions=DEV)
ADMIN = Principal(subject="admin@x", is_admin=True)
# Sees everything as a platform viewer; holds every permission so that what is tested here is
# what it sees, not what it may do.
VIEWER = Principal(subject="vic@x", roles=("platform_viewer",), permissions=("*",))
PLACES = {"private": ("private", None), "team": ("team", "team-a"), "public": ("public", "team-a")}
SEES = {
    "alice": {"private", "team", "public"},
    "bob": {"team", "public"},
    "carol": {"public"},
    "admin": {"private", "team", "public"},
    "viewer": {"private", "team", "public"},
}
WHO = {"alice": ALICE, "bob": BOB, "carol": CAROL, "admin": ADMIN, "viewer": VIEWER}


def placed(visibility: str) -> dict[str, Any]:
    vis, team = PLACES[visibility]
    return {"owner": "alice@x", "team_id": team, "visibility": vis}


def gateway(v: str, created: str) -> Gateway:
    url = f"http://127.0.0.1:1/{v}"
    return Gateway(id=f"g-{v}", name=v, slug=v, url=url, created_at=created, **placed(v))


def catalog_of() -> Snapshot:
    gateways = [gateway(v, f"2026-0{i + 1}-01Z") for i, v in enumerate(PLACES)]
    tools = [
        ToolRecord(f"t-{v}", f"{v}-echo", "echo", f"g-{v}", Tool(name="echo"), **placed(v))
        for v in PLACES
    ]
    # Every gateway lists file:///shared; the private one was registered first.
    resources = [
        ResourceRecord(
            f"r-{v}",
            "file:///shared",
            f"g-{v}",
            Resource(uri="file:///shared", name=v),
            **placed(v),
        )
        for v in PLACES
    ]
    templates = [
        TemplateRecord(
            f"tt-{v}",
            f"{v}://{{x}}",
            f"g-{v}",
            ResourceTemplate(uriTemplate=f"{v}://{{x}}"),
            **placed(v),
        )
        for v in PLACES
    ]
    prompts = [
        PromptRecord(f"p-{v}", f"{v}-greet", "greet", f"g-{v}", Prompt(name="greet"), **placed(v))
        for v in PLACES
    ]
    servers = [
        Server(id=f"s-{v}", name=f"s-{v}", associated_tools=[t.id for t in tools], **placed(v))
        for v in PLACES
    ]
    return Snapshot(gateways, tools, servers, resources, templates, prompts)


def envelope(
    method: str, params: Any = None, principal: Principal = ALICE, server_id: str | None = None
) -> Envelope:
    return Envelope(
        id="r1",
        method=method,
        params=msgspec.Raw(msgspec.json.encode(params if params is not None else {})),
        principal=principal,
        deadline=time.time() + 5,
        protocol=Protocol(version="2026-07-28"),
        server_id=server_id,
    )


@pytest.fixture
async def router(membus: MemoryBus) -> Router:
    return await start_router(membus, catalog_of())


@pytest.fixture
async def upstream(membus: MemoryBus) -> FakeUpstream:
    fake = FakeUpstream()
    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), fake.rpc, queue=None)
    return fake


async def error_of(bus: MemoryBus, env: Envelope) -> ForgeError:
    with pytest.raises(ForgeError) as info:
        await ask(bus, env)
    return info.value


@pytest.mark.parametrize("who", list(WHO))
async def test_every_list_shows_exactly_what_the_principal_can_see(
    router: Router, membus: MemoryBus, who: str
) -> None:
    principal, sees = WHO[who], sorted(SEES[who])
    tools = await ask(membus, envelope("tools/list", principal=principal))
    assert sorted(t["name"] for t in tools["tools"]) == [f"{v}-echo" for v in sees]
    prompts = await ask(membus, envelope("prompts/list", principal=principal))
    assert sorted(p["name"] for p in prompts["prompts"]) == [f"{v}-greet" for v in sees]
    templates = await ask(membus, envelope("resources/templates/list", principal=principal))
    assert sorted(t["uriTemplate"] for t in templates["resourceTemplates"]) == [
        f"{v}://{{x}}" for v in sees
    ]
    [resource] = (await ask(membus, envelope("resources/list", principal=principal)))["resources"]
    # The shared uri: the first-registered gateway's resource among those the principal sees.
    first = next(v for v in PLACES if v in SEES[who])
    assert resource["name"] == first


@pytest.mark.parametrize("who", list(WHO))
async def test_calls_reach_only_visible_entries_and_unseen_ones_answer_as_unknown(
    router: Router, membus: MemoryBus, upstream: FakeUpstream, who: str
) -> None:
    principal = WHO[who]
    for v in PLACES:
        calls = [
            envelope("tools/call", {"name": f"{v}-echo", "arguments": {}}, principal),
            envelope("prompts/get", {"name": f"{v}-greet"}, principal),
            envelope(
                "completion/complete",
                {
                    "ref": {"type": "ref/prompt", "name": f"{v}-greet"},
                    "argument": {"name": "a", "value": ""},
                },
                principal,
            ),
            envelope("resources/read", {"uri": f"{v}://1"}, principal),
        ]
        for env in calls:
            if v in SEES[who]:
                await ask(membus, env)
                assert upstream.last()[0] == f"g-{v}"
                continue
            unseen = await error_of(membus, env)
            unknown_params = msgspec.json.decode(env.params)
            for key in ("name", "uri"):
                if key in unknown_params:
                    unknown_params[key] = unknown_params[key].replace(v, "nope")
            ref = unknown_params.get("ref")
            if ref:
                ref["name"] = ref["name"].replace(v, "nope")
            unknown = await error_of(membus, envelope(env.method, unknown_params, principal))
            assert unseen.code == unknown.code == INVALID_PARAMS
            assert unseen.message == unknown.message.replace("nope", v)


async def test_team_b_cannot_call_team_a_tools_even_with_a_server_that_lists_them(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    env = envelope("tools/call", {"name": "team-echo"}, CAROL, server_id="s-public")
    error = await error_of(membus, env)
    assert (error.code, error.message) == (INVALID_PARAMS, "Unknown tool: team-echo")
    listed = await ask(membus, envelope("tools/list", principal=CAROL, server_id="s-public"))
    assert [t["name"] for t in listed["tools"]] == ["public-echo"]
    assert upstream.seen == []


@pytest.mark.parametrize("who", list(WHO))
async def test_a_server_the_principal_cannot_see_answers_as_an_unknown_server(
    router: Router, membus: MemoryBus, who: str
) -> None:
    principal = WHO[who]
    for v in PLACES:
        env = envelope("tools/list", principal=principal, server_id=f"s-{v}")
        if v in SEES[who]:
            await ask(membus, env)
            continue
        unseen = await error_of(membus, env)
        unknown = await error_of(membus, envelope("tools/list", principal=principal, server_id="x"))
        assert unseen.code == unknown.code == NOT_FOUND
        assert unseen.message == unknown.message.replace("'x'", f"'s-{v}'")


async def test_a_server_scoped_token_uses_only_its_own_server(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    scoped = msgspec.structs.replace(ALICE, server_scope="s-team")
    own = await ask(membus, envelope("tools/list", principal=scoped, server_id="s-team"))
    assert len(own["tools"]) == 3
    await ask(membus, envelope("tools/call", {"name": "team-echo"}, scoped, server_id="s-team"))
    for server_id in ("s-public", None):
        for method in ("tools/list", "tools/call", "server/discover", "resources/read"):
            params = {"name": "team-echo", "uri": "team://1"}
            error = await error_of(membus, envelope(method, params, scoped, server_id=server_id))
            assert error.code == NOT_FOUND
    assert len(upstream.seen) == 1


async def test_lists_follow_visibility_changes_carried_by_events(
    router: Router, membus: MemoryBus
) -> None:
    before = await ask(membus, envelope("tools/list", principal=CAROL))
    assert [t["name"] for t in before["tools"]] == ["public-echo"]
    opened = ToolRecord(
        "t-team", "team-echo", "echo", "g-team", Tool(name="echo"), **placed("public")
    )
    event = msgspec.json.encode(ToolsChanged(gateway_id="g-team", tools=[opened]))
    await membus.publish(subjects.event(subjects.CATALOG, "tools", "changed"), event)
    after = await ask(membus, envelope("tools/list", principal=CAROL))
    assert sorted(t["name"] for t in after["tools"]) == ["public-echo", "team-echo"]


def test_lists_are_memoised_per_visibility_class_in_a_bounded_memo() -> None:
    catalog = Catalog(memo_size=3)
    catalog.load(catalog_of())
    admin_list = catalog.listing("tools", None, ADMIN)
    assert catalog.listing("tools", None, VIEWER) is admin_list  # one class sees everything
    alice = catalog.listing("tools", None, ALICE)
    assert alice is not admin_list and len(alice.items) == 3
    assert catalog.listing("tools", None, msgspec.structs.replace(ALICE, roles=("x",))) is alice
    assert len(catalog.listing("tools", None, BOB).items) == 2
    assert len(catalog.listing("tools", None, CAROL).items) == 1
    assert len(catalog._memo) == 3
    assert catalog.listing("tools", None, ALICE) is alice  # used lately: kept
    assert catalog.listing("tools", None, ADMIN) is not admin_list  # least recent: evicted
