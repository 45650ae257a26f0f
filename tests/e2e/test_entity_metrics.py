"""Issue 13, per-entity metrics through the real mesh: calls made with the official SDK client
through a virtual server are counted exactly for the tools, resource, prompt, server and gateway,
served by ContextForge's REST routes, unchanged by the registry's roll-up (the mesh rolls up
every 2 s), reset by an admin, and invisible to a user of another team; an A2A agent's tool
counts for the tool and the agent."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from mcp import MCPError

from forge.cli.demo import Demo, register, start_server
from forge.cli.mesh import Mesh
from forge.servers.process import spawn
from forge.testing import eventually_sync
from tests.e2e.conftest import sdk_client
from tests.e2e.security_kit import login, make_user, ok, rest

README = "forge://demo/readme"
FIELDS = (
    "totalExecutions",
    "successfulExecutions",
    "failedExecutions",
    "failureRate",
    "minResponseTime",
    "maxResponseTime",
    "avgResponseTime",
    "lastExecutionTime",
)


@pytest.fixture(scope="module")
def metered(mesh: Mesh, admin_token: str) -> Iterator[dict[str, str]]:
    """A demo server of its own, registered privately by the admin (its tools count only this
    module's calls), and a virtual server of its echo and fail tools, readme and greeting."""
    run = uuid.uuid4().hex[:6]
    proc, port = start_server(mesh, "forge.servers.demo")
    server = Demo(proc, f"http://127.0.0.1:{port}/mcp")
    try:
        gateway = register(mesh, admin_token, f"metered-{run}", server.url, visibility="private")
        with rest(mesh, admin_token) as http:

            def mine(kind: str, key: str, value: str) -> str:
                found = [e for e in ok(http.get(f"/{kind}")) if e["gatewayId"] == gateway["id"]]
                return str(next(e["id"] for e in found if e[key] == value))

            ids = {
                "gateway": str(gateway["id"]),
                "echo": mine("tools", "originalName", "echo"),
                "fail": mine("tools", "originalName", "fail"),
                "readme": mine("resources", "uri", README),
                "greeting": mine("prompts", "originalName", "greeting"),
            }
            body = {
                "name": f"metered-{run}",
                "visibility": "private",
                "original_names": True,
                "associated_tools": [ids["echo"], ids["fail"]],
                "associated_resources": [ids["readme"]],
                "associated_prompts": [ids["greeting"]],
            }
            ids["server"] = ok(http.post("/servers", json=body))["id"]
        yield ids
    finally:
        server.stop()


def metrics(http: httpx.Client, path: str) -> dict[str, Any]:
    found: dict[str, Any] = ok(http.get(path))["metrics"]
    return found


async def make_calls(mesh: Mesh, token: str, server_id: str, echoes: int) -> None:
    """`echoes` echo calls, three failed calls (two isError results, one JSON-RPC error), two
    reads of the readme and one prompt, all through the virtual server."""
    http, client = sdk_client(f"{mesh.url}/servers/{server_id}/mcp", token, "legacy")
    async with http, client:
        for i in range(echoes):
            echoed = await client.call_tool("echo", {"text": f"hi {i}"})
            assert not echoed.is_error
        for _ in range(2):
            failed = await client.call_tool("fail", {"message": "no"})
            assert failed.is_error
        with pytest.raises(MCPError):
            await client.call_tool("fail", {"message": "no", "code": -32050})
        for _ in range(2):
            await client.read_resource(README)
        await client.get_prompt("greeting", {"name": "Ada"})


def counts(http: httpx.Client, ids: dict[str, str]) -> dict[str, tuple[int, int]]:
    paths = {
        "echo": f"/tools/{ids['echo']}",
        "fail": f"/tools/{ids['fail']}",
        "readme": f"/resources/{ids['readme']}",
        "greeting": f"/prompts/{ids['greeting']}",
        "server": f"/servers/{ids['server']}",
        "gateway": f"/gateways/{ids['gateway']}",
    }
    shown = {name: metrics(http, path) for name, path in paths.items()}
    return {n: (m["totalExecutions"], m["failedExecutions"]) for n, m in shown.items()}


def snapshot(http: httpx.Client, ids: dict[str, str]) -> list[dict[str, Any]]:
    return [
        metrics(http, f"/tools/{ids['echo']}"),
        metrics(http, f"/tools/{ids['fail']}"),
        metrics(http, f"/resources/{ids['readme']}"),
        metrics(http, f"/prompts/{ids['greeting']}"),
        metrics(http, f"/servers/{ids['server']}"),
        metrics(http, f"/gateways/{ids['gateway']}"),
    ]


def pending(postgres_server: Any, ids: dict[str, str]) -> int:
    listed = ", ".join(f"'{v}'" for v in ids.values())  # ids the mesh made: hex and uuids
    sql = f"SELECT count(*) FROM metric_samples WHERE NOT rolled_up AND entity_id IN ({listed})"
    return int(postgres_server.psql(sql, dbname="e2e_catalog").strip())


async def test_metrics_match_the_calls_exactly_before_and_after_a_roll_up(
    mesh: Mesh, admin_token: str, metered: dict[str, str], postgres_server: Any
) -> None:
    await make_calls(mesh, admin_token, metered["server"], echoes=5)
    expected = {
        "echo": (5, 0),
        "fail": (3, 3),
        "readme": (2, 0),
        "greeting": (1, 0),
        "server": (11, 3),
        "gateway": (11, 3),
    }
    with rest(mesh, admin_token) as http:
        eventually_sync(lambda: counts(http, metered) == expected, within_s=20)
        for shown in snapshot(http, metered):
            assert set(FIELDS) <= set(shown)
            assert shown["minResponseTime"] <= shown["avgResponseTime"]
            assert shown["avgResponseTime"] <= shown["maxResponseTime"]
            assert shown["minResponseTime"] <= shown["p50ResponseTime"]
            assert shown["p50ResponseTime"] <= shown["maxResponseTime"]
            assert shown["lastExecutionTime"] is not None
            total, failed = shown["totalExecutions"], shown["failedExecutions"]
            assert shown["successfulExecutions"] == total - failed
            assert shown["failureRate"] == pytest.approx(failed / total)
        before = snapshot(http, metered)
        # The registry rolls every raw row of an ended 2 s period up; the numbers stay exactly.
        eventually_sync(lambda: pending(postgres_server, metered) == 0, within_s=20)
        assert snapshot(http, metered) == before
        rolled = postgres_server.psql(
            f"SELECT sum(calls) FROM metric_rollups WHERE entity_id = '{metered['server']}'",
            dbname="e2e_catalog",
        )
        assert int(rolled.strip()) == 11
        summary = ok(http.get("/metrics"))
        assert set(summary) == {
            "tools",
            "resources",
            "prompts",
            "servers",
            "gateways",
            "a2a_agents",
        }
        assert summary["tools"]["total_executions"] >= 8
        assert summary["servers"]["failed_executions"] >= 3
        assert ok(http.get("/v1/metrics"))["tools"]["total_executions"] >= 8


async def test_a_reset_is_an_admins_and_another_teams_user_sees_none_of_it(
    mesh: Mesh, admin_token: str, metered: dict[str, str]
) -> None:
    run = uuid.uuid4().hex[:6]
    email = f"cora-metrics-{run}@example.com"
    make_user(mesh, admin_token, email, "developer")
    cora = login(mesh, email)
    with rest(mesh, cora.token) as http:
        assert http.get(f"/tools/{metered['echo']}").status_code == 404
        assert http.get(f"/servers/{metered['server']}").status_code == 404
        assert http.get(f"/gateways/{metered['gateway']}").status_code == 404
        reset = http.post("/metrics/reset", params={"entity": "tool", "entity_id": metered["echo"]})
        assert reset.status_code == 403
        seen = ok(http.get("/metrics"))
    with rest(mesh, admin_token) as admin:
        echoes = metrics(admin, f"/tools/{metered['echo']}")["totalExecutions"]
        await make_calls(mesh, admin_token, metered["server"], echoes=1)
        eventually_sync(
            lambda: metrics(admin, f"/tools/{metered['echo']}")["totalExecutions"] == echoes + 1,
            within_s=20,
        )
        # Not her entries: her summary did not move with them.
        with rest(mesh, cora.token) as http:
            assert ok(http.get("/metrics")) == seen
        bad = admin.post("/metrics/reset", params={"entity": "widget"})
        assert bad.status_code == 422  # -32602, as every REST validation error
        done = admin.post("/metrics/reset", params={"entity": "tool", "entity_id": metered["echo"]})
        assert ok(done)["status"] == "success"
        assert metrics(admin, f"/tools/{metered['echo']}")["totalExecutions"] == 0
        assert metrics(admin, f"/tools/{metered['fail']}")["totalExecutions"] > 0
        assert metrics(admin, f"/servers/{metered['server']}")["totalExecutions"] > 0


async def test_an_agents_tool_calls_count_for_the_tool_and_the_agent(
    mesh: Mesh, admin_token: str
) -> None:
    run = uuid.uuid4().hex[:6]
    with spawn("forge.agents.echo", path="/") as agent_server, rest(mesh, admin_token) as http:
        body = {"name": f"metered agent {run}", "url": agent_server.url, "visibility": "private"}
        agent = ok(http.post("/a2a", json=body))
        tool = next(t for t in ok(http.get("/tools")) if t["gatewayId"] == agent["id"])
        sdk_http, client = sdk_client(mesh.url + "/mcp", admin_token, "legacy")
        async with sdk_http, client:
            for message in ("one", "two"):
                assert not (await client.call_tool(tool["name"], {"message": message})).is_error
            assert (await client.call_tool(tool["name"], {"message": "fail please"})).is_error

        def shown() -> tuple[tuple[int, int], tuple[int, int]]:
            of_agent = metrics(http, f"/a2a/{agent['id']}")
            of_tool = metrics(http, f"/tools/{tool['id']}")
            return (
                (of_agent["totalExecutions"], of_agent["failedExecutions"]),
                (of_tool["totalExecutions"], of_tool["failedExecutions"]),
            )

        eventually_sync(lambda: shown() == ((3, 1), (3, 1)), within_s=20)
        assert ok(http.get("/metrics"))["a2a_agents"]["total_executions"] >= 3
        http.delete(f"/a2a/{agent['id']}")
