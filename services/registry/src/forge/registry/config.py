"""Registry settings: one frozen struct from FORGE_REGISTRY_* (or shared FORGE_*) variables."""

from __future__ import annotations

import msgspec


class RegistryConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "info"
    # The catalog's own database; FORGE_CATALOG_DATABASE_URL is shared with `forge up`.
    catalog_database_url: str = "postgresql://postgres@127.0.0.1:5432/forge_catalog"
    # Exposed tool name = gateway slug + separator + the upstream's tool name.
    tool_name_separator: str = "-"
    # How long gateway registration and refresh wait for the upstream-proxy's discovery.
    upstream_discover_timeout_s: float = 15.0
    pool_min_size: int = 1
    pool_max_size: int = 10
