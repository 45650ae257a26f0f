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
    # The identity registry's own database (users, teams, roles, tokens, audit); the same
    # embedded server by default, a different database.
    identity_database_url: str = "postgresql://postgres@127.0.0.1:5432/forge_identity"
    # The platform admin, created at first start when no user holds platform_admin.
    platform_admin_email: str = "admin@forge.local"
    platform_admin_password: str = ""  # required for the admin to log in with a password
    # Failed sign-ins are throttled per source address and per account (identity/throttle.py):
    # the first `login_free_failures` cost nothing, then each waits base, 2 x base, ... up to
    # max; a key's count halves after every `login_failure_decay_s` without a failure.
    login_free_failures: int = 5
    login_backoff_base_s: float = 1.0
    login_backoff_max_s: float = 60.0
    login_failure_decay_s: float = 300.0
    password_min_length: int = 12
    # Secrets at rest (upstream credentials): see forge.core.sealing; derived from the JWT
    # secret when empty.
    secret_keys: str = ""
    jwt_secret: str = ""
    # SSRF guard for upstream URLs at registration: CIDRs allowed although private/loopback.
    upstream_allowed_networks: str = ""
    # The operator's allow list of stdio gateway commands (forge.core.commands; shared with the
    # upstream-proxy, which checks it again before it starts one). Empty: no stdio gateways.
    stdio_allowed_commands: str = ""
    # New catalog entries: default visibility when the caller does not choose one.
    default_visibility: str = "team"
