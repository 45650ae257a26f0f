"""Forge as an A2A server through the whole mesh: `/a2a/{agent}/` serves a registered agent over
A2A's JSON-RPC binding, with a2a-sdk's client (1.0, and its 0.3 compat transport) as the
client and the sample agents (a2a-sdk's A2A 1.0 echo, the plain A2A 0.3 echo) behind: cards at
Forge's URL, blocking and streaming sends across versions, Forge's task ids (fetched and
cancelled through another bridge replica, refused to another user), visibility and
permissions, ContextForge's invoke, and bad requests answered as A2A errors."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import msgspec
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.client.errors import A2AClientError
from a2a.helpers.proto_helpers import new_text_message
from a2a.types import (
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTasksRequest,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError

from forge.cli.mesh import Mesh, spawn, stop_process
from forge.core import subjects
from forge.core.bus import NatsBus
from forge.embedded.process import free_port
from forge.servers.process import ServerProcess
from forge.servers.process import spawn as spawn_server
from forge.testing import eventually, eventually_sync
from tests.e2e.security_kit import login, make_user

VERSIONS = ["1.0", "0.3"]


def register(mesh: Mesh, token: str, name: str, url: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=mesh.url, headers=headers, timeout=30) as rest:
        for agent in rest.get("/a2a").json():
            if agent["name"] == name:
                rest.delete(f"/a2a/{agent['id']}")
        created = rest.post("/a2a", json={"name": name, "url": url, "visibility": "public"})
        assert created.status_code == 201, created.text
        return dict(created.json())


@pytest.fixture(scope="module")
def echo_agent() -> Iterator[ServerProcess]:
    with spawn_server("forge.agents.echo", path="/") as agent:
        yield agent


@pytest.fixture(scope="module")
def echo03_agent() -> Iterator[ServerProcess]:
    with spawn_server("forge.agents.echo03", path="/") as agent:
        yield agent


@pytest.fixture(scope="module")
def echo(mesh: Mesh, admin_token: str, echo_agent: ServerProcess) -> dict[str, Any]:
    return register(mesh, admin_token, "a2a server echo", echo_agent.url)


@pytest.fixture(scope="module")
def echo03(mesh: Mesh, admin_token: str, echo03_agent: ServerProcess) -> dict[str, Any]:
    return register(mesh, admin_token, "a2a server echo 03", echo03_agent.url)


def endpoint(mesh: Mesh, agent: dict[str, Any], by: str = "slug") -> str:
    return f"{mesh.url}/a2a/{agent[by]}/"


@pytest.fixture
async def http(admin_token: str) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        yield client


async def a2a_client(
    http: httpx.AsyncClient, url: str, version: str, streaming: bool = False, binding: str = ""
) -> Any:
    """a2a-sdk's client for Forge's card, on its interface of `version` (0.3: the SDK's compat
    JSON-RPC transport)."""
    headers = {"A2A-Version": "1.0"} if version == "1.0" else {}
    answer = await http.get(url + ".well-known/agent-card.json", headers=headers)
    assert answer.status_code == 200, answer.text
    card = parse_agent_card(answer.json())
    interfaces = [i for i in card.supported_interfaces if i.protocol_version.startswith(version)]
    assert interfaces, card
    del card.supported_interfaces[:]
    card.supported_interfaces.extend(interfaces)
    config = ClientConfig(httpx_client=http, streaming=streaming)
    if binding:
        config.supported_protocol_bindings = [binding]
    return ClientFactory(config).create(card)


def request(text: str, task_id: str = "", blocking: bool = True) -> SendMessageRequest:
    message = new_text_message(text, role=Role.ROLE_USER)
    if task_id:
        message.task_id = task_id
    config = SendMessageConfiguration(return_immediately=not blocking)
    return SendMessageRequest(message=message, configuration=config)


async def send(client: Any, text: str, **kw: Any) -> Any:
    """The last StreamResponse of a send (blocking: the only one)."""
    last = None
    async for event in client.send_message(request(text, **kw)):
        last = event
    assert last is not None
    return last


def rpc(method: str, params: dict[str, Any], rid: int = 1) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}


# -- cards


async def test_the_card_is_at_forges_url_with_forges_security(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any], echo03: dict[str, Any]
) -> None:
    for agent in (echo, echo03):
        for by in ("id", "slug"):
            url = endpoint(mesh, agent, by)
            v1 = (
                await http.get(url + ".well-known/agent-card.json", headers={"A2A-Version": "1.0"})
            ).json()
            interfaces = {
                (i["protocolBinding"], i["protocolVersion"], i["url"])
                for i in v1["supportedInterfaces"]
            }
            assert interfaces == {
                ("JSONRPC", "1.0", url),
                ("JSONRPC", "0.3", url),
                ("HTTP+JSON", "1.0", url.rstrip("/")),
                ("GRPC", "1.0", f"127.0.0.1:{mesh.a2a_grpc_port}"),  # the edge's gRPC listener
            }
            assert "httpAuthSecurityScheme" in v1["securitySchemes"]["forge"]
            assert v1["skills"] and "url" not in v1
            v03 = (await http.get(url + ".well-known/agent-card.json")).json()
            assert v03["url"] == url and v03["protocolVersion"] == "0.3.0"
            assert v03["securitySchemes"]["forge"]["scheme"] == "bearer"
    async with httpx.AsyncClient() as nobody:
        anonymous = await nobody.get(endpoint(mesh, echo) + ".well-known/agent-card.json")
    assert anonymous.status_code == 401
    assert "www-authenticate" in anonymous.headers


# -- sends, both versions on both sides


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("which", ["echo", "echo03"])
async def test_blocking_sends_reach_either_agent_from_either_client(
    mesh: Mesh,
    http: httpx.AsyncClient,
    echo: dict[str, Any],
    echo03: dict[str, Any],
    version: str,
    which: str,
) -> None:
    agent = echo if which == "echo" else echo03
    client = await a2a_client(http, endpoint(mesh, agent), version)
    answer = await send(client, f"hello {version}")
    assert answer.HasField("message")
    assert answer.message.parts[0].text == f"hello {version}"
    done = await send(client, "task done")
    assert done.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert done.task.id.startswith(agent["id"] + ":")
    assert done.task.artifacts[0].parts[0].text == "task done"
    fetched = await client.get_task(GetTaskRequest(id=done.task.id))
    assert fetched.id == done.task.id
    assert fetched.status.state == TaskState.TASK_STATE_COMPLETED
    # input-required, continued on the same (Forge) task id
    asked = await send(client, "ask me")
    assert asked.task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    more = await send(client, "more", task_id=asked.task.id)
    assert more.task.status.state == TaskState.TASK_STATE_COMPLETED
    assert more.task.id == asked.task.id


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_streamed_send_relays_the_agents_events(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any], version: str
) -> None:
    client = await a2a_client(http, endpoint(mesh, echo), version, streaming=True)
    events = [e async for e in client.send_message(request("slow 2 steps"))]
    kinds = [e.WhichOneof("payload") for e in events]
    assert kinds[0] == "task" and "status_update" in kinds and "artifact_update" in kinds
    said = [
        e.status_update.status.message.parts[0].text
        for e in events
        if e.HasField("status_update") and e.status_update.status.message.parts
    ]
    assert "step 1 of 2" in said and "step 2 of 2" in said
    assert all(e.task.id.startswith(echo["id"] + ":") for e in events if e.HasField("task"))
    last = events[-1]
    assert last.status_update.status.state == TaskState.TASK_STATE_COMPLETED


async def test_a_0_3_agent_answers_a_streaming_client_in_one_event(
    mesh: Mesh, http: httpx.AsyncClient, echo03: dict[str, Any]
) -> None:
    body = rpc(
        "SendStreamingMessage",
        {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "task once"}]}},
    )
    async with http.stream(
        "POST", endpoint(mesh, echo03), json=body, headers={"A2A-Version": "1.0"}
    ) as answer:
        assert answer.headers["content-type"].startswith("text/event-stream")
        lines = [line async for line in answer.aiter_lines() if line.startswith("data:")]
    assert len(lines) == 1
    assert '"TASK_STATE_COMPLETED"' in lines[0]


# -- task ids: another replica, another user


def second_bridge(mesh: Mesh) -> Any:
    """Another a2a-bridge replica (the test stops the mesh's own one meanwhile)."""
    env = mesh.service_env()
    env["FORGE_A2A_BRIDGE_OPS_PORT"] = str(free_port())
    with open(mesh.log_path("a2a_bridge-2"), "ab") as log:
        return spawn([sys.executable, "-m", "forge.a2a_bridge"], env, log)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_task_is_fetched_and_cancelled_through_another_bridge_replica(
    mesh: Mesh,
    http: httpx.AsyncClient,
    echo: dict[str, Any],
    version: str,
) -> None:
    client = await a2a_client(http, endpoint(mesh, echo), version)
    other = second_bridge(mesh)
    started = await send(client, "slow 20 long", blocking=False)
    task_id = started.task.id
    stop_process(mesh.procs["a2a_bridge"])
    try:

        async def fetched() -> Any:
            return await client.get_task(GetTaskRequest(id=task_id))

        task = await eventually(fetched, within_s=20, retry_on=(A2AClientError, httpx.HTTPError))
        assert task.id == task_id
        assert task.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
        cancelled = await client.cancel_task(CancelTaskRequest(id=task_id))
        assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    finally:
        mesh.start_service("a2a_bridge")
        stop_process(other)
        # Served again by the mesh's own replica.
        await eventually(
            lambda: _card(http, endpoint(mesh, echo)), within_s=30, retry_on=(AssertionError,)
        )


async def _card(http: httpx.AsyncClient, url: str) -> bool:
    answer = await http.get(url + ".well-known/agent-card.json")
    assert answer.status_code == 200, answer.text
    return True


async def test_another_users_task_id_is_not_found(
    mesh: Mesh, admin_token: str, http: httpx.AsyncClient, echo: dict[str, Any]
) -> None:
    run = uuid.uuid4().hex[:6]
    email = f"carol-{run}@example.com"
    make_user(mesh, admin_token, email, "developer")
    carol = login(mesh, email)
    mine = await send(await a2a_client(http, endpoint(mesh, echo), "1.0"), "task mine")
    headers = {"Authorization": f"Bearer {carol.token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as theirs:
        client = await a2a_client(theirs, endpoint(mesh, echo), "1.0")
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id=mine.task.id))
        with pytest.raises(TaskNotFoundError):
            await client.cancel_task(CancelTaskRequest(id=mine.task.id))
        with pytest.raises(TaskNotFoundError):
            await send(client, "let me in", task_id=mine.task.id)
        with pytest.raises(TaskNotFoundError):
            await client.list_task_push_notification_configs(
                ListTaskPushNotificationConfigsRequest(task_id=mine.task.id)
            )
        # an id of no agent at all, or the agent's own untagged id: the same answer
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id=mine.task.id.split(":", 1)[1]))


