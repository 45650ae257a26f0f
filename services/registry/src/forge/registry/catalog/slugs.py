"""Gateway slugs: unique across the catalog (they prefix exposed tool and prompt names) while
gateway names are unique per team only, so two teams' gateways of one name get distinct slugs.

The SQL the store runs inside its transactions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from forge.registry.catalog.contents import Contents
from forge.registry.catalog.offers import NewTool

# Key of the transaction-scoped advisory lock under which a slug is chosen ("forgslug"), so that
# two registrations at once never choose the same one.
SLUG_LOCK = 0x666F7267736C7567


async def claim(conn: Any, gateway_id: str, wanted: str) -> str:
    """`wanted` if no other gateway holds it, else the first free `<wanted>-<n>` (n ≥ 2).

    The caller learns only that the slug was taken, never by whom: the holder may be a gateway
    of another team that they cannot see (a 409 naming it would tell them it exists).
    """
    await conn.execute("SELECT pg_advisory_xact_lock($1)", SLUG_LOCK)
    held = {
        r["slug"]
        for r in await conn.fetch(
            "SELECT slug FROM gateways WHERE id <> $1 AND (slug = $2 OR starts_with(slug, $3))",
            *(gateway_id, wanted, f"{wanted}-"),
        )
    }
    slug, n = wanted, 1
    while slug in held:
        n += 1
        slug = f"{wanted}-{n}"
    return slug


def _renamed(name: str, old: str, new: str) -> str:
    return new + name[len(old) :] if name.startswith(old) else name


def reslugged(
    tools: Sequence[NewTool], found: Contents, old: str, new: str
) -> tuple[list[NewTool], Contents]:
    """Discovery's tools and prompts, named after slug `old`, named after `new` instead."""
    renamed = [dataclasses.replace(t, name=_renamed(t.name, old, new)) for t in tools]
    prompts = [
        dataclasses.replace(p, name=_renamed(p.name, old, new)) if p.name is not None else p
        for p in found.prompts
    ]
    return renamed, dataclasses.replace(found, prompts=prompts)
