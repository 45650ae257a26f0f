"""Forge errors: every JSON-RPC error code Forge sends or reads, in one table (`CODES`).

Each code is defined here once, with its exception class, the HTTP status the REST API answers
it with, and what it means; adapters translate once (`to_object`, `from_object`), and an error
that crosses the bus comes back as the class it left as. docs/errors.md's table of codes is
generated from `CODES` (`python -m forge.core.errors_doc`), and a test fails when the two drift.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, ClassVar, NamedTuple

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
RESOURCE_NOT_FOUND = -32002  # MCP's legacy code (2025-11-25 and earlier); never ours otherwise
UPSTREAM_BAD_RESPONSE = -32003
UNAUTHORIZED = -32004
FORBIDDEN = -32005
NOT_FOUND = -32006
CONFLICT = -32007
PAYLOAD_TOO_LARGE = -32008
SESSION_NOT_FOUND = -32009
DEADLINE_EXCEEDED = -32010
UPSTREAM_TIMEOUT = -32011  # not -32002: legacy MCP clients read that as "resource not found"
TOO_MANY_REQUESTS = -32012  # login lockout, rate limits
PLUGIN_VIOLATION = -32013  # a guardrail plugin blocked the request (data names plugin, code)
RESULT_TOO_LARGE = -32014  # an upstream's result exceeds FORGE_UPSTREAM_PROXY_MAX_RESULT_BYTES
OVERLOADED = -32015  # a service is at its bound on requests in flight: retry later
# MCP's reserved range: -32020..-32099
HEADER_MISMATCH = -32020
MISSING_CLIENT_CAPABILITY = -32021  # what the MCP SDK's server answers (2026-07-28)
UNSUPPORTED_PROTOCOL_VERSION = -32022
# Outside JSON-RPC's reserved range, but what the MCP SDKs answer a cancelled request with.
REQUEST_CANCELLED = -32800
FORGE_RANGE = range(-32019, -31999)  # -32000..-32019
MCP_RANGE = range(-32099, -32019)  # -32020..-32099


class A2aCode(IntEnum):
    """A2A's own JSON-RPC errors (the A2A specification, both versions). They reuse numbers of
    Forge's range with A2A's meaning, so they are no rows of `CODES`: only Forge's A2A endpoints
    (`/a2a/{agent}/`, `/servers/{id}/a2a`) send them, and there Forge's own codes in this range
    go out as -32603 with `data.forgeCode` (docs/errors.md, "A2A endpoints")."""

    TASK_NOT_FOUND = -32001
    TASK_NOT_CANCELABLE = -32002
    PUSH_NOTIFICATION_NOT_SUPPORTED = -32003
    UNSUPPORTED_OPERATION = -32004
    CONTENT_TYPE_NOT_SUPPORTED = -32005
    INVALID_AGENT_RESPONSE = -32006
    EXTENDED_AGENT_CARD_NOT_CONFIGURED = -32007
    EXTENSION_SUPPORT_REQUIRED = -32008
    VERSION_NOT_SUPPORTED = -32009


A2A_RANGE = range(-32009, -32000)  # -32001..-32009: A2A's meanings on the A2A endpoints


def defined_by(code: int) -> str:
    """Whose code it is: JSON-RPC's, Forge's, MCP's (the spec's or its SDKs')."""
    if code == RESOURCE_NOT_FOUND:
        return "MCP (legacy)"  # in Forge's range: MCP took it before Forge did
    if code in FORGE_RANGE:
        return "Forge"
    if code in MCP_RANGE:
        return "MCP"
    if code == REQUEST_CANCELLED:
        return "MCP SDKs"
    return "JSON-RPC"


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


class LegacyResourceNotFoundError(ForgeError):
    """Resource not found as 2025-11-25 and earlier specify it; 2026-07-28 retired -32002 for
    invalid params with the uri in data (SEP-2164)."""

    code = RESOURCE_NOT_FOUND
    http_status = 404


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


class OverloadedError(ForgeError):
    """A service already has as many requests in flight as it takes (FORGE_MAX_INFLIGHT), so it
    refused this one at once instead of queueing it; nothing was done, so a retry is safe
    (data: `retry_after_s`). The edge answers it with 503 and `Retry-After`."""

    code = OVERLOADED
    http_status = 503


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


class MissingClientCapabilityError(ForgeError):
    """A server-to-client request the client did not declare the capability for (data:
    `requiredCapabilities`)."""

    code = MISSING_CLIENT_CAPABILITY
    http_status = 400


class UnsupportedProtocolVersionError(ForgeError):
    code = UNSUPPORTED_PROTOCOL_VERSION
    http_status = 400


class RequestCancelledError(ForgeError):
    """The client cancelled the call before the upstream answered."""

    code = REQUEST_CANCELLED
    http_status = 499  # nginx's "client closed request": nobody is left to read it


class Code(NamedTuple):
    """One row of the table: a code, its constant's name, its class, and what it means."""

    name: str
    code: int
    error: type[ForgeError]
    meaning: str

    @property
    def http_status(self) -> int:
        """What the REST API answers (MCP endpoints answer per era: docs/errors.md)."""
        return self.error.http_status