# -- who may see and do what


def test_another_teams_private_agent_is_invisible_and_a_viewer_cannot_send(
    mesh: Mesh, admin_token: str, echo_agent: ServerProcess
) -> None:
    run = uuid.uuid4().hex[:6]
    emails = {k: f"{k}-{run}@example.com" for k in ("alice", "bob", "vic")}
    make_user(mesh, admin_token, emails["alice"], "developer")
    make_user(mesh, admin_token, emails["bob"], "developer")
    make_user(mesh, admin_token, emails["vic"], "viewer")
    alice, bob, vic = (login(mesh, emails[k]) for k in ("alice", "bob", "vic"))
    with httpx.Client(base_url=mesh.url, headers=alice.headers, timeout=30) as rest:
        body = {"name": f"hidden echo {run}", "url": echo_agent.url, "visibility": "private"}
        agent = rest.post("/a2a", json=body).json()
        teamed = {
            "name": f"team echo {run}",
            "url": echo_agent.url,
            "visibility": "team",
            "team_id": alice.teams[0],
        }
        team_agent = rest.post("/a2a", json=teamed).json()
        assert team_agent["visibility"] == "team", team_agent
    ghost = {"slug": f"no-such-agent-{run}", "id": uuid.uuid4().hex}
    send_body = rpc(
        "SendMessage",
        {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}},
    )
    answers = []
    for target in (agent, team_agent, ghost):
        for by in ("id", "slug"):
            url = endpoint(mesh, target, by)
            card = httpx.get(url + ".well-known/agent-card.json", headers=bob.headers)
            sent = httpx.post(url, json=send_body, headers=bob.headers)
            answers.append((card.status_code, card.json(), sent.status_code))
    assert {(a[0], a[2]) for a in answers} == {(404, 404)}
    assert all("not found" in a[1]["detail"] for a in answers)
    ours = httpx.get(
        endpoint(mesh, team_agent) + ".well-known/agent-card.json", headers=alice.headers
    )
    assert ours.status_code == 200
    mine = httpx.post(endpoint(mesh, agent), json=send_body, headers=alice.headers)
    assert mine.status_code == 200 and mine.json()["result"]["message"]["parts"][0]["text"] == "hi"
    public = {"name": f"public echo {run}", "url": echo_agent.url, "visibility": "public"}
    with httpx.Client(base_url=mesh.url, headers=alice.headers, timeout=30) as rest:
        shared = rest.post("/a2a", json=public).json()
    seen = httpx.get(endpoint(mesh, shared) + ".well-known/agent-card.json", headers=vic.headers)
    assert seen.status_code == 200
    refused = httpx.post(endpoint(mesh, shared), json=send_body, headers=vic.headers)
    assert refused.status_code == 403
    assert "a2a.invoke" in refused.json()["error"]["message"]


