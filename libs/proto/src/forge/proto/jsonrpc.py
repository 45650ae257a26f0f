"""JSON-RPC 2.0 framing as clients send it and as Forge answers."""

from __future__ import annotations

import msgspec

RequestId = str | int


class Message(msgspec.Struct, frozen=True, omit_defaults=True):
    """Any incoming JSON-RPC object: request, notification or response."""

    jsonrpc: str | msgspec.UnsetType = msgspec.UNSET
    id: RequestId | msgspec.UnsetType | None = msgspec.UNSET
    method: str | msgspec.UnsetType = msgspec.UNSET
    params: msgspec.Raw = msgspec.Raw()
    result: msgspec.Raw = msgspec.Raw()
    error: msgspec.Raw = msgspec.Raw()


class ResponseError(msgspec.Struct, frozen=True, omit_defaults=True):
    """The error member of a JSON-RPC response."""

    code: int
    message: str
    data: msgspec.Raw = msgspec.Raw()


class Response(msgspec.Struct, frozen=True, omit_defaults=True):
    """A JSON-RPC response received from an upstream."""

    jsonrpc: str = "2.0"
    id: RequestId | None = None
    result: msgspec.Raw = msgspec.Raw()
    error: ResponseError | None = None


MESSAGE_DECODER = msgspec.json.Decoder(Message)
RESPONSE_DECODER = msgspec.json.Decoder(Response)
_ENC = msgspec.json.Encoder()


def _id_bytes(request_id: RequestId | None) -> bytes:
    return _ENC.encode(request_id)


def result_bytes(request_id: RequestId | None, result: bytes) -> bytes:
    """A JSON-RPC success response around already-encoded result JSON."""
    return b'{"jsonrpc":"2.0","id":' + _id_bytes(request_id) + b',"result":' + result + b"}"


def error_bytes(request_id: RequestId | None, error: bytes) -> bytes:
    """A JSON-RPC error response around an already-encoded error object."""
    return b'{"jsonrpc":"2.0","id":' + _id_bytes(request_id) + b',"error":' + error + b"}"


def request_bytes(request_id: RequestId, method: str, params: bytes | None) -> bytes:
    """A JSON-RPC request with already-encoded params."""
    head = b'{"jsonrpc":"2.0","id":' + _id_bytes(request_id) + b',"method":' + _ENC.encode(method)
    if params is None:
        return head + b"}"
    return head + b',"params":' + params + b"}"


def notification_bytes(method: str, params: bytes | None = None) -> bytes:
    """A JSON-RPC notification with already-encoded params."""
    head = b'{"jsonrpc":"2.0","method":' + _ENC.encode(method)
    if params is None:
        return head + b"}"
    return head + b',"params":' + params + b"}"
