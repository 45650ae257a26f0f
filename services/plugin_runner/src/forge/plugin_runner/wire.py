"""The plugin-runner's wire types: the wrapped hook call, its reply, and the manifest."""

from __future__ import annotations

import msgspec


class HookCall(msgspec.Struct, frozen=True):
    """Params on `forge.plugins.call.<hook>`: the payload the hook may change and, for post
    hooks, the request's params as the pre hooks left them (absent: unknown)."""

    payload: msgspec.Raw
    request: msgspec.Raw = msgspec.Raw()


class HookReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The result on `forge.plugins.call.<hook>`: `payload` only when `modified`; `result`
    only when a pre hook answered in the call's place (the caller then skips the call)."""

    modified: bool
    payload: msgspec.Raw | None = None
    result: msgspec.Raw | None = None


class Manifest(msgspec.Struct, frozen=True):
    """Announced on `forge.plugins.manifest` and the reply to `forge.plugins.manifest.get`.

    `hooks` are those at least one active plugin serves; `wrapped` says the runner also
    serves `forge.plugins.call.<hook>`; `version` changes with the configuration.
    """

    hooks: list[str]
    version: str
    replica: str
    wrapped: bool = True


HOOK_CALL_DECODER = msgspec.json.Decoder(HookCall)
MANIFEST_DECODER = msgspec.json.Decoder(Manifest)
