"""An A2A agent's tool as an MCP task, through the whole mesh (decision 0025): a client that asks
for a task (2026-07-28: it declared io.modelcontextprotocol/tasks; 2025-11-25: `params.task`)
gets a handle at once while the agent (a2a-sdk's echo agent, its `slow` and `ask` answers)
works, and follows it with tasks/get, tasks/update, tasks/result and tasks/cancel, from another
edge, or through another router replica while the mesh's own is stopped (no replica holds a
task); another user holding the id, or naming the task under their own owner tag, gets an
unknown task. The official MCP SDK client does not create tasks: raw JSON-RPC over httpx."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from forge.cli.mesh import Mesh, spawn, stop_process
from forge.core import tasks
from forge.embedded.process import free_port
from forge.servers.process import spawn as spawn_server
from forge.testing import eventually
from tests.e2e.conftest import INIT
from tests.e2e.security_kit import login, make_user
from tests.e2e.test_a2a_agents import register
from tests.e2e.test_mcp_tasks import EXTENSION, Rejected, modern

LEGACY = "2025-11-25"


@pytest.fixture(scope="module")
def agent(mesh: Mesh, admin_token: str) -> Iterator[dict[str, Any]]:
    """The echo agent, registered public: its record (`id`, `slug`)."""
    with spawn_server("forge.agents.echo", path="/") as process:
        registered = register(mesh, admin_token, f"tasks echo {uuid.uuid4().hex[:6]}", process.url)
        try:
            yield registered
        finally:  # gone with its process: no dead agent's tool left for later tests
            headers = {"Authorization": f"Bearer {admin_token}"}
            httpx.delete(f"{mesh.url}/a2a/{registered['id']}", headers=headers, timeout=30)


@pytest.fixture
async def http(mesh: Mesh) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mesh.url, timeout=30) as client:
        yield client


def tool(agent: dict[str, Any]) -> str:
    return f"a2a-{agent['slug']}"


async def created(http: httpx.AsyncClient, token: str, agent: dict[str, Any], text: str) -> str:
    """A modern task's id, once the agent's tool is in the catalog."""

    async def create() -> dict[str, Any]:
        return await modern(
            http, token, "tools/call", {"name": tool(agent), "arguments": {"message": text}}
        )

    answer = await eventually(create, within_s=20, retry_on=(Rejected,))
    assert answer["resultType"] == "task", answer
    task_id: str = answer["taskId"]
    assert task_id.startswith(agent["id"] + "~") and task_id.count("~") == 2
    return task_id


async def until(http: httpx.AsyncClient, token: str, task_id: str, status: str) -> dict[str, Any]:
    async def polled() -> dict[str, Any]:
        task = await modern(http, token, "tasks/get", {"taskId": task_id})
        assert task["status"] == status, task
        return task

    return await eventually(polled, within_s=30, every_s=0.2, retry_on=(AssertionError,))


async def test_a_modern_client_follows_an_agents_task_from_another_edge_to_its_result(
    mesh: Mesh, second_edge: str, admin_token: str, agent: dict[str, Any], http: httpx.AsyncClient
) -> None:
    discovered = await modern(http, admin_token, "server/discover", {})
    assert EXTENSION in discovered["capabilities"]["extensions"]
    task_id = await created(http, admin_token, agent, "slow 3 steps")
    async with httpx.AsyncClient(base_url=second_edge, timeout=30) as other:
        working = await modern(other, admin_token, "tasks/get", {"taskId": task_id})
        assert working["status"] == "working" and working["taskId"] == task_id
        assert working["resultType"] == "complete" and "result" not in working
        done = await until(other, admin_token, task_id, "completed")
    result = done["result"]
    assert result["isError"] is False
    assert [c["text"] for c in result["content"]][-2] == "slow 3 steps"
    assert result["_meta"]["forge/a2a"]["state"] == "completed"
    # A Message right away is the tool's result, as without tasks.
    plain = await modern(
        http, admin_token, "tools/call", {"name": tool(agent), "arguments": {"message": "hi"}}
    )
    assert plain["resultType"] == "complete" and plain["content"][0]["text"] == "hi"


async def test_a_modern_client_answers_the_agents_question_with_tasks_update(
    admin_token: str, agent: dict[str, Any], http: httpx.AsyncClient
) -> None:
    task_id = await created(http, admin_token, agent, "ask something")
    asking = await until(http, admin_token, task_id, "input_required")
    request = asking["inputRequests"]["a2a"]
    assert request["method"] == "elicitation/create"
    assert request["params"]["message"] == "what else should I echo?"
    answer = {"a2a": {"action": "accept", "content": {"message": "this too"}}}
    ack = await modern(
        http, admin_token, "tasks/update", {"taskId": task_id, "inputResponses": answer}
    )
    assert ack == {"resultType": "complete"}
    done = await until(http, admin_token, task_id, "completed")
    assert done["result"]["content"][-2]["text"] == "this too"


async def test_a_cancelled_agent_task_is_cancelled_and_others_cannot_touch_it(
    mesh: Mesh, admin_token: str, agent: dict[str, Any], http: httpx.AsyncClient
) -> None:
    email = f"agent-tasker-{uuid.uuid4().hex[:6]}@example.com"
    make_user(mesh, admin_token, email, "developer")
    other = login(mesh, email)
    task_id = await created(http, admin_token, agent, "slow 20")
    # Held by another user, or re-tagged as theirs: unknown, and the task runs on.
    _, _, agents_id = task_id.split("~")
    theirs = f"{agent['id']}~{tasks.owner(other.email)}~{agents_id}"
    for method, held in (("tasks/get", task_id), ("tasks/cancel", task_id), ("tasks/get", theirs)):
        with pytest.raises(Rejected) as refused:
            await modern(http, other.token, method, {"taskId": held})
        assert refused.value.code == -32602, (method, refused.value)
    assert (await modern(http, admin_token, "tasks/get", {"taskId": task_id}))[
        "status"
    ] == "working"
    ack = await modern(http, admin_token, "tasks/cancel", {"taskId": task_id})
    assert ack == {"resultType": "complete"}
    await until(http, admin_token, task_id, "cancelled")


async def legacy(
    http: httpx.AsyncClient, token: str, session: str, method: str, params: dict[str, Any]
) -> dict[str, Any]:
    headers = {
        "Authorization": f"Bearer {token}",
        "Mcp-Session-Id": session,
        "MCP-Protocol-Version": LEGACY,
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
    answer = (await http.post("/mcp", json=body, headers=headers)).json()
    if "error" in answer:
        raise Rejected(answer["error"])
    result: dict[str, Any] = answer["result"]
    return result


async def test_a_legacy_client_creates_gets_awaits_and_cancels_an_agents_task(
    admin_token: str, agent: dict[str, Any], http: httpx.AsyncClient
) -> None:
    opened = await http.post("/mcp", json=INIT, headers={"Authorization": f"Bearer {admin_token}"})
    assert opened.json()["result"]["capabilities"]["tasks"]["requests"] == {"tools": {"call": {}}}
    session = opened.headers["mcp-session-id"]
    listed = await legacy(http, admin_token, session, "tools/list", {})
    found = {t["name"]: t for t in listed["tools"]}
    assert found[tool(agent)]["execution"] == {"taskSupport": "optional"}

    async def call(text: str) -> dict[str, Any]:
        params = {"name": tool(agent), "arguments": {"message": text}, "task": {"ttl": 60000}}
        return await legacy(http, admin_token, session, "tools/call", params)

    handle = (await call("slow 2"))["task"]
    task_id = handle["taskId"]
    assert handle["status"] == "working" and task_id.startswith(agent["id"] + "~")
    assert {"createdAt", "lastUpdatedAt", "ttl", "pollInterval"} <= set(handle)
    got = await legacy(http, admin_token, session, "tasks/get", {"taskId": task_id})
    assert got["taskId"] == task_id and got["status"] in ("working", "completed")
    result = await legacy(http, admin_token, session, "tasks/result", {"taskId": task_id})
    assert result["content"][-2]["text"] == "slow 2" and result["isError"] is False
    after = await legacy(http, admin_token, session, "tasks/get", {"taskId": task_id})
    assert after["status"] == "completed"
    listed = await legacy(http, admin_token, session, "tasks/list", {})
    assert {"taskId": task_id, "status": "completed"}.items() <= next(
        t for t in listed["tasks"] if t["taskId"] == task_id
    ).items()
    # Cancelled: tasks/cancel answers the Task, tasks/result the agent's canceled task (an error).
    long = (await call("slow 20"))["task"]["taskId"]
    cancelled = await legacy(http, admin_token, session, "tasks/cancel", {"taskId": long})
    assert cancelled["taskId"] == long and cancelled["status"] == "cancelled"
    ended = await legacy(http, admin_token, session, "tasks/result", {"taskId": long})
    assert ended["isError"] is True
    # The agent's question is the task's status message, and tasks/result's answer.
    asked = (await call("ask away"))["task"]["taskId"]

    async def waiting() -> dict[str, Any]:
        task = await legacy(http, admin_token, session, "tasks/get", {"taskId": asked})
        assert task["status"] == "input_required", task
        return task

    task = await eventually(waiting, within_s=30, every_s=0.2, retry_on=(AssertionError,))
    assert task["statusMessage"] == "what else should I echo?"
    question = await legacy(http, admin_token, session, "tasks/result", {"taskId": asked})
    assert question["_meta"]["forge/a2a"]["state"] == "input-required"


def replica(mesh: Mesh, name: str) -> Any:
    """Another replica of the service `name`, on the mesh's bus."""
    env = mesh.service_env()
    env[f"FORGE_{name.upper()}_OPS_PORT"] = str(free_port())
    with open(mesh.log_path(f"{name}-tasks"), "ab") as log:
        return spawn([sys.executable, "-m", f"forge.{name}"], env, log)