def test_a_forged_token_is_refused(mesh: Mesh, echo: dict[str, Any]) -> None:
    from forge.cli.tokens import mint

    forged = mint("x" * 40, "admin@forge.local", admin=True)
    headers = {"Authorization": f"Bearer {forged}"}
    body = rpc(
        "SendMessage",
        {"message": {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}},
    )
    assert httpx.post(endpoint(mesh, echo), json=body, headers=headers).status_code == 401
    card = httpx.get(endpoint(mesh, echo) + ".well-known/agent-card.json", headers=headers)
    assert card.status_code == 401


# -- bad input, bad agents


async def test_bad_requests_are_a2a_errors_and_the_bridge_keeps_serving(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any]
) -> None:
    url = endpoint(mesh, echo)
    v1 = {"A2A-Version": "1.0"}
    cases = [
        (b"{not json", 200, -32700),
        (b"[1, 2]", 200, -32600),
        (b'{"jsonrpc": "2.0", "id": 3}', 200, -32600),
        (b'{"jsonrpc": "2.0", "id": 3, "method": "NoSuchMethod", "params": {}}', 200, -32601),
        (b'{"jsonrpc": "2.0", "id": 3, "method": "SendMessage", "params": []}', 200, -32600),
        (b'{"jsonrpc": "2.0", "id": 3, "method": "SendMessage", "params": {}}', 200, -32602),
        (b'{"jsonrpc": "2.0", "id": 3, "method": "GetTask", "params": {"id": 5}}', 200, -32001),
    ]
    for body, status, code in cases:
        answer = await http.post(
            url, content=body, headers={**v1, "Content-Type": "application/json"}
        )
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["error"]["code"] == code, (body, answer.text)
    future = await http.post(
        url,
        json=rpc("SendMessage", {}),
        headers={"A2A-Version": "2.0"},
    )
    assert future.json()["error"]["code"] == -32009  # VersionNotSupported
    future_rest = await http.post(url + "message:send", json={}, headers={"A2A-Version": "2.0"})
    assert future_rest.status_code == 400
    assert future_rest.json()["error"]["details"][0]["reason"] == "VERSION_NOT_SUPPORTED"
    huge = (
        b'{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"x":"'
        + b"a" * (5 * 1024 * 1024)
        + b'"}}'
    )
    too_big = await http.post(url, content=huge, headers={"Content-Type": "application/json"})
    assert too_big.status_code == 413
    client = await a2a_client(http, url, "1.0")
    assert (await send(client, "still here")).message.parts[0].text == "still here"


