"""The MCP tasks extension (io.modelcontextprotocol/tasks, SEP-2663) through the whole mesh, with
our conformance server as the upstream: a task created through one router and upstream-proxy is
followed and cancelled through other replicas (its id names its gateway and owner, no replica
holds state), another user holding the id gets an unknown task, and discovery offers the
extension. The suite's own tasks-* scenarios run through Forge in tests/conformance."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from forge.cli.demo import register, start_server
from forge.cli.mesh import Mesh, spawn, stop_process
from forge.embedded.process import free_port
from forge.testing import eventually, eventually_sync
from tests.e2e.security_kit import login, make_user

MODERN = "2026-07-28"
EXTENSION = "io.modelcontextprotocol/tasks"
DECLARING: dict[str, Any] = {"extensions": {EXTENSION: {}}, "elicitation": {}}


@pytest.fixture(scope="module")
def conformance(mesh: Mesh, admin_token: str) -> Iterator[str]:
    """Our conformance server registered as a public gateway: its slow_compute's name."""
    proc, port = start_server(mesh, "forge.servers.conformance")
    headers = {"Authorization": f"Bearer {admin_token}"}
    rest = httpx.Client(base_url=mesh.url, headers=headers, timeout=30)
    gateway_id: str | None = None
    try:
        gateway = register(
            mesh, admin_token, f"tasks-{uuid.uuid4().hex[:6]}", f"http://127.0.0.1:{port}/mcp"
        )
        gateway_id = str(gateway["id"])

        def slow_compute() -> str | None:
            for tool in rest.get("/tools").json():
                if tool["gatewayId"] == gateway_id and tool["name"].endswith("slow_compute"):
                    return str(tool["name"])
            return None

        yield eventually_sync(slow_compute, within_s=20, every_s=0.1, what="slow_compute listed")
    finally:
        if gateway_id is not None:
            rest.delete(f"/gateways/{gateway_id}")
        rest.close()
        stop_process(proc)


@pytest.fixture
async def http(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mesh.url, timeout=30) as client:
        yield client


class Rejected(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error.get("message"))
        self.code = error.get("code")
        self.data = error.get("data")


async def modern(
    http: httpx.AsyncClient,
    token: str,
    method: str,
    params: dict[str, Any],
    capabilities: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One 2026-07-28 request by hand (Mcp-Name as SEP-2243/2663 ask): its result, or Rejected."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": DECLARING
        if capabilities is None
        else capabilities,
    }
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
    }
    named = params.get("name", params.get("taskId"))
    if isinstance(named, str):
        headers["Mcp-Name"] = named
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    response = await http.post("/mcp", json=body, headers=headers)
    if response.headers["content-type"].startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        answer: dict[str, Any] = json.loads(data[-1])
    else:
        answer = response.json()
    if "error" in answer:
        raise Rejected(answer["error"])
    result: dict[str, Any] = answer["result"]
    return result


async def started(http: httpx.AsyncClient, token: str, tool: str, seconds: float) -> str:
    """A slow_compute task's id, once the tool is in the catalog."""

    async def create() -> dict[str, Any]:
        return await modern(
            http, token, "tools/call", {"name": tool, "arguments": {"seconds": seconds}}
        )

    handle = await eventually(create, within_s=20, retry_on=(Rejected,))
    assert handle["resultType"] == "task" and handle["status"] == "working", handle
    task_id: str = handle["taskId"]
    return task_id


def replicas(mesh: Mesh) -> list[Any]:
    """Another router and another upstream-proxy (the test stops the mesh's own meanwhile)."""
    procs = []
    for name in ("router", "upstream_proxy"):
        env = mesh.service_env()
        env[f"FORGE_{name.upper()}_OPS_PORT"] = str(free_port())
        with open(mesh.log_path(f"{name}-2"), "ab") as log:
            procs.append(spawn([sys.executable, "-m", f"forge.{name}"], env, log))
    return procs


