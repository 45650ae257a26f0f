"""Edge settings."""

from __future__ import annotations

import msgspec


class EdgeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "info"
    host: str = "127.0.0.1"  # loopback unless an operator decides otherwise
    port: int = 4444
    jwt_secret: str = ""  # HS256 key; required
    # Every JWT must carry `aud`, `iss`, `exp` and `jti`; Forge's own tokens use these values.
    jwt_audience: str = "forge"
    jwt_issuer: str = "forge"
    # Accepted signing algorithms (never `none`); RS256/ES256 need public keys below.
    jwt_algorithms: str = "HS256,RS256,ES256"
    # PEM public key file(s) or a JWKS JSON file, comma-separated, for RS256/ES256 tokens.
    jwt_public_keys: str = ""
    # Session tokens issued by /auth/login and SSO.
    session_token_ttl_s: int = 8 * 3600
    # The identity cache: how long a request to the identity registry may take, how often the
    # whole snapshot is fetched again (in case an event was lost; 0: never).
    identity_timeout_s: float = 5.0
    identity_resync_s: float = 300.0
    # API token use counts are published in batches this often.
    token_usage_flush_s: float = 5.0
    # The URL clients reach Forge at: protected-resource metadata, audiences (RFC 8707), OAuth
    # redirect URIs. Defaults to http://<host>:<port>.
    public_url: str = ""
    # Origins allowed on MCP endpoints besides the public URL's own and loopback.
    allowed_origins: str = ""
    # SSO providers (OIDC): a JSON or YAML file; see docs/identity.md.
    sso_config: str = ""
    # Networks the SSO provider requests may reach although the SSRF guard refuses them
    # (shared by every service as FORGE_UPSTREAM_ALLOWED_NETWORKS; CIDRs, comma-separated).
    upstream_allowed_networks: str = ""
    # Self-service sign-up at /auth/email/register.
    allow_signup: bool = False
    session_secret: str = ""  # seals legacy session ids; derived from jwt_secret when empty
    session_ttl_s: int = 24 * 3600
    max_body_bytes: int = 4 * 1024 * 1024
    # JSON bodies nested deeper than this are refused (400) before any decoder recurses into
    # them; tool arguments rarely need a tenth of it.
    max_json_depth: int = 64
    # Slow clients: a request's headers must be complete this long after its first byte (or
    # after the connection opened), and its body must have arrived this long after them.
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    # Proxies whose X-Forwarded-For is believed (addresses or CIDRs, comma-separated). Empty:
    # nobody's; the client address is the socket's peer, which API token CIDR scopes check.
    trusted_proxies: str = ""
    request_timeout_s: float = 60.0
    ready_timeout_s: float = 1.0
    # A plugin-runner's manifest holds this long after it was last heard (docs/plugins.md): a
    # served http_* hook no runner answers refuses requests until then.
    plugin_manifest_ttl_s: float = 30.0
    # uvicorn (httptools parser) is the fast HTTP/1.1 default; hypercorn adds HTTP/2.
    http_server: str = "uvicorn"
