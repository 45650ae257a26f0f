"""Resumable SSE answers on Streamable HTTP (MCP 2025-11-25, "Resumability and Redelivery" and
"SSE polling"), through the whole mesh with two edge replicas on one NATS: event ids, the
priming event, a resume with GET + Last-Event-ID on the other replica, and SSE polling."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from forge.cli.demo import Demo, register, start_server
from forge.cli.mesh import Mesh, spawn, stop_process
from forge.embedded.process import free_port
from tests.e2e.conftest import INIT, answering

ACCEPT_BOTH = "application/json, text/event-stream"
ID = re.compile(r"^[0-9a-f]{32}-[0-9]+$")


@dataclass
class Event:
    id: str | None
    data: str
    retry: int | None = None

    def message(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads(self.data)
        return loaded


async def events(response: httpx.Response) -> AsyncIterator[Event]:
    """The events of an SSE response, as a conforming parser reads them (priming included)."""
    fields: dict[str, str] = {}
    data: list[str] = []
    async for line in response.aiter_lines():
        if line == "":
            if fields or data:
                retry = fields.get("retry")
                yield Event(fields.get("id"), "\n".join(data), int(retry) if retry else None)
            fields, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        else:
            fields[name] = value


@pytest.fixture(scope="module")
def polling_edge(mesh: Mesh) -> Iterator[str]:
    """An edge replica that closes a legacy call's stream after 0.3 s (SSE polling)."""
    port = free_port()
    env = mesh.service_env()
    env["FORGE_EDGE_PORT"] = str(port)
    env["FORGE_EDGE_SSE_POLL_AFTER_S"] = "0.3"
    env["FORGE_EDGE_SSE_RETRY_MS"] = "200"
    with open(mesh.log_path("edge-polling"), "ab") as log:
        proc = spawn([sys.executable, "-m", "forge.edge"], env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        answering(mesh, proc, "edge-polling", url + "/health")
        yield url
    finally:
        stop_process(proc)


@pytest.fixture(scope="module")
def polling_upstream(mesh: Mesh, admin_token: str) -> Iterator[dict[str, Any]]:
    """Our conformance server (SDK, with an event store): its test_reconnection tool closes its
    call's stream before the answer, the client polling for the rest."""
    proc, port = start_server(mesh, "forge.servers.conformance")
    server = Demo(proc, f"http://127.0.0.1:{port}/mcp")
    try:
        yield register(mesh, admin_token, "polled", server.url)
    finally:
        server.stop()


async def session(http: httpx.AsyncClient, url: str) -> dict[str, str]:
    """A 2025-11-25 session opened at `url`: the headers its requests carry."""
    opened = await http.post(url, json=INIT, headers={"Accept": ACCEPT_BOTH})
    assert opened.status_code == 200, opened.text
    headers = {
        "Accept": ACCEPT_BOTH,
        "Mcp-Session-Id": opened.headers["mcp-session-id"],
        "MCP-Protocol-Version": "2025-11-25",
    }
    await http.post(
        url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=headers
    )
    return headers


def call(request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    params = {"name": name, "arguments": arguments, "_meta": {"progressToken": "p"}}
    return {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": params}


async def test_a_stream_the_client_left_resumes_on_the_other_replica_with_what_it_missed(
    mesh: Mesh, second_edge: str, admin_token: str, demo: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        headers = await session(http, mesh.url + "/mcp")
        seen: list[Event] = []
        request = call(7, "demo-slow", {"seconds": 1.0})
        async with http.stream("POST", mesh.url + "/mcp", json=request, headers=headers) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            async for event in events(r):
                seen.append(event)
                if event.data:  # the progress notification: leave before the answer
                    break
        priming, progress = seen
        assert priming.id is not None and ID.match(priming.id)
        assert priming.id.endswith("-0") and priming.data == "" and priming.retry == 1000
        assert progress.message()["method"] == "notifications/progress"
        assert progress.id is not None and progress.id.split("-")[0] == priming.id.split("-")[0]

        # The other replica has the rest: the final answer, under the same stream's ids.
        resumed = {**headers, "Last-Event-ID": progress.id}
        async with http.stream("GET", second_edge + "/mcp", headers=resumed) as r:
            assert r.status_code == 200
            rest = [event async for event in events(r)]
    assert [e.message().get("id") for e in rest] == [7]
    assert rest[0].message()["result"]["content"][0]["text"] == "slept 1.0s"
    assert rest[0].id == progress.id.rsplit("-", 1)[0] + "-2"


async def test_a_resume_from_the_priming_event_replays_every_event(
    mesh: Mesh, second_edge: str, admin_token: str, demo: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        headers = await session(http, second_edge + "/mcp")
        request = call(8, "demo-slow", {"seconds": 0.5})
        async with http.stream("POST", second_edge + "/mcp", json=request, headers=headers) as r:
            first = await anext(aiter(events(r)))
        assert first.id is not None and first.data == ""
        async with http.stream(
            "GET", mesh.url + "/mcp", headers={**headers, "Last-Event-ID": first.id}
        ) as r:
            rest = [event async for event in events(r)]
    assert [e.message().get("method") for e in rest] == ["notifications/progress", None]
    assert rest[-1].message()["id"] == 8
    ids = [e.id for e in rest]
    assert ids == [first.id[:-1] + "1", first.id[:-1] + "2"]


async def test_a_stream_is_resumed_only_by_its_owner_and_session(
    mesh: Mesh, second_edge: str, admin_token: str, demo: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        headers = await session(http, mesh.url + "/mcp")
        request = call(9, "demo-slow", {"seconds": 0.5})
        async with http.stream("POST", mesh.url + "/mcp", json=request, headers=headers) as r:
            first = await anext(aiter(events(r)))
        assert first.id is not None
        other_session = await session(http, mesh.url + "/mcp")
        wrong = await http.get(
            second_edge + "/mcp", headers={**other_session, "Last-Event-ID": first.id}
        )
        assert wrong.status_code == 404
        assert wrong.json()["error"]["message"].startswith("no resumable stream")
        malformed = await http.get(
            second_edge + "/mcp", headers={**headers, "Last-Event-ID": "not-an-id"}
        )
        assert malformed.status_code == 400


async def test_sse_polling_closes_a_long_call_and_the_other_replica_answers_the_poll(
    mesh: Mesh, polling_edge: str, admin_token: str, demo: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        headers = await session(http, polling_edge + "/mcp")
        request = call(10, "demo-slow", {"seconds": 1.0})
        async with http.stream("POST", polling_edge + "/mcp", json=request, headers=headers) as r:
            first = [event async for event in events(r)]  # the edge ends it, not the client
        assert first[0].data == "" and first[0].retry == 200
        assert all(e.data == "" or "result" not in e.message() for e in first)
        last = first[-1].id
        assert last is not None
        async with http.stream(
            "GET", mesh.url + "/mcp", headers={**headers, "Last-Event-ID": last}
        ) as r:
            rest = [event async for event in events(r)]
    assert rest[-1].message()["id"] == 10
    assert rest[-1].message()["result"]["content"][0]["text"] == "slept 1.0s"


async def test_the_sdk_client_polls_a_closed_stream_to_its_answer(
    polling_edge: str, admin_token: str, demo: dict[str, Any]
) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {admin_token}"}, timeout=30)
    client = Client(streamable_http_client(polling_edge + "/mcp", http_client=http), mode="legacy")
    async with http, client:
        result = await client.call_tool("demo-slow", {"seconds": 1.0})
    assert isinstance(result.content[0], types.TextContent)
    assert result.content[0].text == "slept 1.0s"


async def test_a_legacy_list_that_accepts_sse_is_answered_as_a_primed_stream(
    mesh: Mesh, admin_token: str, demo: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    listing = {"jsonrpc": "2.0", "id": 3, "method": "tools/list", "params": {}}
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        headers = await session(http, mesh.url + "/mcp")
        async with http.stream("POST", mesh.url + "/mcp", json=listing, headers=headers) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            streamed = [event async for event in events(r)]
        as_json = await http.post(
            mesh.url + "/mcp", json=listing, headers={**headers, "Accept": "application/json"}
        )
    priming, answer = streamed
    assert priming.data == "" and priming.id is not None and priming.id.endswith("-0")
    assert answer.message()["id"] == 3 and answer.message()["result"]["tools"]
    assert as_json.headers["content-type"] == "application/json"
    assert as_json.json()["result"] == answer.message()["result"]


async def test_a_tools_call_without_in_flight_messages_keeps_the_json_answer(
    mesh: Mesh, admin_token: str, demo: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    request = {
        "jsonrpc": "2.0",
        "id": 4,
        "method": "tools/call",
        "params": {"name": "demo-echo", "arguments": {"text": "hi"}},
    }
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        headers = await session(http, mesh.url + "/mcp")
        answer = await http.post(mesh.url + "/mcp", json=request, headers=headers)
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["result"]["content"][0]["text"] == "hi"


async def test_an_upstream_that_closes_its_stream_is_mirrored_and_polled_on_any_replica(
    mesh: Mesh, second_edge: str, admin_token: str, polling_upstream: dict[str, Any]
) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    request = call(11, "polled-test_reconnection", {})
    async with httpx.AsyncClient(headers=auth, timeout=30) as http:
        headers = await session(http, mesh.url + "/mcp")
        async with http.stream("POST", mesh.url + "/mcp", json=request, headers=headers) as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            first = [event async for event in events(r)]  # closed as the upstream closed its own
        assert first[0].data == "" and first[0].retry == 1000
        assert not any(e.data and "result" in e.message() for e in first)
        last = first[-1].id
        assert last is not None
        async with http.stream(
            "GET", second_edge + "/mcp", headers={**headers, "Last-Event-ID": last}
        ) as r:
            rest = [event async for event in events(r)]
    assert rest[-1].message()["id"] == 11
    assert rest[-1].message()["result"]["content"][0]["text"] == "Reconnection test completed"
