"""The edge's plugin hooks: which ones some plugin serves, learnt from the plugin-runners'
manifests as the router learns them (forge.core.plugin_hooks), and the wrapped call to
`forge.plugins.call.<hook>`.

A hook no plugin serves costs nothing but a flag or set lookup. A served hook that no
plugin-runner answers refuses the request (503) while a manifest heard within `stale_s` says
it is served; after that it counts as no longer served (docs/plugins.md, "When the
plugin-runner is away").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import msgspec

from forge.core import subjects
from forge.core.bus import Bus
from forge.core.errors import ServiceUnavailableError
from forge.core.plugin_hooks import DEFAULT_STALE_S, MANIFEST_GET_S, PluginManifests
from forge.proto.envelope import Envelope, Principal
from forge.proto.plugins import HOOK_REPLY_DECODER

__all__ = ["DEFAULT_STALE_S", "MANIFEST_GET_S", "EdgeHooks"]

HOOK_TIMEOUT_S = 10.0
ANONYMOUS = Principal(subject="anonymous")
HTTP_HOOKS = frozenset({"http_pre_request", "http_post_request"})
_ENC = msgspec.json.Encoder()


class EdgeHooks(PluginManifests):
    """`http`, `auth`, `resolves_users` and `checks_permissions` are the flags the hot paths
    read."""

    def __init__(
        self,
        bus: Bus,
        stale_s: float = DEFAULT_STALE_S,
        timeout_s: float = HOOK_TIMEOUT_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout_s = timeout_s
        self.http = False
        self.resolves_users = False
        self.checks_permissions = False
        self.auth = False  # either of the two above: the token fast path is off
        super().__init__(bus, stale_s, clock)

    async def start(self) -> None:
        """Listen to announcements and ask a running plugin-runner for its manifest now."""
        await self.bus.subscribe(subjects.PLUGINS_MANIFEST, self._on_manifest)
        await self.fetch_manifest()

    async def _on_manifest(self, subject: str, data: bytes) -> None:
        self.on_manifest(data)

    def changed(self) -> None:
        self.http = bool(self.served & HTTP_HOOKS)
        self.resolves_users = "http_auth_resolve_user" in self.served
        self.checks_permissions = "http_auth_check_permission" in self.served
        self.auth = self.resolves_users or self.checks_permissions

    async def call(
        self,
        hook: str,
        payload: Any,
        *,
        principal: Principal = ANONYMOUS,
        method: str = "",
        request: Any = None,
        server_id: str | None = None,
    ) -> Any:
        """The payload as the plugins left it (the same object when unchanged). Raises
        PluginViolationError on a block, ServiceUnavailableError when failing closed."""
        call: dict[str, Any] = {"payload": payload}
        if request is not None:
            call["request"] = request
        envelope = Envelope(
            id=uuid.uuid4().hex,
            method=method or hook,
            params=msgspec.Raw(_ENC.encode(call)),
            principal=principal,
            deadline=time.time() + self.timeout_s,
            server_id=server_id,
        )
        data = await self.call_wrapped(hook, envelope)
        if data is None:
            return payload
        try:
            reply = HOOK_REPLY_DECODER.decode(data)
            if not reply.modified:
                return payload
            return msgspec.json.decode(reply.payload) if len(reply.payload) else None
        except msgspec.DecodeError as exc:
            raise ServiceUnavailableError(f"malformed {hook} reply from the plugin-runner") from exc
