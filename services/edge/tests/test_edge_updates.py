"""A stream hears the resource updates of the URIs its session or its listens name, only."""

from __future__ import annotations

import json
from typing import Any

from forge.core import subjects
from forge.edge.transports.listens import Listen
from forge.edge.transports.updates import (
    MODERN_CONTROL,
    Updates,
    Watch,
    control,
    listen_control,
    unlisten_control,
    updated_uri,
)
from forge.proto import jsonrpc
from forge.proto.mcp import SubscriptionFilter
from forge.testing.membus import MemoryBus

SUB = "io.modelcontextprotocol/subscriptionId"


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


async def test_a_listen_hears_the_updates_and_list_changes_it_names_tagged_with_its_id() -> None:
    bus = MemoryBus()
    updates = Updates(bus)
    heard: list[Any] = []
    watch = Watch(lambda message: heard.append(json.loads(message)))
    await updates.add(watch)
    listening = Listen(
        "L", SubscriptionFilter(toolsListChanged=True, resourceSubscriptions=["file:///a"])
    )
    assert not watch.modern
    assert watch.control(listen_control(listening))  # as the SSE transport's holder gets it
    assert watch.modern  # a 2026-07-28 client: no untagged list changes on this stream now
    other = Watch(lambda message: None)
    assert other.control(MODERN_CONTROL) and other.modern and not other.listens
    assert watch.control(listen_control(Listen(7, SubscriptionFilter())))
    assert [m["params"]["_meta"][SUB] for m in heard] == ["L", 7]  # each acknowledged first
    assert heard[0]["params"]["notifications"] == {
        "toolsListChanged": True,
        "resourceSubscriptions": ["file:///a"],
    }
    heard.clear()
    await bus.publish(subjects.resource_updated("g1"), updated("file:///a"))
    await bus.publish(subjects.resource_updated("g1"), updated("file:///b"))
    assert heard == [
        {
            "jsonrpc": "2.0",
            "method": "notifications/resources/updated",
            "params": {"uri": "file:///a", "_meta": {SUB: "L"}},
        }
    ]
    notices = [json.loads(m) for m in watch.notices(frozenset({"tools", "prompts"}))]
    assert [(m["method"], m["params"]["_meta"][SUB]) for m in notices] == [
        ("notifications/tools/list_changed", "L")
    ]
    assert [json.loads(m)["id"] for m in watch.farewells()] == ["L", 7]
    assert watch.control(unlisten_control("L"))
    assert not watch.remove("7")  # the id 7, not "7"
    assert watch.remove(7)
    heard.clear()
    await bus.publish(subjects.resource_updated("g1"), updated("file:///a"))
    assert heard == [] and watch.farewells() == []
