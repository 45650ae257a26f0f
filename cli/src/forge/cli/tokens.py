"""Minting HS256 bearer tokens for `forge token` and `forge up`."""

from __future__ import annotations

import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey

# What the edge requires by default (FORGE_JWT_AUDIENCE / FORGE_JWT_ISSUER).
AUDIENCE = "forge"
ISSUER = "forge"


def mint(
    secret: str,
    subject: str,
    *,
    ttl_s: int = 3600,
    email: str | None = None,
    admin: bool = False,
    audience: str | list[str] = AUDIENCE,
    issuer: str = ISSUER,
    extra: dict[str, Any] | None = None,
) -> str:
    """A signed token for `subject`. The edge takes roles and teams from the identity registry,
    not from the token: `admin` only sets informational claims."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
        "aud": audience,
        "iss": issuer,
    }
    if email:
        claims["email"] = email
    if admin:
        claims["is_admin"] = True
        claims["roles"] = ["platform_admin"]
    claims.update(extra or {})
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret))
