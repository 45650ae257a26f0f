"""Plugin bindings that dial out (webhooks, external MCP servers): only a platform admin may
bind or change one, and every URL it is given passes the SSRF guard before it is stored.

A kind says whether it dials out (forge.plugins: `Plugin.dials_out`, `url_settings`; a factory
that does not say is taken to). A binding of an operator's file entry is not a kind: the
plugin-runner refuses one that changes where such an entry connects to.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from forge.core.errors import ForbiddenError, InvalidParamsError
from forge.plugins.config import PluginConfigError
from forge.plugins.loader import Factory, Loader, dials_out, url_settings

if TYPE_CHECKING:
    from forge.registry.catalog.operation import Context


@functools.cache
def _loader() -> Loader:
    return Loader()  # reads the installed entry points once


def _dialling(plugin: str) -> Factory | None:
    """The kind's factory when `plugin` names a kind that dials out."""
    loader = _loader()
    if plugin not in loader.kinds():
        return None
    try:
        factory = loader.factory(plugin)
    except PluginConfigError:
        return None  # cannot be loaded here either: the runner reports it
    return factory if dials_out(factory) else None


async def check(ctx: Context, plugin: str, config: dict[str, Any]) -> None:
    """Refuse a binding of a dialling kind by anyone but a platform admin, or to a URL the
    guard refuses (the same rule as upstream registration)."""
    factory = _dialling(plugin)
    if factory is None:
        return
    if not ctx.principal.is_admin:
        raise ForbiddenError(
            f"only a platform admin may bind plugin '{plugin}': it connects to other hosts",
            {"field": "plugin"},
        )
    # Imported here: context imports the store, which imports bindings, which import us.
    from forge.registry.catalog.operation import net_guard

    guard = net_guard(ctx)
    for name in url_settings(factory):
        value = config.get(name)
        if value is None:
            continue
        field = f"config.{name}"
        if not isinstance(value, str):
            raise InvalidParamsError(f"{field} must be a URL", {"field": field})
        await guard.check_url(value, field)
