"""The `Origin` values the edge's MCP endpoints accept (DNS rebinding, cross-site browsers).

Its own module so that the shared `Edge` (forge.edge.state) holds one without importing the
guard, which takes an `Edge`."""

from __future__ import annotations

import re

from forge.edge.config import EdgeConfig

_LOOPBACK = re.compile(r"https?://(localhost|127\.0\.0\.1|\[::1\])(:\d{1,5})?", re.IGNORECASE)


class Origins:
    """The `Origin` values allowed on MCP endpoints (DNS rebinding, cross-site browsers)."""

    def __init__(self, config: EdgeConfig, public_origin: str) -> None:
        listed = (o.strip().rstrip("/").lower() for o in config.allowed_origins.split(","))
        self.allowed = frozenset({public_origin, *(o for o in listed if o)})

    def allows(self, origin: str) -> bool:
        origin = origin.rstrip("/").lower()
        return origin in self.allowed or _LOOPBACK.fullmatch(origin) is not None
