"""How a virtual server names its tools and prompts: aliases resolved to the ids they name, and
names that would clash within one server refused at composition (the router then resolves a
server's names without ever meeting two entries of one kind under one name)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from forge.core.errors import ConflictError, InvalidParamsError
from forge.proto.catalog import Server
from forge.registry.catalog import contents, ownership
from forge.registry.catalog.operation import Context

# The MCP tool-name rule (1-128 of A-Z a-z 0-9 _ - .), for prompts too: a client that checks
# names accepts every name a server exposes.
_ALIAS = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")


def _records(ctx: Context, tools: list[Any], prompts: list[tuple[str, Any]]) -> dict[str, Any]:
    """The records the caller can see, by id and by catalog name."""
    known: dict[str, Any] = {}
    seen = ownership.seen(ctx.principal, [*tools, *(record for _, record in prompts)])
    for record in seen:
        known[record.name] = known[record.id] = record
    return known


async def resolve(ctx: Context, given: dict[str, str], server: Server) -> dict[str, str]:
    """The aliases keyed by the id of the tool or prompt each names: a ref (id or catalog name)
    must be a tool or prompt the server holds and the caller sees; resources keep their uri."""
    for alias in given.values():
        if not _ALIAS.match(alias):
            raise InvalidParamsError(
                "an alias must be 1 to 128 of A-Z a-z 0-9 _ - .", {"field": "aliases"}
            )
    refs = list(given)
    known = _records(
        ctx,
        await ctx.store.resolve_tools(refs),
        await ctx.store.resolve_entries((contents.PROMPTS,), refs),
    )
    held = {*server.associated_tools, *server.associated_prompts}
    aliases: dict[str, str] = {}
    for ref, alias in given.items():
        record = known.get(ref)
        if record is None or record.id not in held:
            raise InvalidParamsError(
                f"aliases name {ref}, which is not a tool or prompt of this server",
                {"field": "aliases", "ref": ref},
            )
        aliases[record.id] = alias
    return aliases


async def check_unique(ctx: Context, server: Server) -> None:
    """Refuse (409) a composition under which two tools, or two prompts, of the server would
    share a name: a client could reach only one of them."""
    tools = await ctx.store.resolve_tools(server.associated_tools)
    found = await ctx.store.resolve_entries((contents.PROMPTS,), server.associated_prompts)
    prompts = [record for _, record in found]
    for kind, records in (("tool", tools), ("prompt", prompts)):
        named: dict[str, list[Any]] = defaultdict(list)
        for record in records:
            named[server.exposed(record.id, record.name, record.original_name)].append(record)
        for name, clashing in named.items():
            if len(clashing) > 1:
                # Catalog names of entries the caller cannot see are not theirs to learn.
                shown = [r.name for r in clashing if ownership.visible(ctx.principal, r)]
                raise ConflictError(
                    f"{len(clashing)} {kind}s of this server would be named {name!r}"
                    f" ({', '.join(shown) or 'entries you cannot see'}): give them aliases",
                    {"field": "aliases", "kind": kind, "name": name, "entries": shown},
                )
