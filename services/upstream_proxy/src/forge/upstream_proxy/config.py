"""Upstream-proxy settings (FORGE_UPSTREAM_PROXY_*, shared ones FORGE_*): the one source of its
README's table."""

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
    PublicUrl,
    SecretKeys,
    StdioAllowedCommands,
    StdioMaxCpuS,
    StdioMaxMemoryMb,
    StdioMaxOpenFiles,
    StdioMaxProcesses,
    StdioUser,
    UpstreamAllowedNetworks,
    doc,
)


class UpstreamProxyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: NatsUrl = "nats://127.0.0.1:4222"
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"
    ops_host: OpsHost = "127.0.0.1"
    ops_port: OpsPort = 0
    drain_timeout_s: DrainTimeoutS = 20.0
    max_inflight: MaxInflight = 256
    # Connecting has its own limit; the rest of a call is bounded by its deadline.
    connect_timeout_s: Annotated[float, doc("How long connecting to an upstream may take.")] = 5.0
    max_connections_per_gateway: Annotated[
        int, doc("HTTP connections to one gateway's upstream at most.")
    ] = 100
    max_result_bytes: Annotated[
        int,
        doc(
            "The largest upstream result carried back to a client (a tool's output, a "
            "resource's contents); larger ones become -32014. At most the bus's own bound "
            "(64 MiB)."
        ),
    ] = 16 * 1024 * 1024
    snapshot_timeout_s: Annotated[
        float,
        doc("How long the proxy waits for the registry's catalog snapshot before it retries."),
    ] = 5.0
    lease_renew_s: Annotated[float, doc("How often a stdio child's lease is renewed.")] = 5.0
    lease_ttl_s: Annotated[
        float,
        doc(
            "A stdio lease is forgotten this long after its holder's last renewal (applies when "
            "the bucket is first created)."
        ),
    ] = 15.0
    resume_timeout_s: Annotated[
        float,
        doc("How long a call held for a modern client's input_required round waits for its retry."),
    ] = 300.0
    secret_keys: SecretKeys = ""
    jwt_secret: JwtSecret = ""
    upstream_allowed_networks: UpstreamAllowedNetworks = ""
    # stdio children: see forge.core.commands and forge.core.launch, and the README.
    stdio_allowed_commands: StdioAllowedCommands = ""
    stdio_user: StdioUser = "nobody"
    stdio_max_memory_mb: StdioMaxMemoryMb = 4096
    stdio_max_processes: StdioMaxProcesses = 512
    stdio_max_open_files: StdioMaxOpenFiles = 1024
    stdio_max_cpu_s: StdioMaxCpuS = 3600
    public_url: PublicUrl = "http://127.0.0.1:4444"
