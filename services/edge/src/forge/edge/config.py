"""Edge settings (FORGE_EDGE_*, shared ones FORGE_*): the one source of its README's table."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from forge.core.settings import (
    DrainTimeoutS,
    JwtAudience,
    JwtIssuer,
    JwtSecret,
    LogFormat,
    LogLevel,
    MaxInflight,
    NatsUrl,
    OpsHost,
    OpsPort,
    PublicUrl,
    RequestTimeoutS,
    SessionSecret,
    TraceArguments,
    UpstreamAllowedNetworks,
    doc,
)


class EdgeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: NatsUrl = "nats://127.0.0.1:4222"
    log_level: LogLevel = "info"
    log_format: LogFormat = "text"
    ops_host: OpsHost = "127.0.0.1"
    ops_port: OpsPort = 0
    drain_timeout_s: DrainTimeoutS = 20.0
    max_inflight: MaxInflight = 256
    trace_arguments: TraceArguments = False
    host: Annotated[
        str, doc("The address to listen on (loopback unless an operator decides otherwise).")
    ] = "127.0.0.1"
    port: Annotated[int, doc("The port to listen on.")] = 4444
    workers: Annotated[
        int,
        doc(
            "Processes serving the port, each a whole edge (its own NATS connection, router, "
            "caches; `FORGE_EDGE_MAX_INFLIGHT` is per process): the first binds it and starts "
            "the others, which accept on the same socket. Worker i serves its ops port at "
            "`FORGE_EDGE_OPS_PORT` + i; the A2A gRPC listener is the first's alone. A worker "
            "exiting on its own stops the edge (exit 1)."
        ),
    ] = 1
    a2a_grpc_port: Annotated[
        int,
        doc(
            "Serve A2A 1.0's gRPC binding on this port (at `FORGE_EDGE_HOST`, plaintext: TLS "
            "terminates in front, as for HTTP); agents' cards list it. 0: off."
        ),
    ] = 0
    jwt_secret: JwtSecret = ""
    jwt_audience: JwtAudience = "forge"
    jwt_issuer: JwtIssuer = "forge"
    jwt_algorithms: Annotated[
        str,
        doc(
            "Accepted JWT signing algorithms, comma-separated (never `none`); RS256/ES256 need "
            "`FORGE_EDGE_JWT_PUBLIC_KEYS`."
        ),
    ] = "HS256,RS256,ES256"
    jwt_public_keys: Annotated[
        str, doc("PEM public key files or a JWKS JSON file, comma-separated, for RS256/ES256.")
    ] = ""
    session_token_ttl_s: Annotated[
        int, doc("Lifetime (seconds) of the tokens `/auth/login` and SSO issue.")
    ] = 8 * 3600
    device_cookie_ttl_s: Annotated[
        int,
        doc(
            "Lifetime (seconds) of the device cookie each password sign-in answers: while it "
            "lasts, failures of strangers at that account do not lock its holder out "
            "(docs/identity.md)."
        ),
    ] = 90 * 24 * 3600
    identity_timeout_s: Annotated[
        float, doc("How long one request of the identity cache to the identity registry may take.")
    ] = 5.0
    identity_resync_s: Annotated[
        float,
        doc(
            "How often the identity cache fetches the whole snapshot again, in case an event "
            "was lost (0: never)."
        ),
    ] = 300.0
    token_usage_flush_s: Annotated[
        float, doc("API token use counts are published in batches this often (seconds).")
    ] = 5.0
    public_url: PublicUrl = ""
    allowed_origins: Annotated[
        str,
        doc(
            "`Origin`s allowed on MCP endpoints besides the public URL's own and loopback, "
            "comma-separated."
        ),
    ] = ""
    sso_config: Annotated[
        str, doc("SSO providers (OIDC): a JSON or YAML file; see docs/identity.md.")
    ] = ""
    upstream_allowed_networks: UpstreamAllowedNetworks = ""
    allow_signup: Annotated[bool, doc("Self-service sign-up at `/auth/email/register`.")] = False
    openapi_public: Annotated[
        bool,
        doc(
            "Serve `GET /openapi.json` (the API's OpenAPI document) without a token; by default "
            "any authenticated caller may read it."
        ),
    ] = False
    session_secret: SessionSecret = ""
    session_ttl_s: Annotated[int, doc("Legacy (SSE) session lifetime, in seconds.")] = 24 * 3600
    max_body_bytes: Annotated[
        int,
        doc(
            "Larger request bodies get 413 (Streamable HTTP, `/message`); a larger WebSocket "
            "message gets JSON-RPC error -32008 (id null) and close code 1009."
        ),
    ] = 4 * 1024 * 1024
    # Tool arguments rarely need a tenth of the default.
    max_json_depth: Annotated[
        int,
        doc(
            "JSON bodies nested deeper than this get 400 (-32600) before any decoder recurses "
            "into them."
        ),
    ] = 64
    header_timeout_s: Annotated[
        float,
        doc(
            "A request's headers must be complete this long after its first byte (or the "
            "connection opening); else 408 and the connection closes (with hypercorn, its "
            "keep-alive timeout is capped to this)."
        ),
    ] = 10.0
    body_timeout_s: Annotated[
        float,
        doc(
            "A request's body must have arrived this long after its headers; else 408, on "
            "REST and MCP alike (with a JSON-RPC error -32600 on MCP)."
        ),
    ] = 30.0
    ws_ping_interval_s: Annotated[
        float,
        doc(
            "With uvicorn, each WebSocket client is pinged this often and closed (1011) when its "
            "pong does not come within as long: a peer that vanished, or one stuck in the "
            "middle of a frame (hypercorn pings no client)."
        ),
    ] = 20.0
    trusted_proxies: Annotated[
        str,
        doc(
            "Proxy addresses or CIDRs (comma-separated) whose `X-Forwarded-For` names the "
            "client. Empty: none, not even loopback, and the client is the socket's peer (what "
            "API token CIDR scopes check). `Forwarded` and `X-Real-IP` are never read."
        ),
    ] = ""
    request_timeout_s: RequestTimeoutS = 60.0
    sse_retry_ms: Annotated[
        int,
        doc(
            "The `retry` (milliseconds) of a resumable SSE answer's priming event on Streamable "
            "HTTP: how long a client waits before it reconnects with `Last-Event-ID`."
        ),
    ] = 1000
    sse_poll_after_s: Annotated[
        float,
        doc(
            "A legacy client's call still running after this long has its SSE answer closed, "
            "the client polling for the rest with GET + `Last-Event-ID` (SSE polling); 0: only "
            "when the upstream closes its own stream so."
        ),
    ] = 0.0
    sse_resume_ttl_s: Annotated[
        float,
        doc(
            "How long the events of an SSE answer whose client left (or was asked to poll) "
            "stay stored for a resume, on any replica (a JetStream stream)."
        ),
    ] = 300.0
    sse_resume_max_events: Annotated[
        int,
        doc(
            "The events of one SSE answer kept for a resume, its final response aside (past "
            "it: the oldest while the client reads, the newest once it left)."
        ),
    ] = 1000
    sse_resume_max_bytes: Annotated[
        int, doc("The events of all SSE answers stored for a resume; the oldest go beyond.")
    ] = 256 * 1024 * 1024
    ready_timeout_s: Annotated[
        float, doc("How long `GET /ready` waits for each service's health reply (seconds).")
    ] = 1.0
    plugin_manifest_ttl_s: Annotated[
        float,
        doc(
            "A plugin-runner's manifest holds this long after it was last heard "
            "(docs/plugins.md): a served http_* hook no runner answers refuses requests until "
            "then (fail closed)."
        ),
    ] = 30.0
    http_server: Annotated[
        Literal["uvicorn", "hypercorn"],
        doc(
            "The HTTP server: uvicorn (httptools parser) is the fast HTTP/1.1 one; hypercorn "
            "adds HTTP/2."
        ),
    ] = "uvicorn"
    router: Annotated[
        Literal["local", "remote"],
        doc(
            "Where this edge's MCP requests are routed: `local` runs the router's machinery in "
            "the edge's process (its catalog, plugin hooks, metrics; `FORGE_ROUTER_*` settings "
            "apply) and calls it directly; `remote` sends each on the bus to the router service "
            "(docs/decisions/0033-edge-local-routing.md)."
        ),
    ] = "local"
    upstream: Annotated[
        Literal["local", "remote"],
        doc(
            "With the router local: `local` makes the calls to gateways with a network "
            "transport and no stored credential from the edge's process (the upstream-proxy's "
            "own call path; `FORGE_UPSTREAM_PROXY_*` settings and the SSRF allow list apply); "
            "stdio gateways and those with credentials still go to the upstream-proxy service, "
            "as every call does with `remote` (docs/decisions/0035-edge-local-upstream-calls.md)."
        ),
    ] = "local"
