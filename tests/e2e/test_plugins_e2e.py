"""Plugins through the real mesh: a plugin-runner process with its own YAML (rewritten per test,
hot reload), real MCP calls and HTTP requests at the edge, the demo server upstream.

While this module runs, its runner replaces the mesh's (an unconfigured runner in the same
queue group would answer half the hook calls with "unchanged"); the mesh's comes back after.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from typing import IO, Any

import grpc
import grpc.aio
import httpx
import msgspec
import pytest
from a2a.types import a2a_pb2, a2a_pb2_grpc

from forge.cli.mesh import Mesh, spawn, stop_process
from forge.core import subjects
from forge.core.bus import NatsBus
from forge.servers.process import ServerProcess
from forge.servers.process import spawn as spawn_server
from forge.testing import eventually
from tests.e2e.plugins.probe_server import PROBE_ANSWER
from tests.e2e.security_kit import login, make_user

FIXTURES = Path(__file__).parent / "plugins"
PROXY_SECRET = "probe-proxy-secret"
VIOLATION, FORBIDDEN, INTERNAL = -32013, -32005, -32603


@dataclass
class Manifests:
    """Announcements on `forge.plugins.manifest`, as they come."""

    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)

    async def on(self, subject: str, data: bytes) -> None:
        await self.queue.put(msgspec.json.decode(data))

    def forget(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    async def until(self, check: Any, within_s: float = 20) -> dict[str, Any]:
        async with asyncio.timeout(within_s):
            while True:
                manifest = await self.queue.get()
                if check(manifest):
                    return manifest


@dataclass
class Plugins:
    """The module's plugin-runner: `apply` rewrites its YAML and waits for the new version."""

    path: Path
    manifests: Manifests
    values: dict[str, str]
    version: str = ""

    async def apply(self, name: str, **values: str) -> dict[str, Any]:
        template = Template((FIXTURES / f"{name}.yaml").read_text())
        text = template.safe_substitute({**self.values, **values})
        if text == self.path.read_text():  # running already: no new version will come
            return {"version": self.version}
        self.manifests.forget()  # periodic announcements of versions before
        write(self.path, text)
        old = self.version
        manifest = await self.manifests.until(lambda m: m["version"] != old)
        self.version = manifest["version"]
        # The router and edge heard that announcement when this test did, but may not have
        # acted on it yet: the next (periodic) one means they have had the time to.
        await self.manifests.until(lambda m: m["version"] == self.version)
        return manifest


def write(path: Path, text: str) -> None:
    """Replace the file whole: the runner never reads half of it."""
    part = path.with_suffix(".part")
    part.write_text(text)
    os.replace(part, path)


def _drain(stream: IO[bytes]) -> None:
    with stream:
        stream.read()


