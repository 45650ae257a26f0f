"""Plugin hooks around calls: asked of the plugin-runner only for hooks some plugin serves."""

from __future__ import annotations

import logging

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import ServiceUnavailableError
from forge.proto.envelope import Envelope

log = logging.getLogger("forge.router.hooks")


class Manifest(msgspec.Struct, frozen=True):
    """What a plugin-runner announces: the hooks its active plugins serve."""

    hooks: list[str] = msgspec.field(default_factory=list)


_MANIFEST = msgspec.json.Decoder(Manifest)


class Hooks:
    """The set of served hooks is learnt from manifests; with no plugin-runner it stays empty."""

    def __init__(self, bus: Bus) -> None:
        self.bus = bus
        self.served: frozenset[str] = frozenset()

    def serves(self, hook: str) -> bool:
        return hook in self.served

    def on_manifest(self, data: bytes) -> None:
        try:
            self.served = frozenset(_MANIFEST.decode(data).hooks)
        except msgspec.DecodeError:
            log.warning("ignored a malformed plugin manifest")

    async def run(self, hook: str, envelope: Envelope) -> Envelope:
        """A pre hook: the plugin-runner answers with the (possibly modified) params."""
        try:
            params = await rpc.call(self.bus, subjects.plugins(hook), envelope)
        except ServiceUnavailableError:
            self.served = self.served - {hook}  # the runner went away: skip until it announces
            return envelope
        return msgspec.structs.replace(envelope, params=msgspec.Raw(params))

    async def run_post(self, hook: str, envelope: Envelope, result: bytes) -> bytes:
        """A post hook: the plugin-runner answers with the (possibly modified) result."""
        post = msgspec.structs.replace(envelope, params=msgspec.Raw(result))
        try:
            return await rpc.call(self.bus, subjects.plugins(hook), post)
        except ServiceUnavailableError:
            self.served = self.served - {hook}
            return result
