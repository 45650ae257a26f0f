"""A2A 1.0's gRPC binding through the whole mesh, both ways: an agent whose card offers only
gRPC (the a2a-sdk echo agent with `--grpc`) is an MCP tool and an `/a2a/{agent}/` endpoint
(blocking and streamed sends, task get and cancel), reached by the a2a-bridge over gRPC; Forge's
own gRPC listener serves a2a-sdk's gRPC client (sends, streams, A2A errors, the bearer token,
visibility); and a gRPC agent at an address the SSRF guard refuses is refused when dialled."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
import grpc.aio
import httpx
import pytest
from a2a.client import ClientCallContext, ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.helpers.proto_helpers import new_text_message
from a2a.types import (
    GetTaskRequest,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    TaskState,
    a2a_pb2_grpc,
)
from a2a.utils.errors import TaskNotFoundError

from forge.cli.mesh import Mesh
from forge.core.errors import FORBIDDEN
from forge.servers.process import ServerProcess, spawn
from tests.e2e.conftest import sdk_client
from tests.e2e.security_kit import login, make_user


def register(mesh: Mesh, token: str, body: dict[str, Any]) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=mesh.url, headers=headers, timeout=30) as rest:
        created = rest.post("/a2a", json=body)
        assert created.status_code == 201, created.text
        return dict(created.json())


@pytest.fixture(scope="module")
def grpc_agent() -> Iterator[ServerProcess]:
    with spawn("forge.agents.echo", "--grpc", path="/") as agent:
        yield agent


@pytest.fixture(scope="module")
def grpc_echo(mesh: Mesh, admin_token: str, grpc_agent: ServerProcess) -> dict[str, Any]:
    run = uuid.uuid4().hex[:6]
    body = {"name": f"grpc echo {run}", "url": grpc_agent.url, "visibility": "public"}
    agent = register(mesh, admin_token, body)
    assert (agent["protocol_version"], agent["binding"]) == ("1.0", "grpc")
    return agent


def rpc(method: str, params: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}


def message(text: str) -> dict[str, Any]:
    return {
        "message": {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"text": text}]}
    }


async def test_a_grpc_only_agent_is_a_tool_and_an_a2a_endpoint(
    mesh: Mesh, admin_token: str, grpc_echo: dict[str, Any]
) -> None:
    http, client = sdk_client(mesh.url + "/mcp", admin_token, "2026-07-28")
    async with http, client:
        result = await client.call_tool(
            f"a2a-{grpc_echo['slug']}", {"message": "hi over grpc", "data": {"n": 7}}
        )
    assert not result.is_error
    assert result.content[0].text == "hi over grpc"  # type: ignore[union-attr]
    assert result.structured_content is not None
    assert result.structured_content["data"] == {"n": 7}

    url = f"{mesh.url}/a2a/{grpc_echo['slug']}/"
    headers = {"Authorization": f"Bearer {admin_token}", "A2A-Version": "1.0"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as a2a:
        sent = (await a2a.post(url, json=rpc("SendMessage", message("task blocking")))).json()
        task = sent["result"]["task"]
        assert task["id"].startswith(grpc_echo["id"] + ":")
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"
        got = (await a2a.post(url, json=rpc("GetTask", {"id": task["id"]}))).json()
        assert got["result"]["artifacts"][0]["parts"][0]["text"] == "task blocking"
        missing = (await a2a.post(url, json=rpc("GetTask", {"id": "nope"}))).json()
        assert missing["error"]["code"] == -32001  # A2A's TaskNotFound

        events = []
        body = rpc("SendStreamingMessage", message("slow 2 streamed"))
        async with a2a.stream("POST", url, json=body) as answer:
            assert answer.headers["content-type"].startswith("text/event-stream")
            async for line in answer.aiter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:])["result"])
        said = [e["statusUpdate"]["status"] for e in events if "statusUpdate" in e]
        assert any(s.get("message", {}).get("parts") == [{"text": "step 1 of 2"}] for s in said)
        assert said[-1]["state"] == "TASK_STATE_COMPLETED"

        later = message("slow 20 to cancel")
        later["configuration"] = {"returnImmediately": True}
        started = (await a2a.post(url, json=rpc("SendMessage", later))).json()["result"]["task"]
        cancelled = (await a2a.post(url, json=rpc("CancelTask", {"id": started["id"]}))).json()
        assert cancelled["result"]["status"]["state"] == "TASK_STATE_CANCELED"


def _request(text: str) -> SendMessageRequest:
    config = SendMessageConfiguration(return_immediately=False)
    return SendMessageRequest(
        message=new_text_message(text, role=Role.ROLE_USER), configuration=config
    )


async def test_forges_grpc_listener_serves_a2a_sdks_grpc_client(
    mesh: Mesh, admin_token: str, grpc_agent: ServerProcess, grpc_echo: dict[str, Any]
) -> None:
    headers = {"Authorization": f"Bearer {admin_token}", "A2A-Version": "1.0"}
    card_url = f"{mesh.url}/a2a/{grpc_echo['slug']}/.well-known/agent-card.json"
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        card = parse_agent_card((await http.get(card_url)).json())
    listed = [i for i in card.supported_interfaces if i.protocol_binding == "GRPC"]
    assert [(i.url, i.tenant) for i in listed] == [
        (f"127.0.0.1:{mesh.a2a_grpc_port}", grpc_echo["slug"])
    ]
    auth = ClientCallContext(service_parameters={"authorization": f"Bearer {admin_token}"})
    channels: list[grpc.aio.Channel] = []

    def channel(url: str) -> grpc.aio.Channel:
        channels.append(grpc.aio.insecure_channel(url))
        return channels[-1]

    try:
        for streaming in (False, True):
            config = ClientConfig(
                streaming=streaming,
                grpc_channel_factory=channel,
                supported_protocol_bindings=["GRPC"],
            )
            client = ClientFactory(config).create(card)
            events = [e async for e in client.send_message(_request("slow 2 grpc"), context=auth)]
            last = events[-1]
            state = last.status_update.status.state if streaming else last.task.status.state
            assert state == TaskState.TASK_STATE_COMPLETED
            if streaming:
                kinds = [e.WhichOneof("payload") for e in events]
                assert "status_update" in kinds and "artifact_update" in kinds
            else:
                task_id = last.task.id
                assert task_id.startswith(grpc_echo["id"] + ":")
                got = await client.get_task(GetTaskRequest(id=task_id), context=auth)
                assert got.status.state == TaskState.TASK_STATE_COMPLETED
                with pytest.raises(TaskNotFoundError):
                    await client.get_task(GetTaskRequest(id="not-a-task"), context=auth)

        # The raw generated stub, to read the statuses: no token, another user's agent.
        run = uuid.uuid4().hex[:6]
        private = {"name": f"grpc private {run}", "url": grpc_agent.url, "visibility": "private"}
        hidden = register(mesh, admin_token, private)
        email = f"grpc-dev-{run}@example.com"
        make_user(mesh, admin_token, email, "developer")
        dev = login(mesh, email)
        stub = a2a_pb2_grpc.A2AServiceStub(channel(f"127.0.0.1:{mesh.a2a_grpc_port}"))  # type: ignore[no-untyped-call]
        sent = _request("hello")
        sent.tenant = grpc_echo["slug"]
        with pytest.raises(grpc.aio.AioRpcError) as anonymous:
            await stub.SendMessage(sent, timeout=30)
        assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with pytest.raises(grpc.aio.AioRpcError) as bad:
            await stub.SendMessage(
                sent, metadata=[("authorization", "Bearer nonsense")], timeout=30
            )
        assert bad.value.code() == grpc.StatusCode.UNAUTHENTICATED
        as_dev = [("authorization", f"Bearer {dev.token}")]
        answer = await stub.SendMessage(sent, metadata=as_dev, timeout=30)
        assert answer.message.parts[0].text == "hello"
        sent.tenant = hidden["slug"]
        with pytest.raises(grpc.aio.AioRpcError) as invisible:
            await stub.SendMessage(sent, metadata=as_dev, timeout=30)
        assert invisible.value.code() == grpc.StatusCode.NOT_FOUND
        sent.tenant = ""
        with pytest.raises(grpc.aio.AioRpcError) as unnamed:
            await stub.SendMessage(sent, metadata=as_dev, timeout=30)
        assert unnamed.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        # The agent named in metadata instead.
        named = [*as_dev, ("x-forge-agent", grpc_echo["id"])]
        answer = await stub.SendMessage(sent, metadata=named, timeout=30)
        assert answer.message.parts[0].text == "hello"
    finally:
        for made in channels:
            await made.close()


class _Card(BaseHTTPRequestHandler):
    """A card whose only interface is gRPC at a link-local address (cloud metadata's)."""

    def do_GET(self) -> None:
        card = {
            "name": "metadata grpc",
            "version": "1",
            "supportedInterfaces": [
                {
                    "url": "169.254.169.254:50051",
                    "protocolBinding": "GRPC",
                    "protocolVersion": "1.0",
                }
            ],
        }
        body = json.dumps(card).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def test_a_grpc_agent_at_a_refused_address_is_refused(mesh: Mesh, admin_token: str) -> None:
    """Refused when registered (the registry checks the card's gRPC address); the a2a-bridge
    checks it again when it dials (tests/integration/test_grpc_dial.py)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Card)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        body = {"name": f"grpc ssrf {uuid.uuid4().hex[:6]}", "url": url, "visibility": "public"}
        headers = {"Authorization": f"Bearer {admin_token}"}
        refused = httpx.post(mesh.url + "/a2a", json=body, headers=headers, timeout=30)
    finally:
        server.shutdown()
        server.server_close()
    assert refused.status_code == 403, refused.text
    assert refused.json()["code"] == FORBIDDEN
