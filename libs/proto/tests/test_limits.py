"""Length limits on registry params are checked as they are decoded (red-team F8)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from forge.proto import limits
from forge.proto.catalog_params import CreateGatewayParams, CreateServerParams, UpdateGatewayParams
from forge.proto.identity_params import CreateTeamParams, CreateTokenParams, LoginParams

TOO_LONG: list[tuple[type[Any], dict[str, Any]]] = [
    (UpdateGatewayParams, {"id": "g", "description": "d" * (limits.MAX_DESCRIPTION + 1)}),
    (UpdateGatewayParams, {"id": "g", "name": "n" * (limits.MAX_NAME + 1)}),
    (UpdateGatewayParams, {"id": "g", "tags": ["t"] * (limits.MAX_TAGS + 1)}),
    (UpdateGatewayParams, {"id": "g", "env": {"A": "v" * (limits.MAX_ENV_VALUE + 1)}}),
    (UpdateGatewayParams, {"id": "g", "env": {f"A{i}": "" for i in range(limits.MAX_ENV + 1)}}),
    (CreateGatewayParams, {"name": "g", "url": "http://h/" + "u" * limits.MAX_URL}),
    (CreateGatewayParams, {"name": "g", "auth_headers": {"X": "v" * (limits.MAX_SECRET + 1)}}),
    (
        CreateGatewayParams,
        {"name": "g", "auth_headers": {f"X{i}": "" for i in range(limits.MAX_HEADERS + 1)}},
    ),
    (CreateGatewayParams, {"name": "g", "command": ["x"] * (limits.MAX_ARGS + 1)}),
    (
        CreateGatewayParams,
        {"name": "g", "auth_headers": [{"key": "X", "value": ""}] * (limits.MAX_HEADERS + 1)},
    ),
    (CreateServerParams, {"name": "s", "associated_tools": ["t"] * (limits.MAX_ITEMS + 1)}),
    (CreateTeamParams, {"name": "t", "description": "d" * (limits.MAX_DESCRIPTION + 1)}),
    (CreateTokenParams, {"name": "n" * (limits.MAX_NAME + 1)}),
    (LoginParams, {"email": "a@b.c", "password": "p" * (limits.MAX_SECRET + 1)}),
]


@pytest.mark.parametrize(("cls", "params"), TOO_LONG, ids=[c.__name__ for c, _ in TOO_LONG])
def test_a_value_beyond_its_limit_fails_to_decode(cls: type[Any], params: dict[str, Any]) -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(msgspec.json.encode(params), type=cls)


def test_values_at_their_limits_decode() -> None:
    params = {
        "id": "g",
        "name": "n" * limits.MAX_NAME,
        "description": "d" * limits.MAX_DESCRIPTION,
        "tags": ["t" * limits.MAX_NAME] * limits.MAX_TAGS,
        "url": "u" * limits.MAX_URL,
        "env": {f"A{i}": "" for i in range(limits.MAX_ENV)},
    }
    decoded = msgspec.json.decode(msgspec.json.encode(params), type=UpdateGatewayParams)
    assert decoded.description == params["description"]
