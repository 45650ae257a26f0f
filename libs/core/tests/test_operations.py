"""Operations registered with their params type: the adapter decodes once, and a bad shape is
-32602 before the handler runs."""

from __future__ import annotations

import msgspec
import pytest

from forge.core import operations
from forge.core.errors import INVALID_PARAMS, InvalidParamsError
from forge.core.operations import bare, operation


class _Params(msgspec.Struct, frozen=True):
    id: str


async def _get(params: _Params, ctx: list[str]) -> str:
    ctx.append(params.id)
    return params.id


async def _list(params: None, ctx: list[str]) -> int:
    assert params is None
    return len(ctx)


async def test_the_handler_receives_its_params_decoded() -> None:
    seen: list[str] = []
    assert await operation(_Params, _get)(msgspec.Raw(b'{"id":"t1","extra":1}'), seen) == "t1"
    assert seen == ["t1"]


@pytest.mark.parametrize("data", [b'{"id":3}', b"{}", b"[1]", b"not json", b""])
async def test_params_of_the_wrong_shape_are_invalid_params_and_the_handler_never_runs(
    data: bytes,
) -> None:
    seen: list[str] = []
    with pytest.raises(InvalidParamsError) as raised:
        await operation(_Params, _get)(data, seen)
    assert raised.value.code == INVALID_PARAMS
    assert seen == []


async def test_a_handler_without_params_ignores_whatever_was_sent() -> None:
    assert await bare(_list)(b"[not even json", ["a", "b"]) == 2


def test_one_decoder_per_type_is_shared() -> None:
    operation(_Params, _get)
    assert operations.decoder(_Params) is operations.decoder(_Params)
