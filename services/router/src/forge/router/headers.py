"""A tools/call's `Mcp-Param-*` headers: checked from the client, set for the upstream."""

from __future__ import annotations

from typing import Any

import msgspec

from forge.core.errors import HeaderMismatchError
from forge.proto import param_headers
from forge.proto.catalog import LeanToolRecord
from forge.proto.envelope import Envelope

_ARGUMENTS = msgspec.json.Decoder(Any)
_SCHEMA = msgspec.json.Decoder(Any)
_ANNOTATION = param_headers.ANNOTATION.encode()


def _declaring(tool: LeanToolRecord) -> Any | None:
    """The tool's input schema, decoded only when it may declare a header: the cache holds
    it undecoded (decision 0034), and most schemas do not name `x-mcp-header` at all."""
    raw = bytes(tool.tool.inputSchema)
    if _ANNOTATION not in raw and b"\\u" not in raw:  # an escaped name is decoded to be sure
        return None
    schema = _SCHEMA.decode(raw)
    return schema if param_headers.declares(schema) else None


def _arguments(members: dict[str, msgspec.Raw]) -> Any:
    raw = members.get("arguments")
    return None if raw is None else _ARGUMENTS.decode(raw)  # valid JSON: it was decoded once


def check(envelope: Envelope, tool: LeanToolRecord, members: dict[str, msgspec.Raw]) -> None:
    """Refuse (-32020) a modern client whose `Mcp-Param-*` headers disagree with its arguments.

    Only the tool's schema says which headers must repeat which arguments, so this is the
    router's check, not the edge's. A legacy client sends no such headers and is not asked to,
    nor is a modern one on a transport without per-request headers (param_headers None), as
    the spec asks them of HTTP requests only.
    """
    protocol = envelope.protocol
    sent = envelope.param_headers
    if protocol is None or protocol.era != "modern" or sent is None:
        return
    schema = _declaring(tool)
    if not sent and schema is None:
        return  # the common case: nothing declared, nothing sent, no need to decode arguments
    if schema is None:
        schema = _SCHEMA.decode(tool.tool.inputSchema)
    reason = param_headers.mismatch(schema, _arguments(members), sent)
    if reason is not None:
        raise HeaderMismatchError(reason)


def for_upstream(
    envelope: Envelope, tool: LeanToolRecord, members: dict[str, msgspec.Raw]
) -> Envelope:
    """The envelope carrying the headers the upstream's schema expects for these arguments.

    Computed from the arguments as forwarded (a plugin may have changed them), never copied
    from the client: the upstream checks them against the body as the client's headers were.
    """
    schema = _declaring(tool)
    headers = None  # none declared: the common case, the arguments are not decoded
    if schema is not None:
        headers = param_headers.headers_for(schema, _arguments(members)) or None
    if headers == envelope.param_headers:
        return envelope
    return msgspec.structs.replace(envelope, param_headers=headers)
