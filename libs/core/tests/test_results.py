"""A modern client's results made whole: only what is missing is added, at the top level."""

from __future__ import annotations

import msgspec
import pytest

from forge.core.results import complete_result

WHOLE_LIST = {"resultType": "complete", "ttlMs": 0, "cacheScope": "private"}


@pytest.mark.parametrize(
    ("method", "result", "expected"),
    [
        ("tools/call", b'{"content":[]}', {"content": [], "resultType": "complete"}),
        ("tools/list", b"{}", WHOLE_LIST),
        ("server/discover", b'{"supportedVersions":[]}', {"supportedVersions": [], **WHOLE_LIST}),
        ("resources/read", b'{"contents":[]}', {"contents": [], **WHOLE_LIST}),
        # The key inside content is not the top-level field: it must still be added.
        (
            "tools/call",
            b'{"content":[{"type":"text","text":"resultType"}]}',
            {"content": [{"type": "text", "text": "resultType"}], "resultType": "complete"},
        ),
        # An upstream that sets resultType but omits the cache hints gets only the hints.
        ("prompts/list", b'{"prompts":[],"resultType":"complete"}', {"prompts": [], **WHOLE_LIST}),
        # What the upstream chose is kept.
        (
            "tools/list",
            b'{"tools":[],"ttlMs":5000,"cacheScope":"public"}',
            {"tools": [], "resultType": "complete", "ttlMs": 5000, "cacheScope": "public"},
        ),
        # An interim result is not cacheable: it gets no hints.
        ("resources/read", b'{"resultType":"input_required"}', {"resultType": "input_required"}),
        ("tools/call", b'{"resultType":"input_required"}', {"resultType": "input_required"}),
    ],
)
def test_complete_result_adds_only_missing_modern_fields(
    method: str, result: bytes, expected: dict[str, object]
) -> None:
    assert msgspec.json.decode(complete_result(method, result)) == expected


def test_a_whole_result_passes_as_the_same_bytes() -> None:
    whole = b'{"tools":[],"resultType":"complete","ttlMs":0,"cacheScope":"private"}'
    assert complete_result("tools/list", whole) is whole


@pytest.mark.parametrize("result", [b"[]", b"null", b'"x"'])
def test_a_result_that_is_not_an_object_is_left_for_the_client_to_judge(result: bytes) -> None:
    assert complete_result("tools/list", result) == result