async def test_an_unreachable_agent_is_a_clear_error(
    mesh: Mesh, admin_token: str, http: httpx.AsyncClient
) -> None:
    with spawn_server("forge.agents.echo03", path="/") as doomed:
        gone = register(mesh, admin_token, f"a2a server gone {uuid.uuid4().hex[:6]}", doomed.url)
    body = rpc(
        "message/send",
        {
            "message": {
                "kind": "message",
                "messageId": "m",
                "role": "user",
                "parts": [{"kind": "text", "text": "anyone?"}],
            }
        },
    )
    answer = await http.post(endpoint(mesh, gone), json=body)
    assert answer.status_code == 200
    error = answer.json()["error"]
    assert error["code"] == -32603 and error["data"]["forgeCode"] == -32001
    assert "unreachable" in error["message"]
    with spawn_server("forge.agents.echo03", "--broken", path="/") as broken:
        html = register(mesh, admin_token, f"a2a server html {uuid.uuid4().hex[:6]}", broken.url)
        answer = await http.post(endpoint(mesh, html), json=body)
    error = answer.json()["error"]
    assert error["code"] == -32603 and error["data"]["forgeCode"] == -32003
    assert "did not answer as an A2A agent" in error["message"]


# -- ContextForge's invoke


async def test_contextforge_invoke_answers_the_agents_response(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any], echo03: dict[str, Any]
) -> None:
    for agent in (echo, echo03):
        answer = await http.post(
            f"{mesh.url}/a2a/{agent['slug']}/invoke",
            json={"parameters": {"query": "task invoked", "n": 3}, "interaction_type": "query"},
        )
        assert answer.status_code == 200, answer.text
        task = answer.json()["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"
        assert task["artifacts"][0]["parts"][0]["text"] == "task invoked"
    bad = await http.post(f"{mesh.url}/a2a/{echo['slug']}/invoke", json={"nothing": 1})
    assert bad.status_code == 502 and bad.json()["error"]["code"] == -32602


# -- push notifications, delivered by Forge


class _Receiver(BaseHTTPRequestHandler):
    got: ClassVar[list[tuple[dict[str, str], Any]]] = []

    def do_POST(self) -> None:
        size = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(size) or b"null")
        self.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], Any]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    _Receiver.got = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.got
    finally:
        server.shutdown()
        server.server_close()


