"""Results for a modern (2026-07-28) client: whatever produced them, made whole for that era."""

from __future__ import annotations

import msgspec

# The results the 2026-07-28 caching rules require hints on (when complete).
CACHEABLE_METHODS = frozenset(
    {
        "server/discover",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
    }
)
_COMPLETE = {"resultType": b'"complete"'}
_CACHEABLE = {"resultType": b'"complete"', "ttlMs": b"0", "cacheScope": b'"private"'}
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_RESULT_TYPE = msgspec.json.Decoder(str)
_ENC = msgspec.json.Encoder()


def complete_result(method: str, result: bytes) -> bytes:
    """`result` with the members a modern client validates strictly (`resultType`; `ttlMs` and
    `cacheScope` on a complete cacheable result), added only where missing: an upstream that
    omits them, or a legacy upstream, must not make the client reject the answer."""
    wanted = _CACHEABLE if method in CACHEABLE_METHODS else _COMPLETE
    body = result.strip()
    if not (body.startswith(b"{") and body.endswith(b"}")):
        return result  # not an object: nothing sensible to add, let the client judge it
    if not any(b'"' + key.encode() + b'"' in body for key in wanted):
        # Fast path: no key appears anywhere, so none is at the top level; splice bytes.
        tail = b",".join(b'"' + k.encode() + b'":' + v for k, v in wanted.items())
        inner = body[1:-1].strip()
        return b"{" + inner + (b"," if inner else b"") + tail + b"}"
    try:
        fields = _FIELDS.decode(body)
    except msgspec.DecodeError:
        return result
    given = fields.get("resultType")
    if given is not None and _result_type(given) != "complete":
        return result  # an interim result (input_required, a task) carries no cache hints
    missing = [key for key in wanted if key not in fields]
    if not missing:
        return result  # already whole (the router's own lists): the bytes pass unchanged
    for key in missing:
        fields[key] = msgspec.Raw(wanted[key])
    return _ENC.encode(fields)


def _result_type(raw: msgspec.Raw) -> str | None:
    try:
        return _RESULT_TYPE.decode(raw)
    except msgspec.DecodeError:
        return None
