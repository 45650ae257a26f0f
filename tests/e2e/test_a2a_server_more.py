"""Forge's A2A endpoint, more of it through the whole mesh: A2A 0.3's HTTP+JSON binding
(`/a2a/{agent}/v1/...`) with a2a-sdk's 0.3 REST client (its compat transport, chosen from the 0.3
card's `additionalInterfaces`) and plain HTTP for the payloads and errors, in front of the A2A
1.0 echo agent; and push-notification watches that outlive the bridge
replica that started them (a lease in JetStream KV, taken over when its holder is killed or
stopped). One module, so both share the sample agents' processes."""

from __future__ import annotations

import hashlib
import os
import signal
from typing import Any

import httpx
import msgspec
import pytest
from a2a.types import (
    CancelTaskRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    SubscribeToTaskRequest,
    TaskPushNotificationConfig,
    TaskState,
)
from a2a.utils.errors import TaskNotCancelableError, TaskNotFoundError

from forge.cli.mesh import Mesh, stop_process
from forge.core.bus import NatsBus
from forge.testing import eventually
from tests.e2e.test_a2a_server import (
    a2a_client,
    echo,
    echo_agent,
    endpoint,
    http,
    receiver,
    second_bridge,
    send,
)
from tests.e2e.test_a2a_server import (
    request as send_request,
)

__all__ = ["echo", "echo_agent", "http", "receiver"]  # fixtures
JSON = {"A2A-Version": "0.3"}
BUCKET = "forge_a2a_push"


async def rest03(http: httpx.AsyncClient, url: str, streaming: bool = False) -> Any:
    """a2a-sdk's client on the HTTP+JSON interface of Forge's 0.3 card."""
    # a2a-sdk's ClientFactory leaves `A2A-Version: 1.0` on the httpx client it is given: the
    # card would then be the 1.0 one.
    http.headers.pop("a2a-version", None)
    return await a2a_client(http, url, "0.3", streaming=streaming, binding="HTTP+JSON")


async def test_the_0_3_card_lists_both_bindings_at_forges_url(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any]
) -> None:
    url = endpoint(mesh, echo)
    card = (await http.get(url + ".well-known/agent-card.json")).json()
    assert card["protocolVersion"] == "0.3.0" and card["url"] == url
    assert {(i["transport"], i["url"]) for i in card["additionalInterfaces"]} == {
        ("JSONRPC", url),
        ("HTTP+JSON", url.rstrip("/")),
    }
    extended = await http.get(url + "v1/card", headers=JSON)
    assert extended.status_code == 200 and extended.json()["url"] == url


async def test_the_sdks_0_3_rest_client_sends_fetches_and_cancels(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any]
) -> None:
    # (The A2A 0.3 agent behind a 0.3 client is test_a2a_server.py's: the binding changes
    # nothing the bridge does.)
    record = echo
    client = await rest03(http, endpoint(mesh, record))
    answered = await send(client, "over 0.3 rest")
    assert answered.message.parts[0].text == "over 0.3 rest"
    done = await send(client, "task over 0.3 rest")
    assert done.task.id.startswith(record["id"] + ":")
    assert done.task.status.state == TaskState.TASK_STATE_COMPLETED
    fetched = await client.get_task(GetTaskRequest(id=done.task.id))
    assert fetched.id == done.task.id and fetched.status.state == TaskState.TASK_STATE_COMPLETED
    assert fetched.artifacts[0].parts[0].text == "task over 0.3 rest"
    with pytest.raises(TaskNotFoundError):
        await client.get_task(GetTaskRequest(id=record["id"] + ":nothing-here"))
    with pytest.raises(TaskNotCancelableError):
        await client.cancel_task(CancelTaskRequest(id=done.task.id))


async def test_streams_subscriptions_cancels_and_push_configs_over_0_3_rest(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any]
) -> None:
    url = endpoint(mesh, echo)
    client = await rest03(http, url)
    streaming = await rest03(http, url, streaming=True)
    events = [e async for e in streaming.send_message(send_request("slow 1 rest03 stream"))]
    assert events[-1].status_update.status.state == TaskState.TASK_STATE_COMPLETED
    assert any(e.HasField("artifact_update") for e in events)
    started = await send(client, "slow 20 rest03 cancel", blocking=False)
    task_id = started.task.id
    config = TaskPushNotificationConfig(task_id=task_id, url="http://127.0.0.1:9/hook", token="t")
    created = await client.create_task_push_notification_config(config)
    assert created.task_id == task_id and created.id and created.url == config.url
    got = await client.get_task_push_notification_config(
        GetTaskPushNotificationConfigRequest(task_id=task_id, id=created.id)
    )
    assert got.url == config.url and got.token == "t"
    listed = await http.get(url + f"v1/tasks/{task_id}/pushNotificationConfigs", headers=JSON)
    assert [c["name"] for c in listed.json()["configs"]] == [
        f"tasks/{task_id}/pushNotificationConfigs/{created.id}"
    ]
    async for event in streaming.subscribe(SubscribeToTaskRequest(id=task_id)):
        assert event.task.id == task_id or event.status_update.task_id == task_id
        break  # the task is being watched: enough
    cancelled = await client.cancel_task(CancelTaskRequest(id=task_id))
    assert cancelled.status.state == TaskState.TASK_STATE_CANCELED


