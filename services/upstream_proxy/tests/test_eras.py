"""Era translation and SSE parsing, as pure functions."""

from __future__ import annotations

import msgspec
import pytest

from forge.core.errors import InvalidParamsError
from forge.upstream_proxy.transports.codec import legacy_params, modern_params
from forge.upstream_proxy.transports.exchange import SseParser

PV = "io.modelcontextprotocol/protocolVersion"
INFO = "io.modelcontextprotocol/clientInfo"


def test_modern_params_carry_forges_identity_and_keep_other_meta_keys() -> None:
    params = b'{"name":"echo","_meta":{"progressToken":7,"%s":{"name":"client"}}}' % INFO.encode()
    sent, name = modern_params("tools/call", params)
    meta = msgspec.json.decode(sent)["_meta"]
    assert name == "echo"
    assert meta["progressToken"] == 7
    assert meta[INFO] == {"name": "forge", "version": "0.1.0"}
    assert meta[PV] == "2026-07-28"


def test_modern_params_are_built_even_from_no_params() -> None:
    sent, name = modern_params("tools/list", b"")
    assert name is None
    assert set(msgspec.json.decode(sent)["_meta"]) >= {PV, INFO}


def test_legacy_params_lose_only_the_reserved_meta_keys() -> None:
    mixed = b'{"name":"e","_meta":{"progressToken":1,"%s":"2026-07-28"}}' % PV.encode()
    only_reserved = b'{"name":"e","_meta":{"%s":"2026-07-28"}}' % PV.encode()
    assert msgspec.json.decode(legacy_params(mixed)) == {"name": "e", "_meta": {"progressToken": 1}}
    assert msgspec.json.decode(legacy_params(only_reserved)) == {"name": "e"}


def test_legacy_params_without_meta_pass_through_as_the_same_bytes() -> None:
    params = b'{ "name" : "e", "arguments": {"x": 1} }'
    assert legacy_params(params) is params


def test_params_that_are_not_an_object_are_invalid() -> None:
    with pytest.raises(InvalidParamsError):
        modern_params("tools/call", b"[1,2]")


def test_sse_events_split_across_chunks_are_reassembled() -> None:
    parser = SseParser()
    assert parser.feed(b'event: message\r\ndata: {"a"') == []
    assert parser.feed(b":1}\r\n\r\n: keep-alive\n\ndata: x\n") == [b'{"a":1}']
    assert parser.feed(b"data: y\n\n") == [b"x\ny"]