async def test_push_notifications_are_stored_and_delivered_by_forge(
    mesh: Mesh,
    http: httpx.AsyncClient,
    echo: dict[str, Any],
    receiver: tuple[str, list[tuple[dict[str, str], Any]]],
) -> None:
    url, got = receiver
    client = await a2a_client(http, endpoint(mesh, echo), "1.0")
    started = await send(client, "slow 3 pushed", blocking=False)
    task_id = started.task.id
    config = TaskPushNotificationConfig(task_id=task_id, url=url, token="tok-1")
    created = await client.create_task_push_notification_config(config)
    assert created.task_id == task_id and created.id
    listed = await client.list_task_push_notification_configs(
        ListTaskPushNotificationConfigsRequest(task_id=task_id)
    )
    assert [c.url for c in listed.configs] == [url]

    def completed() -> bool | None:
        states = [body["task"]["status"]["state"] for _, body in got]
        return True if "TASK_STATE_COMPLETED" in states else None

    await eventually(completed, within_s=30)
    headers, body = got[-1]
    assert headers["x-a2a-notification-token"] == "tok-1"
    assert body["task"]["id"] == task_id
    fetched = await client.get_task_push_notification_config(
        GetTaskPushNotificationConfigRequest(task_id=task_id, id=created.id)
    )
    assert fetched.url == url


# -- agent hooks and metrics

GUARDRAIL = """plugins:
  - name: secrets
    kind: secrets_detection
    hooks: [agent_pre_invoke]
    conditions: {agents: ["a2a server echo"]}
    config: {action: block}
"""


@pytest.fixture
async def guarded(mesh: Mesh, tmp_path: Path) -> AsyncIterator[None]:
    """The mesh's plugin-runner replaced by one running a secrets guardrail on the agent hook,
    until the router, edge and bridges heard it (and back afterwards)."""
    path = tmp_path / "plugins.yaml"
    path.write_text(GUARDRAIL)
    bus = await NatsBus.connect(mesh.nats_url, "e2e-a2a-hooks")
    heard: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def on(subject: str, data: bytes) -> None:
        await heard.put(msgspec.json.decode(data))

    await bus.subscribe(subjects.PLUGINS_MANIFEST, on)
    stop_process(mesh.procs.pop("plugin_runner"))
    env = mesh.service_env()
    env.update(
        FORGE_PLUGIN_RUNNER_PLUGINS_CONFIG=str(path),
        FORGE_PLUGIN_RUNNER_MANIFEST_INTERVAL_S="0.3",
    )
    with mesh.log_path("plugin-runner-a2a").open("ab") as log:
        proc = spawn([sys.executable, "-m", "forge.plugin_runner"], env, log)
    try:
        async with asyncio.timeout(30):
            while "agent_pre_invoke" not in (await heard.get())["hooks"]:
                pass
            await heard.get()  # the next announcement: every listener has had it too
        yield
    finally:
        stop_process(proc)
        mesh.start_service("plugin_runner")
        async with asyncio.timeout(30):
            while (await heard.get())["hooks"]:
                pass
        await bus.close()


async def test_a_guardrail_on_the_agent_hook_blocks_a_secret_in_an_a2a_message(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any], guarded: None
) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    for method, version in (("SendMessage", {"A2A-Version": "1.0"}), ("message/send", {})):
        message: dict[str, Any] = {"messageId": "m", "parts": [{"text": f"token {token}"}]}
        if version:
            message["role"] = "ROLE_USER"
        else:
            message.update(kind="message", role="user")
            message["parts"] = [{"kind": "text", "text": f"token {token}"}]
        answer = await http.post(
            endpoint(mesh, echo), json=rpc(method, {"message": message}), headers=version
        )
        assert answer.status_code == 200
        error = answer.json()["error"]
        assert error["code"] == -32013, error
        assert token not in answer.text
    client = await a2a_client(http, endpoint(mesh, echo), "1.0")
    assert (await send(client, "nothing secret")).message.parts[0].text == "nothing secret"