def _start_probe(mesh: Mesh) -> tuple[subprocess.Popen[bytes], str]:
    with open(mesh.log_path("plugin-probe"), "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, str(FIXTURES / "probe_server.py"), "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().split()
    if len(line) != 2 or line[0] != "PORT":
        stop_process(proc)
        raise RuntimeError(f"the probe did not start: {mesh.tail('plugin-probe')}")
    threading.Thread(target=_drain, args=(proc.stdout,), daemon=True).start()
    return proc, f"http://127.0.0.1:{line[1]}/mcp"


@pytest.fixture(scope="module")
def probe(mesh: Mesh) -> Iterator[str]:
    proc, url = _start_probe(mesh)
    try:
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
async def plugins(
    mesh: Mesh,
    admin_token: str,
    demo: dict[str, Any],
    probe: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Plugins]:
    path = tmp_path_factory.mktemp("plugins") / "plugins.yaml"
    path.write_text("plugins: []\n")
    bus = await NatsBus.connect(mesh.nats_url, "e2e-plugins")
    manifests = Manifests()
    await bus.subscribe(subjects.PLUGINS_MANIFEST, manifests.on)
    stop_process(mesh.procs.pop("plugin_runner"))
    env = mesh.service_env()
    env.update(
        FORGE_PLUGIN_RUNNER_PLUGINS_CONFIG=str(path),
        FORGE_PLUGIN_RUNNER_RELOAD_INTERVAL_S="0.05",
        FORGE_PLUGIN_RUNNER_MANIFEST_INTERVAL_S="0.3",
    )
    log = mesh.log_path("plugin-runner-e2e").open("ab")
    with log:
        proc = spawn([sys.executable, "-m", "forge.plugin_runner"], env, log)
    try:
        first = await manifests.until(lambda m: True, within_s=30)
        runner = Plugins(path, manifests, {"probe": probe}, first["version"])
        await _until_listed(mesh, admin_token, "demo-echo")
        yield runner
        # Announce an empty set before leaving, so routers and edges stop asking at once.
        manifests.forget()
        write(path, "plugins: []\n")
        await manifests.until(lambda m: m["version"] != runner.version and not m["hooks"])
    finally:
        stop_process(proc)
        manifests.forget()
        mesh.start_service("plugin_runner")
        await manifests.until(lambda m: not m["hooks"], within_s=30)
        await bus.close()


async def _until_listed(mesh: Mesh, token: str, tool: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=mesh.url, headers=headers, timeout=30) as http:

        async def listed() -> bool:
            answer = await rpc(http, "tools/list")
            return tool in {t["name"] for t in answer.get("result", {}).get("tools", [])}

        await eventually(listed, within_s=20, every_s=0.1, what=f"{tool} is listed")


async def rpc(
    http: httpx.AsyncClient,
    method: str,
    params: dict[str, Any] | None = None,
    *,
    path: str = "/mcp",
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One sessionless JSON-RPC request; the decoded response (HTTP errors included)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
    response = await http.post(path, json=body, headers=headers or {})
    decoded: dict[str, Any] = response.json()
    decoded["status"] = response.status_code
    return decoded


async def echo(http: httpx.AsyncClient, text: str, **kw: Any) -> dict[str, Any]:
    return await rpc(http, "tools/call", {"name": "demo-echo", "arguments": {"text": text}}, **kw)


def text_of(reply: dict[str, Any]) -> str:
    assert "result" in reply, reply
    return str(reply["result"]["content"][0]["text"])


def refused_by(reply: dict[str, Any]) -> str:
    """The plugin that blocked, asserting the -32013 error and its data."""
    assert reply.get("error", {}).get("code") == VIOLATION, reply
    data = reply["error"]["data"]
    assert data["code"] and data["reason"]
    return str(data["plugin"])


@pytest.fixture(scope="module")
def people(mesh: Mesh, admin_token: str) -> dict[str, str]:
    """Tokens of users made for these tests (the probe keys on their name's prefix)."""
    run = uuid.uuid4().hex[:6]
    roles = {"other": "developer", "grant": "viewer", "deny": "developer", "block": "developer"}
    tokens = {}
    for who, role in roles.items():
        email = f"{who}-{run}@example.com"
        make_user(mesh, admin_token, email, role)
        tokens[who] = login(mesh, email).token
        tokens[f"{who}-email"] = email
    proxied = f"proxied-{run}@example.com"
    make_user(mesh, admin_token, proxied, "developer")
    tokens["proxied-email"] = proxied
    return tokens


@pytest.fixture(scope="module")
def echo_agent() -> Iterator[ServerProcess]:
    with spawn_server("forge.agents.echo", path="/") as agent:
        yield agent


def registered_agent(mesh: Mesh, token: str, name: str, url: str) -> Iterator[dict[str, Any]]:
    """The agent at `url` registered (public) as `name` while the module runs."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=mesh.url, headers=headers, timeout=30) as rest:
        created = rest.post("/a2a", json={"name": name, "url": url, "visibility": "public"})
        assert created.status_code == 201, created.text
        yield dict(created.json())
        assert rest.delete(f"/a2a/{created.json()['id']}").status_code in (200, 204)


@pytest.fixture(scope="module")
def asked(mesh: Mesh, admin_token: str, echo_agent: ServerProcess) -> Iterator[dict[str, Any]]:
    """The echo agent, registered as one the plugins let through to the agent."""
    name = f"asked {uuid.uuid4().hex[:6]}"
    yield from registered_agent(mesh, admin_token, name, echo_agent.url)


@pytest.fixture(scope="module")
def answered(mesh: Mesh, admin_token: str, echo_agent: ServerProcess) -> Iterator[dict[str, Any]]:
    """The echo agent again, registered as the one agent_answer.yaml's probe answers for."""
    name = f"answered {uuid.uuid4().hex[:6]}"
    yield from registered_agent(mesh, admin_token, name, echo_agent.url)


async def grpc_send(
    mesh: Mesh, agent: dict[str, Any], text: str, metadata: dict[str, str]
) -> str | grpc.StatusCode:
    """SendMessage to `agent` through Forge's A2A gRPC listener: the answer's text, or the
    status it was refused with."""
    request = a2a_pb2.SendMessageRequest(tenant=agent["slug"])
    request.message.message_id = uuid.uuid4().hex
    request.message.role = a2a_pb2.ROLE_USER
    request.message.parts.add().text = text
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.a2a_grpc_port}") as channel:
        stub = a2a_pb2_grpc.A2AServiceStub(channel)  # type: ignore[no-untyped-call]
        try:
            answer = await stub.SendMessage(request, metadata=list(metadata.items()), timeout=30)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return str(answer.message.parts[0].text)


def as_user(mesh: Mesh, token: str) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token}"}
    return httpx.AsyncClient(base_url=mesh.url, headers=headers, timeout=30)


