"""What a setting means: its description, whether it is a secret, and the shared settings.

Every field of a service's config struct is `Annotated[<type>, doc("...")]` (or `secret(...)`),
so the struct is the one source of the READMEs' settings tables (`make docs`,
forge.core.settings_doc). A shared setting (`FORGE_<NAME>`, read by several services) is typed
with one alias below, so its meaning is written once, here, whichever service reads it.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec


def doc(description: str) -> msgspec.Meta:
    """What a setting does, for the settings tables."""
    return msgspec.Meta(description=description)


def secret(description: str) -> msgspec.Meta:
    """A setting whose value (default included) is never printed."""
    return msgspec.Meta(description=description, extra={"secret": True})


NatsUrl = Annotated[
    str,
    doc(
        "The NATS server the service connects to; `nats://<user>:<password>@host:port` connects "
        "as that user (one per service, allowed only its own subjects: docs/deployment.md, "
        "NATS permissions; never logged with the password). `forge up` gives each service its "
        "own in `FORGE_<SERVICE>_NATS_URL`."
    ),
]
LogLevel = Annotated[
    Literal["debug", "info", "warning", "error", "critical"],
    doc(
        "Log level (any case). Except at `debug`, the nats, asyncio and access loggers log "
        "warnings only."
    ),
]
LogFormat = Annotated[
    Literal["text", "json"],
    doc(
        "Log lines as plain text (for a terminal) or JSON objects (for a log pipeline); both "
        "carry the trace and span ids and the request id of the request being handled."
    ),
]
OpsHost = Annotated[
    str,
    doc(
        "The address the ops port (`/metrics`, `/livez`, `/readyz`; docs/observability.md) "
        "binds; `0.0.0.0` in a container a Prometheus or a Kubernetes probe reaches."
    ),
]
OpsPort = Annotated[
    int,
    msgspec.Meta(ge=0, le=65535),
    doc(
        "The ops port (`/metrics`, `/livez`, `/readyz`); 0: none. Off by default so replicas "
        "started side by side never collide; `forge up` gives each service one of its own, "
        "a deployment sets one (e.g. 9464) per container."
    ),
]
TraceArguments = Annotated[
    bool,
    doc(
        "Record a tools/call's arguments (as JSON) on the edge's span of the call, as "
        "`mcp.tool.arguments`, when traces are on (docs/observability.md, Traces). Off: spans "
        "never carry arguments, results or tokens."
    ),
]
DrainTimeoutS = Annotated[
    float,
    msgspec.Meta(ge=0),
    doc(
        "On SIGTERM the service stops taking requests (the edge closes its listener and "
        "`/readyz` answers 503; a NATS service leaves its queue groups) and lets the ones in "
        "flight finish for at most this many seconds, then exits 0 (docs/deployment.md). Keep "
        "it below the orchestrator's grace period (Kubernetes: 30 s)."
    ),
]
MaxInflight = Annotated[
    int,
    msgspec.Meta(ge=1),
    doc(
        "Requests the service works on at once (a NATS service: envelopes it answers; the edge: "
        "MCP POSTs). One more is refused at once with -32015 and `data.retry_after_s` (at the "
        "edge: HTTP 503 with `Retry-After`), never queued: a caller retries later or elsewhere "
        "instead of waiting out its deadline (docs/decisions/0027-bounded-requests-in-flight.md)."
    ),
]
RequestTimeoutS = Annotated[
    float, doc("The deadline (seconds) every hop of an MCP request works to.")
]
JwtSecret = Annotated[
    str,
    secret(
        "HS256 key of bearer tokens, at least 32 characters; required at the edge. Also the "
        "key material `FORGE_SECRET_KEYS` and `FORGE_SESSION_SECRET` are derived from when empty."
    ),
]
JwtAudience = Annotated[str, doc("The `aud` every JWT must carry; Forge's own tokens use it.")]
JwtIssuer = Annotated[str, doc("The `iss` every JWT must carry; Forge's own tokens use it.")]
SessionSecret = Annotated[
    str, secret("Seals legacy session ids; derived from the JWT secret when empty.")
]
CatalogDatabaseUrl = Annotated[
    str, doc("The catalog's PostgreSQL database (also the one `forge up` creates).")
]
IdentityDatabaseUrl = Annotated[
    str,
    doc(
        "The identity registry's PostgreSQL database (users, teams, roles, tokens, audit); "
        "the same server as the catalog by default, a different database."
    ),
]
ToolNameSeparator = Annotated[
    str, doc("Exposed tool name = gateway slug + this separator + the upstream's tool name.")
]
SecretKeys = Annotated[
    str,
    secret(
        "Keys sealing upstream credentials at rest (AES-GCM, `forge.core.sealing`): the first "
        "seals, all open, so a new key is put first to rotate. Derived from the JWT secret when "
        "empty; a malformed value stops the service at start."
    ),
]
UpstreamAllowedNetworks = Annotated[
    str,
    doc(
        "CIDRs (comma-separated) outbound connections may reach although the SSRF guard "
        "(`forge.core.netguard`) refuses them as special-purpose (private, loopback, "
        "link-local, ...): the edge's SSO provider requests, the registry's checks of gateway "
        "and plugin URLs, plugins' own connections, the upstream-proxy's dials. Empty: none."
    ),
]
PublicUrl = Annotated[
    str,
    doc(
        "The URL clients reach Forge (the edge) at: protected-resource metadata, audiences "
        "(RFC 8707), OAuth redirect URIs, the upstream-proxy's `authorize_url` and "
        "`<public_url>/oauth/callback`. Empty at the edge: `http://<host>:<port>`."
    ),
]
StdioAllowedCommands = Annotated[
    str,
    doc(
        "The operator's allow list of stdio gateway commands (`forge.core.commands`; format in "
        "the upstream-proxy README), checked at registration and again before each launch. "
        "Empty: no stdio gateway starts (`forge translate --stdio`: its own command only)."
    ),
]
StdioUser = Annotated[
    str,
    doc('The account stdio children run as when Forge runs as root (`""` or `root` keeps root).'),
]
StdioMaxMemoryMb = Annotated[int, doc("Address space of each stdio child, in MiB (0: not set).")]
StdioMaxProcesses = Annotated[
    int,
    doc(
        "Processes and threads of the children's account (0: not set; only when the account "
        "is switched)."
    ),
]
StdioMaxOpenFiles = Annotated[int, doc("Open files of each stdio child (0: not set).")]
StdioMaxCpuS = Annotated[
    int,
    doc(
        "CPU seconds of each stdio child (0: not set); SIGXCPU ends the child, which is restarted."
    ),
]

# Settings read from FORGE_<NAME> unless FORGE_<SERVICE>_<NAME> is set, with the type every
# struct that reads one must give its field (tests/test_settings_docs.py checks both ways).
SHARED: dict[str, object] = {
    "nats_url": NatsUrl,
    "log_level": LogLevel,
    "log_format": LogFormat,
    "ops_host": OpsHost,
    "ops_port": OpsPort,
    "request_timeout_s": RequestTimeoutS,
    "drain_timeout_s": DrainTimeoutS,
    "max_inflight": MaxInflight,
    "trace_arguments": TraceArguments,
    "jwt_secret": JwtSecret,
    "jwt_audience": JwtAudience,
    "jwt_issuer": JwtIssuer,
    "session_secret": SessionSecret,
    "catalog_database_url": CatalogDatabaseUrl,
    "identity_database_url": IdentityDatabaseUrl,
    "tool_name_separator": ToolNameSeparator,
    "secret_keys": SecretKeys,
    "upstream_allowed_networks": UpstreamAllowedNetworks,
    "public_url": PublicUrl,
    "stdio_allowed_commands": StdioAllowedCommands,
    "stdio_user": StdioUser,
    "stdio_max_memory_mb": StdioMaxMemoryMb,
    "stdio_max_processes": StdioMaxProcesses,
    "stdio_max_open_files": StdioMaxOpenFiles,
    "stdio_max_cpu_s": StdioMaxCpuS,
}