async def test_a2a_sends_count_in_the_agents_metrics(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any]
) -> None:
    bus = await NatsBus.connect(mesh.nats_url, "e2e-a2a-metrics")
    batches: list[dict[str, Any]] = []

    async def on(subject: str, data: bytes) -> None:
        batches.append(msgspec.json.decode(data))

    try:
        await bus.subscribe(subjects.metrics("agents"), on)
        client = await a2a_client(http, endpoint(mesh, echo), "1.0")
        for n in range(3):
            await send(client, f"counted {n}")

        def counted() -> int | None:
            calls = sum(b[echo["id"]]["calls"] for b in batches if echo["id"] in b)
            return calls if calls >= 3 else None

        assert await eventually(counted, within_s=20) >= 3
    finally:
        await bus.close()


# -- more task operations


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_client_resubscribes_to_a_running_task(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any], version: str
) -> None:
    started = await send(
        await a2a_client(http, endpoint(mesh, echo), version), "slow 3 watched", blocking=False
    )
    assert started.task.id
    client = await a2a_client(http, endpoint(mesh, echo), version, streaming=True)
    events = [e async for e in client.subscribe(SubscribeToTaskRequest(id=started.task.id))]
    assert events, "no event"
    states = [e.status_update.status.state for e in events if e.HasField("status_update")]
    assert states[-1] == TaskState.TASK_STATE_COMPLETED
    for event in events:
        which = event.WhichOneof("payload")
        task_id = event.task.id if which == "task" else getattr(event, which).task_id
        assert task_id == started.task.id


