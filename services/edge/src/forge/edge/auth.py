"""Bearer-token authentication: JWTs verified once, then served from a small cache until expiry."""

from __future__ import annotations

import time
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry

from forge.core.errors import UnauthorizedError
from forge.proto.envelope import Principal

ALGORITHMS = ["HS256"]
_CACHE_MAX = 10_000


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


class Authenticator:
    """Turns an `Authorization` header into a Principal, or refuses with 401."""

    def __init__(self, secret: str, audience: str | None = None, issuer: str | None = None):
        if len(secret) < 32:
            raise ValueError("FORGE_JWT_SECRET must be at least 32 characters")
        self.key = OctKey.import_key(secret)
        claims: dict[str, Any] = {"exp": {"essential": True}, "sub": {"essential": True}}
        if audience:
            claims["aud"] = {"essential": True, "value": audience}
        if issuer:
            claims["iss"] = {"essential": True, "value": issuer}
        self.registry = JWTClaimsRegistry(leeway=5, **claims)
        self._cache: dict[str, tuple[Principal, float]] = {}

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise UnauthorizedError("authentication required: send 'Authorization: Bearer <token>'")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
        token = token.strip()
        cached = self._cache.get(token)
        now = time.time()
        if cached is not None and cached[1] > now:
            return cached[0]
        principal, expires = self._verify(token)
        if len(self._cache) >= _CACHE_MAX:
            self._cache.clear()
        self._cache[token] = (principal, expires)
        return principal

    def _verify(self, token: str) -> tuple[Principal, float]:
        try:
            decoded = jwt.decode(token, self.key, algorithms=ALGORITHMS)
            self.registry.validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise UnauthorizedError(f"invalid token: {_reason(exc)}") from exc
        claims = decoded.claims
        roles = _strings(claims.get("roles"))
        principal = Principal(
            subject=str(claims["sub"]),
            email=claims.get("email") if isinstance(claims.get("email"), str) else None,
            teams=_strings(claims.get("teams")),
            roles=roles,
            scopes=_strings(claims.get("scope", "").split() if "scope" in claims else []),
            token_id=claims.get("jti") if isinstance(claims.get("jti"), str) else None,
            is_admin=bool(claims.get("is_admin")) or "platform_admin" in roles,
        )
        return principal, float(claims["exp"])


def _reason(exc: Exception) -> str:
    name = type(exc).__name__
    return {
        "ExpiredTokenError": "the token has expired",
        "BadSignatureError": "the signature does not verify",
        "MissingClaimError": "a required claim is missing",
        "InvalidClaimError": "a claim has the wrong value",
        "UnsupportedAlgorithmError": "the signing algorithm is not accepted",
    }.get(name, "the token is malformed")
