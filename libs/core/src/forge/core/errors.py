"""Forge errors: each carries its JSON-RPC code and HTTP status, translated once in adapters."""

from __future__ import annotations

from typing import Any, ClassVar

import msgspec

from forge.proto.envelope import ErrorObject

# JSON-RPC 2.0
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
# Forge's own range: -32000..-32019
SERVICE_UNAVAILABLE = -32000
UPSTREAM_UNAVAILABLE = -32001
UPSTREAM_TIMEOUT = -32011  # not -32002: legacy MCP clients read that as "resource not found"
UPSTREAM_BAD_RESPONSE = -32003
UNAUTHORIZED = -32004
FORBIDDEN = -32005
NOT_FOUND = -32006
CONFLICT = -32007
PAYLOAD_TOO_LARGE = -32008
SESSION_NOT_FOUND = -32009
DEADLINE_EXCEEDED = -32010
TOO_MANY_REQUESTS = -32012  # login lockout, rate limits
PLUGIN_VIOLATION = -32013  # a guardrail plugin blocked the request (data names plugin, code)
RESULT_TOO_LARGE = -32014  # an upstream's result exceeds FORGE_UPSTREAM_PROXY_MAX_RESULT_BYTES
# MCP's reserved range: -32020..-32099
HEADER_MISMATCH = -32020
UNSUPPORTED_PROTOCOL_VERSION = -32022


def make_object(code: int, message: str, data: Any = None) -> ErrorObject:
    if data is None:
        return ErrorObject(code=code, message=message)
    return ErrorObject(code=code, message=message, data=msgspec.Raw(msgspec.json.encode(data)))


class ForgeError(Exception):
    """Base of every error a Forge caller may see; the message is meant for people."""

    code: ClassVar[int] = INTERNAL_ERROR
    http_status: ClassVar[int] = 500

    def __init__(self, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def to_object(self) -> ErrorObject:
        return make_object(self.code, self.message, self.data)


class ParseError(ForgeError):
    code = PARSE_ERROR
    http_status = 400


class InvalidRequestError(ForgeError):
    code = INVALID_REQUEST
    http_status = 400


class MethodNotFoundError(ForgeError):
    code = METHOD_NOT_FOUND
    http_status = 404


class InvalidParamsError(ForgeError):
    code = INVALID_PARAMS
    http_status = 422


class ToolNotFoundError(InvalidParamsError):
    """MCP answers an unknown tool name with invalid params."""


class InternalError(ForgeError):
    code = INTERNAL_ERROR
    http_status = 500


class ServiceUnavailableError(ForgeError):
    code = SERVICE_UNAVAILABLE
    http_status = 503


class UpstreamUnavailableError(ForgeError):
    code = UPSTREAM_UNAVAILABLE
    http_status = 502


class UpstreamTimeoutError(ForgeError):
    code = UPSTREAM_TIMEOUT
    http_status = 504


class UpstreamBadResponseError(ForgeError):
    code = UPSTREAM_BAD_RESPONSE
    http_status = 502


class UpstreamRpcError(ForgeError):
    """An error code that is not Forge's own: the upstream's code and message pass through."""

    http_status = 502

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message, data)
        self.code = code  # type: ignore[misc]  # per instance: whatever the upstream said


class UnauthorizedError(ForgeError):
    code = UNAUTHORIZED
    http_status = 401


class ForbiddenError(ForgeError):
    code = FORBIDDEN
    http_status = 403


class NotFoundError(ForgeError):
    code = NOT_FOUND
    http_status = 404


class ConflictError(ForgeError):
    code = CONFLICT
    http_status = 409


class PayloadTooLargeError(ForgeError):
    code = PAYLOAD_TOO_LARGE
    http_status = 413


class ResultTooLargeError(ForgeError):
    """An upstream answered with more than Forge carries back (data: size, limit in bytes)."""

    code = RESULT_TOO_LARGE
    http_status = 502


class SessionNotFoundError(ForgeError):
    code = SESSION_NOT_FOUND
    http_status = 404


class DeadlineExceededError(ForgeError):
    code = DEADLINE_EXCEEDED
    http_status = 504


class TooManyRequestsError(ForgeError):
    code = TOO_MANY_REQUESTS
    http_status = 429


class PluginViolationError(ForgeError):
    """A plugin blocked the request: data is {"plugin", "code", "reason", "details"}.

    Over MCP (JSON-RPC) the edge answers HTTP 200 with this error object, like any other
    call-level refusal; the REST API answers 403 (a policy said no to an authenticated caller).
    """

    code = PLUGIN_VIOLATION
    http_status = 403


class HeaderMismatchError(ForgeError):
    code = HEADER_MISMATCH
    http_status = 400


class UnsupportedProtocolVersionError(ForgeError):
    code = UNSUPPORTED_PROTOCOL_VERSION
    http_status = 400


_BY_CODE: dict[int, type[ForgeError]] = {
    cls.code: cls
    for cls in (
        ParseError,
        InvalidRequestError,
        MethodNotFoundError,
        InvalidParamsError,
        InternalError,
        ServiceUnavailableError,
        UpstreamUnavailableError,
        UpstreamTimeoutError,
        UpstreamBadResponseError,
        UnauthorizedError,
        ForbiddenError,
        NotFoundError,
        ConflictError,
        PayloadTooLargeError,
        ResultTooLargeError,
        SessionNotFoundError,
        DeadlineExceededError,
        TooManyRequestsError,
        PluginViolationError,
        HeaderMismatchError,
        UnsupportedProtocolVersionError,
    )
}


def from_object(error: ErrorObject) -> ForgeError:
    """Rebuild a ForgeError from an error reply received over the bus."""
    data = msgspec.json.decode(error.data) if len(error.data) else None
    cls = _BY_CODE.get(error.code)
    if cls is None:
        return UpstreamRpcError(error.code, error.message, data)
    return cls(error.message, data)
