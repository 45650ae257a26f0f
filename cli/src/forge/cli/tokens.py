"""Minting HS256 bearer tokens for `forge token` and `forge up`."""

from __future__ import annotations

import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.jwk import OctKey


def mint(
    secret: str,
    subject: str,
    *,
    ttl_s: int = 3600,
    email: str | None = None,
    admin: bool = False,
    extra: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "exp": now + ttl_s,
        "jti": uuid.uuid4().hex,
    }
    if email:
        claims["email"] = email
    if admin:
        claims["is_admin"] = True
        claims["roles"] = ["platform_admin"]
    claims.update(extra or {})
    return jwt.encode({"alg": "HS256"}, claims, OctKey.import_key(secret))
