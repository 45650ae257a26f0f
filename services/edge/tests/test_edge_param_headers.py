"""The edge reads a modern tools/call's `Mcp-Param-*` headers for the router to check."""

from __future__ import annotations

import pytest

from forge.core.errors import HeaderMismatchError
from forge.edge.transports.messages import Request, param_headers, parse

CALL = b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"route"}}'
LIST = b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}'


def request(body: bytes) -> Request:
    parsed = parse(body)
    assert isinstance(parsed, Request)
    return parsed


def test_param_headers_are_kept_by_lower_case_name_and_others_dropped() -> None:
    raw = [(b"mcp-param-region", b"eu-west"), (b"Mcp-Param-Count", b"3"), (b"mcp-name", b"x")]
    assert param_headers(request(CALL), raw) == {
        "mcp-param-region": "eu-west",
        "mcp-param-count": "3",
    }


def test_a_repeated_param_header_is_a_mismatch() -> None:
    raw = [(b"mcp-param-region", b"eu-west"), (b"mcp-param-region", b"us-east")]
    with pytest.raises(HeaderMismatchError):
        param_headers(request(CALL), raw)


def test_only_tools_call_carries_param_headers() -> None:
    assert param_headers(request(LIST), [(b"mcp-param-region", b"eu-west")]) is None


def test_a_tools_call_without_param_headers_is_checked_as_sending_none() -> None:
    assert param_headers(request(CALL), [(b"mcp-name", b"route")]) == {}
