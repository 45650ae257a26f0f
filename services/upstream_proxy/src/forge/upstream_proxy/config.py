"""Upstream-proxy settings."""

from __future__ import annotations

import msgspec


class UpstreamProxyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "info"
    # Connecting to an upstream has its own limit; the rest of a call is bounded by its deadline.
    connect_timeout_s: float = 5.0
    max_connections_per_gateway: int = 100
    # The largest upstream result carried back to a client (a tool's output, a resource's
    # contents); larger ones become a ResultTooLargeError (-32014). At most the bus's own bound.
    max_result_bytes: int = 16 * 1024 * 1024
    # How long the proxy waits for the registry's catalog snapshot before it retries.
    snapshot_timeout_s: float = 5.0
    # stdio leases: renewed this often, forgotten this long after a holder's last renewal.
    lease_renew_s: float = 5.0
    lease_ttl_s: float = 15.0
    # How long a call held for a modern client's input_required round waits for its retry.
    resume_timeout_s: float = 300.0
    # Opens the sealed upstream credentials (forge.core.sealing); derived from the JWT secret
    # when empty.
    secret_keys: str = ""
    jwt_secret: str = ""
    # SSRF guard: CIDRs that may be dialled although private, loopback or link-local.
    upstream_allowed_networks: str = ""
    # stdio children (see forge.core.commands and forge.core.launch, and the README): the
    # operator's allow list (empty: no stdio gateway starts), the account they run as when the
    # proxy runs as root ("" or "root" keeps root), and their resource limits (0: not set).
    stdio_allowed_commands: str = ""
    stdio_user: str = "nobody"
    stdio_max_memory_mb: int = 4096
    stdio_max_processes: int = 512
    stdio_max_open_files: int = 1024
    stdio_max_cpu_s: int = 3600
    # Where users are sent back after authorizing an upstream (OAuth authorization code):
    # `<public_url>/oauth/callback`.
    public_url: str = "http://127.0.0.1:4444"
