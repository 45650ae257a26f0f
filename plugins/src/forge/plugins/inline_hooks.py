"""Plugin hooks around calls, as a service holding the plugin library runs them: in-process
where the plugin-runner says they may be, asked of the plugin-runner otherwise, and only for
hooks some plugin serves. The router (tools, prompts, resources, agents' tools) and the
a2a-bridge (the agent hooks of Forge's A2A endpoint) both use it.

The served hooks, the manifests and the fail-closed rule are forge.core.plugin_hooks'. On top,
the newest manifest's `inline` section names the hooks whose every active plugin is pure and
stateless, with their entries (config and bindings included): the service builds the very same
chain with forge.plugins and runs it itself, with no bus round trip (docs/plugins.md, "Inline
chains"). A changed section (hot reload, bindings) is built anew before the next call; while
it builds, or if it cannot be built, those hooks go to the plugin-runner as every other does.
Inline chains hold as long as the manifest that described them is fresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

import msgspec

from forge.core.bus import Bus
from forge.core.errors import ServiceUnavailableError
from forge.core.plugin_hooks import DEFAULT_STALE_S, Heard, PluginManifests
from forge.plugins.chain import PluginSet
from forge.plugins.config import PluginConfigError
from forge.plugins.context import decode_json, of_envelope
from forge.plugins.inline import InlineChain, build_inline
from forge.plugins.plugin import Host
from forge.plugins.result import KEEP
from forge.proto.envelope import Envelope
from forge.proto.plugins import HOOK_REPLY_DECODER, HookReply

log = logging.getLogger("forge.plugins.inline_hooks")

DRAIN_S = 10.0  # how long a replaced inline chain may finish the calls it runs


_INLINE = msgspec.json.Decoder(dict[str, InlineChain])
_ENC = msgspec.json.Encoder()
_NONE = b""


class InlineHooks(PluginManifests):
    """The served hooks, the inline chains, and the calls to the plugin-runner. `replica`
    names the calling service in the inline plugins' Host (what they log as their replica)."""

    def __init__(
        self,
        bus: Bus,
        stale_s: float = DEFAULT_STALE_S,
        clock: Callable[[], float] = time.monotonic,
        replica: str = "",
    ) -> None:
        self.replica = replica
        self.chains: PluginSet | None = None
        self.inline: frozenset[str] = frozenset()  # the hooks `chains` runs
        self.section = _NONE  # the inline section wanted (raw, from the newest manifest)
        self._built = _NONE  # the section `chains` was built from
        self._fresh_until = 0.0  # (clock) when the manifests describing it go stale
        self._building: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        super().__init__(bus, stale_s, clock)

    # -- the inline section

    def changed(self) -> None:
        newest: Heard | None = self.newest()
        section = bytes(newest.manifest.inline) if newest is not None else _NONE
        if section in (b"{}", b"null"):
            section = _NONE
        self._fresh_until = max(
            (
                h.at + self.stale_s
                for h in self.replicas.values()
                if bytes(h.manifest.inline) == section
            ),
            default=0.0,
        )
        if section == self.section:
            return
        self.section = section
        if section == _NONE:
            self._install(None, _NONE)
            return
        try:
            task = asyncio.get_running_loop().create_task(self._build(section))
        except RuntimeError:  # no loop (a synchronous caller): nothing can run inline anyway
            log.warning("inline plugin chains not built outside the event loop")
            return
        self._building = task
        self._keep(task)

    async def _build(self, section: bytes) -> None:
        try:
            chains = await build_inline(
                _INLINE.decode(section), Host(bus=self.bus, replica=self.replica)
            )
        except (msgspec.DecodeError, msgspec.ValidationError, PluginConfigError) as exc:
            log.error(
                "inline plugin chains not built; their hooks go to the plugin-runner: %s", exc
            )
            chains = None
        if section != self.section:  # superseded while it was built
            if chains is not None:
                self._keep(asyncio.create_task(chains.close(0)))
            return
        self._install(chains, section)

    def _install(self, chains: PluginSet | None, section: bytes) -> None:
        old, self.chains, self._built = self.chains, chains, section
        self.inline = frozenset(chains.links) if chains is not None else frozenset()
        self._building = None
        if old is not None:
            self._keep(asyncio.create_task(old.close(DRAIN_S)))
        log.info("inline plugin chains", extra={"hooks": sorted(self.inline)})

    def _keep(self, task: asyncio.Task[None]) -> None:
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _chains(self, hook: str) -> PluginSet | None:
        """The inline chains if they run `hook` now."""
        if self._building is not None:  # the next call after a change waits for its chains
            await asyncio.shield(self._building)
        if hook not in self.inline:
            return None
        if self.clock() > self._fresh_until:
            self.prune()  # the manifests describing them may be gone: served no more
            if hook not in self.inline or self._built != self.section:
                return None
        return self.chains

    async def close(self) -> None:
        """Stop the inline chains (tests, and a service's shutdown)."""
        if self._building is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(self._building)
        if self.chains is not None:
            await self.chains.close(DRAIN_S)
        if self._tasks:
            await asyncio.wait(set(self._tasks))

    # -- calls

    async def _call(self, hook: str, envelope: Envelope, call: bytes) -> HookReply | None:
        """One wrapped hook call; None when nothing changed or the hook is no longer served."""
        sent = msgspec.structs.replace(envelope, params=msgspec.Raw(call))
        data = await self.call_wrapped(hook, sent)
        if data is None:
            return None
        try:
            return HOOK_REPLY_DECODER.decode(data)
        except msgspec.DecodeError as exc:
            raise ServiceUnavailableError(f"malformed {hook} reply from the plugin-runner") from exc

    async def pre(
        self, hook: str, envelope: Envelope, team: str | None = None
    ) -> tuple[Envelope, bytes | None]:
        """A pre hook on the request's params: the envelope as the plugins left it, and the
        result a plugin answered in the call's place (None: make the call). `team` owns the
        call's target (tool, prompt, resource, agent): only its own team's bindings apply."""
        payload = bytes(envelope.params) or b"{}"
        chains = await self._chains(hook)
        if chains is not None:
            request = decode_json(payload, "payload")
            context = of_envelope(hook, envelope, request, team)
            outcome = await chains.run(hook, request, context)
            if outcome.modified:
                envelope = msgspec.structs.replace(
                    envelope, params=msgspec.Raw(_ENC.encode(outcome.payload))
                )
            return envelope, None if outcome.result is KEEP else _ENC.encode(outcome.result)
        reply = await self._call(hook, envelope, b'{"payload":' + payload + _team(team) + b"}")
        if reply is None:
            return envelope, None
        if reply.modified and len(reply.payload):
            envelope = msgspec.structs.replace(envelope, params=reply.payload)
        return envelope, bytes(reply.result) if len(reply.result) else None

    async def post(
        self, hook: str, envelope: Envelope, result: bytes, team: str | None = None
    ) -> bytes:
        """A post hook on a result; `envelope` carries the request as the pre hooks left it,
        `team` owns its target."""
        request = bytes(envelope.params) or b"null"
        chains = await self._chains(hook)
        if chains is not None:
            known = decode_json(request, "request")
            payload = decode_json(result, "payload")
            outcome = await chains.run(hook, payload, of_envelope(hook, envelope, known, team))
            return _ENC.encode(outcome.payload) if outcome.modified else result
        call = b'{"payload":' + result + b',"request":' + request + _team(team) + b"}"
        reply = await self._call(hook, envelope, call)
        if reply is None or not reply.modified or not len(reply.payload):
            return result
        return bytes(reply.payload)


def _team(team: str | None) -> bytes:
    """The HookCall member naming the target's team (none when it has none)."""
    return b',"team":' + _ENC.encode(team) if team is not None else b""
