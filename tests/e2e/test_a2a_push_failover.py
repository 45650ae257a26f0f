"""Push-notification watches outlive the bridge replica that started them: a watch is held by a
lease in JetStream KV, taken over by another replica when its holder is killed (the lease
expires) or stops (the lease is released), carried on from the last state delivered, and the
task's completion still reaches the client's webhook."""

from __future__ import annotations

import hashlib
import os
import signal
from typing import Any

import httpx
import msgspec
from a2a.types import TaskPushNotificationConfig

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

__all__ = ["echo", "echo_agent", "http", "receiver"]  # fixtures used here
BUCKET = "forge_a2a_push"


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
    started = await send(client, "slow 20 carried on", blocking=False)
    task_id = started.task.id
    upstream = task_id.split(":", 1)[1]
    key = f"watch.{echo['id']}.{hashlib.sha256(upstream.encode()).hexdigest()}"
    bus = await NatsBus.connect(mesh.nats_url, "e2e-a2a-push-failover")
    owners: list[int] = []  # the lease's owner after each write, in order

    def heard(_: str, value: bytes | None) -> None:
        if value is not None:
            owner = _pid(msgspec.json.decode(value)["owner"])
            if not owners or owners[-1] != owner:
                owners.append(owner)

    watch = await bus.kv_watch(BUCKET, heard, keys=key)
    other = None
    try:
        config = TaskPushNotificationConfig(task_id=task_id, url=url, token="carried")
        await client.create_task_push_notification_config(config)
        first = mesh.procs["a2a_bridge"]
        await eventually(lambda: owners == [first.pid] or None, within_s=10)
        # Killed outright: nothing released, the lease expires; the other replica takes it.
        other = second_bridge(mesh)
        os.killpg(first.pid, signal.SIGKILL)
        first.wait(10)
        await eventually(lambda: other.pid in owners or None, within_s=30)
        # Stopped (SIGTERM): the lease is released at once, and the restarted replica takes it.
        mesh.start_service("a2a_bridge")
        stop_process(other)
        again = mesh.procs["a2a_bridge"]

        def completed() -> bool | None:
            states = [body["task"]["status"]["state"] for _, body in got]
            return True if "TASK_STATE_COMPLETED" in states else None

        await eventually(completed, within_s=40)
        assert owners[:3] == [first.pid, other.pid, 0] and owners[3] == again.pid, owners

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
    # Every state was sent once: none again by the replica that carried the watch on.
    statuses = [msgspec.json.encode(body["task"]["status"]) for _, body in got]
    assert len(statuses) == len(set(statuses)), statuses
    assert [body["task"]["status"]["state"] for _, body in got][-1] == "TASK_STATE_COMPLETED"
