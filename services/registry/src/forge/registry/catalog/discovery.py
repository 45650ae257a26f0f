"""Discovery: ask the upstream-proxy what a gateway offers, its pages streamed into an Intake.

The upstream-proxy sends the lists as pages (`DiscoverPage`) on `forge.discover.<request id>`,
each a request answered once the intake has taken it (stored when a batch is full), and then
its reply, which counts them (decision 0034). A reply that holds the lists itself (an
upstream-proxy that does not stream, or a gateway with nothing to list yet) is taken as one
page. No message holds a large gateway's whole list.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING

import msgspec

from forge.core import rpc, subjects
from forge.core.bus import Headers
from forge.core.errors import ForgeError, UpstreamBadResponseError
from forge.proto.catalog import DiscoverPage, DiscoverResult, Gateway
from forge.proto.envelope import Envelope
from forge.proto.upstream import DiscoverParams
from forge.registry.catalog.contents import Contents
from forge.registry.catalog.intake import Intake

if TYPE_CHECKING:
    from forge.registry.catalog.operation import Context

log = logging.getLogger("forge.registry")
_ENC = msgspec.json.Encoder()
_DISCOVER = msgspec.json.Decoder(DiscoverResult)
_PAGE = msgspec.json.Decoder(DiscoverPage)
_TAKEN = b'{"result":{}}'
STORE_RESERVE_S = 1.0
# What the upstream-proxy is told when storing a page failed (the registry raises the cause).
_STOPPED = ForgeError("the registry could not store the discovery")


class _Pages:
    """The subscription's side: each page handed to the intake, one at a time; the first
    failure kept (and answered, so the upstream-proxy stops sending)."""

    def __init__(self, intake: Intake) -> None:
        self.intake = intake
        self.failure: BaseException | None = None
        self.closed = False
        self.lock = asyncio.Lock()

    async def on_page(self, data: bytes, headers: Headers) -> bytes:
        async with self.lock:
            try:
                if self.closed or self.failure is not None:
                    raise UpstreamBadResponseError("this discovery takes no more pages")
                try:
                    page = _PAGE.decode(data)
                except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                    raise UpstreamBadResponseError("a malformed discovery page") from exc
                await self.intake.take(page)
            except ForgeError as exc:
                self.failure = self.failure or exc
                return rpc.error_reply(exc.to_object())
            except Exception as exc:  # a store error: raised again by `discover`
                self.failure = self.failure or exc
                return rpc.error_reply(_STOPPED.to_object())
        return _TAKEN


async def discover(ctx: Context, gateway: Gateway, intake: Intake) -> tuple[Gateway, Contents]:
    """The gateway with its discovery fields, and its contents; its tools went to `intake`.
    Errors propagate (a page's store error as raised)."""
    # Each page within the setting, the whole within the request's deadline less a quarter
    # of what is left (storing and announcing a large catalog takes its time too).
    params = DiscoverParams(
        gateway, page_timeout_s=ctx.config.upstream_discover_timeout_s, streamed=True
    )
    now = time.time()
    envelope = Envelope(
        id=uuid.uuid4().hex,
        method="upstream.discover",
        params=msgspec.Raw(_ENC.encode(params)),
        principal=ctx.principal,
        deadline=ctx.deadline - max(STORE_RESERVE_S, (ctx.deadline - now) / 4),
    )
    pages = _Pages(intake)
    subscription = await ctx.bus.serve(subjects.discover_pages(envelope.id), pages.on_page)
    try:
        data = await rpc.call(ctx.bus, subjects.upstream(gateway.id, "discover"), envelope)
    except ForgeError:
        if pages.failure is not None:
            raise pages.failure from None
        raise
    finally:
        await subscription.unsubscribe()
        async with pages.lock:  # a page being taken is finished with the connection first
            pages.closed = True
    if pages.failure is not None:
        raise pages.failure
    try:
        found = _DISCOVER.decode(data)
    except msgspec.DecodeError as exc:
        raise UpstreamBadResponseError("the upstream-proxy sent a malformed discovery") from exc
    if found.streamed is None:
        inline = DiscoverPage(
            seq=intake.seq,
            tools=found.tools,
            resources=found.resources,
            resource_templates=found.resource_templates,
            prompts=found.prompts,
        )
        await intake.take(inline)
    elif found.streamed.pages != intake.seq:
        raise UpstreamBadResponseError(
            f"the discovery sent {found.streamed.pages} pages, {intake.seq} arrived"
        )
    discovered = msgspec.structs.replace(
        gateway,
        protocol_version=found.protocol_version,
        capabilities=found.capabilities,
        server_info=found.server_info,
    )
    return discovered, await intake.finish()