async def test_0_3_rest_payloads_and_errors_have_the_specs_shapes(
    mesh: Mesh, http: httpx.AsyncClient, echo: dict[str, Any]
) -> None:
    base = endpoint(mesh, echo) + "v1/"
    message = {"messageId": "m1", "role": "ROLE_USER", "content": [{"text": "plain rest03"}]}
    sent = await http.post(base + "message:send", json={"message": message}, headers=JSON)
    assert sent.status_code == 200, sent.text
    answer = sent.json()["message"]
    assert answer["role"] == "ROLE_AGENT" and answer["content"][0] == {"text": "plain rest03"}
    task = {**message, "content": [{"text": "task shapes"}]}
    body = await http.post(base + "message:send", json={"message": task}, headers=JSON)
    done = body.json()["task"]
    assert done["status"]["state"] == "TASK_STATE_COMPLETED" and "kind" not in done
    assert done["artifacts"][0]["parts"][0] == {"text": "task shapes"}
    fetched = await http.get(base + f"tasks/{done['id']}", headers=JSON)
    assert fetched.status_code == 200 and fetched.json()["id"] == done["id"]
    unknown = await http.get(base + f"tasks/{echo['id']}:nothing", headers=JSON)
    assert unknown.status_code == 404
    assert unknown.json()["code"] == -32001 and unknown.json()["type"] == "TaskNotFoundError"
    not_json = await http.post(base + "message:send", content=b"{nope", headers=JSON)
    assert not_json.status_code == 400 and not_json.json()["code"] == -32600
    no_message = await http.post(base + "message:send", json={"configuration": {}}, headers=JSON)
    assert no_message.status_code == 400 and no_message.json()["type"] == "InvalidRequestError"
    bad_part = {"message": {**message, "content": [{"nothing": 1}]}}
    refused = await http.post(base + "message:send", json=bad_part, headers=JSON)
    assert refused.status_code == 400
    async with httpx.AsyncClient() as nobody:
        anonymous = await nobody.post(base + "message:send", json={"message": message})
    assert anonymous.status_code == 401 and "www-authenticate" in anonymous.headers


# -- push-notification watches carried on by another replica


def _pid(owner: str) -> int:
    """The process of a lease's owner (`<host>/<pid>/<nonce>`); 0 when released."""
    return int(owner.split("/")[1]) if owner else 0


async def test_a_push_watch_is_carried_on_when_its_replica_is_killed_then_stopped(
    mesh: Mesh,
    http: httpx.AsyncClient,
    echo: dict[str, Any],
    receiver: tuple[str, list[tuple[dict[str, str], Any]]],
) -> None:
    url, got = receiver
    client = await a2a_client(http, endpoint(mesh, echo), "1.0")
    # A task that waits for the client (input-required) until the test answers it: the watch
    # changes hands while nothing happens, then the answer's completion must still be pushed.
    started = await send(client, "ask carried on")
    task_id = started.task.id
    assert started.task.status.state == TaskState.TASK_STATE_INPUT_REQUIRED
    upstream = task_id.split(":", 1)[1]
    key = f"watch.{echo['id']}.{hashlib.sha256(upstream.encode()).hexdigest()}"
    bus = await NatsBus.connect(mesh.nats_url, "e2e-a2a-push-failover")
    owners: list[int] = []  # the lease's owner after each write, in order
    recorded: list[str] = []  # the last state delivered, as the lease says

    def heard(_: str, value: bytes | None) -> None:
        if value is not None:
            lease = msgspec.json.decode(value)
            owner = _pid(lease["owner"])
            if not owners or owners[-1] != owner:
                owners.append(owner)
            recorded.append(lease["last"])

    watch = await bus.kv_watch(BUCKET, heard, keys=key)
    other = None
    try:
        config = TaskPushNotificationConfig(task_id=task_id, url=url, token="carried")
        await client.create_task_push_notification_config(config)
        first = mesh.procs["a2a_bridge"]
        # Delivered (input-required) and recorded in the lease by the replica that stored it.
        await eventually(lambda: (owners == [first.pid] and recorded[-1]) or None, within_s=10)
        assert len(got) == 1
        # Killed outright: nothing released, the lease expires; the other replica takes it.
        other = second_bridge(mesh)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        await eventually(lambda: other.pid in owners or None, within_s=30)
        # Stopped (SIGTERM): the lease is released at once, and the restarted replica takes it.
        mesh.start_service("a2a_bridge")
        stop_process(other)
        again = mesh.procs["a2a_bridge"]
        await eventually(lambda: again.pid in owners or None, within_s=30)
        assert owners == [first.pid, other.pid, 0, again.pid]
        answered = await send(client, "my answer", task_id=task_id)
        assert answered.task.status.state == TaskState.TASK_STATE_COMPLETED

        def completed() -> bool | None:
            states = [body["task"]["status"]["state"] for _, body in got]
            return True if "TASK_STATE_COMPLETED" in states else None

        await eventually(completed, within_s=30)

        # The watch ended with the task: its lease is gone.
        async def gone() -> bool | None:
            return True if await bus.kv_get(BUCKET, key) is None else None

        await eventually(gone, within_s=10)
    finally:
        await watch.unsubscribe()
        await bus.close()
        if other is not None:
            stop_process(other)
        if mesh.procs["a2a_bridge"].poll() is not None:
            mesh.start_service("a2a_bridge")
    assert all(h["x-a2a-notification-token"] == "carried" for h, _ in got)
    assert all(body["task"]["id"] == task_id for _, body in got)
    # Each state was pushed once: the replicas that carried the watch on did not send the
    # input-required state again.
    states = [body["task"]["status"]["state"] for _, body in got]
    assert states == ["TASK_STATE_INPUT_REQUIRED", "TASK_STATE_COMPLETED"], states
