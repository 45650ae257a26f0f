"""a2a-bridge settings (FORGE_A2A_BRIDGE_*, shared ones FORGE_*): the one source of its README's
table."""

from __future__ import annotations

from typing import Annotated

import msgspec

from forge.core.settings import (
    DrainTimeoutS,
    JwtSecret,
    LogFormat,
    LogLevel,
    MaxInflight,
    NatsUrl,
    OpsHost,
    OpsPort,
    SecretKeys,
    UpstreamAllowedNetworks,
    doc,
)


class A2aBridgeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: NatsUrl = "nats://127.0.0.1:4222"
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"
    ops_host: OpsHost = "127.0.0.1"
    ops_port: OpsPort = 0
    drain_timeout_s: DrainTimeoutS = 20.0
    max_inflight: MaxInflight = 256
    # Connecting has its own limit; the rest of a call is bounded by its deadline.
    connect_timeout_s: Annotated[float, doc("How long connecting to an agent may take.")] = 5.0
    max_result_bytes: Annotated[
        int,
        doc(
            "The largest agent answer the bridge reads (the HTTP body); a larger one becomes "
            "-32014. At most the bus's own bound (64 MiB)."
        ),
    ] = 16 * 1024 * 1024
    snapshot_timeout_s: Annotated[
        float,
        doc("How long the bridge waits for the registry's catalog snapshot before it retries."),
    ] = 5.0
    secret_keys: SecretKeys = ""
    jwt_secret: JwtSecret = ""
    upstream_allowed_networks: UpstreamAllowedNetworks = ""
