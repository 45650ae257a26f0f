"""forge.core.errors: one table of codes, and errors that keep their class across the bus."""

from __future__ import annotations

import inspect
import time
import uuid

import msgspec
import pytest

from forge.core import errors, rpc
from forge.core.bus import NatsBus
from forge.core.errors import (
    CODES,
    ForgeError,
    LegacyResourceNotFoundError,
    MissingClientCapabilityError,
    RequestCancelledError,
    UpstreamRpcError,
    from_object,
)
from forge.proto.envelope import Envelope, ErrorObject, Principal

# The module's own classes that carry no code of their own: the base, and what an upstream said.
_NOT_ROWS = {ForgeError, UpstreamRpcError}


def test_each_code_is_in_the_table_once_with_its_constant_and_class() -> None:
    codes = [row.code for row in CODES]
    assert len(codes) == len(set(codes))
    assert len({row.name for row in CODES}) == len(CODES)
    assert len({row.error for row in CODES}) == len(CODES)
    for row in CODES:
        assert getattr(errors, row.name) == row.code, row.name
        assert row.error.code == row.code, row.name
        assert row.meaning and "\n" not in row.meaning, row.name
        assert 400 <= row.http_status <= 599, row.name


def test_every_code_constant_of_the_module_is_a_row() -> None:
    constants = {
        name: value
        for name, value in vars(errors).items()
        if name.isupper() and isinstance(value, int) and -32999 <= value <= -32000
    }
    assert constants == {row.name: row.code for row in CODES}


def test_every_error_class_with_a_code_of_its_own_is_a_row() -> None:
    classes = {
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, ForgeError) and cls.__module__ == errors.__name__
    }
    own = {cls for cls in classes if "code" in vars(cls)}  # subclasses that reuse a code: not
    assert own - _NOT_ROWS == {row.error for row in CODES}


@pytest.mark.parametrize("row", CODES, ids=lambda row: row.name)
def test_an_error_object_comes_back_as_the_class_it_left_as(row: errors.Code) -> None:
    sent = row.error("said", {"uri": "file:///x"})
    wire = msgspec.json.encode(sent.to_object())
    back = from_object(msgspec.json.decode(wire, type=ErrorObject))
    assert type(back) is row.error
    assert (back.code, back.message, back.data) == (row.code, "said", {"uri": "file:///x"})


def test_a_code_outside_the_table_is_the_upstreams_own() -> None:
    back = from_object(errors.make_object(-31999, "the upstream's own"))
    assert type(back) is UpstreamRpcError and back.code == -31999


@pytest.mark.parametrize(
    "error",
    [
        LegacyResourceNotFoundError("Resource not found", {"uri": "file:///missing"}),
        MissingClientCapabilityError("no elicitation", {"requiredCapabilities": {"x": {}}}),
        RequestCancelledError("the client cancelled the request"),
    ],
    ids=lambda error: type(error).__name__,
)
async def test_codes_once_defined_in_services_cross_real_nats_as_themselves(
    bus: NatsBus, error: ForgeError
) -> None:
    subject = f"test.errors.{uuid.uuid4().hex}"

    async def fail(envelope: Envelope) -> bytes:
        raise error

    await rpc.serve_envelopes(bus, subject, fail, queue=None)
    await bus.flush()
    envelope = Envelope(
        id="e1",
        method="test",
        params=msgspec.Raw(b"{}"),
        principal=Principal(subject="tester"),
        deadline=time.time() + 5,
    )
    with pytest.raises(ForgeError) as raised:
        await rpc.call(bus, subject, envelope)
    assert type(raised.value) is type(error)
    assert raised.value.http_status == error.http_status
    assert raised.value.data == error.data


def test_each_code_says_whose_it_is() -> None:
    owners = {row.code: errors.defined_by(row.code) for row in CODES}
    assert owners[errors.NOT_FOUND] == "Forge"
    assert owners[errors.RESOURCE_NOT_FOUND] == "MCP (legacy)"
    assert owners[errors.HEADER_MISMATCH] == "MCP"
    assert owners[errors.PARSE_ERROR] == "JSON-RPC"
    assert owners[errors.REQUEST_CANCELLED] == "MCP SDKs"