async def test_a_task_is_followed_through_another_router_replica(
    mesh: Mesh, admin_token: str, agent: dict[str, Any], http: httpx.AsyncClient
) -> None:
    task_id = await created(http, admin_token, agent, "slow 4")
    other = replica(mesh, "router")
    stop_process(mesh.procs["router"])
    try:

        async def finished() -> dict[str, Any]:
            task = await modern(http, admin_token, "tasks/get", {"taskId": task_id})
            assert task["status"] == "completed", task
            return task

        done = await eventually(
            finished, within_s=30, every_s=0.2, retry_on=(Rejected, AssertionError)
        )
        assert done["result"]["content"][-2]["text"] == "slow 4"
    finally:
        mesh.start_service("router")
        stop_process(other)

        async def answered() -> bool:
            params = {"name": tool(agent), "arguments": {"message": "back"}}
            return bool((await modern(http, admin_token, "tools/call", params))["content"])

        await eventually(answered, within_s=30, retry_on=(Rejected, httpx.HTTPError))


async def test_an_a2a_0_3_agents_task_is_an_mcp_task_too(
    mesh: Mesh, admin_token: str, http: httpx.AsyncClient
) -> None:
    """The plain 0.3 agent: `blocking: false`, `tasks/get` and a message on the task in 0.3's
    shapes, read back into the same MCP task."""
    with spawn_server("forge.agents.echo03", path="/") as process:
        old = register(mesh, admin_token, f"tasks echo03 {uuid.uuid4().hex[:6]}", process.url)
        try:
            assert old["protocol_version"] == "0.3"
            task_id = await created(http, admin_token, old, "ask first")
            asking = await modern(http, admin_token, "tasks/get", {"taskId": task_id})
            assert asking["status"] == "input_required"
            assert asking["inputRequests"]["a2a"]["params"]["message"] == "what else should I echo?"
            answer = {"a2a": {"action": "accept", "content": {"message": "then this"}}}
            update = {"taskId": task_id, "inputResponses": answer}
            await modern(http, admin_token, "tasks/update", update)
            done = await until(http, admin_token, task_id, "completed")
            assert done["result"]["content"][-2]["text"] == "then this"
            # Finished at once: the tool's result, no task.
            call = {"name": tool(old), "arguments": {"message": "task at once"}}
            plain = await modern(http, admin_token, "tools/call", call)
            assert plain["resultType"] == "complete" and plain["isError"] is False
        finally:
            headers = {"Authorization": f"Bearer {admin_token}"}
            async with httpx.AsyncClient(base_url=mesh.url, headers=headers) as rest:
                await rest.delete(f"/a2a/{old['id']}")
