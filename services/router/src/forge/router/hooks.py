"""Plugin hooks around calls: asked of the plugin-runner only for hooks some plugin serves.

The served hooks are learnt from the manifests plugin-runner replicas announce (and, at start,
from `forge.plugins.manifest.get`). Calls use the wrapped form, `forge.plugins.call.<hook>`:
`{"payload", "request"?}` in, `{"modified", "payload"?, "result"?}` out; a block is a -32013
error reply, raised here as PluginViolationError.

A hook that a fresh manifest says is served, but that no plugin-runner answers, refuses the
request (fail closed): a guardrail never lapses silently because its runner crashed. A
replica's manifest is fresh for `stale_s` after it was last heard (runners announce every
5 s); once every manifest serving the hook is older, the hook counts as no longer served and
calls go through without it. Until a first manifest is heard, no hook is served.
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

log = logging.getLogger("forge.router.hooks")

# How long a replica's manifest holds after it was last heard (6 missed announcements).
DEFAULT_STALE_S = 30.0
MANIFEST_GET_S = 2.0


class Manifest(msgspec.Struct, frozen=True):
    """What a plugin-runner announces: the hooks its active plugins serve, and who it is."""

    hooks: list[str] = msgspec.field(default_factory=list)
    replica: str = ""
    version: str = ""


class HookReply(msgspec.Struct, frozen=True):
    """The result on `forge.plugins.call.<hook>`."""

    modified: bool = False
    payload: msgspec.Raw = msgspec.Raw()  # empty: absent
    result: msgspec.Raw = msgspec.Raw()


_MANIFEST = msgspec.json.Decoder(Manifest)
_REPLY = msgspec.json.Decoder(HookReply)
_UNCHANGED = b'{"modified":false}'


@dataclass(frozen=True)
class Heard:
    """One replica's last manifest."""

    hooks: frozenset[str]
    at: float


class Hooks:
    """The served hooks (a frozenset: the hot path's only cost when none is served) and the
    calls to the plugin-runner."""

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

    # -- manifests

    def on_manifest(self, data: bytes) -> None:
        try:
            manifest = _MANIFEST.decode(data)
        except msgspec.DecodeError:
            log.warning("ignored a malformed plugin manifest")
            return
        self.replicas[manifest.replica] = Heard(frozenset(manifest.hooks), self.clock())
        self._prune()

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

    def _prune(self) -> None:
        """Forget replicas not heard for `stale_s`; served = the union of the others' hooks."""
        now = self.clock()
        self.replicas = {r: h for r, h in self.replicas.items() if now - h.at <= self.stale_s}
        served: set[str] = set()
        for heard in self.replicas.values():
            served |= heard.hooks
        self.served = frozenset(served)

    def _unanswered(self, hook: str, exc: ServiceUnavailableError) -> None:
        """No plugin-runner answered a served hook: refuse while a fresh manifest serves it."""
        self._prune()
        if hook in self.served:
            raise ServiceUnavailableError(
                f"a guardrail plugin serves {hook} but no plugin-runner answers: refused"
                " rather than let through unchecked"
            ) from exc
        log.warning("no plugin-runner has announced %s lately: calls go through without it", hook)

    # -- calls

    async def _call(self, hook: str, envelope: Envelope, call: bytes) -> HookReply | None:
        """One wrapped hook call; None when the hook is no longer served."""
        sent = msgspec.structs.replace(envelope, params=msgspec.Raw(call))
        try:
            data = await rpc.call(self.bus, subjects.plugins_call(hook), sent)
        except ServiceUnavailableError as exc:
            self._unanswered(hook, exc)
            return None
        if data == _UNCHANGED:
            return None
        try:
            return _REPLY.decode(data)
        except msgspec.DecodeError as exc:
            raise ServiceUnavailableError(f"malformed {hook} reply from the plugin-runner") from exc

    async def pre(self, hook: str, envelope: Envelope) -> tuple[Envelope, bytes | None]:
        """A pre hook on the request's params: the envelope as the plugins left it, and the
        result a plugin answered in the call's place (None: make the call)."""
        payload = bytes(envelope.params) or b"{}"
        reply = await self._call(hook, envelope, b'{"payload":' + payload + b"}")
        if reply is None:
            return envelope, None
        if reply.modified and len(reply.payload):
            envelope = msgspec.structs.replace(envelope, params=reply.payload)
        return envelope, bytes(reply.result) if len(reply.result) else None

    async def post(self, hook: str, envelope: Envelope, result: bytes) -> bytes:
        """A post hook on a result; `envelope` carries the request as the pre hooks left it."""
        request = bytes(envelope.params) or b"null"
        call = b'{"payload":' + result + b',"request":' + request + b"}"
        reply = await self._call(hook, envelope, call)
        if reply is None or not reply.modified or not len(reply.payload):
            return result
        return bytes(reply.payload)

    # -- the earlier names (tools and tests written against them)

    async def run(self, hook: str, envelope: Envelope) -> Envelope:
        """A pre hook, ignoring an answer in the call's place."""
        return (await self.pre(hook, envelope))[0]

    async def run_post(self, hook: str, envelope: Envelope, result: bytes) -> bytes:
        return await self.post(hook, envelope, result)
