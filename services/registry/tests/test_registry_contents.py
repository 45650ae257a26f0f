"""Resources, resource templates and prompts: stored from discovery, announced, associated."""

from __future__ import annotations

import pytest
from registry_harness import Client, FakeUpstreamProxy

from forge.core.errors import INVALID_PARAMS, NOT_FOUND, ConflictError, ForgeError
from forge.proto.catalog import Gateway
from forge.proto.mcp import Prompt, Resource, ResourceTemplate
from forge.registry.catalog.contents import Contents, Entry
from forge.registry.catalog.store import Store

GATEWAY = {"name": "Docs", "url": "http://127.0.0.1:9000/mcp"}
OTHER = {"name": "Mirror", "url": "http://127.0.0.1:9001/mcp"}


async def code_of(call: object) -> int:
    with pytest.raises(ForgeError) as info:
        await call  # type: ignore[misc]
    return info.value.code


async def test_a_created_gateway_stores_its_resources_templates_and_prompts(
    client: Client,
) -> None:
    gateway = await client("gateways", "create", GATEWAY)
    [resource] = await client("resources", "list")
    assert resource["uri"] == "file:///readme" and resource["gateway_id"] == gateway["id"]
    assert resource["resource"]["mimeType"] == "text/plain"
    [template] = await client("resource_templates", "list")
    assert template["uri_template"] == "file:///n/{n}"
    [prompt] = await client("prompts", "list")
    assert prompt["name"] == "docs-greet" and prompt["original_name"] == "greet"
    assert prompt["prompt"]["arguments"] == [{"name": "who", "required": True}]
    assert await client("resources", "get", {"id": resource["id"]}) == resource
    assert await client("prompts", "get", {"id": prompt["id"]}) == prompt
    assert await client("resource_templates", "get", {"id": template["id"]}) == template


async def test_creation_announces_the_gateways_full_resource_and_prompt_sets(
    client: Client,
) -> None:
    gateway = await client("gateways", "create", GATEWAY)
    [resources] = client.events("resources", "changed")
    assert resources["gateway_id"] == gateway["id"]
    assert [r["uri"] for r in resources["resources"]] == ["file:///readme"]
    assert [t["uri_template"] for t in resources["resource_templates"]] == ["file:///n/{n}"]
    [prompts] = client.events("prompts", "changed")
    assert [p["name"] for p in prompts["prompts"]] == ["docs-greet"]


async def test_refresh_keeps_ids_by_uri_and_name_and_drops_what_is_gone(
    client: Client, upstream: FakeUpstreamProxy
) -> None:
    gateway = await client("gateways", "create", GATEWAY)
    [readme] = await client("resources", "list")
    [greet] = await client("prompts", "list")
    upstream.resources = [Resource(uri="file:///readme", name="readme", description="new")]
    upstream.resource_templates = []
    upstream.prompts = [Prompt(name="greet", description="kinder"), Prompt(name="bye")]
    summary = await client("gateways", "refresh", {"id": gateway["id"]})
    assert (summary["resources"], summary["resource_templates"], summary["prompts"]) == (1, 0, 2)
    [after] = await client("resources", "list")
    assert after["id"] == readme["id"] and after["resource"]["description"] == "new"
    assert await client("resource_templates", "list") == []
    prompts = {p["original_name"]: p for p in await client("prompts", "list")}
    assert prompts["greet"]["id"] == greet["id"]
    assert prompts["greet"]["prompt"]["description"] == "kinder"
    last = client.events("prompts", "changed")[-1]
    assert {p["name"] for p in last["prompts"]} == {"docs-greet", "docs-bye"}
    assert client.events("resources", "changed")[-1]["resource_templates"] == []


async def test_a_server_takes_resources_templates_and_prompts_by_id_or_key(
    client: Client,
) -> None:
    await client("gateways", "create", GATEWAY)
    [resource] = await client("resources", "list")
    [template] = await client("resource_templates", "list")
    [prompt] = await client("prompts", "list")
    server = await client(
        "servers",
        "create",
        {
            "name": "Reader",
            "associated_resources": ["file:///readme", template["id"]],
            "associated_prompts": ["docs-greet"],
        },
    )
    assert server["associated_resources"] == [resource["id"], template["id"]]
    assert server["associated_prompts"] == [prompt["id"]]
    assert await client("servers", "get", {"id": server["id"]}) == server


