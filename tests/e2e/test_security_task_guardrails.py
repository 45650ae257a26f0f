"""Guardrail bypasses, closed (decision 0031): a team's deny_list binding on a tool holds on every
path that brings the tool's or agent's words to a client, not only on the tools/call result.

- A gateway's MCP task (our conformance server's `slow_compute`, 2026-07-28 `tasks/get` with the
  result inlined): refused with -32013 as the direct call is, the result never sent.
- An A2A agent's push notifications (Forge's A2A endpoint, the echo agent's `slow` task saying
  `step i of n`): every state reaches the webhook withheld, none with the refused words.
- An agent's question asked of a legacy MCP client by elicitation (the echo agent's `ask`:
  "what else should I echo?"): not asked; the call ends with -32013.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import httpx
import httpx2
import pytest
from mcp import Client, MCPError, types
from mcp.client.streamable_http import streamable_http_client

from forge.cli.demo import register, start_server
from forge.cli.mesh import Mesh, stop_process
from forge.servers.process import spawn
from forge.testing import eventually, eventually_sync
from tests.e2e.security_kit import ok, rest

MODERN = "2026-07-28"
EXTENSION = "io.modelcontextprotocol/tasks"
COMPUTED = "Computed"  # what slow_compute's result says
WORDS = ["step", "else"]  # the echo agent's working status, and its question
REFUSED = -32013


def _bind(http: httpx.Client, tool: str, team: object, words: list[str]) -> dict[str, Any]:
    binding: dict[str, Any] = {"plugin": "deny_list", "tool": tool, "config": {"words": words}}
    if team is not None:
        binding["team_id"] = team
    made: dict[str, Any] = ok(http.post("/plugins/bindings", json=binding), 201)
    return made


@pytest.fixture(scope="module")
def computing(mesh: Mesh, admin_token: str) -> Iterator[str]:
    """The conformance server as a gateway, its slow_compute under a deny_list on COMPUTED."""
    proc, port = start_server(mesh, "forge.servers.conformance")
    gateway_id: str | None = None
    made: dict[str, Any] | None = None
    with rest(mesh, admin_token) as http:
        try:
            url = f"http://127.0.0.1:{port}/mcp"
            gateway = register(mesh, admin_token, f"guarded-{uuid.uuid4().hex[:6]}", url)
            gateway_id = str(gateway["id"])

            def listed() -> dict[str, Any] | None:
                for tool in http.get("/tools").json():
                    if tool["gatewayId"] == gateway_id and tool["name"].endswith("slow_compute"):
                        return dict(tool)
                return None

            tool = eventually_sync(listed, within_s=20, every_s=0.1, what="slow_compute listed")
            made = _bind(http, tool["name"], tool.get("teamId"), [COMPUTED])
            yield str(tool["name"])
        finally:
            if made is not None:
                http.delete(f"/plugins/bindings/{made['id']}")
            if gateway_id is not None:
                http.delete(f"/gateways/{gateway_id}")
            stop_process(proc)


@pytest.fixture(scope="module")
def echo(mesh: Mesh, admin_token: str) -> Iterator[dict[str, Any]]:
    """The echo agent registered, its tool under a deny_list binding on WORDS."""
    with spawn("forge.agents.echo", path="/") as server, rest(mesh, admin_token) as http:
        body = {"name": f"guarded echo {uuid.uuid4().hex[:6]}", "url": server.url}
        agent = ok(http.post("/a2a", json={**body, "visibility": "public"}), 201)
        made = _bind(http, f"a2a-{agent['slug']}", agent.get("team_id"), WORDS)
        try:
            yield agent
        finally:
            ok(http.delete(f"/plugins/bindings/{made['id']}"))
            http.delete(f"/a2a/{agent['id']}")


@pytest.fixture
async def http(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mesh.url, timeout=30) as client:
        yield client


async def mcp(
    http: httpx.AsyncClient, token: str, method: str, params: dict[str, Any], tasks: bool = True
) -> dict[str, Any]:
    """One 2026-07-28 request: its JSON-RPC answer (result or error)."""
    capabilities: dict[str, Any] = {"extensions": {EXTENSION: {}}} if tasks else {}
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
        "Mcp-Name": str(params.get("name", params.get("taskId"))),
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    response = await http.post("/mcp", json=body, headers=headers)
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        answer: dict[str, Any] = json.loads(data[-1])
        return answer
    found: dict[str, Any] = response.json()
    return found


async def test_a_gateways_task_result_passes_its_tools_guardrail(
    admin_token: str, computing: str, http: httpx.AsyncClient
) -> None:
    arguments = {"name": computing, "arguments": {"seconds": 0}}

    async def direct_refused() -> bool:
        answer = await mcp(http, admin_token, "tools/call", arguments, tasks=False)
        assert answer.get("error", {}).get("code") == REFUSED, answer
        return True

    await eventually(direct_refused, within_s=20, retry_on=(AssertionError,))
    handle = await mcp(http, admin_token, "tools/call", arguments)
    task_id = handle["result"]["taskId"]
    assert handle["result"]["resultType"] == "task" and task_id.count("~") == 2

    async def terminal() -> dict[str, Any]:
        answer = await mcp(http, admin_token, "tasks/get", {"taskId": task_id})
        assert COMPUTED not in json.dumps(answer)  # never sent, on any poll
        assert answer.get("result", {}).get("status") != "working", answer
        return answer

    answer = await eventually(terminal, within_s=20, retry_on=(KeyError,))
    assert answer["error"]["code"] == REFUSED, answer


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[Any]] = []

    def do_POST(self) -> None:
        size = int(self.headers.get("content-length") or 0)
        self.got.append(json.loads(self.rfile.read(size) or b"null"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[Any]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.got = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.got
    finally:
        server.shutdown()
        server.server_close()


async def a2a(
    http: httpx.AsyncClient, token: str, agent: dict[str, Any], method: str, params: Any
) -> Any:
    headers = {"Authorization": f"Bearer {token}", "A2A-Version": "1.0"}
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = (await http.post(f"/a2a/{agent['slug']}/", json=body, headers=headers)).json()
    assert "result" in answer, answer
    return answer["result"]


async def test_push_notifications_deliver_an_agents_refused_words_withheld(
    admin_token: str, echo: dict[str, Any], http: httpx.AsyncClient, webhook: tuple[str, list[Any]]
) -> None:
    url, got = webhook
    message = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"text": "slow 2"}]}
    sent = {"message": message, "configuration": {"returnImmediately": True}}
    started = await a2a(http, admin_token, echo, "SendMessage", sent)
    task_id = started["task"]["id"]
    config = {"taskId": task_id, "url": url, "token": "tok"}
    await a2a(http, admin_token, echo, "CreateTaskPushNotificationConfig", config)

    def ended() -> bool | None:
        states = [body["task"]["status"]["state"] for body in got]
        return True if "TASK_STATE_COMPLETED" in states else None

    await eventually(ended, within_s=30)
    assert not any(word in json.dumps(got) for word in WORDS), got
    assert all(body["task"]["id"] == task_id for body in got)
    assert got[-1]["task"]["metadata"]["forge.withheld"] == REFUSED


async def test_an_agents_refused_question_is_not_asked(
    mesh: Mesh, admin_token: str, echo: dict[str, Any]
) -> None:
    asked: list[str] = []

    async def elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"message": "more"})

    client_http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {admin_token}"}, timeout=30)
    link = streamable_http_client(mesh.url + "/mcp", http_client=client_http)
    async with client_http, Client(link, mode="legacy", elicitation_callback=elicit) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool(f"a2a-{echo['slug']}", {"message": "ask me"})
    assert refused.value.error.code == REFUSED
    assert asked == []
