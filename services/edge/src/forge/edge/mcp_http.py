"""Streamable HTTP for both MCP eras: validate, authenticate, wrap into an envelope, answer."""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from typing import Any

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import TRACEPARENT, Bus
from forge.core.errors import (
    ForgeError,
    HeaderMismatchError,
    InvalidParamsError,
    InvalidRequestError,
    ParseError,
    SessionNotFoundError,
    UnauthorizedError,
    UnsupportedProtocolVersionError,
)
from forge.edge.auth import Authenticator
from forge.edge.config import EdgeConfig
from forge.edge.http import Receive, Scope, Send, header_map, read_body, respond, respond_sse
from forge.edge.sessions import Sessions, SessionState
from forge.proto import jsonrpc, mcp
from forge.proto.envelope import ENCODER, Envelope, Principal, Protocol

log = logging.getLogger("forge.edge.mcp")

# How a JSON-RPC error code maps to an HTTP status, per era. Anything unlisted is 200.
_MODERN_STATUS = {
    -32700: 400,
    -32600: 400,
    -32602: 400,
    -32020: 400,
    -32021: 400,
    -32022: 400,
    -32601: 404,
}
_LEGACY_STATUS = {-32700: 400, -32600: 400, -32022: 400, -32020: 400}
_COMMON_STATUS = {-32000: 503, -32004: 401, -32006: 404, -32008: 413, -32009: 404}
_SESSION_HEADER = b"mcp-session-id"
_INIT_RESULT = msgspec.json.Decoder(mcp.InitializeResult)
_LEGACY_DEFAULT = "2025-03-26"  # what a client that sends no version header speaks


@dataclass
class Edge:
    """Everything an MCP request needs at the edge."""

    config: EdgeConfig
    bus: Bus
    auth: Authenticator
    sessions: Sessions


class _Request(msgspec.Struct, frozen=True):
    """A validated JSON-RPC request or notification."""

    method: str
    params: msgspec.Raw
    id: jsonrpc.RequestId | None
    is_notification: bool


def _status(error_code: int, modern: bool) -> int:
    return _COMMON_STATUS.get(error_code) or (_MODERN_STATUS if modern else _LEGACY_STATUS).get(
        error_code, 200
    )


def parse(body: bytes) -> _Request | None:
    """Decode and check one JSON-RPC message; None for a response sent by the client."""
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
            return None
        raise InvalidRequestError('a JSON-RPC request needs a "method" string')
    assert isinstance(msg.method, str)
    if not msg.method:
        raise InvalidRequestError('the "method" member must not be empty')
    params = msg.params if len(msg.params) else msgspec.Raw(b"{}")
    if not bytes(params).lstrip().startswith(b"{"):
        raise InvalidRequestError('"params" must be a JSON object')
    if msg.id is msgspec.UNSET:
        return _Request(msg.method, params, None, True)
    return _Request(msg.method, params, msg.id, False)  # type: ignore[arg-type]


def check_modern(request: _Request, headers: dict[str, str], version: str) -> Protocol:
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
        named = mcp.NAMED_PARAMS_DECODER.decode(request.params)
        if headers.get("mcp-name") != getattr(named, name_field):
            raise HeaderMismatchError(
                f"the Mcp-Name header must repeat the body's {name_field} for {request.method}"
            )
    if request.is_notification:
        return Protocol(version=version, era="modern")
    if meta is None or meta.protocol_version is None:
        raise InvalidParamsError(
            f'a {version} request needs params._meta["{mcp.META_PROTOCOL_VERSION}"]'
        )
    if meta.protocol_version != version:
        raise HeaderMismatchError("the MCP-Protocol-Version header disagrees with params._meta")
    return Protocol(
        version=version,
        era="modern",
        capabilities=meta.client_capabilities
        if len(meta.client_capabilities)
        else msgspec.Raw(b"{}"),
        client_info=meta.client_info if len(meta.client_info) else msgspec.Raw(b"{}"),
    )


def _new_traceparent(headers: dict[str, str]) -> str:
    incoming = headers.get("traceparent")
    if incoming and len(incoming) == 55:
        return incoming
    return f"00-{os.urandom(16).hex()}-{os.urandom(8).hex()}-01"


