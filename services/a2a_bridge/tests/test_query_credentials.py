"""An agent's API key in a query parameter (`query_param` credentials): added to every request's
URL, encoded, after the operation's path on the HTTP+JSON binding."""

from __future__ import annotations

import msgspec
import pytest
from bridge_harness import agent, call

from conftest import StartBridge
from forge.a2a_bridge import dial
from forge.a2a_bridge.credentials import Access
from forge.a2a_bridge.wire import under
from forge.core.bus import NatsBus
from forge.core.sealing import Keyring, new_key_spec
from forge.proto.agents import Agent
from forge.proto.catalog import UpstreamAuth
from forge.servers.process import ServerProcess, spawn

KEY = "s3cr&t=1 2"  # needs encoding: it must stay one value


def keyed(target: Agent, spec: str) -> Agent:
    auth = UpstreamAuth(type="query_param", query_param="api_key", query_value=KEY)
    sealed = Keyring.parse(spec).seal(msgspec.json.encode(auth), target.id.encode())
    return msgspec.structs.replace(target, auth_type="query_param", auth=sealed)


@pytest.mark.parametrize(
    ("url", "path", "query", "joined"),
    [
        ("http://a:1/rest", "message:send", "", "http://a:1/rest/message:send"),
        ("http://a:1/rest/?k=v", "message:send", "", "http://a:1/rest/message:send?k=v"),
        (
            "http://a:1/?k=v",
            "tasks/t1",
            "historyLength=2",
            "http://a:1/tasks/t1?k=v&historyLength=2",
        ),
    ],
)
def test_an_operation_path_goes_before_the_urls_query(
    url: str, path: str, query: str, joined: str
) -> None:
    assert under(url, path, query) == joined


async def test_the_key_reaches_a_json_rpc_agent_in_its_query(
    bus: NatsBus, start_bridge: StartBridge
) -> None:
    spec = new_key_spec()
    with spawn("forge.agents.echo03", "--show-auth", path="/") as peer:
        target = keyed(agent(peer.url, version="0.3"), spec)
        await start_bridge(target, secret_keys=spec)
        result = await call(bus, target.id, {"message": "who am I"})
    assert result["isError"] is False
    assert result["structuredContent"]["query"] == "api_key=s3cr%26t%3D1+2"
    assert result["structuredContent"]["authorization"] is None


async def test_an_http_json_agent_with_a_query_key_is_sent_to_its_operation_path(
    bus: NatsBus, start_bridge: StartBridge, echo: ServerProcess
) -> None:
    spec = new_key_spec()
    target = keyed(agent(f"{echo.url}rest", binding="http+json"), spec)
    await start_bridge(target, secret_keys=spec)
    result = await call(bus, target.id, {"message": "task over rest"})
    assert result["isError"] is False
    assert result["content"][0]["text"] == "task over rest"


@pytest.mark.parametrize(
    ("method", "params", "verb", "path"),
    [
        ("SendMessage", {"message": {}}, "POST", "/rest/message:send?api_key=k"),
        (
            "GetTask",
            {"id": "t/1", "historyLength": 2},
            "GET",
            "/rest/tasks/t%2F1?api_key=k&historyLength=2",
        ),
        ("ListTasks", {}, "GET", "/rest/tasks?api_key=k"),
        ("CancelTask", {"id": "t1"}, "POST", "/rest/tasks/t1:cancel?api_key=k"),
        ("SubscribeToTask", {"id": "t1"}, "GET", "/rest/tasks/t1:subscribe?api_key=k"),
    ],
)
def test_the_a2a_endpoints_http_json_requests_keep_the_key_after_the_path(
    method: str, params: dict[str, object], verb: str, path: str
) -> None:
    target = agent("http://a:1/rest", binding="http+json")
    access = Access("http://a:1/rest?api_key=k")
    sent = dial.request_of(target, access, method, dict(params))
    assert sent[:2] == (verb, "http://a:1" + path)
