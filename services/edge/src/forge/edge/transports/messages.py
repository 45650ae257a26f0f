"""Incoming JSON-RPC messages: decoding, the modern header rules, envelope ids, reply routing."""

from __future__ import annotations

import hashlib
import os

import msgspec

from forge.core import subjects
from forge.core.errors import (
    HeaderMismatchError,
    InvalidParamsError,
    InvalidRequestError,
    ParseError,
    UnsupportedProtocolVersionError,
)
from forge.proto import jsonrpc, mcp
from forge.proto import param_headers as param_headers_rules
from forge.proto.envelope import Protocol

# A server-to-client request's id as the client sees it: `forge-reply:<inbox>:<original id JSON>`.
REPLY_PREFIX = "forge-reply:"
_ENC = msgspec.json.Encoder()
_ANY_ID = msgspec.json.Decoder(jsonrpc.RequestId)
_PARAM_PREFIX = param_headers_rules.PREFIX.lower()
_POOL_BYTES = 4096


class _RandomPool:
    """`os.urandom` bytes drawn 4 KiB at a time: each call's envelope id and trace ids cost no
    system call of their own (three per call before; issue 16). Bytes are never handed out
    twice. For the event loop's thread only."""

    __slots__ = ("at", "pool")

    def __init__(self) -> None:
        self.pool = b""
        self.at = 0

    def hex(self, nbytes: int) -> str:
        at = self.at
        end = at + nbytes
        if end > len(self.pool):
            self.pool, at, end = os.urandom(_POOL_BYTES), 0, nbytes
        self.at = end
        return self.pool[at:end].hex()


random_hex = _RandomPool().hex  # `nbytes` random bytes as hex


class Request(msgspec.Struct, frozen=True):
    """A validated JSON-RPC request or notification."""

    method: str
    params: msgspec.Raw
    id: jsonrpc.RequestId | None
    is_notification: bool


class ClientResponse(msgspec.Struct, frozen=True):
    """A JSON-RPC response the client sends to a server-to-client request."""

    id: jsonrpc.RequestId | None
    result: msgspec.Raw
    error: msgspec.Raw


Incoming = Request | ClientResponse


class _Cancelled(msgspec.Struct, frozen=True):
    requestId: jsonrpc.RequestId | None = None


_CANCELLED = msgspec.json.Decoder(_Cancelled)


