"""A2A agents in the catalog: registration fetches a real card over HTTP, the agent's one tool
follows it, events tell the caches, ownership and the SSRF guard apply as for gateways."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import msgspec
import pytest
from registry_harness import (
    ADMIN,
    CONFIG,
    KEYS,
    Client,
    code_of,
    error_of,
    person,
    start_registry,
)

from forge.core.errors import CONFLICT, FORBIDDEN, INVALID_PARAMS, NOT_FOUND
from forge.core.netguard import NetGuard
from forge.core.sealing import Keyring, new_key_spec
from forge.proto.limits import MAX_DESCRIPTION
from forge.registry.catalog import cards
from forge.registry.catalog.store import Store, apply_migrations
from forge.registry.migrate import load_migrations, migrate
from forge.testing.card_server import LEGACY_CARD_PATH, CardServer, card_v03, card_v1

ALICE = person("alice@x", "p-alice", "team-a", role="team_admin")
BOB = person("bob@x", "p-bob", "team-a", role="developer")
CAROL = person("carol@x", "p-carol", "team-b", role="developer")
VIEWER = person("vic@x", "p-vic", "team-a", role="viewer")
SCHEMA = {
    "type": "object",
    "properties": {
        "message": {"type": "string"},
        "data": {"type": "object"},
        "context_id": {"type": "string"},
        "task_id": {"type": "string"},
    },
    "required": ["message"],
}


@pytest.fixture
def agent_server() -> Iterator[CardServer]:
    with CardServer() as server:
        server.serve_card(card_v1(server.url + "/a2a", "Echo Agent"))
        yield server


def params(server: CardServer, name: str = "Echo", **more: Any) -> dict[str, Any]:
    return {"name": name, "url": server.url, "team_id": "team-a", **more}


async def test_registering_an_agent_fetches_its_card_and_offers_its_tool(
    client: Client, agent_server: CardServer
) -> None:
    agent = await client("agents", "create", params(agent_server, visibility="team"), as_=ALICE)
    assert agent["protocol_version"] == "1.0"
    assert agent["binding"] == "jsonrpc"
    assert agent["url"] == agent_server.url + "/a2a"
    assert agent["card_url"] == agent_server.url + "/.well-known/agent-card.json"
    assert agent["streaming"] is True
    assert agent["card"]["name"] == "Echo Agent"
    assert agent["description"] == "Echoes what it is told"
    assert (agent["owner"], agent["team_id"], agent["visibility"]) == ("alice@x", "team-a", "team")
    assert agent["auth"] is None and agent["auth_type"] == "none"
    assert await client("agents", "get", {"id": agent["id"]}, as_=BOB) == agent
    assert [a["id"] for a in await client("agents", "list", as_=BOB)] == [agent["id"]]

    [tool] = [t for t in await client("tools", "list", as_=BOB) if t["gateway_id"] == agent["id"]]
    assert tool["name"] == "a2a-echo"
    assert tool["tool"]["inputSchema"] == SCHEMA
    assert tool["tool"]["description"] == "Echoes what it is told"
    assert (tool["owner"], tool["team_id"], tool["visibility"]) == ("alice@x", "team-a", "team")

    [changed] = client.events("agents", "changed")
    assert changed["agent"]["id"] == agent["id"]
    assert changed["agent"]["auth"] is None
    [tools] = [e for e in client.events("tools", "changed") if e["gateway_id"] == agent["id"]]
    assert [t["id"] for t in tools["tools"]] == [tool["id"]]
    snapshot = await client("snapshot", "get")
    assert [a["id"] for a in snapshot["agents"]] == [agent["id"]]
    assert tool["id"] in [t["id"] for t in snapshot["tools"]]


async def test_a_0_3_agent_is_found_at_the_legacy_card_path(client: Client) -> None:
    with CardServer() as server:
        server.serve_card(
            card_v03(server.url + "/rpc", "Old", transport="HTTP+JSON"), LEGACY_CARD_PATH
        )
        agent = await client("agents", "create", params(server, "Old"))
        assert server.requests == [cards.CARD_PATH, LEGACY_CARD_PATH]
        url = server.url
    assert (agent["protocol_version"], agent["binding"]) == ("0.3", "http+json")
    assert agent["url"] == url + "/rpc"
    assert agent["card_url"] == url + LEGACY_CARD_PATH
    assert agent["streaming"] is False


def test_a_1_0_card_prefers_the_first_interface_forge_speaks() -> None:
    card = {
        "name": "Multi",
        "supportedInterfaces": [
            {"url": "http://a/grpc", "protocolBinding": "GRPC", "protocolVersion": "1.0"},
            {"url": "http://a/ws", "protocolBinding": "WEIRD", "protocolVersion": "1.0"},
            {"url": "http://a/rest", "protocolBinding": "HTTP+JSON", "protocolVersion": "1.0"},
            {"url": "http://a/rpc", "protocolBinding": "JSONRPC", "protocolVersion": "0.3"},
        ],
    }
    read = cards.read_card(card, "http://a/.well-known/agent-card.json")
    assert (read.url, read.binding, read.protocol_version) == ("http://a/rest", "http+json", "1.0")
    only_grpc = {"name": "G", "supportedInterfaces": card["supportedInterfaces"][:1]}  # type: ignore[index]
    assert cards.read_card(only_grpc, "http://a/c").binding == "grpc"
    wordy = cards.read_card({**only_grpc, "description": "x" * 10_000}, "http://a/c")
    assert wordy.description == "x" * MAX_DESCRIPTION  # it becomes the tool's description


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("<html>not a card</html>", "text/html"),
        ('{"name": ', "application/json"),
        (json.dumps(["a", "list"]), "application/json"),
        (json.dumps({"description": "no name", "url": "http://x"}), "application/json"),
        (json.dumps({"name": "no endpoint"}), "application/json"),
        (
            json.dumps({"name": "ftp", "url": "ftp://x/", "protocolVersion": "0.3"}),
            "application/json",
        ),
        (
            json.dumps({"name": "v2", "url": "http://x/", "protocolVersion": "2.0"}),
            "application/json",
        ),
        (
            '{"name": "deep", "url": "http://x/", "x": ' + "[" * 100 + "]" * 100 + "}",
            "application/json",
        ),
        ("[" * 100_000 + "]" * 100_000, "application/json"),
        (
            json.dumps({"name": "v6", "url": "http://[::1/", "protocolVersion": "0.3"}),
            "application/json",
        ),
        (json.dumps({"name": "long", "url": "http://x/" + "a" * 3000}), "application/json"),
        ('{"name": "nul\\u0000", "url": "http://x/"}', "application/json"),
        ('{"name": "n", "url": "http://x/", "description": "\\ud800"}', "application/json"),
    ],
)
async def test_what_is_not_a_usable_card_is_refused_and_nothing_is_stored(
    client: Client, body: str, content_type: str
) -> None:
    with CardServer() as server:
        server.put(cards.CARD_PATH, body, content_type=content_type)
        error = await error_of(client("agents", "create", params(server)))
    assert error.code == INVALID_PARAMS
    assert error.data == {"field": "url"}
    assert await client("agents", "list") == []
    assert client.events("agents", "changed") == []


async def test_an_agent_without_a_card_or_unreachable_is_refused(client: Client) -> None:
    with CardServer() as server:
        error = await error_of(client("agents", "create", params(server)))
        assert "serves no agent card (HTTP 404" in error.message
        url = server.url
    error = await error_of(client("agents", "create", {"name": "Gone", "url": url}))
    assert error.code == INVALID_PARAMS
    assert "could not be reached" in error.message
    assert await client("agents", "list") == []


async def test_an_oversized_card_is_refused(client: Client) -> None:
    with CardServer() as server:
        server.put(
            cards.CARD_PATH,
            b"{" + b" " * (cards.MAX_CARD_BYTES + 1),
            content_type="application/json",
        )
        error = await error_of(client("agents", "create", params(server)))
    assert error.code == INVALID_PARAMS
    assert "larger than" in error.message


async def test_the_ssrf_guard_refuses_addresses_the_operator_has_not_allowed(
    store: Store, agent_server: CardServer
) -> None:
    strict_config = msgspec.structs.replace(CONFIG, upstream_allowed_networks="")
    strict = await start_registry(store, strict_config)
    for url in (agent_server.url, "http://169.254.169.254/", "http://10.0.0.7:8080/"):
        error = await error_of(strict("agents", "create", {"name": "X", "url": url}))
        assert error.code == FORBIDDEN, url
        assert "special-purpose" in error.message
    assert agent_server.requests == []
    # A card whose endpoint is not allowed is refused too: the bridge would dial it.
    agent_server.serve_card(card_v1("http://169.254.169.254/a2a", "Meta"))
    allowed = await start_registry(store, CONFIG)
    error = await error_of(allowed("agents", "create", params(agent_server)))
    assert (error.code, error.data) == (FORBIDDEN, {"address": "169.254.169.254"})
    assert await allowed("agents", "list") == []


async def test_credentials_are_sealed_with_the_agent_id_and_never_shown(
    client: Client, store: Store, agent_server: CardServer
) -> None:
    agent = await client(
        "agents", "create", params(agent_server, auth_type="bearer", auth_value="s3cret")
    )
    assert agent["auth_type"] == "bearer" and agent["auth"] is None
    assert "s3cret" not in json.dumps(client.events("agents", "changed"))
    sealed = (await store.get_agent(agent["id"])).auth
    assert sealed is not None and "s3cret" not in sealed
    # The mesh's services (admins) get it sealed, to open in the a2a-bridge; nobody else at all.
    assert (await client("agents", "get", {"id": agent["id"]}))["auth"] == sealed
    assert all(a["auth"] is None for a in await client("agents", "list"))
    keys = Keyring.parse(CONFIG.secret_keys)
    opened = json.loads(keys.open(sealed, agent["id"].encode()))
    assert opened == {"type": "bearer", "token": "s3cret"}
    headers = {"auth_type": "authheaders", "auth_header_key": "X-Api-Key", "auth_value": "k"}
    updated = await client("agents", "update", {"id": agent["id"], **headers})
    assert updated["auth_type"] == "headers"
    sealed = (await store.get_agent(agent["id"])).auth
    assert sealed is not None
    assert json.loads(keys.open(sealed, agent["id"].encode()))["headers"] == {"X-Api-Key": "k"}
    # An API key in a query parameter (an A2A apiKey scheme `in: query`): the bridge adds it.
    query = {"type": "query_param", "query_param": "k", "query_value": "v"}
    keyed = await client("agents", "create", params(agent_server, "Q", auth=query))
    assert keyed["auth_type"] == "query_param" and keyed["auth"] is None
    sealed = (await store.get_agent(keyed["id"])).auth
    assert sealed is not None
    assert json.loads(keys.open(sealed, keyed["id"].encode())) == query
    # Per-user OAuth and mTLS are not an agent's (the bridge cannot open them).
    code = {"type": "oauth_authorization_code", "token_url": "https://idp.example.com/token"}
    code |= {"authorize_url": "https://idp.example.com/authorize", "client_id": "c"}
    error = await error_of(client("agents", "create", params(agent_server, "C", auth=code)))
    assert (error.code, error.data) == (INVALID_PARAMS, {"field": "auth_type"})


async def test_disabling_removes_its_tool_from_servers_and_enabling_brings_it_back(
    client: Client, agent_server: CardServer
) -> None:
    agent = await client("agents", "create", params(agent_server))
    [tool] = [t for t in await client("tools", "list") if t["gateway_id"] == agent["id"]]
    server = await client("servers", "create", {"name": "S", "associated_tools": [tool["id"]]})
    assert server["associated_tools"] == [tool["id"]]
    off = await client("agents", "toggle", {"id": agent["id"]})
    assert off["enabled"] is False
    assert [t for t in await client("tools", "list") if t["gateway_id"] == agent["id"]] == []
    assert (await client("servers", "get", {"id": server["id"]}))["associated_tools"] == []
    assert client.events("tools", "changed")[-1] == {"gateway_id": agent["id"], "tools": []}
    assert client.events("servers", "changed")[-1]["associated_tools"] == []
    on = await client("agents", "toggle", {"id": agent["id"], "activate": True})
    assert on["enabled"] is True
    [back] = [t for t in await client("tools", "list") if t["gateway_id"] == agent["id"]]
    assert back["name"] == "a2a-echo"
    same = await client("agents", "toggle", {"id": agent["id"], "activate": True})
    assert same["enabled"] is True


async def test_renaming_renames_its_tool_in_place_and_delete_removes_both(
    client: Client, agent_server: CardServer
) -> None:
    agent = await client("agents", "create", params(agent_server))
    [tool] = [t for t in await client("tools", "list") if t["gateway_id"] == agent["id"]]
    server = await client("servers", "create", {"name": "S", "associated_tools": [tool["id"]]})
    renamed = await client("agents", "update", {"id": agent["id"], "name": "Parrot Bot"})
    assert renamed["slug"] == "parrot-bot"
    [after] = [t for t in await client("tools", "list") if t["gateway_id"] == agent["id"]]
    assert (after["id"], after["name"]) == (tool["id"], "a2a-parrot-bot")
    assert await client("agents", "delete", {"id": agent["id"]}) == {
        "id": agent["id"],
        "deleted": True,
    }
    assert client.events("agents", "deleted") == [{"id": agent["id"]}]
    assert client.events("tools", "changed")[-1] == {"gateway_id": agent["id"], "tools": []}
    assert (await client("servers", "get", {"id": server["id"]}))["associated_tools"] == []
    assert await code_of(client("agents", "get", {"id": agent["id"]})) == NOT_FOUND
    assert await client("snapshot", "get") and (await client("snapshot", "get"))["agents"] == []


async def test_a_tool_name_taken_is_a_conflict(client: Client, agent_server: CardServer) -> None:
    await client("agents", "create", params(agent_server))
    same_slug = await error_of(
        client("agents", "create", params(agent_server, "echo!", team_id="team-b"), as_=CAROL)
    )
    assert (same_slug.code, same_slug.data) == (CONFLICT, {"field": "name"})
    same_name = await error_of(client("agents", "create", params(agent_server)))
    assert same_name.code == CONFLICT
    assert len(await client("agents", "list")) == 1


async def test_refresh_follows_the_card_and_update_of_url_fetches_again(
    client: Client, agent_server: CardServer
) -> None:
    agent = await client("agents", "create", params(agent_server))
    agent_server.serve_card(
        card_v1(
            agent_server.url + "/v2",
            "Echo",
            binding="HTTP+JSON",
            streaming=False,
            description="New",
        )
    )
    refreshed = await client("agents", "refresh", {"id": agent["id"]})
    assert (refreshed["url"], refreshed["binding"]) == (agent_server.url + "/v2", "http+json")
    assert (refreshed["streaming"], refreshed["description"]) == (False, "New")
    [tool] = [t for t in await client("tools", "list") if t["gateway_id"] == agent["id"]]
    assert tool["tool"]["description"] == "New"
    agent_server.clear()
    error = await error_of(client("agents", "refresh", {"id": agent["id"]}))
    assert error.code == INVALID_PARAMS
    assert (await client("agents", "get", {"id": agent["id"]}))["url"] == agent_server.url + "/v2"
    with CardServer() as other:
        other.serve_card(card_v03(other.url + "/", "Moved"))
        moved = await client("agents", "update", {"id": agent["id"], "endpoint_url": other.url})
        assert (moved["url"], moved["protocol_version"]) == (other.url + "/", "0.3")


async def test_another_teams_private_agent_is_invisible_and_untouchable(
    client: Client, agent_server: CardServer
) -> None:
    agent = await client("agents", "create", params(agent_server, visibility="private"), as_=ALICE)
    for op, extra in (
        ("get", {}),
        ("update", {"name": "Mine"}),
        ("toggle", {}),
        ("refresh", {}),
        ("delete", {}),
    ):
        assert (
            await code_of(client("agents", op, {"id": agent["id"], **extra}, as_=CAROL))
            == NOT_FOUND
        )
    assert await client("agents", "list", as_=CAROL) == []
    assert [
        t for t in await client("tools", "list", as_=CAROL) if t["gateway_id"] == agent["id"]
    ] == []
    team = await client(
        "agents", "create", params(agent_server, "Team", visibility="team"), as_=ALICE
    )
    # Seen by the team, changed only by those who may: a viewer holds no a2a.update.
    assert (await client("agents", "get", {"id": team["id"]}, as_=VIEWER))["id"] == team["id"]
    assert (
        await code_of(client("agents", "update", {"id": team["id"], "name": "V"}, as_=VIEWER))
        == FORBIDDEN
    )
    assert await code_of(client("agents", "delete", {"id": team["id"]}, as_=BOB)) == FORBIDDEN
    assert (
        await code_of(client("agents", "create", params(agent_server, "New"), as_=VIEWER))
        == FORBIDDEN
    )
    assert len(await client("agents", "list", as_=ADMIN)) == 2


async def test_bad_params_are_refused(client: Client, agent_server: CardServer) -> None:
    cases: list[dict[str, Any]] = [
        {"name": "x"},
        {"name": "x", "url": "ftp://h/"},
        {"name": "x", "url": agent_server.url, "endpoint_url": "http://other/"},
        {"name": "x", "url": agent_server.url, "timeout_s": 0},
        {"name": "   ", "url": agent_server.url},
        {"name": "x", "url": agent_server.url, "auth_value": "v"},
        {"name": "x", "url": agent_server.url, "visibility": "world"},
    ]
    for case in cases:
        assert await code_of(client("agents", "create", case)) == INVALID_PARAMS, case
    assert await client("agents", "list") == []


async def test_reseal_moves_agents_credentials_to_the_new_key(
    client: Client, store: Store, agent_server: CardServer
) -> None:
    agent = await client(
        "agents", "create", params(agent_server, auth_type="bearer", auth_token="tok")
    )
    await client("agents", "create", params(agent_server, "Plain"))
    new_key = new_key_spec("k2")
    rotated = await start_registry(
        store, msgspec.structs.replace(CONFIG, secret_keys=f"{new_key},{KEYS}")
    )
    assert await rotated("secrets", "reseal", {}) == {"resealed": 1}
    sealed = (await store.get_agent(agent["id"])).auth
    assert sealed is not None and sealed.startswith("v1.k2.")
    opened = Keyring.parse(new_key).open(sealed, agent["id"].encode())
    assert json.loads(opened) == {"type": "bearer", "token": "tok"}
    [changed] = rotated.events("agents", "changed")
    # Sealed, as in the store: the a2a-bridge opens it, as the upstream-proxy does gateways'.
    assert changed["agent"]["id"] == agent["id"] and changed["agent"]["auth"] == sealed
    assert await rotated("secrets", "reseal", {}) == {"resealed": 0}


async def test_tools_stored_before_migration_8_still_go_with_their_gateway(
    fresh_database: str,
) -> None:
    before = [m for m in load_migrations() if m.version < 8]
    await apply_migrations(fresh_database, before)
    conn = await asyncpg.connect(fresh_database)
    try:
        await conn.execute(
            "INSERT INTO gateways (id, name, slug, url, transport, visibility)"
            " VALUES ('g1', 'G', 'g', 'http://127.0.0.1:1/mcp', 'streamablehttp', 'public')"
        )
        await conn.execute(
            "INSERT INTO tools (id, gateway_id, name, original_name, definition, visibility)"
            " VALUES ('t1', 'g1', 'g-echo', 'echo', '{\"name\": \"echo\"}', 'public')"
        )
        assert await migrate(fresh_database) == [m.version for m in load_migrations()][7:]
        assert await conn.fetchval("SELECT upstream_id FROM tools WHERE id = 't1'") == "g1"
        # No tool without its gateway or agent, and an agent's tool names its agent.
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await conn.execute(
                "INSERT INTO tools (id, gateway_id, name, original_name, definition, visibility)"
                " VALUES ('t2', 'nobody', 'x', 'x', '{}', 'public')"
            )
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "INSERT INTO tools (id, gateway_id, agent_id, name, original_name, definition,"
                " visibility) VALUES ('t3', 'g1', 'a1', 'y', 'y', '{}', 'public')"
            )
        await conn.execute("DELETE FROM gateways WHERE id = 'g1'")
        assert await conn.fetchval("SELECT count(*) FROM tools") == 0
    finally:
        await conn.close()


async def test_migration_11_lets_agents_registered_before_take_tasks(
    fresh_database: str,
) -> None:
    before = [m for m in load_migrations() if m.version < 11]
    await apply_migrations(fresh_database, before)
    conn = await asyncpg.connect(fresh_database)
    try:
        for agent_id in ("a1", "a2"):
            await conn.execute(
                "INSERT INTO agents (id, name, slug, url, protocol_version, binding, visibility)"
                " VALUES ($1, $1, $1, 'http://127.0.0.1:1/', '1.0', 'jsonrpc', 'public')",
                agent_id,
            )
        await conn.execute(
            "INSERT INTO gateways (id, name, slug, url, transport, visibility)"
            " VALUES ('g1', 'G', 'g', 'http://127.0.0.1:1/mcp', 'streamablehttp', 'public')"
        )
        rows = [  # (id, gateway, agent, definition) as stored before
            ("t1", "a1", "a1", {"name": "a1"}),  # an agent's tool from before decision 0028
            ("t2", "a2", "a2", {"name": "a2", "execution": {"x": 1}}),
            ("t3", "g1", None, {"name": "echo"}),  # a gateway's tool: its upstream's word
        ]
        for tool_id, gateway, agent, definition in rows:
            await conn.execute(
                "INSERT INTO tools (id, gateway_id, agent_id, name, original_name, definition,"
                " visibility) VALUES ($1, $2, $3, $1, $1, $4::jsonb, 'public')",
                *(tool_id, gateway, agent, json.dumps(definition)),
            )
        assert await migrate(fresh_database) == [m.version for m in load_migrations()][10:]
        found = {
            r["id"]: json.loads(r["definition"])
            for r in await conn.fetch("SELECT id, definition FROM tools")
        }
        assert found["t1"] == {"name": "a1", "execution": {"taskSupport": "optional"}}
        assert found["t2"] == {"name": "a2", "execution": {"x": 1, "taskSupport": "optional"}}
        assert found["t3"] == {"name": "echo"}
    finally:
        await conn.close()
    # What the registry serves from the store: the tool as decision 0028 defines it.
    store = await Store.connect(fresh_database, min_size=1, max_size=2)
    try:
        assert (await store.get_tool("t1")).tool.execution == {"taskSupport": "optional"}
    finally:
        await store.close()


async def test_contextforges_associated_a2a_agents_put_agents_tools_in_a_server(
    client: Client, agent_server: CardServer
) -> None:
    one = await client("agents", "create", params(agent_server, "One"), as_=ALICE)
    two = await client("agents", "create", params(agent_server, "Two"), as_=ALICE)
    hidden = await client(
        "agents", "create", params(agent_server, "Hidden", team_id="team-b"), as_=CAROL
    )
    tools = {t["gateway_id"]: t["id"] for t in await client("tools", "list")}
    server = await client(
        "servers",
        "create",
        {"name": "S", "team_id": "team-a", "associated_a2a_agents": [one["id"]]},
        as_=ALICE,
    )
    assert server["associated_tools"] == [tools[one["id"]]]
    swapped = await client(
        "servers", "update", {"id": server["id"], "associated_a2a_agents": [two["id"]]}, as_=ALICE
    )
    assert swapped["associated_tools"] == [tools[two["id"]]]
    error = await error_of(
        client(
            "servers",
            "update",
            {"id": server["id"], "associated_a2a_agents": [hidden["id"]]},
            as_=ALICE,
        )
    )
    assert (error.code, error.data) == (INVALID_PARAMS, {"a2a_agent": hidden["id"]})
    await client("agents", "toggle", {"id": one["id"], "activate": False}, as_=ALICE)
    error = await error_of(
        client("servers", "create", {"name": "T", "associated_a2a_agents": [one["id"]]})
    )
    assert (error.code, error.data) == (INVALID_PARAMS, {"a2a_agent": one["id"]})


async def test_a_card_that_trickles_in_is_refused_at_the_deadline() -> None:
    with CardServer() as server:
        server.serve_card(card_v1(server.url, "Slow"))
        server.trickle_s = 0.2  # each byte within httpx's read timeout, the whole far beyond
        guard = NetGuard("127.0.0.0/8")
        error = await error_of(cards.fetch(guard, server.url, timeout_s=1.0))
        server.trickle_s = 0.0
    assert error.code == INVALID_PARAMS
    assert "did not answer its card within 1 s" in error.message


async def test_a_redirect_to_an_address_the_guard_refuses_is_refused(
    client: Client, agent_server: CardServer
) -> None:
    agent_server.redirect(cards.CARD_PATH, "http://10.0.0.1:9/.well-known/agent-card.json")
    error = await error_of(client("agents", "create", params(agent_server)))
    assert (error.code, error.data) == (FORBIDDEN, {"address": "10.0.0.1"})
    # A redirect within what the operator allows is followed.
    agent_server.redirect(cards.CARD_PATH, agent_server.url + "/cards/echo.json")
    agent_server.serve_card(card_v1(agent_server.url + "/a2a", "Echo"), "/cards/echo.json")
    agent = await client("agents", "create", params(agent_server))
    assert agent["card_url"] == agent_server.url + cards.CARD_PATH
    assert agent_server.requests[-2:] == [cards.CARD_PATH, "/cards/echo.json"]


async def test_its_tool_follows_the_agents_placement(
    client: Client, agent_server: CardServer
) -> None:
    agent = await client("agents", "create", params(agent_server, visibility="private"), as_=ALICE)
    assert [
        t for t in await client("tools", "list", as_=BOB) if t["gateway_id"] == agent["id"]
    ] == []
    await client("agents", "update", {"id": agent["id"], "visibility": "team"}, as_=ALICE)
    [tool] = [t for t in await client("tools", "list", as_=BOB) if t["gateway_id"] == agent["id"]]
    assert (tool["owner"], tool["team_id"], tool["visibility"]) == ("alice@x", "team-a", "team")
    assert client.events("tools", "changed")[-1]["tools"][0]["visibility"] == "team"
