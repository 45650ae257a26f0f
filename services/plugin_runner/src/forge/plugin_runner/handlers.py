"""One hook call: decode the envelope's params, build the context, run the chain, encode."""

from __future__ import annotations

import logging
from typing import Any

import msgspec

from forge.core.errors import InvalidParamsError
from forge.plugins.chain import PluginSet
from forge.plugins.context import decode_json, of_envelope
from forge.plugins.hookspec import PRE_HOOKS
from forge.plugins.result import KEEP
from forge.proto.envelope import Envelope
from forge.proto.plugins import HOOK_CALL_DECODER, HOOK_TARGET_DECODER, HookCall, HookReply

log = logging.getLogger("forge.plugin_runner.handlers")

_ENC = msgspec.json.Encoder()
UNCHANGED = b'{"modified":false}'


async def run_bare(hook: str, envelope: Envelope, plugins: PluginSet) -> bytes:
    """`forge.plugins.<hook>`: params are the payload itself; the reply is the payload.

    A post hook called this way does not know the request (conditions on targets do not
    match it), and a pre hook's answer in the call's place cannot be expressed: it is dropped.
    """
    params = bytes(envelope.params)
    if hook not in plugins.links:
        return params
    payload = decode_json(params, "payload")
    request = payload if hook in PRE_HOOKS else None
    outcome = await plugins.run(hook, payload, of_envelope(hook, envelope, request))
    if outcome.result is not KEEP:
        log.warning("a pre hook answered in the call's place on the bare subject: ignored")
    return _ENC.encode(outcome.payload) if outcome.modified else params


def _naming(hook: str, call: HookCall) -> dict[str, Any] | None:
    """The members of the call's request that name its target (`name`, `uri`, `agent`), read
    without decoding the payload (a post hook's result may be large): from the request, or for
    a pre hook without one, the payload. An agent hook's `name` is its agent's tool, which a
    tool condition matches (forge.plugins.conditions)."""
    raw: bytes | msgspec.Raw | None = call.request
    if not len(call.request) or bytes(call.request).strip() == b"null":
        raw = call.payload if hook in PRE_HOOKS else None  # as run_wrapped takes the request
    if raw is None:
        return None
    try:
        named = HOOK_TARGET_DECODER.decode(raw)
    except msgspec.DecodeError:
        return None  # not an object (or not JSON: the full decode says so)
    return {k: v for k, v in msgspec.structs.asdict(named).items() if v is not None}


async def run_wrapped(hook: str, envelope: Envelope, plugins: PluginSet) -> bytes:
    """`forge.plugins.call.<hook>`: params are a HookCall; the reply a HookReply.

    Which plugins run is decided from the target alone: when none does, the payload is never
    decoded."""
    if hook not in plugins.links:
        return UNCHANGED
    try:
        call = HOOK_CALL_DECODER.decode(envelope.params)
    except msgspec.DecodeError as exc:
        raise InvalidParamsError(f"malformed hook call: {exc}") from exc
    peek = of_envelope(hook, envelope, _naming(hook, call), call.team)
    if not plugins.select(hook, peek):
        return UNCHANGED
    payload = decode_json(call.payload, "payload")
    request = decode_json(call.request, "request") if len(call.request) else None
    if request is None and hook in PRE_HOOKS:
        request = payload
    outcome = await plugins.run(hook, payload, of_envelope(hook, envelope, request, call.team))
    reply = HookReply(modified=outcome.modified)
    if outcome.modified:
        reply = HookReply(modified=True, payload=msgspec.Raw(_ENC.encode(outcome.payload)))
    if outcome.result is not KEEP:
        reply = msgspec.structs.replace(reply, result=msgspec.Raw(_ENC.encode(outcome.result)))
    return _ENC.encode(reply)
