"""Discovery: ask the upstream-proxy what a gateway offers and turn it into catalog entries."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import msgspec

from forge.core import rpc, subjects
from forge.core.errors import UpstreamBadResponseError
from forge.proto.catalog import DiscoverResult, Gateway
from forge.proto.envelope import Envelope
from forge.proto.upstream import DiscoverParams
from forge.registry.catalog.contents import Contents, Entry
from forge.registry.catalog.offers import NewTool

if TYPE_CHECKING:
    from forge.registry.catalog.operation import Context

log = logging.getLogger("forge.registry")
_ENC = msgspec.json.Encoder()
_DISCOVER = msgspec.json.Decoder(DiscoverResult)
T = TypeVar("T")
STORE_RESERVE_S = 1.0


def _unique(gateway: Gateway, what: str, items: list[T], key: Callable[[T], str]) -> list[T]:
    """The first of each key: a sloppy upstream may list one twice."""
    seen: dict[str, T] = {}
    for item in items:
        if key(item) in seen:
            log.warning("upstream listed a %s twice", what, extra={"gateway_id": gateway.id})
            continue
        seen[key(item)] = item
    return list(seen.values())


async def discover(ctx: Context, gateway: Gateway) -> tuple[Gateway, list[NewTool], Contents]:
    """The gateway with its discovery fields, its tools and its contents; errors propagate."""
    # Each page within the setting, the whole within the request's deadline less a quarter
    # of what is left (storing and announcing a large catalog takes its time too).
    params = DiscoverParams(gateway, page_timeout_s=ctx.config.upstream_discover_timeout_s)
    now = time.time()
    envelope = Envelope(
        id=uuid.uuid4().hex,
        method="upstream.discover",
        params=msgspec.Raw(_ENC.encode(params)),
        principal=ctx.principal,
        deadline=ctx.deadline - max(STORE_RESERVE_S, (ctx.deadline - now) / 4),
    )
    data = await rpc.call(ctx.bus, subjects.upstream(gateway.id, "discover"), envelope)
    try:
        found = _DISCOVER.decode(data)
    except msgspec.DecodeError as exc:
        raise UpstreamBadResponseError("the upstream-proxy sent a malformed discovery") from exc
    discovered = msgspec.structs.replace(
        gateway,
        protocol_version=found.protocol_version,
        capabilities=found.capabilities,
        server_info=found.server_info,
    )
    sep = ctx.config.tool_name_separator
    tools = [
        NewTool(uuid.uuid4().hex, f"{gateway.slug}{sep}{t.name}", t)
        for t in _unique(gateway, "tool", found.tools, lambda t: t.name)
    ]
    resources = [
        Entry(uuid.uuid4().hex, r.uri, r)
        for r in _unique(gateway, "resource", found.resources, lambda r: r.uri)
    ]
    templates = [
        Entry(uuid.uuid4().hex, t.uriTemplate, t)
        for t in _unique(gateway, "template", found.resource_templates, lambda t: t.uriTemplate)
    ]
    prompts = [
        Entry(uuid.uuid4().hex, p.name, p, name=f"{gateway.slug}{sep}{p.name}")
        for p in _unique(gateway, "prompt", found.prompts, lambda p: p.name)
    ]
    return discovered, tools, Contents(resources, templates, prompts)
