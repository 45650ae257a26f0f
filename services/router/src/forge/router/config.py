"""Router settings."""

from __future__ import annotations

from typing import Annotated

import msgspec


class RouterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "info"
    # How long the router waits for the registry's catalog snapshot before it retries.
    snapshot_timeout_s: float = 5.0
    metrics_flush_s: float = 1.0
    # Entries per page of every list the router builds (tools, resources, templates, prompts).
    page_size: Annotated[int, msgspec.Meta(ge=1, le=10000)] = 100
    # Lists memoised per (virtual server, visibility class of the caller): at most this many.
    list_memo_size: Annotated[int, msgspec.Meta(ge=1)] = 1024
    # A plugin-runner replica's manifest holds this long after it was last heard: while a hook
    # is served and no runner answers, calls are refused (fail closed); after, it is dropped.
    plugin_manifest_ttl_s: Annotated[float, msgspec.Meta(gt=0)] = 30.0