@pytest.mark.parametrize(
    "params",
    [
        {"name": "Bad", "associated_resources": ["file:///nope"]},
        {"name": "Bad", "associated_prompts": ["docs-nope"]},
    ],
)
async def test_a_server_with_an_unknown_resource_or_prompt_is_refused(
    client: Client, params: dict[str, object]
) -> None:
    await client("gateways", "create", GATEWAY)
    assert await code_of(client("servers", "create", params)) == INVALID_PARAMS
    assert await client("servers", "list") == []


async def test_a_uri_two_gateways_share_resolves_to_the_first_registered(client: Client) -> None:
    first = await client("gateways", "create", GATEWAY)
    await client("gateways", "create", OTHER)
    resources = await client("resources", "list")
    assert len(resources) == 2  # both stored; reads go to the first
    server = await client(
        "servers", "create", {"name": "R", "associated_resources": ["file:///readme"]}
    )
    [chosen] = server["associated_resources"]
    assert next(r for r in resources if r["id"] == chosen)["gateway_id"] == first["id"]


async def test_deleting_a_gateway_empties_its_sets_and_its_servers_share(client: Client) -> None:
    gateway = await client("gateways", "create", GATEWAY)
    server = await client(
        "servers",
        "create",
        {
            "name": "R",
            "associated_resources": ["file:///readme"],
            "associated_prompts": ["docs-greet"],
        },
    )
    await client("gateways", "delete", {"id": gateway["id"]})
    assert await client("resources", "list") == []
    assert await client("prompts", "list") == []
    assert client.events("resources", "changed")[-1] == {
        "gateway_id": gateway["id"],
        "resources": [],
        "resource_templates": [],
    }
    assert client.events("prompts", "changed")[-1] == {"gateway_id": gateway["id"], "prompts": []}
    fetched = await client("servers", "get", {"id": server["id"]})
    assert fetched.get("associated_resources", []) == []
    assert fetched.get("associated_prompts", []) == []
    assert client.events("servers", "changed")[-1] == fetched


async def test_the_snapshot_holds_resources_templates_and_prompts(client: Client) -> None:
    await client("gateways", "create", GATEWAY)
    snapshot = await client("snapshot", "get")
    assert [r["uri"] for r in snapshot["resources"]] == ["file:///readme"]
    assert [t["uri_template"] for t in snapshot["resource_templates"]] == ["file:///n/{n}"]
    assert [p["name"] for p in snapshot["prompts"]] == ["docs-greet"]


async def test_unknown_resource_prompt_and_template_ids_are_not_found(client: Client) -> None:
    for entity in ("resources", "resource_templates", "prompts"):
        assert await code_of(client(entity, "get", {"id": "nope"})) == NOT_FOUND


async def test_the_store_rolls_back_a_gateway_whose_prompt_name_clashes(store: Store) -> None:
    def gateway(gateway_id: str, slug: str) -> Gateway:
        return Gateway(id=gateway_id, name=slug, slug=slug, url="http://127.0.0.1/mcp")

    first = Contents(prompts=[Entry("p1", "b-c", Prompt(name="b-c"), name="a-b-c")])
    await store.insert_gateway(gateway("g1", "a"), [], first)
    second = Contents(
        resources=[Entry("r2", "file:///x", Resource(uri="file:///x"))],
        templates=[Entry("t2", "x/{y}", ResourceTemplate(uriTemplate="x/{y}"))],
        prompts=[Entry("p2", "c", Prompt(name="c"), name="a-b-c")],
    )
    with pytest.raises(ConflictError):
        await store.insert_gateway(gateway("g2", "a-b"), [], second)
    assert [g.id for g in await store.list_gateways()] == ["g1"]
    snapshot = await store.snapshot()
    assert snapshot.resources == [] and snapshot.resource_templates == []
    assert [p.id for p in snapshot.prompts] == ["p1"]
