"""Webhook notification: violations, failed tool calls (and optionally every call) POSTed as
JSON to an operator's URL, in the background, HMAC-signed when a secret is set. The URL is
dialled through the SSRF guard (Host.guard): a refused address drops the notification."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from typing import Any, Literal

import httpx2
import msgspec

from forge.core import httpx_dialer
from forge.plugins.context import HookContext
from forge.plugins.hookspec import hookimpl
from forge.plugins.plugin import Host, Plugin
from forge.plugins.result import PluginResult, Violation

log = logging.getLogger("forge.plugins.webhook")
_ENC = msgspec.json.Encoder()
Event = Literal["violation", "tool_error", "tool_call"]


class WebhookConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str
    events: tuple[Event, ...] = ("violation", "tool_error")
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    secret: str | None = None  # signs the body: X-Forge-Signature: sha256=<hex HMAC>
    timeout_s: float = 5.0
    retries: int = 2
    include_user: bool = True


class WebhookNotification(Plugin):
    Config = WebhookConfig
    dials_out = True
    url_settings = ("url",)

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        super().__init__(name, config, host)
        self.client: httpx2.AsyncClient | None = None
        self.pending: set[asyncio.Task[None]] = set()
        self.sent = 0

    async def start(self) -> None:
        self.client = httpx_dialer.client(self.host.guard, timeout=self.settings.timeout_s)

    async def stop(self) -> None:
        if self.pending:
            await asyncio.wait(set(self.pending), timeout=self.settings.timeout_s)
        if self.client is not None:
            await self.client.aclose()

    def _event(self, kind: str, ctx: HookContext, **fields: Any) -> dict[str, Any]:
        event = {
            "event": kind,
            "time": time.time(),
            "hook": ctx.hook,
            "request_id": ctx.request_id,
            "server_id": ctx.server_id,
            "target": ctx.target,
            **fields,
        }
        if self.settings.include_user:
            event["user"] = ctx.user
        return event

    def _send(self, event: dict[str, Any]) -> None:
        task = asyncio.create_task(self._post(_ENC.encode(event)))
        self.pending.add(task)
        task.add_done_callback(self.pending.discard)

    async def _post(self, body: bytes) -> None:
        headers = {"content-type": "application/json", **self.settings.headers}
        if self.settings.secret is not None:
            mac = hmac.new(self.settings.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["x-forge-signature"] = f"sha256={mac}"
        assert self.client is not None  # narrowing: start() ran before any hook
        for attempt in range(self.settings.retries + 1):
            try:
                response = await self.client.post(self.settings.url, content=body, headers=headers)
                if response.status_code < 500:
                    if response.status_code >= 400:
                        log.warning(
                            "webhook %s refused a notification: %s", self.name, response.status_code
                        )
                    self.sent += 1
                    return
            except httpx2.HTTPError as exc:
                if httpx_dialer.refusal(exc) is not None:
                    # Trying again would be refused again: the operator must allow the address.
                    log.error("webhook %s: the SSRF guard refused its URL's address", self.name)
                    return
                log.warning("webhook %s: %s", self.name, type(exc).__name__)
            if attempt < self.settings.retries:
                await asyncio.sleep(0.2 * 2**attempt)
        log.error(
            "webhook %s: notification dropped after %d tries", self.name, self.settings.retries + 1
        )

    async def on_violation(self, plugin: str, violation: Violation, ctx: HookContext) -> None:
        if "violation" in self.settings.events:
            self._send(
                self._event(
                    "violation",
                    ctx,
                    plugin=plugin,
                    code=violation.code,
                    reason=violation.reason,
                    details=violation.details,
                )
            )

    @hookimpl
    def tool_post_invoke(self, payload: Any, context: HookContext) -> PluginResult | None:
        failed = isinstance(payload, dict) and payload.get("isError") is True
        events = self.settings.events
        if "tool_call" in events or (failed and "tool_error" in events):
            self._send(self._event("tool_error" if failed else "tool_call", context))
        return None
