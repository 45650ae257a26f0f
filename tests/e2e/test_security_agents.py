"""Agents and identity through the whole mesh: a user's private agent is a tool only its owner
sees and calls; another team's user does not see a team's agent on /mcp (tools/list,
tools/call: an unknown tool, -32602, as for any tool they cannot see), on REST (`/a2a`,
`/a2a/{id}` and its operations: 404), on Forge's A2A endpoint (`/a2a/{agent}/`, its card,
`invoke`: 404) or in a public virtual server (its tools, and its card and skills when served as
an A2A agent); forged, expired, wrong-audience and wrong-issuer tokens are 401 on every `/a2a`
route and on a server served as an agent; a secrets guardrail bound to the agent's tool refuses
a secret in the message sent to it (-32013 on MCP in both eras, and the A2A error on
`/a2a/{agent}/` and through a server served as an agent)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from mcp import MCPError

from forge.cli.mesh import Mesh
from forge.cli.tokens import mint
from forge.servers.process import ServerProcess, spawn
from forge.testing import eventually_sync
from tests.e2e.conftest import sdk_client
from tests.e2e.security_kit import LIST, Person, login, make_user, names, ok, rest


@pytest.fixture(scope="module")
def echo_agent() -> Iterator[ServerProcess]:
    with spawn("forge.agents.echo", path="/") as agent:
        yield agent


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_private_agent_is_its_owners_tool_alone(
    mesh: Mesh, admin_token: str, echo_agent: ServerProcess, mode: str
) -> None:
    run = uuid.uuid4().hex[:6]
    emails = {k: f"{k}-{run}@example.com" for k in ("alice", "bob")}
    for email in emails.values():
        make_user(mesh, admin_token, email, "developer")
    alice, bob = login(mesh, emails["alice"]), login(mesh, emails["bob"])
    with rest(mesh, alice.token) as http:
        body = {"name": f"private echo {run}", "url": echo_agent.url, "visibility": "private"}
        agent = ok(http.post("/a2a", json=body), 201)
    tool = f"a2a-{agent['slug']}"
    with rest(mesh, bob.token) as http:
        assert agent["id"] not in {a["id"] for a in ok(http.get("/a2a"))}
    http_b, bob_client = sdk_client(mesh.url + "/mcp", bob.token, mode)
    async with http_b, bob_client:
        assert tool not in {t.name for t in (await bob_client.list_tools()).tools}
        with pytest.raises(MCPError) as unknown:
            await bob_client.call_tool(tool, {"message": "let me in"})
        assert unknown.value.code == -32602
    http_a, alice_client = sdk_client(mesh.url + "/mcp", alice.token, mode)
    async with http_a, alice_client:
        assert tool in {t.name for t in (await alice_client.list_tools()).tools}
        result = await alice_client.call_tool(tool, {"message": "mine"})
        assert result.content[0].text == "mine"  # type: ignore[union-attr]


# --- another team's agent, everywhere it could show --------------------------------------------

SECRET = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"  # a GitHub token's shape
SEND = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "SendMessage",
    "params": {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}},
}


@dataclass
class Agents:
    alice: Person  # developer, member of team A
    bob: Person  # developer, member of team B only
    team_a: str
    agent: dict[str, Any]  # team A's agent (visibility team)
    tool: dict[str, Any]  # its tool, as alice sees it over REST
    server: str  # alice's public virtual server holding the agent's tool
    run: str


@pytest.fixture(scope="module")
def agents(mesh: Mesh, admin_token: str, echo_agent: ServerProcess) -> Agents:
    run = uuid.uuid4().hex[:6]
    emails = {k: f"{k}-ag-{run}@example.com" for k in ("alice", "bob")}
    for email in emails.values():
        make_user(mesh, admin_token, email, "developer")
    alice, bob = login(mesh, emails["alice"]), login(mesh, emails["bob"])
    with rest(mesh, alice.token) as http:
        team_a = ok(http.post("/teams", json={"name": f"ag-a-{run}"}))["id"]
    with rest(mesh, bob.token) as http:
        ok(http.post("/teams", json={"name": f"ag-b-{run}"}))
    alice, bob = login(mesh, emails["alice"]), login(mesh, emails["bob"])
    with rest(mesh, alice.token) as http:
        body = {
            "name": f"team echo {run}",
            "url": echo_agent.url,
            "visibility": "team",
            "team_id": team_a,
        }
        agent = ok(http.post("/a2a", json=body), 201)
        name = f"a2a-{agent['slug']}"
        tool = eventually_sync(
            lambda: [t for t in ok(http.get("/tools")) if t["name"] == name],
            within_s=15,
            what=f"{name} is listed",
        )[0]
        server = ok(
            http.post(
                "/servers",
                json={
                    "name": f"ag-srv-{run}",
                    "associated_tools": [tool["id"]],
                    "visibility": "public",
                    "team_id": team_a,
                },
            )
        )["id"]
    return Agents(alice, bob, team_a, agent, tool, server, run)


def _mcp(mesh: Mesh, person: Person, body: dict[str, Any], path: str = "/mcp") -> Any:
    return ok(httpx.post(mesh.url + path, json=body, headers=person.headers, timeout=30))


def _call(tool: str, text: str) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "tools/call",
        "params": {"name": tool, "arguments": {"message": text}},
    }


def test_another_teams_agent_is_not_found_on_every_rest_route(mesh: Mesh, agents: Agents) -> None:
    agent = agents.agent
    with rest(mesh, agents.bob.token) as http:
        for prefix in ("", "/v1"):
            assert agent["id"] not in {a["id"] for a in ok(http.get(f"{prefix}/a2a"))}
            attempts = [
                http.get(f"{prefix}/a2a/{agent['id']}"),
                http.put(f"{prefix}/a2a/{agent['id']}", json={"description": "mine now"}),
                http.post(f"{prefix}/a2a/{agent['id']}/toggle"),
                http.post(f"{prefix}/a2a/{agent['id']}/card/refresh"),
                http.delete(f"{prefix}/a2a/{agent['id']}"),
            ]
            for attempt in attempts:
                assert attempt.status_code == 404, (attempt.request.url, attempt.text)
                for secret in (agent["name"], agent["slug"], agents.team_a):
                    assert secret not in attempt.text
            assert agent["id"] not in {t["gatewayId"] for t in ok(http.get(f"{prefix}/tools"))}
    with rest(mesh, agents.alice.token) as http:
        still = ok(http.get(f"/a2a/{agent['id']}"))
    assert (still["enabled"], still["description"]) == (agent["enabled"], agent["description"])


@pytest.mark.parametrize("by", ["slug", "id"])
def test_another_teams_agent_is_not_found_on_the_a2a_endpoint(
    mesh: Mesh, agents: Agents, by: str
) -> None:
    base = f"{mesh.url}/a2a/{agents.agent[by]}"
    headers = {**agents.bob.headers, "A2A-Version": "1.0"}
    card = httpx.get(base + "/.well-known/agent-card.json", headers=headers)
    sent = httpx.post(base + "/", json=SEND, headers=headers)
    invoked = httpx.post(base + "/invoke", json={"parameters": {"query": "hi"}}, headers=headers)
    for answer in (card, sent, invoked):
        assert answer.status_code == 404, (answer.request.url, answer.text)
        assert agents.agent["name"] not in answer.text
    mine = httpx.post(base + "/", json=SEND, headers={**agents.alice.headers, "A2A-Version": "1.0"})
    assert mine.status_code == 200 and "result" in mine.json(), mine.text


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_another_teams_agent_is_not_a_tool_on_mcp(
    mesh: Mesh, agents: Agents, mode: str
) -> None:
    tool = agents.tool["name"]
    http_b, bob_client = sdk_client(mesh.url + "/mcp", agents.bob.token, mode)
    async with http_b, bob_client:
        assert tool not in {t.name for t in (await bob_client.list_tools()).tools}
        with pytest.raises(MCPError) as unknown:
            await bob_client.call_tool(tool, {"message": "let me in"})
        assert unknown.value.code == -32602
    http_a, alice_client = sdk_client(mesh.url + "/mcp", agents.alice.token, mode)
    async with http_a, alice_client:
        result = await alice_client.call_tool(tool, {"message": "ours"})
    assert result.content[0].text == "ours"  # type: ignore[union-attr]


def test_a_public_server_does_not_show_or_call_another_teams_agent(
    mesh: Mesh, agents: Agents
) -> None:
    tool, server = agents.tool, agents.server
    with rest(mesh, agents.bob.token) as http:
        got = ok(http.get(f"/servers/{server}"))
        listed = [s for s in ok(http.get("/servers")) if s["id"] == server]
        assert got["associated_tools"] == [] and [s["associated_tools"] for s in listed] == [[]]
        assert tool["id"] not in str(got) + str(listed)
        # Nor can bob put it in a server of his own: the answer of a tool that does not exist.
        for wanted in (tool["id"], uuid.uuid4().hex):
            body = {"name": f"steal-{uuid.uuid4().hex[:6]}", "associated_tools": [wanted]}
            taken = http.post("/servers", json=body)
            assert taken.status_code == 422, taken.text
            assert taken.json()["code"] == -32602
    path = f"/servers/{server}/mcp"
    assert names(_mcp(mesh, agents.bob, LIST, path)) == set()
    refused = _mcp(mesh, agents.bob, _call(tool["name"], "via the server"), path)
    assert refused["error"]["code"] == -32602
    assert names(_mcp(mesh, agents.alice, LIST, path)) == {tool["name"]}


def _skill_send(skill: str, text: str) -> dict[str, Any]:
    message = {
        "messageId": "m",
        "role": "ROLE_USER",
        "parts": [{"text": text}],
        "metadata": {"skill": skill},
    }
    return {**SEND, "params": {"message": message}}


def test_a_public_server_served_as_an_a2a_agent_does_not_offer_another_teams_agent(
    mesh: Mesh, agents: Agents
) -> None:
    tool, base = agents.tool["name"], f"{mesh.url}/servers/{agents.server}/a2a"
    card_path = base + "/.well-known/agent-card.json"
    headers = {"A2A-Version": "1.0"}
    theirs = httpx.get(card_path, headers={**headers, **agents.bob.headers})
    assert theirs.status_code == 200, theirs.text
    assert [s["id"] for s in theirs.json()["skills"]] == []
    for secret in (tool, agents.agent["name"], agents.agent["slug"]):
        assert secret not in theirs.text
    sent = httpx.post(
        base, json=_skill_send(tool, "let me in"), headers={**headers, **agents.bob.headers}
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["error"]["code"] == -32602
    assert agents.agent["name"] not in sent.text
    mine = httpx.get(card_path, headers={**headers, **agents.alice.headers})
    assert [s["id"] for s in mine.json()["skills"]] == [tool]
    ours = httpx.post(
        base, json=_skill_send(tool, "ours"), headers={**headers, **agents.alice.headers}
    )
    assert ours.json()["result"]["message"]["parts"][0]["text"] == "ours", ours.text


# --- tokens that must not open the /a2a routes ---------------------------------------------------


def _bad_tokens(mesh: Mesh) -> dict[str, str]:
    admin = "admin@forge.local"
    return {
        "forged signature": mint("f" * 48, admin, admin=True),
        "expired": mint(mesh.secret, admin, admin=True, ttl_s=-120),
        "wrong audience": mint(mesh.secret, admin, admin=True, audience="someone-else"),
        "wrong issuer": mint(mesh.secret, admin, admin=True, issuer="https://evil.example"),
    }


@pytest.mark.parametrize("kind", ["forged signature", "expired", "wrong audience", "wrong issuer"])
def test_bad_tokens_are_refused_on_the_a2a_routes(mesh: Mesh, agents: Agents, kind: str) -> None:
    headers = {"Authorization": f"Bearer {_bad_tokens(mesh)[kind]}", "A2A-Version": "1.0"}
    agent = agents.agent
    attempts = [
        ("GET", "/a2a", None),
        ("POST", "/a2a", {"name": f"evil {kind}", "url": "http://127.0.0.1:9/"}),
        ("GET", f"/a2a/{agent['id']}", None),
        ("PUT", f"/a2a/{agent['id']}", {"description": "x"}),
        ("DELETE", f"/a2a/{agent['id']}", None),
        ("POST", f"/a2a/{agent['id']}/toggle", None),
        ("POST", f"/a2a/{agent['id']}/card/refresh", None),
        ("GET", f"/v1/a2a/{agent['id']}", None),
        ("POST", f"/a2a/{agent['slug']}/invoke", {"parameters": {"query": "hi"}}),
        ("POST", f"/a2a/{agent['slug']}/", SEND),
        ("GET", f"/a2a/{agent['slug']}/.well-known/agent-card.json", None),
        ("POST", f"/servers/{agents.server}/a2a", _skill_send(agents.tool["name"], "hi")),
        ("GET", f"/servers/{agents.server}/a2a/.well-known/agent-card.json", None),
    ]
    for method, path, body in attempts:
        answer = httpx.request(method, mesh.url + path, json=body, headers=headers, timeout=30)
        assert answer.status_code == 401, (kind, method, path, answer.text)
        assert agent["name"] not in answer.text
    with rest(mesh, agents.alice.token) as http:
        assert ok(http.get(f"/a2a/{agent['id']}"))["enabled"] is True


# --- a guardrail sees what is sent to an agent ---------------------------------------------------


@pytest.fixture(scope="module")
def guarded(mesh: Mesh, admin_token: str, agents: Agents) -> Iterator[None]:
    """Team A's agent tool under a secrets guardrail (a plugin binding), in force."""
    binding = {
        "plugin": "secrets_detection",
        "team_id": agents.team_a,
        "tool": agents.tool["name"],
        "config": {"action": "block"},
    }
    with rest(mesh, admin_token) as http:
        made = ok(http.post("/plugins/bindings", json=binding), 201)

    def blocked() -> bool:
        answer = _mcp(mesh, agents.alice, _call(agents.tool["name"], f"token {SECRET}"))
        return answer.get("error", {}).get("code") == -32013

    try:
        eventually_sync(blocked, within_s=20, every_s=0.2, what="the guardrail is in force")
        yield
    finally:
        with rest(mesh, admin_token) as http:
            ok(http.delete(f"/plugins/bindings/{made['id']}"))


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_a_guardrail_blocks_a_secret_sent_to_an_agent_on_mcp(
    mesh: Mesh, agents: Agents, guarded: None, mode: str
) -> None:
    http, client = sdk_client(mesh.url + "/mcp", agents.alice.token, mode)
    async with http, client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool(agents.tool["name"], {"message": f"deploy with {SECRET}"})
        assert refused.value.code == -32013
        assert SECRET not in str(refused.value.message) + str(refused.value.data)
        # Hidden in structured data too, and a clean message still goes through.
        with pytest.raises(MCPError) as in_data:
            await client.call_tool(
                agents.tool["name"], {"message": "see data", "data": {"key": SECRET}}
            )
        assert in_data.value.code == -32013
        clean = await client.call_tool(agents.tool["name"], {"message": "nothing secret"})
    assert clean.content[0].text == "nothing secret"  # type: ignore[union-attr]


