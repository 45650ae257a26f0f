"""Task ids tagged with their gateway and owner, in results and in status notifications."""

from __future__ import annotations

import msgspec

from forge.core import tasks

ALICE = tasks.owner("alice")


def test_a_modern_task_handle_gets_its_gateway_and_owner_and_untags_back() -> None:
    tagged = msgspec.json.decode(tasks.tag(b'{"resultType":"task","taskId":"t1"}', "g1", "alice"))
    assert tagged["taskId"] == f"g1~{ALICE}~t1"
    assert tasks.untag(tagged["taskId"], "alice") == ("g1", "t1")


def test_an_upstream_id_with_the_separator_in_it_round_trips() -> None:
    tagged = msgspec.json.decode(tasks.tag(b'{"taskId":"a~b"}', "g1", "alice"))
    assert tasks.untag(tagged["taskId"], "alice") == ("g1", "a~b")


def test_another_principal_cannot_untag_the_id() -> None:
    tagged = msgspec.json.decode(tasks.tag(b'{"taskId":"t1"}', "g1", "alice"))["taskId"]
    assert tasks.untag(tagged, "bob") is None
    assert tasks.owner("alice") != tasks.owner("bob")
    assert "alice" not in tagged


def test_a_legacy_task_handle_is_tagged_inside_its_task_member() -> None:
    body = b'{"task":{"taskId":"t1","status":"working"}}'
    tagged = msgspec.json.decode(tasks.tag(body, "g1", "alice"))
    assert tagged["task"] == {"taskId": f"g1~{ALICE}~t1", "status": "working"}


def test_a_task_status_notification_names_the_task_as_the_client_knows_it() -> None:
    note = b'{"jsonrpc":"2.0","method":"notifications/tasks/status","params":{"taskId":"t9"}}'
    tagged = msgspec.json.decode(tasks.tag_notification(note, "g1", "alice"))
    assert tagged["params"]["taskId"] == f"g1~{ALICE}~t9"


def test_anything_else_passes_through_byte_for_byte() -> None:
    body = b'{"content":[{"type":"text","text":"taskId"}] }'
    assert tasks.tag(body, "g1", "alice") == body
    progress = b'{"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}'
    assert tasks.tag_notification(progress, "g1", "alice") == progress
    assert tasks.untag("no-separator", "alice") is None
    assert tasks.untag(f"g1~{ALICE}~", "alice") is None


def test_a_task_id_names_the_tool_that_made_it_and_an_id_without_one_still_decodes() -> None:
    tagged = msgspec.json.decode(tasks.tag(b'{"taskId":"a~b"}', "g1", "alice", "t9"))["taskId"]
    assert tagged == f"g1.t9~{ALICE}~a~b"
    assert tasks.decode(tagged, "alice") == tasks.Tagged("g1", "a~b", "t9")
    assert tasks.untag(tagged, "alice") == ("g1", "a~b")
    assert tasks.decode(f"g1~{ALICE}~a", "alice") == tasks.Tagged("g1", "a", None)
    assert tasks.decode(f"g1.~{ALICE}~a", "alice") is None
    assert tasks.decode(tagged, "bob") is None


def test_a_task_notification_says_nothing_the_post_hooks_did_not_check() -> None:
    params = {
        "taskId": "t9",
        "status": "completed",
        "statusMessage": "the secret is 42",
        "result": {"content": [{"type": "text", "text": "42"}]},
        "inputRequests": {"q": {"method": "elicitation/create", "params": {"message": "42?"}}},
    }
    note = {"jsonrpc": "2.0", "method": "notifications/tasks/status", "params": params}
    told = msgspec.json.decode(tasks.tag_notification(msgspec.json.encode(note), "g1", "alice"))
    assert told["params"] == {"taskId": f"g1~{ALICE}~t9", "status": "completed"}
