"""Hostile request lines, headers and JSON bodies are refused at the edge with a 4xx code."""

from __future__ import annotations

from typing import Any

import pytest

from forge.core.errors import INVALID_REQUEST, PARSE_ERROR, ForgeError
from forge.edge import inputs
from forge.edge.transports.messages import parse

DEPTH = 64


def code_of(body: bytes) -> int | None:
    try:
        inputs.check_json(body, DEPTH)
    except ForgeError as exc:
        return exc.code
    return None


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"[" * 100_000 + b"]" * 100_000, INVALID_REQUEST),
        (b'{"a":' * 65 + b"1" + b"}" * 65, INVALID_REQUEST),
        (b'{"method":"x\xff"}', PARSE_ERROR),
        (b'{"a":"\xc3"}', PARSE_ERROR),
        (b'{"a":"\xed\xa0\x80"}', PARSE_ERROR),  # a surrogate encoded as UTF-8
        (b'{"a":"x\\u0000y"}', INVALID_REQUEST),
        (b'{"a":"\\\\\\u0000"}', INVALID_REQUEST),  # an escaped backslash, then a NUL
        (b'{"a":"x\x00"}', INVALID_REQUEST),
        (b'{"a":"\\ud800"}', PARSE_ERROR),
        (b'{"a":"\\ud800x\\udc00"}', PARSE_ERROR),
        (b'{"a":"\\udc00"}', PARSE_ERROR),
        (b'{"a":"\\ud800\\\\"}', PARSE_ERROR),
    ],
)
def test_hostile_json_is_refused_with_its_code(body: bytes, code: int) -> None:
    assert code_of(body) == code


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":' * 64 + b"1" + b"}" * 64,
        b"[" + b"[]," * 10_000 + b"[]]",  # wide, not deep
        b'{"a":"' + b"[" * 1000 + b'"}',  # brackets inside a string are text
        b'{"a":"\\\\u0000"}',  # a backslash and the text u0000
        b'{"a":"\\ud83d\\ude00 \\u00e9"}',
        '{"a":"名前 ✓"}'.encode(),
        b'{"a":1e999, "b":' + b"9" * 5000 + b"}",  # numbers are the decoders' business
    ],
)
def test_ordinary_json_passes(body: bytes) -> None:
    assert code_of(body) is None


def scope(
    path: str = "/tools/x",
    raw_path: bytes | None = None,
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
) -> dict[str, Any]:
    return {
        "type": "http",
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode(),
        "query_string": query,
        "headers": headers or [(b"authorization", b"Bearer t")],
    }


@pytest.mark.parametrize(
    "request_scope",
    [
        scope(raw_path=b"/tools/%00"),
        scope(raw_path=b"/tools/%ff"),
        scope(raw_path=b"/tools/a%0ab"),
        scope(query=b"session_id=%00"),
        scope(query=b"q=%C3"),
        scope(headers=[(b"x-a", b"a\x00b")]),
        scope(headers=[(b"x-a", b"\xff")]),
        scope(headers=[(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")]),
    ],
)
def test_hostile_request_lines_and_headers_are_named(request_scope: dict[str, Any]) -> None:
    assert inputs.check_request(request_scope) is not None


def test_an_ordinary_request_passes() -> None:
    ordinary = scope(
        raw_path="/tools/名前".encode(),
        query=b"a=1&b=%C3%A9",
        headers=[(b"authorization", b"Bearer t"), (b"user-agent", b"x\ty")],
    )
    assert inputs.check_request(ordinary) is None


async def test_the_gate_answers_mcp_paths_with_json_rpc_and_others_with_rest() -> None:
    sent: list[dict[str, Any]] = []
    reached = False

    async def app(scope: Any, receive: Any, send: Any) -> None:
        nonlocal reached
        reached = True

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    gated = inputs.gate(app)
    await gated(scope(path="/mcp", raw_path=b"/mcp", query=b"x=%00"), receive, send)
    await gated(scope(raw_path=b"/tools/%00"), receive, send)
    assert not reached
    assert [m["status"] for m in sent if m["type"] == "http.response.start"] == [400, 400]
    bodies = [m["body"] for m in sent if m["type"] == "http.response.body"]
    assert b'"jsonrpc":"2.0"' in bodies[0] and b'"code":-32600' in bodies[0]
    assert bodies[1].startswith(b'{"detail"') and b'"code":-32600' in bodies[1]


def test_parse_after_the_check_never_recurses() -> None:
    deep = b'{"jsonrpc":"2.0","id":1,"method":"x","params":{"a":' + b"[" * 100_000
    with pytest.raises(ForgeError):
        inputs.check_json(deep, DEPTH)
        parse(deep)