def test_a_guardrail_blocks_a_secret_sent_to_an_agent_on_the_a2a_endpoint(
    mesh: Mesh, agents: Agents, guarded: None
) -> None:
    """The team's binding is on its agent's tool; Forge's A2A endpoint runs the agent hooks,
    where the binding holds too: the A2A error shape, -32013, in a 200."""
    headers = {**agents.alice.headers, "A2A-Version": "1.0"}
    url = f"{mesh.url}/a2a/{agents.agent['slug']}/"
    for text in (f"use {SECRET}", "nothing secret"):
        message = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": text}]}
        answer = httpx.post(url, json={**SEND, "params": {"message": message}}, headers=headers)
        assert answer.status_code == 200, answer.text
        assert SECRET not in answer.text
        if text == "nothing secret":
            assert answer.json()["result"]["message"]["parts"][0]["text"] == text
        else:
            assert answer.json()["error"]["code"] == -32013, answer.text


def test_a_guardrail_blocks_a_secret_sent_to_an_agent_through_a_server_served_as_an_agent(
    mesh: Mesh, agents: Agents, guarded: None
) -> None:
    headers = {**agents.alice.headers, "A2A-Version": "1.0"}
    url = f"{mesh.url}/servers/{agents.server}/a2a"
    answer = httpx.post(
        url, json=_skill_send(agents.tool["name"], f"use {SECRET}"), headers=headers
    )
    # The A2A error shape; the HTTP status is the endpoint's own (403 here today, 200 on
    # /a2a/{agent}/): what matters is that the message never reached the agent.
    assert answer.status_code in (200, 403), answer.text
    assert SECRET not in answer.text
    assert answer.json()["error"]["code"] == -32013, answer.text
