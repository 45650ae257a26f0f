"""Resources, templates, prompts, completion and logging through the router on the MemoryBus."""

from __future__ import annotations

import msgspec
import pytest
from router_harness import SNAPSHOT, FakeUpstream, ask, envelope, start_router

from forge.core import rpc, subjects
from forge.core.errors import INVALID_PARAMS, METHOD_NOT_FOUND, ForgeError
from forge.proto.catalog import PromptRecord, PromptsChanged, ResourcesChanged
from forge.proto.mcp import Prompt
from forge.router.app import Router
from forge.testing.membus import MemoryBus


@pytest.fixture
async def router(membus: MemoryBus) -> Router:
    return await start_router(membus, SNAPSHOT)


@pytest.fixture
async def upstream(membus: MemoryBus) -> FakeUpstream:
    fake = FakeUpstream()
    await rpc.serve_envelopes(membus, subjects.upstream_any("rpc"), fake.rpc, queue=None)
    return fake


async def error_of(bus: MemoryBus, env: object) -> ForgeError:
    with pytest.raises(ForgeError) as info:
        await ask(bus, env)
    return info.value


async def test_resources_list_shows_each_uri_once_with_the_modern_cache_fields(
    router: Router, membus: MemoryBus
) -> None:
    result = await ask(membus, envelope("resources/list"))
    assert result["resources"] == [
        {"uri": "file:///logo.png", "name": "l"},
        {"uri": "file:///readme", "name": "rd"},  # the first-registered gateway's
    ]
    assert (result["resultType"], result["ttlMs"], result["cacheScope"]) == (
        "complete",
        0,
        "private",
    )
    assert "nextCursor" not in result
    legacy = await ask(membus, envelope("resources/list", era="legacy"))
    assert "resultType" not in legacy and len(legacy["resources"]) == 2


async def test_templates_and_prompts_are_listed_with_exposed_prompt_names(
    router: Router, membus: MemoryBus
) -> None:
    templates = await ask(membus, envelope("resources/templates/list"))
    assert [t["uriTemplate"] for t in templates["resourceTemplates"]] == [
        "file:///pages/{page}",
        "forge://n/{n}",
    ]
    assert templates["resultType"] == "complete"
    prompts = await ask(membus, envelope("prompts/list", b"null"))
    assert [p["name"] for p in prompts["prompts"]] == ["docs-greet", "mirror-summary"]


async def test_a_virtual_server_lists_only_its_resources_templates_and_prompts(
    router: Router, membus: MemoryBus
) -> None:
    resources = await ask(membus, envelope("resources/list", server_id="s1"))
    assert [r["uri"] for r in resources["resources"]] == ["file:///logo.png"]
    templates = await ask(membus, envelope("resources/templates/list", server_id="s1"))
    assert [t["uriTemplate"] for t in templates["resourceTemplates"]] == ["forge://n/{n}"]
    prompts = await ask(membus, envelope("prompts/list", server_id="s1"))
    assert [p["name"] for p in prompts["prompts"]] == ["mirror-summary"]


