"""What Forge says to an upstream in the upstream's own era: handshake, request params, cancels.

Translating between a client's era and the upstream's is the era adapter's (`eras`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from forge.core.errors import InvalidParamsError, UpstreamBadResponseError
from forge.proto.jsonrpc import RequestId, notification_bytes
from forge.proto.mcp import (
    LEGACY,
    LEGACY_VERSIONS,
    META_CLIENT_CAPABILITIES,
    META_CLIENT_INFO,
    META_PROTOCOL_VERSION,
    MODERN,
    NAMED_METHODS,
    TASK_METHODS,
)

CLIENT_INFO = {"name": "forge", "version": "0.1.0"}
# A pooled legacy session serves every client, so it declares what any client may answer
# (elicitation in both modes: an upstream offers URL-mode tools only to a client that takes
# them); a request the actual client cannot answer gets an error (see eras/inflight.py, held.py).
CLIENT_CAPABILITIES = {
    "elicitation": {"form": {}, "url": {}},
    "sampling": {},
    "roots": {"listChanged": False},
}
INITIALIZE_PARAMS = msgspec.json.encode(
    {"protocolVersion": LEGACY, "capabilities": CLIENT_CAPABILITIES, "clientInfo": CLIENT_INFO}
)


class Initialized(msgspec.Struct):
    protocolVersion: str
    capabilities: dict[str, Any] = msgspec.field(default_factory=dict)
    serverInfo: dict[str, Any] = msgspec.field(default_factory=dict)


_INITIALIZED = msgspec.json.Decoder(Initialized)


def initialized(
    result: bytes, label: str, unspoken: str = "which Forge does not speak"
) -> Initialized:
    """A legacy upstream's initialize result, checked for a protocol version Forge speaks."""
    try:
        init = _INITIALIZED.decode(result)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamBadResponseError(
            f"gateway {label} sent a malformed initialize result"
        ) from exc
    if init.protocolVersion not in LEGACY_VERSIONS:
        raise UpstreamBadResponseError(
            f"gateway {label} offers protocol version {init.protocolVersion!r}, {unspoken}"
        )
    return init


# Forge speaks to upstreams as itself, so the client's own identity never reaches them.
_FORGE_META = {
    META_PROTOCOL_VERSION: msgspec.Raw(msgspec.json.encode(MODERN)),
    META_CLIENT_INFO: msgspec.Raw(msgspec.json.encode(CLIENT_INFO)),
    META_CLIENT_CAPABILITIES: msgspec.Raw(b"{}"),
}
_RESERVED_PREFIX = "io.modelcontextprotocol/"
META_LOG_LEVEL = "io.modelcontextprotocol/logLevel"

_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENC = msgspec.json.Encoder()


def _fields(params: bytes, what: str = "params") -> dict[str, msgspec.Raw]:
    if not params.strip() or params.strip() == b"null":
        return {}
    try:
        return _FIELDS.decode(params)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise InvalidParamsError(f"{what} must be a JSON object") from exc


def modern_params(
    method: str, params: bytes, *, capabilities: bytes = b"{}", legacy_client: bool = False
) -> tuple[bytes, str | None]:
    """Params with Forge's own `_meta` identity, and the value the `Mcp-Name` header repeats.

    `capabilities` are the client's own (what it can answer); a legacy client gets every log
    message unless it chose a level, as a handshake-era server would send them.
    """
    fields = _fields(params)
    meta_raw = fields.get("_meta")
    meta = _fields(bytes(meta_raw), "_meta") if meta_raw is not None else {}
    meta.update(_FORGE_META)  # other keys such as progressToken stay
    if capabilities.strip() not in (b"", b"{}"):
        meta[META_CLIENT_CAPABILITIES] = msgspec.Raw(capabilities)
    if legacy_client:
        meta.setdefault(META_LOG_LEVEL, msgspec.Raw(b'"debug"'))
    fields["_meta"] = msgspec.Raw(_ENC.encode(meta))
    name: str | None = None
    key = NAMED_METHODS.get(method) or ("taskId" if method in TASK_METHODS else None)
    if key is not None and (raw := fields.get(key)) is not None:
        value = msgspec.json.decode(raw)  # already valid JSON: it came out of a decoded object
        name = value if isinstance(value, str) else None
    return _ENC.encode(fields), name


def legacy_params(params: bytes) -> bytes:
    """Params without the modern `io.modelcontextprotocol/*` keys a legacy upstream won't know."""
    if b"_meta" not in params:
        return params  # the common case: nothing to strip, bytes pass through untouched
    fields = _fields(params)
    meta_raw = fields.get("_meta")
    if meta_raw is None:
        return params
    meta = _fields(bytes(meta_raw), "_meta")
    kept = {k: v for k, v in meta.items() if not k.startswith(_RESERVED_PREFIX)}
    if len(kept) == len(meta):
        return params
    if kept:
        fields["_meta"] = msgspec.Raw(_ENC.encode(kept))
    else:
        del fields["_meta"]
    return _ENC.encode(fields)


def cancelled_bytes(upstream_id: RequestId) -> bytes:
    """The legacy `notifications/cancelled` for one of our requests."""
    params = _ENC.encode({"requestId": upstream_id, "reason": "cancelled by the client"})
    return notification_bytes("notifications/cancelled", params)