async def test_a_task_is_followed_and_cancelled_through_another_router_and_upstream_proxy(
    mesh: Mesh, admin_token: str, conformance: str, http: httpx.AsyncClient
) -> None:
    task_id = await started(http, admin_token, conformance, 60)
    assert EXTENSION not in task_id and task_id.count("~") == 2  # <gateway>~<owner>~<upstream>
    others = replicas(mesh)
    stop_process(mesh.procs["router"])
    stop_process(mesh.procs["upstream_proxy"])
    try:

        async def polled() -> dict[str, Any]:
            return await modern(http, admin_token, "tasks/get", {"taskId": task_id})

        task = await eventually(polled, within_s=30, retry_on=(Rejected, httpx.HTTPError))
        assert task["taskId"] == task_id and task["status"] == "working"
        ack = await modern(http, admin_token, "tasks/cancel", {"taskId": task_id})
        assert ack["resultType"] == "complete" and "status" not in ack  # an ack, no task
        after = await modern(http, admin_token, "tasks/get", {"taskId": task_id})
        assert after["status"] == "cancelled"
        # A task made through these replicas is one too.
        again = await started(http, admin_token, conformance, 0)
        done = await eventually(
            lambda: _finished(http, admin_token, again), within_s=20, retry_on=(AssertionError,)
        )
        assert done["result"]["content"][0]["text"].startswith("Computed")
    finally:
        mesh.start_service("router")
        mesh.start_service("upstream_proxy")
        for proc in others:
            stop_process(proc)
        await eventually(
            lambda: started(http, admin_token, conformance, 0),
            within_s=30,
            retry_on=(Rejected, httpx.HTTPError, AssertionError),
        )


async def _finished(http: httpx.AsyncClient, token: str, task_id: str) -> dict[str, Any]:
    task = await modern(http, token, "tasks/get", {"taskId": task_id})
    assert task["status"] == "completed", task
    return task


async def test_another_users_task_id_is_an_unknown_task(
    mesh: Mesh, admin_token: str, conformance: str, http: httpx.AsyncClient
) -> None:
    email = f"tasker-{uuid.uuid4().hex[:6]}@example.com"
    make_user(mesh, admin_token, email, "developer")
    other = login(mesh, email).token
    mine = await started(http, admin_token, conformance, 60)
    theirs = await started(http, other, conformance, 60)  # they may use the same tool
    assert (await modern(http, other, "tasks/get", {"taskId": theirs}))["status"] == "working"
    unknown = "tasks-conformance-nonexistent"
    attempts: list[tuple[str, dict[str, Any]]] = [
        ("tasks/get", {"taskId": mine}),
        ("tasks/cancel", {"taskId": mine}),
        ("tasks/update", {"taskId": mine, "inputResponses": {}}),
        ("tasks/get", {"taskId": unknown}),
    ]
    for method, params in attempts:
        with pytest.raises(Rejected) as refused:
            await modern(http, other, method, params)
        assert refused.value.code == -32602, (method, refused.value)
    # Refused alike: the answer does not tell another user's task from no task.
    with pytest.raises(Rejected) as of_mine:
        await modern(http, other, "tasks/get", {"taskId": mine})
    assert str(of_mine.value) == f"unknown task {mine!r}"
    # Still running for its owner: the refusal reached no upstream.
    assert (await modern(http, admin_token, "tasks/get", {"taskId": mine}))["status"] == "working"
    for task_id, token in ((mine, admin_token), (theirs, other)):
        await modern(http, token, "tasks/cancel", {"taskId": task_id})


async def test_discovery_offers_the_extension_and_its_methods_need_it(
    admin_token: str, conformance: str, http: httpx.AsyncClient
) -> None:
    discovered = await modern(http, admin_token, "server/discover", {})
    assert EXTENSION in discovered["capabilities"]["extensions"]
    task_id = await started(http, admin_token, conformance, 60)
    with pytest.raises(Rejected) as refused:
        await modern(http, admin_token, "tasks/get", {"taskId": task_id}, capabilities={})
    assert refused.value.code == -32021
    assert refused.value.data == {"requiredCapabilities": {"extensions": {EXTENSION: {}}}}
    # Without the extension the tool runs synchronously, as the upstream would answer.
    plain = await modern(
        http, admin_token, "tools/call", {"name": conformance, "arguments": {"seconds": 0}}, {}
    )
    assert plain["resultType"] == "complete" and "taskId" not in plain
    await modern(http, admin_token, "tasks/cancel", {"taskId": task_id})
