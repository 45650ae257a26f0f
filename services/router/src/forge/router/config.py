"""Router settings (FORGE_ROUTER_*, shared ones FORGE_*): the one source of its README's table."""

from __future__ import annotations

from typing import Annotated

import msgspec

from forge.core.settings import (
    DrainTimeoutS,
    LogFormat,
    LogLevel,
    MaxInflight,
    NatsUrl,
    OpsHost,
    OpsPort,
    doc,
)


class RouterConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: NatsUrl = "nats://127.0.0.1:4222"
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"
    ops_host: OpsHost = "127.0.0.1"
    ops_port: OpsPort = 0
    drain_timeout_s: DrainTimeoutS = 20.0
    max_inflight: MaxInflight = 256
    snapshot_timeout_s: Annotated[
        float,
        doc("How long the router waits for the registry's catalog snapshot before it retries."),
    ] = 5.0
    metrics_flush_s: Annotated[
        float, doc("How often call metrics are published on the bus (seconds).")
    ] = 1.0
    page_size: Annotated[
        int,
        msgspec.Meta(ge=1, le=10000),
        doc(
            "Entries per page of every list the router builds (tools, resources, templates, "
            "prompts)."
        ),
    ] = 100
    list_memo_size: Annotated[
        int,
        msgspec.Meta(ge=1),
        doc(
            "Lists memoised per (virtual server, visibility class of the caller): at most this "
            "many."
        ),
    ] = 1024
    plugin_manifest_ttl_s: Annotated[
        float,
        msgspec.Meta(gt=0),
        doc(
            "A plugin-runner replica's manifest holds this long after it was last heard: while a "
            "hook is served and no runner answers, calls are refused (fail closed); after, it is "
            "dropped."
        ),
    ] = 30.0