def parse(body: bytes) -> Incoming:
    """Decode and check one JSON-RPC message."""
    try:
        msg = jsonrpc.MESSAGE_DECODER.decode(body)
    except msgspec.ValidationError as exc:
        stripped = body.lstrip()
        if stripped.startswith(b"["):
            raise InvalidRequestError(
                "batch requests are not supported: send one JSON-RPC object"
            ) from exc
        if not stripped.startswith(b"{"):
            raise InvalidRequestError("the body must be a JSON-RPC object") from exc
        raise InvalidRequestError(f"not a valid JSON-RPC message: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise ParseError("the body is not valid JSON") from exc
    if msg.jsonrpc != "2.0":
        raise InvalidRequestError('the "jsonrpc" member must be exactly "2.0"')
    if msg.method is msgspec.UNSET:
        if len(msg.result) or len(msg.error):
            request_id = None if msg.id is msgspec.UNSET else msg.id
            return ClientResponse(request_id, msg.result, msg.error)
        raise InvalidRequestError('a JSON-RPC request needs a "method" string')
    assert isinstance(msg.method, str)
    if not msg.method:
        raise InvalidRequestError('the "method" member must not be empty')
    params = msg.params if len(msg.params) else msgspec.Raw(b"{}")
    if not bytes(params).lstrip().startswith(b"{"):
        raise InvalidRequestError('"params" must be a JSON object')
    if msg.id is msgspec.UNSET:
        return Request(msg.method, params, None, True)
    return Request(msg.method, params, msg.id, False)


def check_modern(request: Request, headers: dict[str, str], version: str) -> Protocol:
    """The 2026-07-28 rules: supported version, headers that repeat the body, `_meta` present."""
    if version not in mcp.MODERN_VERSIONS:
        raise UnsupportedProtocolVersionError(
            f"unsupported protocol version {version!r}",
            {"supported": list(mcp.SUPPORTED_VERSIONS), "requested": version},
        )
    try:
        meta = mcp.REQUEST_PARAMS_DECODER.decode(request.params).meta
    except msgspec.DecodeError as exc:
        raise InvalidParamsError(f"invalid params: {exc}") from exc
    if headers.get("mcp-method") != request.method:
        raise HeaderMismatchError(
            f"the Mcp-Method header must repeat the body's method {request.method!r}"
        )
    name_field = mcp.NAMED_METHODS.get(request.method)
    if name_field is not None:
        try:
            named = mcp.NAMED_PARAMS_DECODER.decode(request.params)
        except msgspec.DecodeError as exc:  # a name or uri that is not a string
            raise InvalidParamsError(f"invalid params: {exc}", {"field": name_field}) from exc
        if headers.get("mcp-name") != getattr(named, name_field):
            raise HeaderMismatchError(
                f"the Mcp-Name header must repeat the body's {name_field} for {request.method}"
            )
    elif request.method in mcp.TASK_METHODS and (named_task := headers.get("mcp-name")):
        _check_task_name(request, named_task)
    return _modern_protocol(request, version, meta)


def _check_task_name(request: Request, header: str) -> None:
    """A tasks/* request's Mcp-Name, when sent, must repeat its taskId (SEP-2663)."""
    try:
        task_id = mcp.TASK_PARAMS_DECODER.decode(request.params).taskId
    except msgspec.DecodeError as exc:  # a taskId that is not a string
        raise InvalidParamsError(f"invalid params: {exc}", {"field": "taskId"}) from exc
    if header.strip() != task_id:
        raise HeaderMismatchError(
            f"the Mcp-Name header must repeat the body's taskId for {request.method}"
        )


def declared_protocol(request: Request) -> Protocol | None:
    """The modern protocol a request on a message transport (SSE, WebSocket) declares in its
    `params._meta`, or None for a legacy request (the session's protocol then holds).

    These transports carry no per-request headers: the era is what each request says it is,
    so a 2026-07-28 client (the SDKs' `auto` mode probes `server/discover`) is answered as one.
    """
    try:
        meta = mcp.REQUEST_PARAMS_DECODER.decode(request.params).meta
    except msgspec.DecodeError:
        return None  # not a modern request; the legacy path judges its params
    version = meta.protocol_version if meta is not None else None
    if version is None or version in mcp.LEGACY_VERSIONS:
        return None
    if version not in mcp.MODERN_VERSIONS:
        raise UnsupportedProtocolVersionError(
            f"unsupported protocol version {version!r}",
            {"supported": list(mcp.SUPPORTED_VERSIONS), "requested": version},
        )
    return _modern_protocol(request, version, meta)


def _modern_protocol(request: Request, version: str, meta: mcp.RequestMeta | None) -> Protocol:
    """What every modern request needs in `_meta`, whatever the transport."""
    if request.is_notification:
        return Protocol(version=version, era="modern")
    if meta is None or meta.protocol_version is None:
        raise InvalidParamsError(
            f'a {version} request needs params._meta["{mcp.META_PROTOCOL_VERSION}"]'
        )
    if meta.protocol_version != version:
        raise HeaderMismatchError("the MCP-Protocol-Version header disagrees with params._meta")
    if request.method == "server/discover" and not len(meta.client_capabilities):
        # 2026-07-28: discover is how a client states its capabilities; without them the
        # server cannot answer for this client.
        raise InvalidParamsError(
            f'server/discover needs params._meta["{mcp.META_CLIENT_CAPABILITIES}"]'
        )
    return Protocol(
        version=version,
        era="modern",
        capabilities=meta.client_capabilities
        if len(meta.client_capabilities)
        else msgspec.Raw(b"{}"),
        client_info=meta.client_info if len(meta.client_info) else msgspec.Raw(b"{}"),
    )


def param_headers(request: Request, raw: list[tuple[bytes, bytes]]) -> dict[str, str] | None:
    """A modern tools/call's `Mcp-Param-*` headers by lower-case name, for the router to check
    (None for any other method: there is nothing to check).

    Read from the raw header lines: a repeated one is refused here, as a first-copy and a
    last-copy reader would disagree on its value.
    """
    if request.method != "tools/call":
        return None
    found: dict[str, str] = {}
    for name, value in raw:
        key = name.decode("latin-1").lower()
        if not key.startswith(_PARAM_PREFIX):
            continue
        if key in found:
            raise HeaderMismatchError(f"the {key} header appears more than once")
        found[key] = value.decode("latin-1")
    return found


def envelope_id(session_sid: str | None, request_id: jsonrpc.RequestId | None) -> str:
    """Per docs/streams.md: derived from a legacy session, so any replica can cancel it."""
    if session_sid is None or request_id is None:
        return random_hex(16)
    key = f"{session_sid}:{_ENC.encode(request_id).decode()}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def cancelled_request_id(params: msgspec.Raw) -> jsonrpc.RequestId | None:
    """The `requestId` of a `notifications/cancelled`, or None if it names none."""
    try:
        return _CANCELLED.decode(params).requestId
    except msgspec.DecodeError:
        return None


def to_client(message: bytes, reply_subject: str) -> bytes:
    """An in-flight message as the client sees it: a request's id names where its answer goes."""
    if not reply_subject:
        return message
    try:
        msg = jsonrpc.MESSAGE_DECODER.decode(message)
    except msgspec.DecodeError:
        return message
    if not isinstance(msg.method, str) or msg.id is msgspec.UNSET:
        return message
    original = _ENC.encode(msg.id).decode()
    params = bytes(msg.params) if len(msg.params) else None
    return jsonrpc.request_bytes(f"{REPLY_PREFIX}{reply_subject}:{original}", msg.method, params)


def reply_target(response: ClientResponse) -> tuple[str, bytes] | None:
    """Where a client's response goes and what is sent there; None if nothing waits for it.

    Raises InvalidRequestError for a `forge-reply:` id that does not name a NATS inbox.
    """
    if not isinstance(response.id, str) or not response.id.startswith(REPLY_PREFIX):
        return None
    subject, sep, original = response.id[len(REPLY_PREFIX) :].partition(":")
    if not sep or not subjects.is_inbox(subject):
        raise InvalidRequestError("the response's id names no pending server request")
    try:
        request_id = _ANY_ID.decode(original)
    except msgspec.DecodeError as exc:
        raise InvalidRequestError("the response's id names no pending server request") from exc
    if len(response.error):
        body = jsonrpc.error_bytes(request_id, bytes(response.error))
    else:
        body = jsonrpc.result_bytes(request_id, bytes(response.result))
    return subject, body
