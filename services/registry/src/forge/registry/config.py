"""Registry settings (FORGE_REGISTRY_*, shared ones FORGE_*): the one source of its README's
table."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from forge.core.settings import (
    CatalogDatabaseUrl,
    DrainTimeoutS,
    IdentityDatabaseUrl,
    JwtSecret,
    LogFormat,
    LogLevel,
    MaxInflight,
    NatsUrl,
    OpsHost,
    OpsPort,
    SecretKeys,
    StdioAllowedCommands,
    ToolNameSeparator,
    UpstreamAllowedNetworks,
    doc,
    secret,
)


class RegistryConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: NatsUrl = "nats://127.0.0.1:4222"
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"
    ops_host: OpsHost = "127.0.0.1"
    ops_port: OpsPort = 0
    drain_timeout_s: DrainTimeoutS = 20.0
    max_inflight: MaxInflight = 256
    catalog_database_url: CatalogDatabaseUrl = "postgresql://postgres@127.0.0.1:5432/forge_catalog"
    tool_name_separator: ToolNameSeparator = "-"
    upstream_discover_timeout_s: Annotated[
        float,
        doc(
            "How long gateway registration and refresh wait for each step of discovery (the"
            " handshake, each page of a list); the whole works to the request's deadline."
        ),
    ] = 15.0
    pool_min_size: Annotated[
        int, doc("Connections each database pool (catalog, identity) keeps open at least.")
    ] = 1
    pool_max_size: Annotated[
        int, doc("Connections each database pool (catalog, identity) opens at most.")
    ] = 10
    identity_database_url: IdentityDatabaseUrl = (
        "postgresql://postgres@127.0.0.1:5432/forge_identity"
    )
    platform_admin_email: Annotated[
        str, doc("The platform admin, created at start when no active user holds platform_admin.")
    ] = "admin@forge.local"
    platform_admin_password: Annotated[
        str, secret("The platform admin's password; empty: the admin has no usable password.")
    ] = ""
    # Failed sign-ins are throttled per account, source address and device cookie
    # (identity/throttle.py, docs/decisions/0009-login-throttling.md).
    login_free_failures: Annotated[
        int,
        doc(
            "Failed sign-ins an account (counted from every address) or one device cookie may "
            "have before it waits."
        ),
    ] = 5
    login_source_free_failures: Annotated[
        int,
        doc(
            "Failed sign-ins one source address may have (at any accounts) before it waits; "
            "high, since everyone behind a NAT or an untrusted proxy shares it."
        ),
    ] = 50
    login_backoff_base_s: Annotated[
        float, doc("The first wait after the free failures; doubled at each further failure.")
    ] = 1.0
    login_backoff_max_s: Annotated[float, doc("The longest wait between sign-in attempts.")] = 60.0
    login_failure_decay_s: Annotated[
        float, doc("A key's count of failures halves after every this long without one.")
    ] = 300.0
    password_min_length: Annotated[int, doc("The shortest password accepted.")] = 12
    secret_keys: SecretKeys = ""
    jwt_secret: JwtSecret = ""
    upstream_allowed_networks: UpstreamAllowedNetworks = ""
    stdio_allowed_commands: StdioAllowedCommands = ""
    default_visibility: Annotated[
        Literal["private", "team", "public"],
        doc(
            "Visibility of new catalog entries when the caller chooses none (`team` without a "
            "team: `private`)."
        ),
    ] = "team"
    agent_card_refresh_s: Annotated[
        float,
        msgspec.Meta(ge=0),
        doc(
            "How often each enabled A2A agent's card is fetched again, the agent following its "
            "endpoint, version, binding and streaming (seconds; 0: only at registration and on "
            "`POST /a2a/{id}/card/refresh`)."
        ),
    ] = 3600.0
    metrics_rollup_period_s: Annotated[
        float,
        msgspec.Meta(gt=0),
        doc(
            "Width of the periods per-entity metrics are rolled up into (one row per entity and "
            "period; seconds)."
        ),
    ] = 3600.0
    metrics_rollup_every_s: Annotated[
        float,
        msgspec.Meta(gt=0),
        doc("How often each replica rolls up the raw metric rows of ended periods (seconds)."),
    ] = 60.0
    metrics_raw_retention_s: Annotated[
        float,
        msgspec.Meta(ge=0),
        doc("How long raw metric rows are kept once rolled up (seconds; 7 days by default)."),
    ] = 604800.0
