"""Hostile input stops here: request lines, headers and JSON bodies every service can digest.

Whatever passes reaches the router, the registry and PostgreSQL, none of which should have to
cope with a NUL (PostgreSQL refuses it in text and jsonb), an unpaired UTF-16 surrogate (no
UTF-8 encoding exists), bytes that are not UTF-8, or JSON nested deep enough to exhaust a
recursive decoder. Each is refused with a 400 naming the problem; nothing here raises anything
but a ForgeError.
"""

from __future__ import annotations

import asyncio
import re
import types
from collections.abc import Coroutine, Generator
from typing import Any, cast
from urllib.parse import unquote_to_bytes

import msgspec

from forge.core.errors import ForgeError, InvalidRequestError, ParseError
from forge.edge.config import EdgeConfig
from forge.edge.http import Receive, Scope, Send, read_body, respond
from forge.edge.http_hooks import error_body

# Control characters have no business in a request line or a header value (tab excepted).
_CONTROL = frozenset([*range(0x09), *range(0x0A, 0x20), 0x7F])
# Every other byte: `bytes.translate` deleting these leaves only the control characters, a
# third of a regular expression search's time on a request's headers (issue 16).
_NOT_CONTROL = bytes(b for b in range(256) if b not in _CONTROL)
# Structural characters and whole strings: strings are skipped in C, so the depth walk visits
# only brackets (and one match per string).
_STRUCTURE = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)
# `\\` is matched first so that an escaped backslash followed by `u0000` is not read as NUL.
_ESCAPE = re.compile(rb"\\\\|\\u([0-9a-fA-F]{4})")
_OPENERS = frozenset(b"[{")
_ANY = msgspec.json.Decoder()


class BodyTimeoutError(InvalidRequestError):
    """The body did not arrive in time: the client holds a request open without sending it."""

    http_status = 408


async def read_json(config: EdgeConfig, scope: Scope, receive: Receive) -> bytes:
    """The request body within the size limit and the body timeout, checked by `check_json`."""
    try:
        body = await _within(
            config.body_timeout_s, read_body(scope, receive, config.max_body_bytes)
        )
    except TimeoutError as exc:
        raise BodyTimeoutError(
            f"the request body did not arrive within {config.body_timeout_s:g} s"
        ) from exc
    check_json(body, config.max_json_depth)
    return body


async def _within(seconds: float, reading: Coroutine[Any, Any, bytes]) -> bytes:
    """`await reading` within `seconds`, timed only from its first wait: a body that came with
    its headers (the usual small POST: the server holds it before the app runs) is read with no
    timer at all, ~5 us less per request on uvloop (issue 16)."""
    try:
        waiting_on = reading.send(None)
    except StopIteration as done:
        return cast(bytes, done.value)
    async with asyncio.timeout(seconds):
        return await _resumed(reading, waiting_on)


@types.coroutine
def _resumed(coro: Coroutine[Any, Any, bytes], waiting_on: Any) -> Generator[Any, Any, bytes]:
    """The rest of `coro`, suspended on `waiting_on`, run as the task's own await would: what
    the task sends or throws (a cancellation: the timeout's) goes on to `coro`."""
    while True:
        try:
            sent = yield waiting_on
        except BaseException as exc:
            try:
                waiting_on = coro.throw(exc)
            except StopIteration as done:
                return cast(bytes, done.value)
        else:
            try:
                waiting_on = coro.send(sent)
            except StopIteration as done:
                return cast(bytes, done.value)


