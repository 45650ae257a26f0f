"""Task ids tagged with their gateway, in results and in status notifications."""

from __future__ import annotations

import msgspec

from forge.core import tasks


def test_a_modern_task_handle_gets_its_gateway_and_untags_back() -> None:
    tagged = msgspec.json.decode(tasks.tag(b'{"resultType":"task","taskId":"t1"}', "g1"))
    assert tagged["taskId"] == "g1~t1"
    assert tasks.untag(tagged["taskId"]) == ("g1", "t1")


def test_a_legacy_task_handle_is_tagged_inside_its_task_member() -> None:
    tagged = msgspec.json.decode(tasks.tag(b'{"task":{"taskId":"t1","status":"working"}}', "g1"))
    assert tagged["task"] == {"taskId": "g1~t1", "status": "working"}


def test_a_task_status_notification_names_the_task_as_the_client_knows_it() -> None:
    note = b'{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"t9"}}'
    assert msgspec.json.decode(tasks.tag_notification(note, "g1"))["params"]["taskId"] == "g1~t9"


def test_anything_else_passes_through_byte_for_byte() -> None:
    body = b'{"content":[{"type":"text","text":"taskId"}] }'
    assert tasks.tag(body, "g1") == body
    progress = b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}'
    assert tasks.tag_notification(progress, "g1") == progress
    assert tasks.untag("no-separator") is None
