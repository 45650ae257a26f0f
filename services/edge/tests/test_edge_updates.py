"""A session's stream hears the resource updates of the URIs its session subscribed to, only."""

from __future__ import annotations

from forge.core import subjects
from forge.edge.transports.updates import Updates, Watch, control, updated_uri
from forge.proto import jsonrpc
from forge.testing.membus import MemoryBus


def updated(uri: str) -> bytes:
    return jsonrpc.notification_bytes(
        "notifications/resources/updated", b'{"uri":"' + uri.encode() + b'"}'
    )


def test_a_watch_takes_control_messages_and_passes_everything_else_on() -> None:
    watch = Watch(lambda message: None)
    assert watch.control(control("resources/subscribe", "file:///a"))
    assert watch.control(control("resources/subscribe", "file:///b"))
    assert watch.control(control("resources/unsubscribe", "file:///a"))
    assert watch.uris == {"file:///b"}
    assert not watch.control(updated("file:///b"))
    assert not watch.control(jsonrpc.result_bytes(1, b"{}"))
    assert watch.control(b'{"forge":"subscribe"}')  # malformed, yet never for the client


def test_only_a_resource_update_has_an_updated_uri() -> None:
    assert updated_uri(updated("file:///a")) == "file:///a"
    assert updated_uri(jsonrpc.notification_bytes("notifications/message", b"{}")) is None
    assert updated_uri(b"not json") is None


async def test_updates_reach_the_streams_whose_sessions_subscribed_to_the_uri() -> None:
    bus = MemoryBus()
    updates = Updates(bus)
    heard: dict[str, list[bytes]] = {"one": [], "two": []}
    one, two = Watch(heard["one"].append), Watch(heard["two"].append)
    await updates.add(one)
    await updates.add(two)
    one.control(control("resources/subscribe", "file:///a"))
    two.control(control("resources/subscribe", "file:///b"))
    await bus.publish(subjects.resource_updated("g1"), updated("file:///a"))
    await bus.publish(subjects.resource_updated("g2"), updated("file:///c"))
    assert heard == {"one": [updated("file:///a")], "two": []}
    updates.remove(one)
    await bus.publish(subjects.resource_updated("g1"), updated("file:///a"))
    assert heard["one"] == [updated("file:///a")]
