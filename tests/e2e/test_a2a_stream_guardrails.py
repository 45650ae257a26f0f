"""A guardrail on an agent's replies holds on streams through the whole mesh: a team's plugin
binding (deny_list on the agent's tool, inline in the a2a-bridge) refuses the word the echo
agent's working status says, and a streamed answer on `/a2a/{agent}/` (A2A 1.0
`SendStreamingMessage` and 0.3 `message/stream`, server-sent events through the edge) ends with
the -32013 error, nothing of the refused event sent."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from forge.cli.mesh import Mesh
from forge.servers.process import spawn
from forge.testing import eventually_sync
from tests.e2e.security_kit import ok, rest

WORD = "step"  # the echo agent's `slow` task says "step 1 of 1" in a working status


@pytest.fixture(scope="module")
def guarded(mesh: Mesh, admin_token: str) -> Iterator[dict[str, Any]]:
    """The echo agent registered, its tool under a deny_list binding on WORD."""
    with spawn("forge.agents.echo", path="/") as server, rest(mesh, admin_token) as http:
        body = {"name": "stream guard echo", "url": server.url, "visibility": "public"}
        agent = ok(http.post("/a2a", json=body), 201)
        binding = {
            "plugin": "deny_list",
            "tool": f"a2a-{agent['slug']}",
            "config": {"words": [WORD]},
        }
        if agent.get("team_id") is not None:
            binding["team_id"] = agent["team_id"]
        made = ok(http.post("/plugins/bindings", json=binding), 201)
        try:
            yield agent
        finally:
            ok(http.delete(f"/plugins/bindings/{made['id']}"))
            http.delete(f"/a2a/{agent['id']}")


def stream(mesh: Mesh, token: str, agent: dict[str, Any], version: str, text: str) -> list[Any]:
    """The JSON-RPC messages of a streamed send, as the client reads them."""
    message: dict[str, Any] = {"messageId": uuid.uuid4().hex, "parts": [{"text": text}]}
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/event-stream"}
    if version == "1.0":
        method, message["role"] = "SendStreamingMessage", "ROLE_USER"
        headers["A2A-Version"] = "1.0"
    else:
        method = "message/stream"
        message.update(kind="message", role="user", parts=[{"kind": "text", "text": text}])
    body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": {"message": message}}
    url = f"{mesh.url}/a2a/{agent['slug']}/"
    with httpx.stream("POST", url, json=body, headers=headers, timeout=30) as answer:
        assert answer.status_code == 200, answer.read()
        kind = answer.headers["content-type"]
        if not kind.startswith("text/event-stream"):
            return [json.loads(answer.read())]
        return [json.loads(line[5:]) for line in answer.iter_lines() if line.startswith("data:")]


@pytest.mark.parametrize("version", ["1.0", "0.3"])
def test_a_streamed_reply_the_guardrail_refuses_ends_with_its_error(
    mesh: Mesh, admin_token: str, guarded: dict[str, Any], version: str
) -> None:
    def refused() -> list[Any] | None:
        got = stream(mesh, admin_token, guarded, version, "slow 1 go")
        return got if "error" in got[-1] else None

    events = eventually_sync(refused, within_s=20, every_s=0.2, what="the binding is in force")
    *before, last = events
    assert last["error"]["code"] == -32013 and last["error"]["data"]["plugin"].startswith(
        "deny_list"
    )
    assert before, "the events before the refused one were sent"
    assert all("result" in e for e in before)
    assert WORD not in json.dumps(before)
