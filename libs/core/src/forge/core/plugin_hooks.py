"""Plugin hooks as the router and the edge see them: the served hooks learnt from the
plugin-runners' manifests, and the wrapped call to `forge.plugins.call.<hook>`.

The served hooks are the union of the hooks in every replica's manifest heard within
`stale_s` (runners announce every 5 s; at start, `forge.plugins.manifest.get` asks). Until a
first manifest is heard, no hook is served. A call uses the wrapped form: `{"payload",
"request"?}` in, `{"modified", "payload"?, "result"?}` out; a block is a -32013 error reply
(raised by rpc.call as PluginViolationError).

A hook that a fresh manifest says is served, but that no plugin-runner answers, refuses the
request (fail closed): a guardrail never lapses silently because its runner crashed. Once
every manifest serving the hook is older than `stale_s`, the hook counts as no longer served
and calls go through without it (docs/plugins.md, "When the plugin-runner is away").
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Bus
from forge.core.errors import DeadlineExceededError, ServiceUnavailableError
from forge.proto.envelope import Envelope
from forge.proto.plugins import MANIFEST_DECODER, Manifest

log = logging.getLogger("forge.core.plugin_hooks")

# How long a replica's manifest holds after it was last heard (6 missed announcements).
DEFAULT_STALE_S = 30.0
MANIFEST_GET_S = 2.0
UNCHANGED = b'{"modified":false}'


@dataclass(frozen=True)
class Heard:
    """One replica's last manifest, and when it was heard."""

    hooks: frozenset[str]
    at: float
    manifest: Manifest


class PluginManifests:
    """The replicas' manifests and the served hooks (a frozenset: the hot path's only cost
    when none is served). Subclasses learn of every change in `changed`."""

    def __init__(
        self,
        bus: Bus,
        stale_s: float = DEFAULT_STALE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.stale_s = stale_s
        self.clock = clock
        self.served: frozenset[str] = frozenset()
        self.replicas: dict[str, Heard] = {}

    def serves(self, hook: str) -> bool:
        return hook in self.served

    def on_manifest(self, data: bytes) -> None:
        try:
            manifest = MANIFEST_DECODER.decode(data)
        except msgspec.DecodeError:
            log.warning("ignored a malformed plugin manifest")
            return
        self.replicas[manifest.replica] = Heard(frozenset(manifest.hooks), self.clock(), manifest)
        self.prune()

    async def fetch_manifest(self) -> None:
        """Ask a running plugin-runner for its manifest (at start: the next announcement may be
        seconds away); with none running there is nothing to learn."""
        try:
            data = await self.bus.request(
                subjects.PLUGINS_MANIFEST_GET, b"", deadline=time.time() + MANIFEST_GET_S
            )
        except (ServiceUnavailableError, DeadlineExceededError):
            return
        self.on_manifest(data)

    def prune(self) -> None:
        """Forget replicas not heard for `stale_s`; served = the union of the others' hooks."""
        now = self.clock()
        self.replicas = {r: h for r, h in self.replicas.items() if now - h.at <= self.stale_s}
        served: set[str] = set()
        for heard in self.replicas.values():
            served |= heard.hooks
        self.served = frozenset(served)
        self.changed()

    def changed(self) -> None:
        """Called after every prune (the replicas or their manifests may have changed)."""

    def newest(self) -> Heard | None:
        """The fresh manifest of the most recently installed configuration (replicas in the
        middle of a reload may disagree: the newest wins)."""
        return max(self.replicas.values(), key=lambda h: (h.manifest.loaded_at, h.at), default=None)

    def unanswered(self, hook: str, exc: ServiceUnavailableError) -> None:
        """No plugin-runner answered a served hook: refuse while a fresh manifest serves it."""
        self.prune()
        if hook in self.served:
            raise ServiceUnavailableError(
                f"a guardrail plugin serves {hook} but no plugin-runner answers: refused"
                " rather than let through unchecked"
            ) from exc
        log.warning("no plugin-runner has announced %s lately: calls go through without it", hook)

    async def call_wrapped(self, hook: str, envelope: Envelope) -> bytes | None:
        """One wrapped hook call (the envelope's params are the call): the reply, or None when
        the plugins changed nothing or the hook is no longer served."""
        try:
            data = await rpc.call(self.bus, subjects.plugins_call(hook), envelope)
        except ServiceUnavailableError as exc:
            self.unanswered(hook, exc)
            return None
        return None if data == UNCHANGED else data
