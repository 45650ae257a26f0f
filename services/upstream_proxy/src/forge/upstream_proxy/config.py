"""Upstream-proxy settings."""

from __future__ import annotations

import msgspec


class UpstreamProxyConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "info"
    # Connecting to an upstream has its own limit; the rest of a call is bounded by its deadline.
    connect_timeout_s: float = 5.0
    max_connections_per_gateway: int = 100
    # How long the proxy waits for the registry's catalog snapshot before it retries.
    snapshot_timeout_s: float = 5.0
    # stdio leases: renewed this often, forgotten this long after a holder's last renewal.
    lease_renew_s: float = 5.0
    lease_ttl_s: float = 15.0
    # How long a call held for a modern client's input_required round waits for its retry.
    resume_timeout_s: float = 300.0