async def read_object(
    config: EdgeConfig, scope: Scope, receive: Receive, optional: bool = False
) -> dict[str, Any]:
    """A REST request's body as by `read_json`, decoded: 400 when it is not JSON or not an
    object. With `optional`, an empty body is `{}`."""
    raw = await read_json(config, scope, receive)
    if optional and not raw.strip():
        return {}
    try:
        body = _ANY.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidRequestError("the request body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    return body


def check_json(body: bytes, max_depth: int) -> None:
    """Raise ParseError (-32700) for bytes that are not UTF-8 or hold an unpaired surrogate, and
    InvalidRequestError (-32600) for nesting deeper than `max_depth` or a NUL in a string.

    Cheap in the common case: the depth walk runs only when the body holds more brackets than
    `max_depth`, and the escape scan only when it holds a `\\u` escape.
    """
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ParseError("the body is not valid UTF-8") from exc
    if body.count(b"[") + body.count(b"{") > max_depth:
        _check_depth(body, max_depth)
    if b"\\u" in body:
        _check_escapes(body)
    if b"\x00" in body:  # raw NUL is invalid JSON anyway; say why rather than "malformed"
        raise InvalidRequestError("the body must not contain NUL characters")


def _check_depth(body: bytes, max_depth: int) -> None:
    depth = 0
    for match in _STRUCTURE.finditer(body):
        char = match.group()[0]
        if char in _OPENERS:
            depth += 1
            if depth > max_depth:
                raise InvalidRequestError(f"JSON nested deeper than {max_depth} levels")
        elif char != 0x22:  # a closing bracket (0x22 is '"': a string, skipped)
            depth -= 1


def _check_escapes(body: bytes) -> None:
    pending = -1  # where an unpaired high surrogate's escape ended: its low half must follow
    for match in _ESCAPE.finditer(body):
        digits = match.group(1)
        unit = -1 if digits is None else int(digits, 16)  # -1: an escaped backslash
        if unit == 0:
            raise InvalidRequestError("JSON strings must not contain NUL (\\u0000)")
        low = 0xDC00 <= unit <= 0xDFFF
        if pending >= 0:
            if not (low and match.start() == pending):
                raise _unpaired()
            pending = -1
        elif low:
            raise _unpaired()
        elif 0xD800 <= unit <= 0xDBFF:
            pending = match.end()
    if pending >= 0:
        raise _unpaired()


def _unpaired() -> ParseError:
    return ParseError("JSON strings must not contain unpaired UTF-16 surrogates")


def check_request(scope: Scope) -> str | None:
    """What is wrong with the request line or headers, or None: NUL and other control
    characters, a path that does not decode to UTF-8, more than one `Authorization` header
    (REST would read the first and MCP the last: neither is safe to pick)."""
    raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    try:
        path = unquote_to_bytes(raw_path)
        path.decode("utf-8")
    except UnicodeDecodeError:
        return "the path is not valid UTF-8"
    if _has_control(path):
        return "the path must not contain control characters"
    query = unquote_to_bytes(scope.get("query_string", b""))
    if _has_control(query):
        return "the query string must not contain control characters"
    try:
        query.decode("utf-8")
    except UnicodeDecodeError:
        return "the query string is not valid UTF-8"
    headers = scope["headers"]
    # All values at once, joined by a tab (allowed in a value, and no part of any UTF-8
    # sequence, so it neither hides nor makes a problem): one scan and one decode per request.
    values = b"\t".join([value for _, value in headers])
    if _has_control(values):
        return "header values must not contain control characters"
    try:
        values.decode("utf-8")
    except UnicodeDecodeError:
        return "header values must be valid UTF-8"
    if [name for name, _ in headers].count(b"authorization") > 1:
        return "send one Authorization header, not several"
    return None


def _has_control(raw: bytes) -> bool:
    return bool(raw.translate(None, _NOT_CONTROL))


def gate(app: Any) -> Any:
    """`app` behind `check_request`: a bad request line or header never reaches a route."""

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            problem = check_request(scope)
            if problem is not None:
                await _refuse(scope, send, InvalidRequestError(problem))
                return
        await app(scope, receive, send)

    return checked


async def _refuse(scope: Scope, send: Send, exc: ForgeError) -> None:
    path = scope["path"]
    if scope["type"] == "websocket":
        if "websocket.http.response" in scope.get("extensions", {}):
            body = error_body(path + "/mcp", exc)  # the JSON-RPC shape WebSocket clients read
            headers = [(b"content-type", b"application/json")]
            await send({"type": "websocket.http.response.start", "status": 400, "headers": headers})
            await send({"type": "websocket.http.response.body", "body": body})
        else:
            await send({"type": "websocket.close", "code": 1008})
        return
    await respond(send, exc.http_status, error_body(path, exc))
