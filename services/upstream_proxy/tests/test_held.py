"""A legacy upstream's server-to-client requests become input_required rounds for a modern client;
the call stays held on one replica and any replica's retry resumes it."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
import pytest
from proxy_harness import call, gateway, stdio_gateway, text_of, tool_call

from conftest import StartProxy
from forge.core.bus import NatsBus
from forge.core.errors import ForgeError
from forge.proto.envelope import Envelope, Protocol
from forge.servers.process import ServerProcess
from forge.upstream_proxy.eras.resume import STATE_PREFIX
from forge.upstream_proxy.handlers import call as call_on

ALL = b'{"elicitation":{},"sampling":{},"roots":{}}'


def from_modern_client(env: Envelope, capabilities: bytes = ALL) -> Envelope:
    protocol = Protocol(version="2026-07-28", capabilities=msgspec.Raw(capabilities))
    return msgspec.structs.replace(env, protocol=protocol)


def retry(env: Envelope, state: str, responses: dict[str, Any]) -> Envelope:
    """The client's retry: a new envelope, the same params plus its answers and the state."""
    params = msgspec.json.decode(env.params)
    params |= {"inputResponses": responses, "requestState": state}
    fresh = from_modern_client(tool_call(params["name"], **params["arguments"]))
    return msgspec.structs.replace(fresh, params=msgspec.Raw(msgspec.json.encode(params)))


async def test_an_elicitation_becomes_an_input_round_resumed_by_another_replica(
    bus: NatsBus, start_proxy: StartProxy, demo_legacy: ServerProcess
) -> None:
    gw = gateway(demo_legacy.url)
    holder = await start_proxy(gw)
    other = await start_proxy(gw)
    env = from_modern_client(tool_call("ask", question="Which size?"))
    # Straight to one replica's handler, so that the retry surely lands on the other one.
    first = msgspec.json.decode(await call_on(env, gw.id, holder.ctx))
    assert first["resultType"] == "input_required"
    assert first["inputRequests"]["r1"]["method"] == "elicitation/create"
    assert first["inputRequests"]["r1"]["params"]["message"] == "Which size?"
    state = first["requestState"]
    assert state.startswith(f"{STATE_PREFIX}{holder.resumes.subject}.")
    answer = {"r1": {"action": "accept", "content": {"answer": "large"}}}
    final = await call_on(retry(env, state, answer), gw.id, other.ctx)
    assert text_of(final) == "large"
    assert msgspec.json.decode(final)["resultType"] == "complete"
    assert not holder.resumes.held


async def test_sampling_then_roots_over_stdio_each_take_a_round(
    bus: NatsBus, start_proxy: StartProxy
) -> None:
    gw = stdio_gateway()
    await start_proxy(gw)
    env = from_modern_client(tool_call("sample", prompt="Write a haiku"))
    first = msgspec.json.decode(await call(bus, gw, env))
    assert first["inputRequests"]["r1"]["method"] == "sampling/createMessage"
    sampled = {"role": "assistant", "content": {"type": "text", "text": "a haiku"}, "model": "m"}
    final = await call(bus, gw, retry(env, first["requestState"], {"r1": sampled}))
    assert text_of(final) == "a haiku"
    env = from_modern_client(tool_call("roots"))
    first = msgspec.json.decode(await call(bus, gw, env))
    assert first["inputRequests"]["r1"] == {"method": "roots/list", "params": {}}
    listed = {"r1": {"roots": [{"uri": "file:///work"}]}}
    final = msgspec.json.decode(await call(bus, gw, retry(env, first["requestState"], listed)))
    assert final["structuredContent"] == {"result": ["file:///work"]}


async def test_a_request_the_client_did_not_declare_is_refused_upstream_without_a_round(
    bus: NatsBus, start_proxy: StartProxy, demo_legacy: ServerProcess
) -> None:
    gw = gateway(demo_legacy.url)
    await start_proxy(gw)
    env = from_modern_client(tool_call("ask", question="Anyone?"), b'{"sampling":{}}')
    with pytest.raises(ForgeError) as caught:
        await call(bus, gw, env)
    # The SDK upstream turns the refused elicitation into the call's error.
    assert caught.value.to_object().code == -32021


@pytest.mark.parametrize("state", ["nonsense", f"{STATE_PREFIX}forge.upstream.resume.x.y"])
async def test_a_malformed_request_state_for_a_legacy_upstream_is_invalid_params(
    bus: NatsBus, start_proxy: StartProxy, demo_legacy: ServerProcess, state: str
) -> None:
    gw = gateway(demo_legacy.url)
    await start_proxy(gw)
    env = from_modern_client(tool_call("ask", question="Again?"))
    with pytest.raises(ForgeError) as caught:
        await call(bus, gw, retry(env, state, {}))
    assert caught.value.to_object().code == -32602


async def test_a_held_call_nobody_comes_back_for_expires_and_its_state_is_refused(
    bus: NatsBus, start_proxy: StartProxy, demo_legacy: ServerProcess
) -> None:
    gw = gateway(demo_legacy.url)
    proxy = await start_proxy(gw, resume_timeout_s=0.2)
    env = from_modern_client(tool_call("ask", question="Still there?"))
    first = msgspec.json.decode(await call(bus, gw, env))
    [held] = proxy.resumes.held.values()
    async with asyncio.timeout(10):
        await asyncio.wait({held.task})  # dropped at expiry: its upstream call is cancelled
    answer = {"r1": {"action": "accept", "content": {"answer": "late"}}}
    with pytest.raises(ForgeError) as caught:
        await call(bus, gw, retry(env, first["requestState"], answer))
    assert caught.value.to_object().code == -32602
    assert "requestState" in caught.value.to_object().message


async def test_another_callers_retry_cannot_resume_a_held_call(
    bus: NatsBus, start_proxy: StartProxy, demo_legacy: ServerProcess
) -> None:
    gw = gateway(demo_legacy.url)
    await start_proxy(gw)
    env = from_modern_client(tool_call("ask", question="Mine?"))
    first = msgspec.json.decode(await call(bus, gw, env))
    stolen = retry(env, first["requestState"], {"r1": {"action": "decline"}})
    intruder = msgspec.structs.replace(stolen.principal, subject="intruder")
    with pytest.raises(ForgeError) as caught:
        await call(bus, gw, msgspec.structs.replace(stolen, principal=intruder))
    assert caught.value.to_object().code == -32602
    answer = {"r1": {"action": "accept", "content": {"answer": "yes"}}}
    assert text_of(await call(bus, gw, retry(env, first["requestState"], answer))) == "yes"
