"""The conformance server's tasks extension over real HTTP (2026-07-28, by hand): what the
tasks-* scenarios check, in the few lines a reader needs to see it work."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from forge.servers.process import ServerProcess, spawn
from forge.testing import eventually

MODERN = "2026-07-28"
EXTENSION = "io.modelcontextprotocol/tasks"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with spawn("forge.servers.conformance") as running:
        yield running


async def send(
    url: str,
    method: str,
    params: dict[str, Any],
    declared: bool = True,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    capabilities: dict[str, Any] = {"extensions": {EXTENSION: {}}} if declared else {}
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": capabilities,
    }
    sent = {
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": method,
        **(headers or {}),
    }
    named = params.get("name", params.get("taskId"))
    if isinstance(named, str) and "Mcp-Name" not in sent:
        sent["Mcp-Name"] = named
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {**params, "_meta": meta}}
    async with httpx.AsyncClient(timeout=10) as http:
        return await http.post(url, json=body, headers=sent)


async def result(url: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    answer = (await send(url, method, params)).json()
    assert "result" in answer, answer
    found: dict[str, Any] = answer["result"]
    return found


async def test_a_task_asks_for_input_and_completes_once_answered(server: ServerProcess) -> None:
    created = await result(server.url, "tools/call", {"name": "multi_input", "arguments": {}})
    assert created["resultType"] == "task" and created["ttlMs"] > 0
    task_id = created["taskId"]

    async def parked() -> dict[str, Any] | None:
        task = await result(server.url, "tasks/get", {"taskId": task_id})
        return task if task["status"] == "input_required" else None

    task = await eventually(parked, within_s=5)
    assert sorted(task["inputRequests"]) == ["confirm", "name"]
    answer = {"action": "accept", "content": {"name": "Ada"}}
    ack = await result(
        server.url, "tasks/update", {"taskId": task_id, "inputResponses": {"name": answer}}
    )
    assert ack["resultType"] == "complete" and "status" not in ack
    still = await result(server.url, "tasks/get", {"taskId": task_id})
    assert still["status"] == "input_required" and list(still["inputRequests"]) == ["confirm"]
    confirm = {"action": "accept", "content": {"confirm": True}}
    await result(
        server.url, "tasks/update", {"taskId": task_id, "inputResponses": {"confirm": confirm}}
    )

    async def completed() -> dict[str, Any] | None:
        task = await result(server.url, "tasks/get", {"taskId": task_id})
        return task if task["status"] == "completed" else None

    done = await eventually(completed, within_s=5)
    assert done["result"]["content"][0]["text"] == "Received both inputs (name=Ada)"


async def test_without_the_extension_tasks_methods_are_32021_and_optional_tools_run_inline(
    server: ServerProcess,
) -> None:
    refused = (await send(server.url, "tasks/get", {"taskId": "x"}, declared=False)).json()
    assert refused["error"]["code"] == -32021
    inline = await send(
        server.url, "tools/call", {"name": "slow_compute", "arguments": {"seconds": 0}}, False
    )
    assert inline.json()["result"]["resultType"] == "complete"
    required = await send(server.url, "tools/call", {"name": "failing_job"}, declared=False)
    assert required.json()["error"]["code"] == -32021


async def test_an_unknown_task_is_32602_and_a_mismatched_mcp_name_is_32020(
    server: ServerProcess,
) -> None:
    unknown = (await send(server.url, "tasks/get", {"taskId": "nope"})).json()
    assert unknown["error"]["code"] == -32602
    mismatched = await send(server.url, "tasks/cancel", {"taskId": "a"}, True, {"Mcp-Name": "b"})
    assert mismatched.status_code == 400 and mismatched.json()["error"]["code"] == -32020
