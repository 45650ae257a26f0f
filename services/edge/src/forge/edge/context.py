"""What every edge transport shares: settings, bus, authenticator, sessions, catalog notices."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from forge.core.bus import Bus
from forge.edge.auth import Authenticator
from forge.edge.config import EdgeConfig
from forge.edge.notices import Notices
from forge.edge.sessions import Sessions


@dataclass
class Edge:
    """Everything an MCP request needs at the edge."""

    config: EdgeConfig
    bus: Bus
    auth: Authenticator
    sessions: Sessions
    # Set at shutdown: long-lived streams end so that the HTTP server can drain.
    closing: asyncio.Event = field(default_factory=asyncio.Event)
    notices: Notices = field(init=False)

    def __post_init__(self) -> None:
        self.notices = Notices(self.bus)