async def test_list_tasks_shows_the_callers_tasks_only(
    mesh: Mesh, admin_token: str, http: httpx.AsyncClient, echo: dict[str, Any]
) -> None:
    run = uuid.uuid4().hex[:6]
    email = f"dora-{run}@example.com"
    make_user(mesh, admin_token, email, "developer")
    dora = login(mesh, email)
    mine = await send(await a2a_client(http, endpoint(mesh, echo), "1.0"), "task listed")
    headers = {"Authorization": f"Bearer {dora.token}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as theirs:
        client = await a2a_client(theirs, endpoint(mesh, echo), "1.0")
        hers = await send(client, "task hers")
        listed = await client.list_tasks(ListTasksRequest())
    ids = {t.id for t in listed.tasks}
    assert hers.task.id in ids and mine.task.id not in ids
    assert all(i.startswith(echo["id"] + ":") for i in ids)


async def test_the_agents_own_errors_pass_through(
    mesh: Mesh, http: httpx.AsyncClient, echo03: dict[str, Any]
) -> None:
    client = await a2a_client(http, endpoint(mesh, echo03), "0.3")
    done = await send(client, "task finished")
    with pytest.raises(TaskNotCancelableError):
        await client.cancel_task(CancelTaskRequest(id=done.task.id))
    listing = await http.post(
        endpoint(mesh, echo03), json=rpc("ListTasks", {}), headers={"A2A-Version": "1.0"}
    )
    assert listing.json()["error"]["code"] == -32004  # a 0.3 agent has no ListTasks


# -- the HTTP+JSON binding


async def test_the_http_json_binding_serves_every_task_operation(
    mesh: Mesh,
    http: httpx.AsyncClient,
    echo: dict[str, Any],
    echo03: dict[str, Any],
    receiver: tuple[str, list[tuple[dict[str, str], Any]]],
) -> None:
    for agent in (echo, echo03):
        client = await a2a_client(http, endpoint(mesh, agent), "1.0", binding="HTTP+JSON")
        assert (await send(client, "over rest")).message.parts[0].text == "over rest"
        done = await send(client, "task over rest")
        assert done.task.id.startswith(agent["id"] + ":")
        fetched = await client.get_task(GetTaskRequest(id=done.task.id))
        assert fetched.status.state == TaskState.TASK_STATE_COMPLETED
        with pytest.raises(TaskNotFoundError):
            await client.get_task(GetTaskRequest(id=agent["id"] + ":nothing-here"))
    client = await a2a_client(
        http, endpoint(mesh, echo), "1.0", streaming=True, binding="HTTP+JSON"
    )
    events = [e async for e in client.send_message(request("slow 1 rest stream"))]
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    client = await a2a_client(http, endpoint(mesh, echo), "1.0", binding="HTTP+JSON")
    started = await send(client, "slow 20 rest cancel", blocking=False)
    listed = await client.list_tasks(ListTasksRequest())
    assert started.task.id in {t.id for t in listed.tasks}
    url, _ = receiver
    config = TaskPushNotificationConfig(task_id=started.task.id, url=url, token="t")
    created = await client.create_task_push_notification_config(config)
    got = await client.get_task_push_notification_config(
        GetTaskPushNotificationConfigRequest(task_id=started.task.id, id=created.id)
    )
    assert got.url == url
    await client.delete_task_push_notification_config(
        DeleteTaskPushNotificationConfigRequest(task_id=started.task.id, id=created.id)
    )
    left = await client.list_task_push_notification_configs(
        ListTaskPushNotificationConfigsRequest(task_id=started.task.id)
    )
    assert list(left.configs) == []
    cancelled = await client.cancel_task(CancelTaskRequest(id=started.task.id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED
    async with httpx.AsyncClient() as nobody:
        refused = await nobody.post(endpoint(mesh, echo) + "message:send", json={})
    assert refused.status_code == 401
    assert refused.json()["error"]["status"] == "UNAUTHENTICATED"


# -- a virtual server as an A2A agent


def _tool_ids(mesh: Mesh, token: str, names: set[str]) -> list[str]:
    with httpx.Client(base_url=mesh.url, headers={"Authorization": f"Bearer {token}"}) as rest:

        def found() -> list[str] | None:
            tools = {t["name"]: t["id"] for t in rest.get("/tools").json()}
            return [tools[n] for n in sorted(names)] if names <= set(tools) else None

        return eventually_sync(found, within_s=20)


@pytest.mark.parametrize("version", VERSIONS)
async def test_a_virtual_server_is_an_a2a_agent_whose_skills_are_its_tools(
    mesh: Mesh,
    admin_token: str,
    http: httpx.AsyncClient,
    demo: dict[str, Any],
    echo: dict[str, Any],
    version: str,
) -> None:
    agent_tool = f"a2a-{echo['slug']}"
    names = {agent_tool, "demo-echo", "demo-add", "demo-fail"}
    body = {
        "name": f"a2a srv {uuid.uuid4().hex[:6]}",
        "associated_tools": _tool_ids(mesh, admin_token, names),
    }
    server = (await http.post(f"{mesh.url}/servers", json=body)).json()
    url = f"{mesh.url}/servers/{server['id']}/a2a"
    headers = {"A2A-Version": "1.0"} if version == "1.0" else {}
    card = (await http.get(url + "/.well-known/agent-card.json", headers=headers)).json()
    assert {s["id"] for s in card["skills"]} == names
    assert card["name"] == body["name"]
    skills = {s["id"]: s for s in card["skills"]}
    assert skills[agent_tool]["tags"] == ["agent"] and skills["demo-add"]["tags"] == ["tool"]
    parsed = parse_agent_card(card)
    assert parsed.skills

    def message(text: str = "", **extra: Any) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"text": text}] if text else []
        if version == "0.3":
            parts = [{"kind": "text", "text": text}] if text else []
        out: dict[str, Any] = {"messageId": uuid.uuid4().hex, "parts": parts, **extra}
        out["role"] = "ROLE_USER" if version == "1.0" else "user"
        return out

    send_method = "SendMessage" if version == "1.0" else "message/send"

    async def call(params: dict[str, Any]) -> dict[str, Any]:
        answer = await http.post(url, json=rpc(send_method, params), headers=headers)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())

    added = await call(
        {"message": message(metadata={"skill": "demo-add", "arguments": {"a": 2, "b": 3}})}
    )
    result = added["result"]
    parts = result["message"]["parts"] if version == "1.0" else result["parts"]
    assert parts[0]["text"] == "5.0"
    data = {"skill": "demo-echo", "arguments": {"text": "via data"}}
    data_part = {"data": data} if version == "1.0" else {"kind": "data", "data": data}
    echoed = await call({"message": {**message(), "parts": [data_part]}})
    parts = echoed["result"]["message"]["parts"] if version == "1.0" else echoed["result"]["parts"]
    assert parts[0]["text"] == "via data"
    # An agent held by the server: the message's text is what the agent's tool is sent.
    relayed = await call({"message": message("through the server", metadata={"skill": agent_tool})})
    parts = (
        relayed["result"]["message"]["parts"] if version == "1.0" else relayed["result"]["parts"]
    )
    assert parts[0]["text"] == "through the server"
    failed = await call(
        {"message": message(metadata={"skill": "demo-fail", "arguments": {"message": "no"}})}
    )
    state = (
        failed["result"]["task"]["status"]["state"]
        if version == "1.0"
        else failed["result"]["status"]["state"]
    )
    assert state in ("TASK_STATE_FAILED", "failed")
    missing = await call({"message": message("which one?")})
    assert missing["error"]["code"] == -32602 and "skill" in missing["error"]["message"]
    unknown = await call({"message": message(metadata={"skill": "demo-nope"})})
    assert unknown["error"]["code"] == -32602 and "demo-add" in unknown["error"]["message"]
    ghost = f"{mesh.url}/servers/{uuid.uuid4().hex}/a2a"
    assert (await http.get(ghost + "/.well-known/agent-card.json")).status_code == 404
    gone = await http.post(
        ghost, json=rpc(send_method, {"message": message("hi")}), headers=headers
    )
    assert gone.status_code == 404


