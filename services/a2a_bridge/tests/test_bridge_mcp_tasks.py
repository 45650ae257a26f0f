"""An agent's A2A task as an MCP task (mcp_tasks): its states in either era, and what tasks/get
inlines (the tool's result once completed, the agent's question while it waits)."""

from __future__ import annotations

from typing import Any

import pytest

from forge.a2a_bridge import mcp_tasks
from forge.a2a_bridge.parts import read_task
from forge.proto.agents import Agent

AGENT = Agent(id="a1", name="Echo", slug="echo", url="http://127.0.0.1:1/")


def task(state: str, said: str | None = None, artifact: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"state": state, "timestamp": "2026-12-06T10:00:00Z"}
    if said is not None:
        status["message"] = {"messageId": "m", "role": "ROLE_AGENT", "parts": [{"text": said}]}
    found: dict[str, Any] = {"id": "t-1", "contextId": "c-1", "status": status}
    if artifact is not None:
        found["artifacts"] = [{"artifactId": "x", "parts": [{"text": artifact}]}]
    return found


@pytest.mark.parametrize(
    ("state", "legacy", "modern"),
    [
        ("TASK_STATE_SUBMITTED", "working", "working"),
        ("TASK_STATE_WORKING", "working", "working"),
        ("TASK_STATE_INPUT_REQUIRED", "input_required", "input_required"),
        ("TASK_STATE_AUTH_REQUIRED", "input_required", "input_required"),
        ("TASK_STATE_COMPLETED", "completed", "completed"),
        ("TASK_STATE_FAILED", "failed", "completed"),  # SEP-2663: failed is a JSON-RPC error's
        ("TASK_STATE_REJECTED", "failed", "completed"),
        ("TASK_STATE_CANCELED", "cancelled", "cancelled"),
        ("canceled", "cancelled", "cancelled"),  # A2A 0.3's spelling
    ],
)
def test_each_a2a_state_is_an_mcp_status_in_either_era(
    state: str, legacy: str, modern: str
) -> None:
    raw = task(state)
    answer = read_task(raw)
    assert mcp_tasks.handle("a1", raw, answer, "legacy")["status"] == legacy
    assert mcp_tasks.handle("a1", raw, answer, "modern")["status"] == modern


def test_tasks_get_inlines_the_result_or_the_question_for_a_modern_client() -> None:
    done = task("TASK_STATE_COMPLETED", artifact="the answer")
    got = mcp_tasks.detailed(AGENT, done, read_task(done), "modern")
    assert got["resultType"] == "complete" and got["taskId"] == "t-1"
    assert got["result"]["content"] == [{"type": "text", "text": "the answer"}]
    assert got["createdAt"] == got["lastUpdatedAt"] == "2026-12-06T10:00:00Z"
    assert {"ttlMs", "pollIntervalMs"} <= set(got)
    failed = task("TASK_STATE_FAILED", said="no luck")
    assert mcp_tasks.detailed(AGENT, failed, read_task(failed), "modern")["result"]["isError"]
    asking = task("TASK_STATE_INPUT_REQUIRED", said="which one?")
    waiting = mcp_tasks.detailed(AGENT, asking, read_task(asking), "modern")
    assert waiting["inputRequests"]["a2a"]["params"]["message"] == "which one?"
    assert waiting["statusMessage"] == "which one?"
    # A legacy Task carries no result (tasks/result does) and spells its times 2025-11-25's way.
    legacy = mcp_tasks.detailed(AGENT, asking, read_task(asking), "legacy")
    assert "inputRequests" not in legacy and "resultType" not in legacy
    assert {"ttl", "pollInterval"} <= set(legacy) and legacy["statusMessage"] == "which one?"
