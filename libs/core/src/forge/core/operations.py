"""Operations: a handler registered with the type of its params, so that the service adapter
decodes the envelope's params once, with one typed decoder per type, and translates a bad shape
into -32602 in one place (as forge.core.rpc does for every error)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

from forge.core.errors import InvalidParamsError

P = TypeVar("P")
C = TypeVar("C")

_DECODERS: dict[Any, msgspec.json.Decoder[Any]] = {}


def decoder(cls: type[P]) -> msgspec.json.Decoder[P]:
    """The one decoder of `cls` (made at registration, shared by every operation using it)."""
    found = _DECODERS.get(cls)
    if found is None:
        found = _DECODERS[cls] = msgspec.json.Decoder(cls)
    return found


def decode(cls: type[P], data: bytes | msgspec.Raw) -> P:
    """Decode params into `cls`, or raise InvalidParamsError saying which field is wrong."""
    try:
        value: P = decoder(cls).decode(data)
    except msgspec.ValidationError as exc:
        raise InvalidParamsError(f"invalid params: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise InvalidParamsError("params are not valid JSON") from exc
    return value


@dataclass(frozen=True)
class Operation(Generic[C]):
    """A handler `(params, ctx) -> result` and the type its params decode into (None: the
    handler takes none, and whatever was sent is not read)."""

    params: type[Any] | None
    handler: Callable[[Any, C], Awaitable[Any]]

    async def __call__(self, params: bytes | msgspec.Raw, ctx: C) -> Any:
        value = None if self.params is None else decode(self.params, params or b"{}")
        return await self.handler(value, ctx)


def operation(params: type[P], handler: Callable[[P, C], Awaitable[Any]]) -> Operation[C]:
    """Register `handler` with its params type (checked by mypy against the handler's)."""
    decoder(params)
    return Operation(params, handler)


def bare(handler: Callable[[None, C], Awaitable[Any]]) -> Operation[C]:
    """Register a handler that takes no params."""
    return Operation(None, handler)
