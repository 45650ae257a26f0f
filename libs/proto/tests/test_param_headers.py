"""Custom parameter headers: Forge's rules agree with the official SDK's, case by case."""

from __future__ import annotations

from typing import Any

import pytest
from mcp.shared import inbound

from forge.proto import param_headers

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "region": {"type": "string", "x-mcp-header": "Region"},
        "count": {"type": "integer", "x-mcp-header": "Count"},
        "dry": {"type": "boolean", "x-mcp-header": "Dry"},
        "where": {
            "type": "object",
            "properties": {"zone": {"type": "string", "x-mcp-header": "Zone"}},
        },
        "text": {"type": "string"},
    },
}
ARGUMENTS: list[dict[str, Any]] = [
    {"region": "eu-west", "count": 3, "dry": True, "where": {"zone": "b"}},
    {"region": "ünïcode ", "count": 0, "dry": False},
    {"region": "=?base64?abc?=", "text": "only"},
    {"region": None, "count": 42.0},
    {"count": [1], "where": "flat"},
    {},
]


@pytest.mark.parametrize("arguments", ARGUMENTS)
def test_headers_for_arguments_are_what_the_sdk_client_sends(arguments: dict[str, Any]) -> None:
    expected = inbound.mcp_param_headers(inbound.x_mcp_header_map(SCHEMA), arguments)
    assert param_headers.headers_for(SCHEMA, arguments) == expected


CLIENT_HEADERS: list[dict[str, str]] = [
    {},
    {"mcp-param-region": "eu-west"},
    {"mcp-param-region": "eu-east", "mcp-param-count": "3"},
    {"mcp-param-region": "eu-west", "mcp-param-count": "3.0", "mcp-param-dry": "true"},
    {"mcp-param-region": "eu-west", "mcp-param-count": "3", "mcp-param-dry": "true"},
    {
        "mcp-param-region": "eu-west",
        "mcp-param-count": "3",
        "mcp-param-dry": "true",
        "mcp-param-zone": "b",
    },
    {
        "mcp-param-region": "=?base64?ZXUtd2VzdA==?=",
        "mcp-param-count": "3",
        "mcp-param-dry": "true",
        "mcp-param-zone": "b",
    },
    {
        "mcp-param-region": "=?base64?not base64?=",
        "mcp-param-count": "3",
        "mcp-param-dry": "true",
        "mcp-param-zone": "b",
    },
    {
        "mcp-param-region": "eu-west",
        "mcp-param-count": "3.5",
        "mcp-param-dry": "true",
        "mcp-param-zone": "b",
    },
    {
        "mcp-param-region": "eu-west",
        "mcp-param-count": "3",
        "mcp-param-dry": "True",
        "mcp-param-zone": "b",
        "mcp-param-unknown": "ignored",
    },
]


@pytest.mark.parametrize("headers", CLIENT_HEADERS)
def test_a_mismatch_is_found_exactly_where_the_sdk_server_finds_one(
    headers: dict[str, str],
) -> None:
    arguments = ARGUMENTS[0]
    sdk = inbound.validate_mcp_param_headers(SCHEMA, arguments, headers)
    ours = param_headers.mismatch(SCHEMA, arguments, headers)
    assert (ours is None) == (sdk is None), (ours, sdk)


def test_matching_headers_pass_and_a_contradicting_one_is_named() -> None:
    arguments = ARGUMENTS[0]
    sent = {k.lower(): v for k, v in param_headers.headers_for(SCHEMA, arguments).items()}
    assert param_headers.mismatch(SCHEMA, arguments, sent) is None
    reason = param_headers.mismatch(SCHEMA, arguments, {**sent, "mcp-param-region": "us"})
    assert reason is not None and "Mcp-Param-Region" in reason


@pytest.mark.parametrize(
    "prop",
    [
        {"type": "number", "x-mcp-header": "N"},
        {"type": "string", "x-mcp-header": "bad token"},
        {"type": "string", "x-mcp-header": 7},
        {"type": ["string", "null"], "x-mcp-header": "N"},
    ],
)
def test_an_invalid_annotation_declares_no_header(prop: dict[str, Any]) -> None:
    schema = {"type": "object", "properties": {"a": prop}}
    assert param_headers.invalid(schema) is not None
    assert inbound.find_invalid_x_mcp_header(schema) is not None
    assert param_headers.headers_for(schema, {"a": "x"}) == {}
    assert param_headers.mismatch(schema, {"a": "x"}, {"mcp-param-n": "y"}) is None


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "x-mcp-header": "Root"},
        {"type": "array", "items": {"type": "string", "x-mcp-header": "Item"}},
        {"anyOf": [{"properties": {"a": {"type": "string", "x-mcp-header": "A"}}}]},
    ],
)
def test_an_annotation_off_the_properties_chain_is_invalid(schema: dict[str, Any]) -> None:
    assert inbound.find_invalid_x_mcp_header(schema) is not None
    assert param_headers.invalid(schema) is not None


def test_an_annotation_inside_instance_data_is_not_one() -> None:
    schema = {"type": "object", "default": {"x-mcp-header": "No"}, "properties": {}}
    assert inbound.find_invalid_x_mcp_header(schema) is None
    assert param_headers.invalid(schema) is None


def test_two_properties_with_one_token_in_different_case_are_invalid() -> None:
    schema = {
        "type": "object",
        "properties": {
            "a": {"type": "string", "x-mcp-header": "Tok"},
            "b": {"type": "string", "x-mcp-header": "tok"},
        },
    }
    assert param_headers.invalid(schema) is not None


@pytest.mark.parametrize("value", ["plain", " edge", "ünï", "=?base64?x?=", "a\nb", ""])
def test_values_round_trip_as_the_sdk_encodes_them(value: str) -> None:
    assert param_headers.encode_value(value) == inbound.encode_header_value(value)
    assert param_headers.decode_value(param_headers.encode_value(value)) == value


def test_a_schema_without_annotations_declares_nothing() -> None:
    assert not param_headers.declares({"type": "object", "properties": {"a": {"type": "string"}}})
    assert param_headers.declares(SCHEMA)
