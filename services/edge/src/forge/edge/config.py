"""Edge settings."""

from __future__ import annotations

import msgspec


class EdgeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    nats_url: str = "nats://127.0.0.1:4222"
    log_level: str = "info"
    host: str = "127.0.0.1"  # loopback unless an operator decides otherwise
    port: int = 4444
    jwt_secret: str = ""  # HS256 key; required
    jwt_audience: str | None = None
    jwt_issuer: str | None = None
    session_secret: str = ""  # seals legacy session ids; derived from jwt_secret when empty
    session_ttl_s: int = 24 * 3600
    max_body_bytes: int = 4 * 1024 * 1024
    request_timeout_s: float = 60.0
    ready_timeout_s: float = 1.0
    # uvicorn (httptools parser) is the fast HTTP/1.1 default; hypercorn adds HTTP/2.
    http_server: str = "uvicorn"