async def test_an_agent_slower_than_the_deadline_and_a_disabled_one_are_clear_errors(
    mesh: Mesh, admin_token: str, http: httpx.AsyncClient, echo_agent: ServerProcess
) -> None:
    agent = register(mesh, admin_token, f"a2a server slow {uuid.uuid4().hex[:6]}", echo_agent.url)
    url = endpoint(mesh, agent)
    v1 = {"A2A-Version": "1.0"}
    slow = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "slow 20 too long"}]}
    answer = await http.post(url, json=rpc("SendMessage", {"message": slow}), headers=v1)
    error = answer.json()["error"]
    assert error["code"] == -32011 and "did not answer in time" in error["message"]
    off = await http.post(f"{mesh.url}/a2a/{agent['id']}/toggle", params={"activate": "false"})
    assert off.status_code == 200

    async def disabled() -> dict[str, Any] | None:
        hi = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "hi"}]}
        sent = await http.post(url, json=rpc("SendMessage", {"message": hi}), headers=v1)
        body = dict(sent.json())
        return body if "error" in body else None

    refused = await eventually(disabled, within_s=20)
    assert refused["error"]["data"]["forgeCode"] == -32001
    assert "disabled" in refused["error"]["message"]


async def test_streamed_events_arrive_while_the_task_still_works(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any]
) -> None:
    url = endpoint(mesh, echo)
    v1 = {"A2A-Version": "1.0"}
    live = {"messageId": "m", "role": "ROLE_USER", "parts": [{"text": "slow 6 live"}]}
    body = rpc("SendStreamingMessage", {"message": live})
    states: list[str] = []
    async with http.stream("POST", url, json=body, headers=v1) as answer:
        async for line in answer.aiter_lines():
            if not line.startswith("data:"):
                continue
            result = json.loads(line[5:])["result"]
            if "statusUpdate" in result and not states:
                # The first step is here before the agent has finished: ask it meanwhile.
                task_id = result["statusUpdate"]["taskId"]
                got = await http.post(url, json=rpc("GetTask", {"id": task_id}), headers=v1)
                states.append(got.json()["result"]["status"]["state"])
            if "statusUpdate" in result:
                states.append(result["statusUpdate"]["status"]["state"])
    assert states[0] == "TASK_STATE_WORKING"
    assert states[-1] == "TASK_STATE_COMPLETED"


async def test_the_extended_card_and_an_agent_named_by_its_name(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any]
) -> None:
    url = endpoint(mesh, echo)
    v1 = {"A2A-Version": "1.0"}
    extended = await http.post(url, json=rpc("GetExtendedAgentCard", {}), headers=v1)
    card = extended.json()["result"]
    assert card["supportedInterfaces"][0]["url"] == url and card["skills"]
    old = await http.post(url, json=rpc("agent/getAuthenticatedExtendedCard", {}))
    assert old.json()["result"]["url"] == url
    # By name (not a NATS token: the bridge resolves it from the params)
    by_name = f"{mesh.url}/a2a/{echo['name'].replace(' ', '%20')}/invoke"
    invoked = await http.post(by_name, json={"message": "named"})
    assert invoked.status_code == 200, invoked.text
    assert invoked.json()["message"]["parts"][0]["text"] == "named"
