"""External plugins: a hook served as a tool of an MCP server, called with the `mcp` SDK client.

The server offers one tool per hook it serves, named after the hook (with an optional prefix).
The tool is called with `{"payload": ..., "context": {...}}` and answers (structured content,
or a text content holding JSON) with `{}` (allow), `{"payload": new}` (modify),
`{"violation": {"code", "reason", "details"?}}` (block) or `{"result": r}` (a pre hook's answer
in the call's place). An `isError` result counts as the plugin failing (its on_error applies).
The server is dialled through the SSRF guard (Host.guard), at every connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import msgspec
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from forge.core import httpx_dialer
from forge.plugins.config import PluginConfigError
from forge.plugins.context import HookContext
from forge.plugins.hookspec import HOOKS, hookimpl
from forge.plugins.plugin import Host, Plugin
from forge.plugins.result import KEEP, PluginResult, Violation

log = logging.getLogger("forge.plugins.external")


class ExternalConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: str  # the server's Streamable HTTP endpoint
    headers: dict[str, str] = msgspec.field(default_factory=dict)  # e.g. authorization
    # The hooks it serves; empty: those of its tools named after a hook (listed at load).
    hooks: tuple[str, ...] = ()
    tool_prefix: str = ""
    # "auto" probes the server's era; "legacy" or a modern version string skip the probe.
    protocol: str = "auto"
    timeout_s: float = 10.0


class ExternalError(Exception):
    """The external plugin answered with an error or with something that is not a verdict."""


class _Verdict(msgspec.Struct, frozen=True):
    payload: Any = KEEP
    result: Any = KEEP
    violation: dict[str, Any] | None = None


class ExternalPlugin(Plugin):
    Config = ExternalConfig
    dials_out = True
    url_settings = ("url",)

    def __init__(self, name: str, config: dict[str, Any], host: Host) -> None:
        super().__init__(name, config, host)
        self._client: Client | None = None
        self._holder: asyncio.Task[None] | None = None
        self._release = asyncio.Event()
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        hooks = self.settings.hooks
        if not hooks:
            client = await self._connect()
            listed = await client.list_tools()
            prefix = self.settings.tool_prefix
            names = {
                tool.name[len(prefix) :] for tool in listed.tools if tool.name.startswith(prefix)
            }
            hooks = tuple(hook for hook in HOOKS if hook in names)
        unknown = [hook for hook in hooks if hook not in HOOKS]
        if unknown:
            raise PluginConfigError(f"plugin {self.name!r}: unknown hook(s) {', '.join(unknown)}")
        for hook in hooks:
            setattr(self, hook, self._hook(hook))

    def _hook(self, hook: str) -> Any:
        async def call(payload: Any, context: HookContext) -> PluginResult | None:
            return await self.invoke(hook, payload, context)

        call.__name__ = hook
        return hookimpl(call)

    async def invoke(self, hook: str, payload: Any, ctx: HookContext) -> PluginResult | None:
        arguments = {"payload": payload, "context": describe(ctx)}
        client = await self._connect()
        try:
            result = await client.call_tool(self.settings.tool_prefix + hook, arguments)
        except Exception:
            await self._drop()  # a broken session: the next call connects anew
            raise
        if result.is_error:
            raise ExternalError(f"external plugin {self.name} answered with an error")
        verdict = _verdict(result.structured_content, [c.model_dump() for c in result.content])
        if verdict.violation is not None:
            v = verdict.violation
            return PluginResult(
                violation=Violation(
                    str(v.get("code", "external")), str(v.get("reason", "")), v.get("details", {})
                )
            )
        if verdict.payload is KEEP and verdict.result is KEEP:
            return None
        return PluginResult(payload=verdict.payload, result=verdict.result)

    async def _connect(self) -> Client:
        async with self._lock:
            if self._client is not None:
                return self._client
            ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
            self._release = asyncio.Event()
            self._holder = asyncio.create_task(self._hold(ready, self._release))
            self._client = await ready
            return self._client

    async def _hold(self, ready: asyncio.Future[Client], release: asyncio.Event) -> None:
        """Owns one session from open to close (the SDK wants both in the same task)."""
        settings = self.settings
        try:
            async with httpx_dialer.client(
                self.host.guard, headers=settings.headers, timeout=settings.timeout_s
            ) as http:
                transport = streamable_http_client(settings.url, http_client=http)
                async with Client(
                    transport, mode=settings.protocol, read_timeout_seconds=settings.timeout_s
                ) as client:
                    ready.set_result(client)
                    await release.wait()
        # The session's transport may fail in any way: the caller waiting on `ready` gets it.
        except Exception as exc:
            refused = httpx_dialer.refusal(exc)
            reason = refused.message if refused is not None else str(exc)
            if not ready.done():
                ready.set_exception(ExternalError(f"cannot reach external plugin: {reason}"))
            else:
                log.warning("external plugin %s: session ended: %s", self.name, exc)
        finally:
            if not ready.done():
                ready.set_exception(ExternalError("external plugin session closed"))

    async def _drop(self) -> None:
        async with self._lock:
            self._client = None
            holder, self._holder = self._holder, None
            self._release.set()
        if holder is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await holder

    async def stop(self) -> None:
        await self._drop()


def describe(ctx: HookContext) -> dict[str, Any]:
    """The context an external plugin is sent (no credentials)."""
    return {
        "hook": ctx.hook,
        "method": ctx.method,
        "request_id": ctx.request_id,
        "server_id": ctx.server_id,
        "user": ctx.user,
        "teams": list(ctx.principal.teams),
        "roles": list(ctx.principal.roles),
        "target": ctx.target,
        "request": ctx.request,
    }


def _verdict(structured: Any, content: list[dict[str, Any]]) -> _Verdict:
    body = structured
    if body is None:
        texts = [c.get("text") for c in content if c.get("type") == "text"]
        if not texts:
            return _Verdict()
        try:
            body = json.loads(texts[0] or "{}")
        except ValueError as exc:
            raise ExternalError("external plugin answered with text that is not JSON") from exc
    if not isinstance(body, dict):
        raise ExternalError("external plugin answered with something other than an object")
    violation = body.get("violation")
    if violation is not None and not isinstance(violation, dict):
        raise ExternalError("external plugin sent a violation that is not an object")
    return _Verdict(
        payload=body["payload"] if "payload" in body else KEEP,
        result=body["result"] if "result" in body else KEEP,
        violation=violation,
    )
