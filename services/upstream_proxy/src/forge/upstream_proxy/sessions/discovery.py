"""Discovery: after the handshake, every page of each list the upstream declared it serves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Generic, TypeVar

import msgspec

from forge.core.errors import METHOD_NOT_FOUND, UpstreamBadResponseError, UpstreamRpcError
from forge.proto.catalog import DiscoverResult
from forge.proto.mcp import Prompt, Resource, ResourceTemplate, Tool
from forge.upstream_proxy.sessions.pool import Session

log = logging.getLogger("forge.upstream_proxy.sessions.discovery")
# A misbehaving upstream that hands out cursors forever must not keep discovery busy forever:
# a list ends at this many entries (pages may be of any size; each has its own deadline).
MAX_ITEMS = 1_000_000
T = TypeVar("T")
_ENC = msgspec.json.Encoder()


class _Tools(msgspec.Struct):
    tools: list[Tool]
    nextCursor: str | None = None


class _Resources(msgspec.Struct):
    resources: list[Resource]
    nextCursor: str | None = None


class _Templates(msgspec.Struct):
    resourceTemplates: list[ResourceTemplate]
    nextCursor: str | None = None


class _Prompts(msgspec.Struct):
    prompts: list[Prompt]
    nextCursor: str | None = None


class _Lister(Generic[T]):
    """One list method: its page decoder and where the items are in a page."""

    def __init__(self, method: str, page: type[msgspec.Struct], field: str) -> None:
        self.method = method
        self.decoder = msgspec.json.Decoder(page)
        self.field = field

    async def all(self, session: Session, page_timeout: float | None = None) -> list[T]:
        """Every page, following `nextCursor`; each page within `page_timeout` seconds."""
        items: list[T] = []
        cursor: str | None = None
        while len(items) < MAX_ITEMS:
            params = b"{}" if cursor is None else _ENC.encode({"cursor": cursor})
            async with _within(page_timeout):
                data = await session.request(self.method, params)
            try:
                page = self.decoder.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise UpstreamBadResponseError(
                    f"gateway {session.label} sent a malformed {self.method} result"
                ) from exc
            items.extend(getattr(page, self.field))
            next_cursor = page.nextCursor  # type: ignore[attr-defined]
            if not next_cursor or next_cursor == cursor:
                return items
            cursor = next_cursor
        raise UpstreamBadResponseError(f"gateway {session.label} kept paging {self.method}")


TOOLS: _Lister[Tool] = _Lister("tools/list", _Tools, "tools")
RESOURCES: _Lister[Resource] = _Lister("resources/list", _Resources, "resources")
TEMPLATES: _Lister[ResourceTemplate] = _Lister(
    "resources/templates/list", _Templates, "resourceTemplates"
)
PROMPTS: _Lister[Prompt] = _Lister("prompts/list", _Prompts, "prompts")


def _within(seconds: float | None) -> contextlib.AbstractAsyncContextManager[object]:
    return asyncio.timeout(seconds) if seconds is not None else contextlib.nullcontext()


async def _optional(lister: _Lister[T], session: Session, page_timeout: float | None) -> list[T]:
    # Some servers declare `resources` yet have no templates method: that is an empty list.
    try:
        return await lister.all(session, page_timeout)
    except UpstreamRpcError as exc:
        if exc.to_object().code != METHOD_NOT_FOUND:
            raise
        log.info("gateway %s does not serve %s", session.label, lister.method)
        return []


async def discover_all(session: Session, page_timeout: float | None = None) -> DiscoverResult:
    """Handshake, then list what the declared capabilities promise; the handshake and each
    page within `page_timeout` seconds (the whole within the caller's deadline)."""
    async with _within(page_timeout):
        await session.open()
    caps = session.capabilities
    tools = await TOOLS.all(session, page_timeout) if "tools" in caps else []
    resources: list[Resource] = []
    templates: list[ResourceTemplate] = []
    prompts: list[Prompt] = []
    if "resources" in caps:
        resources = await _optional(RESOURCES, session, page_timeout)
        templates = await _optional(TEMPLATES, session, page_timeout)
    if "prompts" in caps:
        prompts = await _optional(PROMPTS, session, page_timeout)
    return DiscoverResult(
        protocol_version=session.protocol_version or "",
        capabilities=caps,
        server_info=session.server_info,
        tools=tools,
        resources=resources,
        resource_templates=templates,
        prompts=prompts,
    )
