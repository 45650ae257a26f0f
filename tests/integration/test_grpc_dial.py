"""The a2a-bridge's gRPC dialer against a real gRPC agent (a2a-sdk's echo agent, `--grpc`):
the SSRF guard checks the address when it dials (a loopback agent is refused unless the
operator allowed loopback, before any connection), the agent's A2A errors come back as A2A
codes, a unary method asked as a stream answers its one event; credentials go as metadata and
the card's tenant on the request (a recording gRPC agent in the test)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import grpc
import grpc.aio
import httpx
import msgspec
import pytest
from a2a.types import a2a_pb2, a2a_pb2_grpc

from forge.a2a_bridge.agent_error import AgentRpcError
from forge.a2a_bridge.credentials import Access
from forge.a2a_bridge.grpc_dial import GrpcDialer, target_of
from forge.core.errors import A2aCode, UpstreamUnavailableError
from forge.core.netguard import AddressForbiddenError, NetGuard
from forge.proto.agents import Agent
from forge.servers.process import ServerProcess, spawn


@pytest.fixture(scope="module")
def grpc_agent() -> Iterator[ServerProcess]:
    with spawn("forge.agents.echo", "--grpc", path="/") as agent:
        yield agent


def agent_of(process: ServerProcess, url: str = "") -> Agent:
    card = httpx.get(process.url + ".well-known/agent-card.json", timeout=10).json()
    where = url or card["supportedInterfaces"][0]["url"]
    fields = {"id": "a1", "name": "grpc echo", "slug": "grpc-echo", "owner": "t", "url": where}
    return msgspec.convert({**fields, "binding": "grpc", "card": card}, Agent)


def send(text: str) -> dict[str, Any]:
    message = {"messageId": uuid.uuid4().hex, "role": "ROLE_USER", "parts": [{"text": text}]}
    return {"message": message}


async def test_the_guard_refuses_a_loopback_agent_unless_loopback_is_allowed(
    grpc_agent: ServerProcess,
) -> None:
    agent = agent_of(grpc_agent)
    strict = GrpcDialer(NetGuard(), connect_timeout_s=5, max_bytes=1 << 20)
    for url in (agent.url, f"localhost:{target_of(agent.url)[1]}", f"grpc://{agent.url}"):
        named = agent_of(grpc_agent, url)
        with pytest.raises(AddressForbiddenError):
            await strict.request(named, Access(url), "SendMessage", send("hi"), time.time() + 10)
    assert not strict._channels  # refused before any channel was made
    allowed = GrpcDialer(NetGuard("127.0.0.0/8,::1/128"), connect_timeout_s=5, max_bytes=1 << 20)
    try:
        answer = await allowed.request(
            agent, Access(agent.url), "SendMessage", send("hi"), time.time() + 10
        )
        assert answer["message"]["parts"][0]["text"] == "hi"
    finally:
        await allowed.close()


async def test_the_agents_errors_are_a2a_codes_and_a_unary_method_streams_one_event(
    grpc_agent: ServerProcess,
) -> None:
    agent = agent_of(grpc_agent)
    dialer = GrpcDialer(NetGuard("127.0.0.0/8"), connect_timeout_s=5, max_bytes=1 << 20)
    access = Access(agent.url, {"X-Api-Key": "k"})
    try:
        deadline = time.time() + 10
        task = (await dialer.request(agent, access, "SendMessage", send("task x"), deadline))[
            "task"
        ]
        with pytest.raises(AgentRpcError) as missing:
            await dialer.request(agent, access, "GetTask", {"id": "nope"}, deadline)
        assert missing.value.code == A2aCode.TASK_NOT_FOUND
        with pytest.raises(AgentRpcError) as done:
            await dialer.request(agent, access, "CancelTask", {"id": task["id"]}, deadline)
        assert done.value.code == A2aCode.TASK_NOT_CANCELABLE
        events: list[Any] = []

        async def told(event: Any) -> None:
            events.append(event)

        await dialer.stream(agent, access, "GetTask", {"id": task["id"]}, deadline, told)
        assert [e["status"]["state"] for e in events] == ["TASK_STATE_COMPLETED"]
        with pytest.raises(UpstreamUnavailableError):  # nothing listens there any more
            gone = agent_of(grpc_agent, "127.0.0.1:1")
            await dialer.request(gone, Access(gone.url), "GetTask", {"id": "x"}, deadline)
    finally:
        await dialer.close()


class Recorder(a2a_pb2_grpc.A2AServiceServicer):  # type: ignore[misc]
    """A gRPC agent that keeps what each SendMessage carried and answers a Message."""

    def __init__(self) -> None:
        self.seen: list[tuple[dict[str, str], str]] = []

    async def SendMessage(self, request: Any, context: Any) -> Any:
        metadata = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        self.seen.append((metadata, request.tenant))
        said = a2a_pb2.Message(message_id="r", role=a2a_pb2.ROLE_AGENT)
        said.parts.add(text="recorded")
        return a2a_pb2.SendMessageResponse(message=said)


async def test_credentials_go_as_metadata_and_the_cards_tenant_on_the_request() -> None:
    recorder = Recorder()
    server = grpc.aio.server()
    a2a_pb2_grpc.add_A2AServiceServicer_to_server(recorder, server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("localhost:0")  # each of its addresses
    await server.start()
    url = f"localhost:{port}"  # a name: resolved and checked by the bridge, never by gRPC
    interface = {"url": url, "protocolBinding": "GRPC", "protocolVersion": "1.0", "tenant": "t7"}
    fields = {"id": "a2", "name": "recorder", "slug": "recorder", "owner": "t", "url": url}
    card = {"name": "recorder", "supportedInterfaces": [interface]}
    agent = msgspec.convert({**fields, "binding": "grpc", "card": card}, Agent)
    dialer = GrpcDialer(NetGuard("127.0.0.0/8,::1/128"), connect_timeout_s=5, max_bytes=1 << 20)
    access = Access(url, {"Authorization": "Bearer s3cret", "X-Api-Key": "k1"})
    try:
        answer = await dialer.request(agent, access, "SendMessage", send("hi"), time.time() + 10)
        assert answer["message"]["parts"] == [{"text": "recorded"}]
        with pytest.raises(UpstreamUnavailableError):  # gRPC has nowhere to put a query key
            await dialer.request(
                agent, Access(url + "?key=k"), "SendMessage", send("hi"), time.time() + 10
            )
    finally:
        await dialer.close()
        await server.stop(0)
    [(metadata, tenant)] = recorder.seen
    assert metadata["authorization"] == "Bearer s3cret"
    assert metadata["x-api-key"] == "k1"
    assert metadata["a2a-version"] == "1.0"
    assert tenant == "t7"