async def test_resources_read_of_a_shared_uri_goes_to_the_first_registered_gateway(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    params = b'{"uri":"file:///readme",  "_meta":{"k":1}}'
    assert await ask(membus, envelope("resources/read", params)) == {"ok": True}
    gateway, method, _ = upstream.last()
    assert (gateway, method) == ("g1", "resources/read")
    assert bytes(upstream.seen[-1][1].params) == params  # passed through byte for byte


async def test_resources_read_of_a_uri_no_resource_lists_goes_by_template(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    await ask(membus, envelope("resources/read", b'{"uri":"forge://n/7"}'))
    assert upstream.last()[:2] == ("g2", "resources/read")
    await ask(membus, envelope("resources/read", b'{"uri":"file:///pages/intro"}'))
    assert upstream.last()[0] == "g1"


@pytest.mark.parametrize("uri", ["forge://n/7/8", "forge://other", "file:///pages/"])
async def test_an_unknown_resource_is_invalid_params_with_the_uri_for_modern_clients(
    router: Router, membus: MemoryBus, upstream: FakeUpstream, uri: str
) -> None:
    params = msgspec.json.encode({"uri": uri})
    error = await error_of(membus, envelope("resources/read", params))
    assert error.code == INVALID_PARAMS and error.data == {"uri": uri}
    assert upstream.seen == []


async def test_an_unknown_resource_is_32002_for_legacy_clients(
    router: Router, membus: MemoryBus
) -> None:
    error = await error_of(membus, envelope("resources/read", b'{"uri":"x:/y"}', era="legacy"))
    assert error.code == -32002


async def test_a_resource_outside_the_virtual_server_is_not_found(
    router: Router, membus: MemoryBus
) -> None:
    params = b'{"uri":"file:///readme"}'
    error = await error_of(membus, envelope("resources/read", params, server_id="s1"))
    assert error.code == INVALID_PARAMS


async def test_prompts_get_sends_the_upstream_name_and_passes_arguments_through(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    params = b'{"name":"docs-greet","arguments":{"who":"Ada"},"_meta":{"progressToken":3}}'
    await ask(membus, envelope("prompts/get", params))
    gateway, method, sent = upstream.last()
    assert (gateway, method) == ("g1", "prompts/get")
    assert sent == {"name": "greet", "arguments": {"who": "Ada"}, "_meta": {"progressToken": 3}}


@pytest.mark.parametrize(
    ("params", "server_id"),
    [(b'{"name":"nope"}', None), (b"{}", None), (b'{"name":"docs-greet"}', "s1")],
)
async def test_an_unknown_prompt_or_one_outside_the_server_is_invalid_params(
    router: Router, membus: MemoryBus, params: bytes, server_id: str | None
) -> None:
    error = await error_of(membus, envelope("prompts/get", params, server_id=server_id))
    assert error.code == INVALID_PARAMS


async def test_completion_for_a_prompt_goes_to_its_gateway_under_the_upstream_name(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    params = (
        b'{"ref":{"type":"ref/prompt","name":"mirror-summary"},'
        b'"argument":{"name":"text","value":"he"}}'
    )
    await ask(membus, envelope("completion/complete", params))
    gateway, method, sent = upstream.last()
    assert (gateway, method) == ("g2", "completion/complete")
    assert sent == {
        "ref": {"type": "ref/prompt", "name": "summary"},
        "argument": {"name": "text", "value": "he"},
    }


async def test_completion_for_a_resource_template_goes_to_the_template_owner(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    params = b'{"ref":{"type":"ref/resource","uri":"file:///pages/{page}"},"argument":{}}'
    await ask(membus, envelope("completion/complete", params))
    assert upstream.last()[0] == "g1"
    assert bytes(upstream.seen[-1][1].params) == params


@pytest.mark.parametrize(
    "params",
    [
        b'{"ref":{"type":"ref/prompt","name":"nope"}}',
        b'{"ref":{"type":"ref/resource","uri":"nope://x/{y}"}}',
        b'{"ref":{"type":"ref/tool","name":"docs-t1"}}',
        b'{"argument":{}}',
    ],
)
async def test_completion_with_an_unknown_ref_is_invalid_params(
    router: Router, membus: MemoryBus, params: bytes
) -> None:
    error = await error_of(membus, envelope("completion/complete", params))
    assert error.code == INVALID_PARAMS


async def test_subscribe_reaches_only_gateways_that_support_it_and_answers_empty(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    sub = envelope("resources/subscribe", b'{"uri":"file:///readme"}', era="legacy")
    assert await ask(membus, sub) == {}
    assert upstream.last()[:2] == ("g1", "resources/subscribe")
    logo = envelope("resources/subscribe", b'{"uri":"file:///logo.png"}', era="legacy")
    assert await ask(membus, logo) == {}
    assert len(upstream.seen) == 1  # mirror does not declare resources.subscribe
    unsub = envelope("resources/unsubscribe", b'{"uri":"file:///readme"}', era="legacy")
    assert await ask(membus, unsub) == {}
    assert len(upstream.seen) == 1  # other clients of the upstream session may still watch it
    unknown = envelope("resources/subscribe", b'{"uri":"x:/y"}', era="legacy")
    assert (await error_of(membus, unknown)).code == INVALID_PARAMS  # no such resource
    hidden = envelope("resources/subscribe", b'{"uri":"file:///readme"}', era="legacy")
    hidden = msgspec.structs.replace(hidden, server_id="s1")
    assert (await error_of(membus, hidden)).code == INVALID_PARAMS  # not on this server
    assert len(upstream.seen) == 1
    # A URI nobody lists, on a server over one upstream (mirror): that upstream decides, as for
    # a client connected to it (mirror does not declare resources.subscribe: nothing is sent).
    unlisted = envelope("resources/subscribe", b'{"uri":"x:/watched"}', era="legacy")
    unlisted = msgspec.structs.replace(unlisted, server_id="s1")
    assert await ask(membus, unlisted) == {}
    assert len(upstream.seen) == 1


async def test_listen_subscribes_each_resource_at_its_upstream_and_answers_the_honoured_filter(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    params = (
        b'{"notifications":{"toolsListChanged":true,"promptsListChanged":false,"taskIds":["t"],'
        b'"resourceSubscriptions":["file:///readme","file:///pages/2","file:///readme",'
        b'"file:///logo.png"]}}'
    )
    result = await ask(membus, envelope("subscriptions/listen", params))
    assert result["notifications"] == {
        "toolsListChanged": True,
        "resourceSubscriptions": ["file:///readme", "file:///pages/2", "file:///logo.png"],
    }
    # docs declares resources.subscribe (a listed resource and a template's match), mirror not.
    sent = sorted((gateway, env.method, bytes(env.params)) for gateway, env in upstream.seen)
    assert sent == [
        ("g1", "resources/subscribe", b'{"uri":"file:///pages/2"}'),
        ("g1", "resources/subscribe", b'{"uri":"file:///readme"}'),
    ]
    assert all(env.protocol and env.protocol.era == "modern" for _, env in upstream.seen)
    plain = await ask(membus, envelope("subscriptions/listen", b'{"notifications":{}}'))
    assert plain["notifications"] == {}
    assert len(upstream.seen) == 2
    legacy = envelope("subscriptions/listen", params, era="legacy")
    assert (await error_of(membus, legacy)).code == METHOD_NOT_FOUND  # no such legacy method
    assert len(upstream.seen) == 2


@pytest.mark.parametrize(
    ("params", "server_id"),
    [
        (b"{}", None),  # no filter at all
        (b'{"notifications":[]}', None),
        (b'{"notifications":{"toolsListChanged":"yes"}}', None),
        (b'{"notifications":{"resourceSubscriptions":"file:///readme"}}', None),
        (b'{"notifications":{"resourceSubscriptions":[1]}}', None),
        (b'{"notifications":{"resourceSubscriptions":[""]}}', None),
        (b'{"notifications":{"resourceSubscriptions":["x:/unknown"]}}', None),
        (b'{"notifications":{"resourceSubscriptions":["file:///readme"]}}', "s1"),  # not there
    ],
)
async def test_listen_with_a_malformed_filter_or_an_unreadable_resource_is_invalid_params(
    router: Router, membus: MemoryBus, upstream: FakeUpstream, params: bytes, server_id: str | None
) -> None:
    error = await error_of(membus, envelope("subscriptions/listen", params, server_id=server_id))
    assert error.code == INVALID_PARAMS
    assert not upstream.seen


async def test_listen_names_at_most_a_bounded_number_of_resources(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    uris = [f"file:///pages/{n}" for n in range(101)]
    params = msgspec.json.encode({"notifications": {"resourceSubscriptions": uris}})
    assert (await error_of(membus, envelope("subscriptions/listen", params))).code == INVALID_PARAMS
    assert not upstream.seen


async def test_logging_set_level_takes_a_valid_level_and_refuses_others(
    router: Router, membus: MemoryBus
) -> None:
    assert await ask(membus, envelope("logging/setLevel", b'{"level":"debug"}', era="legacy")) == {}
    for bad in (b'{"level":"loud"}', b"{}", b'{"level":3}'):
        setting = envelope("logging/setLevel", bad, era="legacy")
        assert (await error_of(membus, setting)).code == INVALID_PARAMS


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("initialize", b'{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{}}'),
        ("ping", b"{}"),
        ("logging/setLevel", b'{"level":"debug"}'),
        ("resources/subscribe", b'{"uri":"file:///readme"}'),
        ("resources/unsubscribe", b'{"uri":"file:///readme"}'),
    ],
)
async def test_methods_removed_in_2026_07_28_are_not_found_for_a_modern_request_only(
    router: Router, membus: MemoryBus, upstream: FakeUpstream, method: str, params: bytes
) -> None:
    assert (await error_of(membus, envelope(method, params))).code == METHOD_NOT_FOUND
    assert not upstream.seen  # never forwarded to an upstream
    assert isinstance(await ask(membus, envelope(method, params, era="legacy")), dict)


async def test_discovery_and_initialize_declare_resources_prompts_completions_logging(
    router: Router, membus: MemoryBus
) -> None:
    discovered = await ask(membus, envelope("server/discover"))
    params = b'{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"c"}}'
    initialized = await ask(membus, envelope("initialize", params, era="legacy"))
    for capabilities in (discovered["capabilities"], initialized["capabilities"]):
        assert capabilities["resources"] == {"subscribe": True, "listChanged": True}
        assert capabilities["prompts"] == {"listChanged": True}
        assert {"completions", "logging", "tools"} <= capabilities.keys()


async def test_resource_and_prompt_events_change_what_is_listed_and_read(
    router: Router, membus: MemoryBus, upstream: FakeUpstream
) -> None:
    await membus.publish(
        subjects.event(subjects.CATALOG, "resources", "changed"),
        msgspec.json.encode(ResourcesChanged("g1", [], [])),
    )
    resources = await ask(membus, envelope("resources/list"))
    # docs no longer lists the readme: mirror's copy takes over.
    assert [r["name"] for r in resources["resources"]] == ["l", "m"]
    await ask(membus, envelope("resources/read", b'{"uri":"file:///readme"}'))
    assert upstream.last()[0] == "g2"
    new = PromptRecord("p9", "docs-new", "new", "g1", Prompt(name="new"))
    await membus.publish(
        subjects.event(subjects.CATALOG, "prompts", "changed"),
        msgspec.json.encode(PromptsChanged("g1", [new])),
    )
    prompts = await ask(membus, envelope("prompts/list"))
    assert [p["name"] for p in prompts["prompts"]] == ["docs-new", "mirror-summary"]
    error = await error_of(membus, envelope("prompts/get", b'{"name":"docs-greet"}'))
    assert error.code == INVALID_PARAMS
