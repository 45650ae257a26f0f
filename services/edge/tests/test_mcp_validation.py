"""Edge validation of JSON-RPC bodies and modern MCP headers, without a network."""

from __future__ import annotations

import msgspec
import pytest

from forge.core.errors import (
    HeaderMismatchError,
    InvalidParamsError,
    InvalidRequestError,
    ParseError,
    UnsupportedProtocolVersionError,
)
from forge.edge.transports.messages import (
    ClientResponse,
    Request,
    check_modern,
    declared_protocol,
    parse,
)

META = b'{"io.modelcontextprotocol/protocolVersion":"2026-07-28"}'


def call_body(name: str = "echo") -> bytes:
    return (
        b'{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"'
        + name.encode()
        + b'","_meta":'
        + META
        + b"}}"
    )


def test_a_request_keeps_its_params_undecoded() -> None:
    request = parse(b'{"jsonrpc":"2.0","id":"a","method":"tools/list","params":{"cursor":"x"}}')
    assert isinstance(request, Request)
    assert request.id == "a"
    assert bytes(request.params) == b'{"cursor":"x"}'
    assert not request.is_notification


def test_a_notification_and_a_client_response_are_told_apart() -> None:
    note = parse(b'{"jsonrpc":"2.0","method":"notifications/initialized"}')
    assert isinstance(note, Request) and note.is_notification
    assert isinstance(parse(b'{"jsonrpc":"2.0","id":3,"result":{}}'), ClientResponse)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{nope", ParseError),
        (b"", ParseError),
        (b"[]", InvalidRequestError),
        (b"42", InvalidRequestError),
        (b'{"jsonrpc":"2.0","id":1}', InvalidRequestError),
        (b'{"id":1,"method":"ping"}', InvalidRequestError),
        (b'{"jsonrpc":"2.0","id":1.5,"method":"ping"}', InvalidRequestError),
        (b'{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}', InvalidRequestError),
    ],
)
def test_bad_bodies_get_the_right_error(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse(body)


def headers(method: str = "tools/call", name: str | None = "echo") -> dict[str, str]:
    out = {"mcp-protocol-version": "2026-07-28", "mcp-method": method}
    if name is not None:
        out["mcp-name"] = name
    return out


def test_matching_modern_headers_pass_and_carry_the_client_declarations() -> None:
    request = parse(call_body())
    assert isinstance(request, Request)
    protocol = check_modern(request, headers(), "2026-07-28")
    assert protocol.era == "modern"
    assert bytes(protocol.capabilities) == b"{}"


@pytest.mark.parametrize(
    ("hdrs", "version", "error"),
    [
        (headers(method="tools/list"), "2026-07-28", HeaderMismatchError),
        (headers(name="other"), "2026-07-28", HeaderMismatchError),
        (headers(name=None), "2026-07-28", HeaderMismatchError),
        (headers(), "2099-01-01", UnsupportedProtocolVersionError),
    ],
)
def test_modern_header_problems_are_refused(
    hdrs: dict[str, str], version: str, error: type[Exception]
) -> None:
    request = parse(call_body())
    assert isinstance(request, Request)
    with pytest.raises(error):
        check_modern(request, hdrs, version)


def test_a_modern_request_without_meta_is_invalid_params() -> None:
    request = parse(b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}')
    assert isinstance(request, Request)
    with pytest.raises(InvalidParamsError):
        check_modern(request, headers("tools/list", None), "2026-07-28")


def test_meta_that_disagrees_with_the_header_is_a_mismatch() -> None:
    body = call_body().replace(b"2026-07-28", b"2025-11-25")
    request = parse(body)
    assert isinstance(request, Request)
    with pytest.raises(HeaderMismatchError):
        check_modern(request, headers(), "2026-07-28")
    assert msgspec.json.decode(body)["params"]["name"] == "echo"


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("tools/call", b'{"name":5,"arguments":{}}'),
        ("tools/call", b'{"name":[],"arguments":{}}'),
        ("prompts/get", b'{"name":{}}'),
        ("resources/read", b'{"uri":5}'),
    ],
)
def test_a_modern_name_or_uri_that_is_not_a_string_is_invalid_params(
    method: str, params: bytes
) -> None:
    """Red-team F1: the type error was unexpected (a 500 and a traceback in the log)."""
    body = b'{"jsonrpc":"2.0","id":1,"method":"%s","params":%s}' % (method.encode(), params)
    request = parse(body)
    assert isinstance(request, Request)
    with pytest.raises(InvalidParamsError):
        check_modern(request, headers(method, "x"), "2026-07-28")


def _discover(meta: bytes) -> Request:
    body = b'{"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":' + meta + b"}}"
    request = parse(body)
    assert isinstance(request, Request)
    return request


def test_server_discover_without_client_capabilities_is_invalid_params_on_every_transport() -> None:
    request = _discover(META)
    discover_headers = {"mcp-method": "server/discover"}
    with pytest.raises(InvalidParamsError):
        check_modern(request, discover_headers, "2026-07-28")
    with pytest.raises(InvalidParamsError):
        declared_protocol(request)
    stated = _discover(
        b'{"io.modelcontextprotocol/protocolVersion":"2026-07-28",'
        b'"io.modelcontextprotocol/clientCapabilities":{"sampling":{}}}'
    )
    assert check_modern(stated, discover_headers, "2026-07-28").era == "modern"
    declared = declared_protocol(stated)
    assert declared is not None and bytes(declared.capabilities) == b'{"sampling":{}}'


def test_a_message_transport_request_is_in_the_era_its_meta_declares() -> None:
    modern = parse(call_body())
    assert isinstance(modern, Request)
    protocol = declared_protocol(modern)
    assert protocol is not None and protocol.era == "modern"
    for params in (b"{}", b'{"_meta":{"io.modelcontextprotocol/protocolVersion":"2025-11-25"}}'):
        legacy = parse(b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":' + params + b"}")
        assert isinstance(legacy, Request)
        assert declared_protocol(legacy) is None  # the session's legacy protocol holds
    unknown = parse(
        b'{"jsonrpc":"2.0","id":1,"method":"tools/list","params":'
        b'{"_meta":{"io.modelcontextprotocol/protocolVersion":"2099-01-01"}}}'
    )
    assert isinstance(unknown, Request)
    with pytest.raises(UnsupportedProtocolVersionError):
        declared_protocol(unknown)


def task_request(method: str, task_id: str = "g1~o~t1") -> Request:
    body = msgspec.json.encode(
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": method,
            "params": {"taskId": task_id, "_meta": msgspec.json.decode(META)},
        }
    )
    request = parse(body)
    assert isinstance(request, Request)
    return request


@pytest.mark.parametrize("method", ["tasks/get", "tasks/update", "tasks/cancel"])
def test_a_tasks_mcp_name_must_repeat_the_task_id(method: str) -> None:
    # SEP-2663: Mcp-Name carries params.taskId; surrounding whitespace is not part of it.
    check_modern(task_request(method), headers(method, " g1~o~t1 "), "2026-07-28")
    check_modern(task_request(method), headers(method, None), "2026-07-28")  # not sent: taken
    with pytest.raises(HeaderMismatchError):
        check_modern(task_request(method), headers(method, "g1~o~other"), "2026-07-28")