class McpEndpoint:
    """The ASGI app behind `/mcp` and `/servers/{server_id}/mcp`."""

    def __init__(self, edge: Edge) -> None:
        self.edge = edge

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = header_map(scope)
        server_id: str | None = scope.get("path_params", {}).get("server_id")
        version_header = headers.get("mcp-protocol-version")
        modern = version_header is not None and version_header not in mcp.LEGACY_VERSIONS
        try:
            principal = self.edge.auth.authenticate(headers.get("authorization"))
        except UnauthorizedError as exc:
            await self._error(
                send, None, exc, modern, [(b"www-authenticate", b'Bearer realm="forge"')]
            )
            return
        method = scope["method"]
        if method == "POST":
            await self._post(scope, receive, send, headers, principal, server_id, version_header)
        elif method == "DELETE" and not modern and _SESSION_HEADER.decode() in headers:
            await self._delete(send, headers, principal)
        else:
            allow = b"POST" if modern else b"POST, DELETE"
            body = jsonrpc.error_bytes(
                None, b'{"code":-32600,"message":"method not allowed: this endpoint takes POST"}'
            )
            await respond(send, 405, body, [(b"allow", allow)])

    async def _post(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        headers: dict[str, str],
        principal: Principal,
        server_id: str | None,
        version_header: str | None,
    ) -> None:
        modern = version_header is not None and version_header not in mcp.LEGACY_VERSIONS
        request: _Request | None = None
        try:
            body = await read_body(scope, receive, self.edge.config.max_body_bytes)
            request = parse(body)
            if request is None:  # a client's response to a server request: nothing waits for it yet
                await respond(send, 202, b"")
                return
            session: SessionState | None = None
            if modern:
                assert version_header is not None
                protocol = check_modern(request, headers, version_header)
            else:
                protocol, session = self._legacy_protocol(
                    request, headers, principal, version_header
                )
            if request.is_notification:
                await respond(send, 202, b"")
                return
            TRACEPARENT.set(_new_traceparent(headers))
            envelope = Envelope(
                id=uuid.uuid4().hex,
                method=request.method,
                params=request.params,
                principal=principal,
                deadline=time.time() + self.edge.config.request_timeout_s,
                protocol=protocol,
                server_id=server_id,
            )
            result = await rpc.call(self.edge.bus, subjects.ROUTER_RPC, envelope)
            extra: list[tuple[bytes, bytes]] = []
            if request.method == "initialize" and not modern:
                extra.append(
                    (_SESSION_HEADER, self._open_session(principal, request, result).encode())
                )
            elif session is not None:
                extra.append((_SESSION_HEADER, headers["mcp-session-id"].encode()))
            await self._answer(send, headers, 200, jsonrpc.result_bytes(request.id, result), extra)
        except ForgeError as exc:
            await self._error(send, request.id if request else None, exc, modern, None, headers)
        except Exception as exc:  # the adapter boundary: log it, hand back only an error id
            error = rpc.internal_error(exc, "edge /mcp")
            out = jsonrpc.error_bytes(request.id if request else None, ENCODER.encode(error))
            await respond(send, 500, out)

    def _legacy_protocol(
        self,
        request: _Request,
        headers: dict[str, str],
        principal: Principal,
        version_header: str | None,
    ) -> tuple[Protocol, SessionState | None]:
        if request.method == "initialize":
            return Protocol(version=version_header or _LEGACY_DEFAULT, era="legacy"), None
        token = headers.get("mcp-session-id")
        if token is None:
            # Sessionless legacy use (plain JSON-RPC over POST, as curl sends it) is allowed.
            return Protocol(version=version_header or _LEGACY_DEFAULT, era="legacy"), None
        state = self.edge.sessions.open(token, principal.subject)
        protocol = Protocol(
            version=state.version,
            era="legacy",
            capabilities=state.capabilities,
            client_info=state.client_info,
            session_id=state.sid,
        )
        return protocol, state

    def _open_session(self, principal: Principal, request: _Request, result: bytes) -> str:
        negotiated = _INIT_RESULT.decode(result).protocolVersion
        params = mcp.INITIALIZE_PARAMS_DECODER.decode(request.params)
        token, _ = self.edge.sessions.new(
            principal.subject, negotiated, params.capabilities, params.clientInfo
        )
        return token

    async def _delete(self, send: Send, headers: dict[str, str], principal: Principal) -> None:
        try:
            state = self.edge.sessions.open(headers["mcp-session-id"], principal.subject)
        except SessionNotFoundError as exc:
            await self._error(send, None, exc, False)
            return
        await self.edge.sessions.revoke(self.edge.bus, state)
        await respond(send, 200, b"")

    async def _answer(
        self,
        send: Send,
        headers: dict[str, str],
        status: int,
        message: bytes,
        extra: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        accept = headers.get("accept", "")
        if "text/event-stream" in accept and "application/json" not in accept:
            await respond_sse(send, status, message, extra)
        else:
            await respond(send, status, message, extra)

    async def _error(
        self,
        send: Send,
        request_id: Any,
        exc: ForgeError,
        modern: bool,
        extra: list[tuple[bytes, bytes]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        error = ENCODER.encode(exc.to_object())
        status = _status(exc.code, modern)
        await self._answer(
            send, headers or {}, status, jsonrpc.error_bytes(request_id, error), extra
        )
