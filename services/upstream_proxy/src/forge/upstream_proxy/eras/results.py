"""Results for the client's era: a legacy upstream's results made whole for a modern client."""

from __future__ import annotations

import msgspec

CACHEABLE_METHODS = frozenset(
    {"tools/list", "prompts/list", "resources/list", "resources/templates/list", "resources/read"}
)
_COMPLETE = {"resultType": b'"complete"'}
_CACHEABLE = {"resultType": b'"complete"', "ttlMs": b"0", "cacheScope": b'"private"'}
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENC = msgspec.json.Encoder()


def complete_result(method: str, result: bytes) -> bytes:
    """A legacy upstream's result made acceptable to a modern client (which validates strictly)."""
    wanted = _CACHEABLE if method in CACHEABLE_METHODS else _COMPLETE
    body = result.strip()
    if not (body.startswith(b"{") and body.endswith(b"}")):
        return result  # not an object: nothing sensible to add, let the client judge it
    if not any(b'"' + key.encode() + b'"' in body for key in wanted):
        # Fast path: no key appears anywhere, so none is at the top level; splice bytes.
        tail = b",".join(b'"' + k.encode() + b'":' + v for k, v in wanted.items())
        inner = body[1:-1].strip()
        return b"{" + inner + (b"," if inner else b"") + tail + b"}"
    fields = _FIELDS.decode(body)
    for key, value in wanted.items():
        fields.setdefault(key, msgspec.Raw(value))
    return _ENC.encode(fields)