CODES: tuple[Code, ...] = (
    Code("PARSE_ERROR", PARSE_ERROR, ParseError, "the body is not JSON, or not UTF-8"),
    Code(
        "INVALID_REQUEST",
        INVALID_REQUEST,
        InvalidRequestError,
        "not a JSON-RPC request, or hostile input (nesting, NUL, control characters)",
    ),
    Code("METHOD_NOT_FOUND", METHOD_NOT_FOUND, MethodNotFoundError, "no such method"),
    Code(
        "INVALID_PARAMS",
        INVALID_PARAMS,
        InvalidParamsError,
        "bad params or field; an unknown tool; a value the database cannot store",
    ),
    Code(
        "INTERNAL_ERROR",
        INTERNAL_ERROR,
        InternalError,
        "an unexpected failure; the message holds an error id that is in the service's log",
    ),
    Code(
        "SERVICE_UNAVAILABLE",
        SERVICE_UNAVAILABLE,
        ServiceUnavailableError,
        "a service behind the edge is not running or not ready",
    ),
    Code(
        "UPSTREAM_UNAVAILABLE",
        UPSTREAM_UNAVAILABLE,
        UpstreamUnavailableError,
        "the upstream cannot be reached, or its credentials do not open",
    ),
    Code(
        "RESOURCE_NOT_FOUND",
        RESOURCE_NOT_FOUND,
        LegacyResourceNotFoundError,
        "MCP 2025-11-25 and earlier: no such resource (`data.uri`)",
    ),
    Code(
        "UPSTREAM_BAD_RESPONSE",
        UPSTREAM_BAD_RESPONSE,
        UpstreamBadResponseError,
        "the upstream answered with something that is not MCP",
    ),
    Code(
        "UNAUTHORIZED",
        UNAUTHORIZED,
        UnauthorizedError,
        "no valid credentials: missing, forged, expired or revoked token; wrong password",
    ),
    Code(
        "FORBIDDEN",
        FORBIDDEN,
        ForbiddenError,
        "authenticated, but not allowed: a permission, origin, token limit or address refused",
    ),
    Code("NOT_FOUND", NOT_FOUND, NotFoundError, "no such entity, or one the caller may not see"),
    Code("CONFLICT", CONFLICT, ConflictError, "a duplicate name, or a concurrent change"),
    Code(
        "PAYLOAD_TOO_LARGE",
        PAYLOAD_TOO_LARGE,
        PayloadTooLargeError,
        "the request body is over `FORGE_EDGE_MAX_BODY_BYTES`",
    ),
    Code(
        "SESSION_NOT_FOUND",
        SESSION_NOT_FOUND,
        SessionNotFoundError,
        "a legacy session id that is unknown, ended, expired or another caller's",
    ),
    Code(
        "DEADLINE_EXCEEDED",
        DEADLINE_EXCEEDED,
        DeadlineExceededError,
        "the request's deadline passed inside the mesh",
    ),
    Code(
        "UPSTREAM_TIMEOUT",
        UPSTREAM_TIMEOUT,
        UpstreamTimeoutError,
        "the upstream did not answer within the request's deadline",
    ),
    Code(
        "TOO_MANY_REQUESTS",
        TOO_MANY_REQUESTS,
        TooManyRequestsError,
        "sign-ins throttled (`data.retry_after_s`)",
    ),
    Code(
        "PLUGIN_VIOLATION",
        PLUGIN_VIOLATION,
        PluginViolationError,
        "a plugin blocked the request (`data`: plugin, code, reason, details)",
    ),
    Code(
        "RESULT_TOO_LARGE",
        RESULT_TOO_LARGE,
        ResultTooLargeError,
        "the upstream's result is over `FORGE_UPSTREAM_PROXY_MAX_RESULT_BYTES`",
    ),
    Code(
        "OVERLOADED",
        OVERLOADED,
        OverloadedError,
        "a service is at its bound on requests in flight (`FORGE_MAX_INFLIGHT`): refused at once,"
        " nothing done; retry after `data.retry_after_s` (HTTP `Retry-After`)",
    ),
    Code(
        "HEADER_MISMATCH",
        HEADER_MISMATCH,
        HeaderMismatchError,
        "an `Mcp-*` header disagrees with the body (MCP 2026-07-28)",
    ),
    Code(
        "MISSING_CLIENT_CAPABILITY",
        MISSING_CLIENT_CAPABILITY,
        MissingClientCapabilityError,
        "an upstream asked the client for something it did not declare a capability for",
    ),
    Code(
        "UNSUPPORTED_PROTOCOL_VERSION",
        UNSUPPORTED_PROTOCOL_VERSION,
        UnsupportedProtocolVersionError,
        "a protocol version Forge does not speak (`data.supported` lists Forge's)",
    ),
    Code(
        "REQUEST_CANCELLED",
        REQUEST_CANCELLED,
        RequestCancelledError,
        "the client cancelled the call before the upstream answered",
    ),
)
_BY_CODE: dict[int, type[ForgeError]] = {row.code: row.error for row in CODES}


def from_object(error: ErrorObject) -> ForgeError:
    """Rebuild a ForgeError from an error reply received over the bus: the class of its code,
    or an UpstreamRpcError carrying a code that is not in the table (an upstream's own)."""
    data = msgspec.json.decode(error.data) if len(error.data) else None
    cls = _BY_CODE.get(error.code)
    if cls is None:
        return UpstreamRpcError(error.code, error.message, data)
    return cls(error.message, data)
