"""Discovery: after the handshake, every page of each list the upstream declared it serves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeVar

import msgspec

from forge.core.errors import METHOD_NOT_FOUND, UpstreamBadResponseError, UpstreamRpcError
from forge.proto.catalog import (
    DISCOVER_PAGE_ENTRIES,
    MAX_LIST_ENTRIES,
    DiscoverCounts,
    DiscoverPage,
    DiscoverResult,
)
from forge.proto.mcp import Prompt, Resource, ResourceTemplate, Tool
from forge.upstream_proxy.sessions.pool import Session

log = logging.getLogger("forge.upstream_proxy.sessions.discovery")
T = TypeVar("T")
# Where a streamed discovery's pages go (the caller's answer awaited: flow control).
Send = Callable[[DiscoverPage], Awaitable[None]]
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

    async def all(
        self,
        session: Session,
        page_timeout: float | None = None,
        taken: Callable[[list[T]], Awaitable[None]] | None = None,
    ) -> list[T]:
        """Every page, following `nextCursor`; each page within `page_timeout` seconds. With
        `taken`, each page's items are handed to it instead of kept (the result is empty)."""
        items: list[T] = []
        count = 0
        cursor: str | None = None
        # An upstream that hands out cursors forever must not keep discovery busy forever: a list
        # ends at MAX_LIST_ENTRIES (pages may be of any size; each has its own deadline).
        while count < MAX_LIST_ENTRIES:
            params = b"{}" if cursor is None else _ENC.encode({"cursor": cursor})
            async with _within(page_timeout):
                data = await session.request(self.method, params)
            try:
                page = self.decoder.decode(data)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise UpstreamBadResponseError(
                    f"gateway {session.label} sent a malformed {self.method} result"
                ) from exc
            found: list[T] = getattr(page, self.field)
            count += len(found)
            if taken is None:
                items.extend(found)
            else:
                await taken(found)
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


async def _optional(
    lister: _Lister[T],
    session: Session,
    page_timeout: float | None,
    taken: Callable[[list[T]], Awaitable[None]] | None = None,
) -> list[T]:
    # Some servers declare `resources` yet have no templates method: that is an empty list.
    try:
        return await lister.all(session, page_timeout, taken)
    except UpstreamRpcError as exc:
        if exc.to_object().code != METHOD_NOT_FOUND:
            raise
        log.info("gateway %s does not serve %s", session.label, lister.method)
        return []


class _Pages:
    """A streamed discovery's outgoing pages: entries gathered up to DISCOVER_PAGE_ENTRIES a
    page, each page sent (and answered) before the next; counted for the final reply."""

    FIELDS = ("tools", "resources", "resource_templates", "prompts")

    def __init__(self, send: Send) -> None:
        self._send = send
        self._held: dict[str, list[Any]] = {f: [] for f in self.FIELDS}
        self._size = 0
        self.counts = dict.fromkeys(self.FIELDS, 0)
        self.pages = 0

    def taker(self, field: str) -> Callable[[list[Any]], Awaitable[None]]:
        async def take(items: list[Any]) -> None:
            self.counts[field] += len(items)
            while items:
                room = DISCOVER_PAGE_ENTRIES - self._size
                self._held[field].extend(items[:room])
                self._size += len(items[:room])
                items = items[room:]
                if self._size >= DISCOVER_PAGE_ENTRIES:
                    await self.flush()

        return take

    async def flush(self) -> None:
        if not self._size:
            return
        page = DiscoverPage(seq=self.pages, **self._held)
        self._held = {f: [] for f in self.FIELDS}
        self._size = 0
        self.pages += 1
        await self._send(page)

    async def done(self) -> DiscoverCounts:
        await self.flush()
        return DiscoverCounts(pages=self.pages, **self.counts)


async def discover_all(
    session: Session, page_timeout: float | None = None, send: Send | None = None
) -> DiscoverResult:
    """Handshake, then list what the declared capabilities promise; the handshake and each
    page within `page_timeout` seconds (the whole within the caller's deadline). With `send`,
    the lists go out as pages through it, and the result only counts them."""
    async with _within(page_timeout):
        await session.open()
    if send is not None:
        return await _streamed(session, page_timeout, _Pages(send))
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


async def _streamed(session: Session, page_timeout: float | None, out: _Pages) -> DiscoverResult:
    caps = session.capabilities
    if "tools" in caps:
        await TOOLS.all(session, page_timeout, out.taker("tools"))
    if "resources" in caps:
        await _optional(RESOURCES, session, page_timeout, out.taker("resources"))
        await _optional(TEMPLATES, session, page_timeout, out.taker("resource_templates"))
    if "prompts" in caps:
        await _optional(PROMPTS, session, page_timeout, out.taker("prompts"))
    return DiscoverResult(
        protocol_version=session.protocol_version or "",
        capabilities=caps,
        server_info=session.server_info,
        streamed=await out.done(),
    )