# -- modes, order, conditions, errors, reload


async def test_each_mode_blocks_logs_or_ignores_as_documented(
    plugins: Plugins, client: httpx.AsyncClient
) -> None:
    manifest = await plugins.apply("modes")
    assert set(manifest["hooks"]) == {"tool_pre_invoke", "tool_post_invoke"}
    assert refused_by(await echo(client, "enforced")) == "enforce-deny"
    # enforce_ignore_error: its violation blocks; a crashing plugin of that mode is ignored.
    assert refused_by(await echo(client, "strict")) == "strict-deny"
    assert text_of(await echo(client, "lenient")) == "lenient"  # permissive: logged only
    assert text_of(await echo(client, "watched")) == "watched"  # audit: never blocks or changes
    assert text_of(await echo(client, "dormant")) == "dormant"  # disabled: never runs


async def test_plugins_run_in_priority_order_ties_by_name(
    plugins: Plugins, client: httpx.AsyncClient
) -> None:
    await plugins.apply("priority")
    assert text_of(await echo(client, "start")) == "A1-last"


async def test_each_condition_kind_selects_its_calls(
    plugins: Plugins, mesh: Mesh, client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    created = await client.post(
        "/servers",
        json={"name": f"plugins-{uuid.uuid4().hex[:6]}", "associated_tools": ["demo-echo"]},
    )
    assert created.status_code == 201, created.text
    server = created.json()["id"]
    me = (await client.get("/auth/email/me")).json()
    await plugins.apply("conditions", server=server, team=me["teams"][0])
    # server ids: only through that virtual server
    assert refused_by(await echo(client, "srvword", path=f"/servers/{server}/mcp")) == "on-server"
    assert text_of(await echo(client, "srvword")) == "srvword"
    # teams (the admin's personal team) and user patterns (other-*@example.com)
    async with as_user(mesh, people["other"]) as other:
        assert refused_by(await echo(client, "teamword")) == "on-team"
        assert text_of(await echo(other, "teamword")) == "teamword"
        assert refused_by(await echo(other, "userword")) == "on-user"
        assert text_of(await echo(client, "userword")) == "userword"
    # tool names
    assert refused_by(await echo(client, "toolword")) == "on-tool"
    touch = {"name": "demo-touch", "arguments": {"uri": "toolword"}}
    touched = await rpc(client, "tools/call", touch)
    assert "result" in touched, touched
    # prompt names
    greet = {"name": "demo-greeting", "arguments": {"name": "promptword"}}
    assert refused_by(await rpc(client, "prompts/get", greet)) == "on-prompt"
    summary = {"name": "demo-summarize", "arguments": {"text": "promptword"}}
    assert "result" in await rpc(client, "prompts/get", summary)
    # resource uri patterns
    numbers = await rpc(client, "resources/read", {"uri": "forge://demo/numbers/3"})
    assert refused_by(numbers) == "on-resource"
    assert "result" in await rpc(client, "resources/read", {"uri": "forge://demo/readme"})
    assert (await client.delete(f"/servers/{server}")).status_code == 200


async def test_each_on_error_policy_fails_ignores_or_disables(
    plugins: Plugins, client: httpx.AsyncClient
) -> None:
    manifest = await plugins.apply("on_error")
    assert "tool_post_invoke" in manifest["hooks"]
    failed = await echo(client, "hi")
    assert failed["error"]["code"] == INTERNAL and "error id" in failed["error"]["message"]
    added = await rpc(client, "tools/call", {"name": "demo-add", "arguments": {"a": 1, "b": 2}})
    assert "result" in added, added
    pid = await rpc(client, "tools/call", {"name": "demo-pid", "arguments": {}})
    assert "result" in pid, pid
    # Disabled: the only tool_post_invoke plugin is off, and the runner says so.
    after = await plugins.manifests.until(lambda m: "tool_post_invoke" not in m["hooks"])
    assert "tool_pre_invoke" in after["hooks"]
    pid = await rpc(client, "tools/call", {"name": "demo-pid", "arguments": {}})
    assert "result" in pid, pid


async def test_a_rewritten_config_is_what_the_next_call_sees(
    plugins: Plugins, client: httpx.AsyncClient
) -> None:
    await plugins.apply("guardrails")
    assert text_of(await echo(client, "enforced")) == "enforced"
    await plugins.apply("modes")
    assert refused_by(await echo(client, "enforced")) == "enforce-deny"
    await plugins.apply("guardrails")
    assert text_of(await echo(client, "enforced")) == "enforced"


# -- guardrails and contents


async def test_pii_is_masked_in_a_result_and_a_secret_in_arguments_is_refused(
    plugins: Plugins, client: httpx.AsyncClient
) -> None:
    await plugins.apply("guardrails")
    masked = text_of(await echo(client, "write to jane.doe@example.com today"))
    assert "jane.doe@example.com" not in masked and masked.startswith("write to ")
    token = "ghp_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dE3fG5"
    secret = await echo(client, f"export GITHUB_TOKEN={token}")
    assert refused_by(secret) == "secrets"
    assert secret["error"]["data"]["code"] == "secret_detected"
    assert token not in str(secret)


async def test_list_hooks_and_prompt_and_resource_results_pass_the_plugins(
    plugins: Plugins, mesh: Mesh, client: httpx.AsyncClient, people: dict[str, str]
) -> None:
    await plugins.apply("contents")
    tools = {t["name"] for t in (await rpc(client, "tools/list"))["result"]["tools"]}
    prompts = {p["name"] for p in (await rpc(client, "prompts/list"))["result"]["prompts"]}
    resources = {r["uri"] for r in (await rpc(client, "resources/list"))["result"]["resources"]}
    assert "demo-echo" in tools and "demo-pid" not in tools
    assert "demo-greeting" in prompts and "demo-summarize" not in prompts
    assert "forge://demo/readme" not in resources
    async with as_user(mesh, people["other"]) as other:  # the users condition: not theirs
        theirs = {t["name"] for t in (await rpc(other, "tools/list"))["result"]["tools"]}
        assert "demo-pid" in theirs
    greet = {"name": "demo-greeting", "arguments": {"name": "Ada"}}
    prompt = (await rpc(client, "prompts/get", greet))["result"]
    assert "COLDLY" in prompt["messages"][0]["content"]["text"]
    readme = await rpc(client, "resources/read", {"uri": "forge://demo/readme"})
    assert "REWRITTEN" in readme["result"]["contents"][0]["text"]


# -- the edge's hooks


async def test_http_hooks_refuse_requests_and_change_responses(
    plugins: Plugins, mesh: Mesh, client: httpx.AsyncClient, asked: dict[str, Any]
) -> None:
    async with httpx.AsyncClient(base_url=mesh.url, timeout=30) as anonymous:
        assert "content-type" in (await anonymous.get("/health")).headers
        await plugins.apply("http")
        health = await anonymous.get("/health")
        assert health.status_code == 200 and "content-type" not in health.headers
        refused = await anonymous.get("/health", headers={"x-forbidden-probe": "1"})
        assert refused.status_code == 403 and refused.json()["code"] == VIOLATION
    mcp = await echo(client, "hi", headers={"x-forbidden-probe": "1"})
    assert mcp["status"] == 403 and refused_by(mcp) == "headers"
    assert text_of(await echo(client, "hi")) == "hi"
    # A2A over gRPC: the call's metadata are its headers (decision 0029).
    as_admin = {"authorization": client.headers["authorization"]}
    forbidden = await grpc_send(mesh, asked, "hi", {**as_admin, "x-forbidden-probe": "1"})
    assert forbidden == grpc.StatusCode.PERMISSION_DENIED
    assert await grpc_send(mesh, asked, "over grpc", as_admin) == "over grpc"
    await plugins.apply("http_strip")  # Authorization removed before the edge reads it
    stripped = await echo(client, "hi")
    assert stripped["status"] == 401
    assert await grpc_send(mesh, asked, "hi", as_admin) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_trusted_proxy_plugin_names_the_user_and_rbac_still_applies(
    plugins: Plugins, mesh: Mesh, people: dict[str, str], asked: dict[str, Any]
) -> None:
    await plugins.apply("auth")
    user = people["proxied-email"]
    proxy = {"x-forwarded-user": user, "x-proxy-secret": PROXY_SECRET}
    async with httpx.AsyncClient(base_url=mesh.url, timeout=30) as anonymous:
        assert text_of(await echo(anonymous, "via proxy", headers=proxy)) == "via proxy"
        assert (await anonymous.get("/tools", headers=proxy)).status_code == 200
        reseal = await anonymous.post("/admin/secrets/reseal", headers=proxy)
        assert reseal.status_code == 403  # a developer: not an admin
        forged = {"x-forwarded-user": user, "x-proxy-secret": "guess"}
        assert (await echo(anonymous, "hi", headers=forged))["status"] == 401
        unknown = {**proxy, "x-forwarded-user": "nobody@example.com"}
        assert (await echo(anonymous, "hi", headers=unknown))["status"] == 401
    # Over gRPC too: the proxy's metadata name the user, no token sent.
    assert await grpc_send(mesh, asked, "proxied grpc", proxy) == "proxied grpc"
    assert await grpc_send(mesh, asked, "hi", forged) == grpc.StatusCode.UNAUTHENTICATED
    assert await grpc_send(mesh, asked, "hi", unknown) == grpc.StatusCode.UNAUTHENTICATED


async def test_a_permission_plugin_grants_and_denies_beyond_rbac(
    plugins: Plugins, mesh: Mesh, people: dict[str, str]
) -> None:
    async with (
        as_user(mesh, people["grant"]) as grant,
        as_user(mesh, people["deny"]) as deny,
        as_user(mesh, people["block"]) as block,
    ):
        await plugins.apply("guardrails")  # no permission plugin: RBAC alone
        assert (await echo(grant, "hi"))["error"]["code"] == FORBIDDEN  # a viewer
        assert "result" in await rpc(deny, "tools/list")
        await plugins.apply("auth")
        assert text_of(await echo(grant, "hi")) == "hi"
        assert (await rpc(deny, "tools/list"))["error"]["code"] == FORBIDDEN
        assert (await deny.get("/tools")).status_code == 403
        assert refused_by(await rpc(block, "tools/list")) == "probe-auth"
        assert (await block.get("/tools")).status_code == 403


# -- an answer in an agent's place


async def test_a_pre_hooks_answer_is_the_agents_answer_on_every_path_for_its_agent_only(
    plugins: Plugins,
    mesh: Mesh,
    client: httpx.AsyncClient,
    answered: dict[str, Any],
    asked: dict[str, Any],
) -> None:
    """agent_pre_invoke returning a result (the probe, for one agent by its `agents` condition):
    Forge's A2A endpoint answers with it (JSON-RPC 1.0 and 0.3, gRPC), as the agent's MCP tool
    does, and the agent is not asked; another agent is asked as before."""
    manifest = await plugins.apply("agent_answer", agent=answered["name"])
    assert "agent_pre_invoke" in manifest["hooks"]
    v1 = {"A2A-Version": "1.0"}

    def send(text: str) -> dict[str, Any]:
        message = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"text": text}]}
        return {"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {"message": message}}

    def send03(text: str) -> dict[str, Any]:
        parts = [{"kind": "text", "text": text}]
        message = {"kind": "message", "messageId": uuid.uuid4().hex, "role": "user", "parts": parts}
        return {"jsonrpc": "2.0", "id": 1, "method": "message/send", "params": {"message": message}}

    url = f"/a2a/{answered['slug']}/"
    reply = (await client.post(url, json=send("hello"), headers=v1)).json()
    message = reply["result"]["message"]
    assert message["role"] == "ROLE_AGENT"
    assert [p["text"] for p in message["parts"]] == [PROBE_ANSWER]
    reply = (await client.post(url, json=send03("hello"))).json()
    assert reply["result"]["kind"] == "message"
    assert [p["text"] for p in reply["result"]["parts"]] == [PROBE_ANSWER]
    as_admin = {"authorization": client.headers["authorization"]}
    assert await grpc_send(mesh, answered, "hello", as_admin) == PROBE_ANSWER
    tool = await rpc(
        client, "tools/call", {"name": f"a2a-{answered['slug']}", "arguments": {"message": "hi"}}
    )
    assert text_of(tool) == PROBE_ANSWER
    # Another agent is asked: its answer is its own.
    other = (await client.post(f"/a2a/{asked['slug']}/", json=send("hello"), headers=v1)).json()
    assert PROBE_ANSWER not in json.dumps(other) and "hello" in json.dumps(other["result"])
    assert await grpc_send(mesh, asked, "hello", as_admin) == "hello"
