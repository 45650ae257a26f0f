"""A modern upstream's multi round-trip requests, played to a legacy client as in-flight ones."""

from __future__ import annotations

import asyncio

import msgspec

from forge.core.errors import UpstreamBadResponseError
from forge.proto.jsonrpc import request_bytes
from forge.upstream_proxy.eras.inflight import InFlight
from forge.upstream_proxy.sessions.pool import Session

# An upstream that keeps asking must not keep the call going until its deadline.
MAX_ROUNDS = 8
_FIELDS = msgspec.json.Decoder(dict[str, msgspec.Raw])
_ENC = msgspec.json.Encoder()


class _InputRequired(msgspec.Struct):
    resultType: str = "complete"
    inputRequests: dict[str, msgspec.Raw] | None = None
    requestState: str | None = None


class _InputRequest(msgspec.Struct):
    method: str
    params: msgspec.Raw = msgspec.Raw(b"{}")


_INPUT_REQUIRED = msgspec.json.Decoder(_InputRequired)
_INPUT_REQUEST = msgspec.json.Decoder(_InputRequest)


def input_required(result: bytes, label: str) -> _InputRequired | None:
    """The result's input requests, if it is an `input_required` result."""
    if b'"input_required"' not in result:
        return None  # the common case, decided without decoding
    try:
        decoded = _INPUT_REQUIRED.decode(result)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamBadResponseError(f"gateway {label} sent a malformed result") from exc
    return decoded if decoded.resultType == "input_required" else None


async def complete(
    session: Session, method: str, params: bytes, inflight: InFlight, result: bytes
) -> bytes:
    """Ask the client each round's questions and retry, until the upstream's result is complete."""
    for _ in range(MAX_ROUNDS):
        required = input_required(result, session.label)
        if required is None:
            return result
        keys = list(required.inputRequests or {})
        answers = await asyncio.gather(
            *(_ask(inflight, key, (required.inputRequests or {})[key], session) for key in keys)
        )
        params = _retry_params(params, dict(zip(keys, answers, strict=True)), required)
        result = await session.request(method, params, inflight)
    raise UpstreamBadResponseError(f"gateway {session.label} kept asking for input")


async def _ask(inflight: InFlight, key: str, raw: msgspec.Raw, session: Session) -> msgspec.Raw:
    try:
        request = _INPUT_REQUEST.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise UpstreamBadResponseError(
            f"gateway {session.label} sent a malformed input request"
        ) from exc
    # A legacy client answers server requests by id: the key makes it one of ours.
    message = request_bytes(f"forge-input-{key}", request.method, bytes(request.params))
    return msgspec.Raw(await inflight.ask_client(request.method, message))


def _retry_params(
    params: bytes, responses: dict[str, msgspec.Raw], required: _InputRequired
) -> bytes:
    fields = _FIELDS.decode(params) if params.strip() else {}
    fields["inputResponses"] = msgspec.Raw(_ENC.encode(responses))
    if required.requestState is not None:
        fields["requestState"] = msgspec.Raw(_ENC.encode(required.requestState))
    else:
        fields.pop("requestState", None)
    return _ENC.encode(fields)
