"""Hostile request lines, headers and JSON bodies are refused at the edge with a 4xx code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from forge.core.errors import INVALID_REQUEST, PARSE_ERROR, ForgeError, PayloadTooLargeError
from forge.edge import inputs
from forge.edge.config import EdgeConfig
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


BODY = b'{"jsonrpc":"2.0","id":1,"method":"ping"}'
# A timeout no test waits out unless the body never comes (then it is the wait).
SLOW = EdgeConfig(body_timeout_s=0.05, max_body_bytes=len(BODY))
SIZED = {"headers": [(b"content-length", str(len(BODY)).encode())]}


def arriving(*steps: bytes | Callable[[], Awaitable[object]]) -> Callable[[], Awaitable[Any]]:
    """An ASGI `receive` that hands out each chunk in turn (the last one ends the body) and
    awaits each callable on the way: a wait before the next chunk."""
    chunks = [step for step in steps if isinstance(step, bytes)]
    pending = list(steps)

    async def receive() -> dict[str, Any]:
        while pending:
            step = pending.pop(0)
            if isinstance(step, bytes):
                more = step is not chunks[-1]
                return {"type": "http.request", "body": step, "more_body": more}
            await step()
        return {"type": "http.disconnect"}

    return receive


async def forever() -> None:
    await asyncio.Event().wait()


async def a_turn() -> None:
    """One turn of the event loop: the read has to wait, briefly."""
    await asyncio.sleep(0)


async def test_a_body_that_came_with_its_headers_is_read_with_no_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    loop = asyncio.get_running_loop()
    timers: list[float] = []
    call_at = loop.call_at

    def recording(when: float, *args: Any, **kwargs: Any) -> asyncio.TimerHandle:
        timers.append(when)
        return call_at(when, *args, **kwargs)

    monkeypatch.setattr(loop, "call_at", recording)
    assert await inputs.read_json(SLOW, SIZED, arriving(BODY)) == BODY
    assert timers == []


async def test_a_body_that_waits_between_its_pieces_is_read_whole() -> None:
    receive = arriving(BODY[:10], a_turn, BODY[10:20], a_turn, BODY[20:])
    assert await inputs.read_json(SLOW, SIZED, receive) == BODY


@pytest.mark.parametrize(
    "receive",
    [arriving(forever, BODY), arriving(BODY[:10], forever, BODY[10:])],
    ids=["nothing came", "a part came"],
)
async def test_a_body_that_stops_arriving_is_a_body_timeout(
    receive: Callable[[], Awaitable[Any]],
) -> None:
    async with asyncio.timeout(5):
        with pytest.raises(inputs.BodyTimeoutError):
            await inputs.read_json(SLOW, SIZED, receive)


async def test_a_body_over_the_limit_after_a_wait_is_too_large() -> None:
    receive = arriving(BODY[:10], a_turn, BODY + BODY)
    with pytest.raises(PayloadTooLargeError):
        await inputs.read_json(SLOW, {"headers": []}, receive)


async def test_a_cancelled_body_read_stops_waiting_for_the_body() -> None:
    waiting, stopped = asyncio.Event(), asyncio.Event()

    async def held() -> None:
        waiting.set()
        try:
            await forever()
        finally:
            stopped.set()

    config = EdgeConfig(body_timeout_s=60)
    reading = asyncio.create_task(
        inputs.read_json(config, SIZED, arriving(BODY[:10], held, BODY[10:]))
    )
    async with asyncio.timeout(5):
        await waiting.wait()
        reading.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reading
    assert stopped.is_set()
