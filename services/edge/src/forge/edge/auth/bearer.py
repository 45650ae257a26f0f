"""Bearer-token authentication: JWTs and API tokens verified once, then served from a cache.

Who the caller is (teams, roles, permissions) comes from the identity cache, never from the
token's own claims. A verified token is cached until it expires or the identity changes, so a
warm request costs one dictionary lookup.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from typing import Any

from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwt import JWTClaimsRegistry

from forge.core import subjects
from forge.core.errors import ForgeError, UnauthorizedError
from forge.edge.auth import account_binding
from forge.edge.auth.identity_cache import IdentityCache
from forge.edge.auth.jwt_keys import VerifyKeys, header_of, parse_algorithms
from forge.edge.auth.token_rules import PREFIX, Scope, Usage, check_valid, narrowed, ordered_teams
from forge.edge.auth.token_rules import token_hash as hash_of
from forge.edge.config import EdgeConfig
from forge.proto.envelope import Principal
from forge.proto.identity import UserAccess

log = logging.getLogger("forge.edge.auth.bearer")
CACHE_MAX = 10_000
LEEWAY_S = 5
SESSION_USE = "session"


def _strings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


def bearer(authorization: str | None) -> str:
    """The token of an `Authorization: Bearer <token>` header; 401 for anything else."""
    if not authorization:
        raise UnauthorizedError("authentication required: send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise UnauthorizedError("the Authorization header must be 'Bearer <token>'")
    return token


class _Entry:
    """A verified token: who it is, until when, and what each request must still be checked
    against (the resources a JWT is limited to; an API token's networks, window, server)."""

    __slots__ = ("audiences", "expires", "principal", "scope", "usage_id")

    def __init__(
        self,
        principal: Principal,
        expires: float,
        audiences: frozenset[str] | None = None,
        scope: Scope | None = None,
        usage_id: str | None = None,
    ) -> None:
        self.principal = principal
        self.expires = expires
        self.audiences = audiences  # None: the token names FORGE_JWT_AUDIENCE, good everywhere
        self.scope = scope
        self.usage_id = usage_id  # API tokens: counted per use


class Authenticator:
    """Turns an `Authorization` header into a Principal, or refuses with 401 / 403."""

    def __init__(self, config: EdgeConfig, identity: IdentityCache) -> None:
        if len(config.jwt_secret) < 32:
            raise ValueError("FORGE_JWT_SECRET must be at least 32 characters")
        self.keys = VerifyKeys(
            config.jwt_secret, config.jwt_public_keys, parse_algorithms(config.jwt_algorithms)
        )
        self.audience = config.jwt_audience
        self.issuer = config.jwt_issuer
        self.session_ttl_s = config.session_token_ttl_s
        self.usage_flush_s = config.token_usage_flush_s
        self.identity = identity
        identity.listeners.append(self.forget_all)
        self.claims = JWTClaimsRegistry(
            leeway=LEEWAY_S,
            exp={"essential": True},
            jti={"essential": True},
            aud={"essential": True},
            sub={"essential": True},
            iss={"essential": True, "value": config.jwt_issuer},
        )
        self._cache: dict[str, _Entry] = {}
        self._generation = 0
        self.usage = Usage()
        self._flusher: asyncio.Task[None] | None = None

    def forget_all(self) -> None:
        """Drop every cached principal: the identity behind them changed."""
        self._cache.clear()
        self._generation += 1

    # --- the hot path -------------------------------------------------------------------------

    def cached(
        self,
        authorization: str | None,
        *,
        client_ip: str | None,
        resource: str,
        server_id: str | None,
    ) -> Principal | None:
        """The principal of an already verified token (no await), or None if it must be
        verified. Raises 401/403 when the cached token may not be used on this request."""
        if authorization is None:
            return None
        entry = self._cache.get(authorization)
        if entry is None:
            return None
        now = time.time()
        if entry.expires <= now:
            return None  # the full check says why
        return self._admit(entry, client_ip, resource, server_id, now)

    def _admit(
        self,
        entry: _Entry,
        client_ip: str | None,
        resource: str,
        server_id: str | None,
        now: float,
    ) -> Principal:
        if entry.audiences is not None and resource not in entry.audiences:
            raise UnauthorizedError("invalid token: it was issued for another resource")
        if entry.scope is not None:
            entry.scope.check(client_ip, server_id, now)
        if entry.usage_id is not None:
            self.usage.record(entry.usage_id, now)
        return entry.principal

    async def authenticate(
        self,
        authorization: str | None,
        *,
        client_ip: str | None,
        resource: str,
        server_id: str | None,
    ) -> Principal:
        """The caller's principal. `resource` is the endpoint's canonical URL (RFC 8707),
        `server_id` its virtual server, `client_ip` the peer address."""
        principal = self.cached(
            authorization, client_ip=client_ip, resource=resource, server_id=server_id
        )
        if principal is not None:
            return principal
        token = bearer(authorization)
        assert authorization is not None  # bearer() refused a missing header
        await self.identity.wait_loaded()
        generation = self._generation
        entry = await (self._api_token(token) if token.startswith(PREFIX) else self._jwt(token))
        if generation == self._generation:  # no identity change while it was verified
            if len(self._cache) >= CACHE_MAX:
                self._cache.pop(next(iter(self._cache)))
            self._cache[authorization] = entry
        return self._admit(entry, client_ip, resource, server_id, time.time())

    async def principal_of(self, email: str) -> Principal:
        """The principal of a user an `http_auth_resolve_user` plugin named: who they are comes
        from the plugin, what they may do from the identity registry (docs/plugins.md)."""
        await self.identity.wait_loaded()
        user = await self.identity.user(email)
        if user is None or not user.active:
            raise UnauthorizedError("the user a plugin resolved is unknown or inactive")
        return _principal(user, "plugin")

    # --- verification -------------------------------------------------------------------------

    async def _jwt(self, token: str) -> _Entry:
        header = header_of(token)
        if header is None:
            raise UnauthorizedError("invalid token: the token is malformed")
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self.keys.algorithms:
            raise UnauthorizedError("invalid token: the signing algorithm is not accepted")
        kid = header.get("kid")
        decoded: jwt.Token | None = None
        for key in self.keys.candidates(alg, kid if isinstance(kid, str) else None):
            try:
                decoded = jwt.decode(token, key, algorithms=[alg])
                break
            except BadSignatureError:
                continue
            except (JoseError, ValueError) as exc:
                raise UnauthorizedError(f"invalid token: {_reason(exc)}") from exc
        if decoded is None:
            raise UnauthorizedError("invalid token: the signature does not verify")
        claims = decoded.claims
        try:
            self.claims.validate(claims)
        except (JoseError, ValueError) as exc:
            raise UnauthorizedError(f"invalid token: {_reason(exc)}") from exc
        audiences = _strings(claims["aud"])
        allowed = None if self.audience in audiences else frozenset(audiences)
        jti = str(claims["jti"])
        if self.identity.is_revoked(jti):
            raise UnauthorizedError(account_binding.STALE)
        user = await self.identity.user(str(claims["sub"]))
        if user is None or not user.active:
            raise UnauthorizedError(account_binding.STALE)
        account_binding.check_jwt(claims, user)
        principal = _principal(
            user,
            "session" if claims.get("token_use") == SESSION_USE else "jwt",
            token_id=jti,
            subject_token=token,
        )
        return _Entry(principal, float(claims["exp"]), allowed)

    async def _api_token(self, token: str) -> _Entry:
        now = time.time()
        entry = check_valid(self.identity.tokens.get(hash_of(token)), now)
        owner = await self.identity.user(entry.user_email)
        if owner is None or not owner.active:
            raise UnauthorizedError(account_binding.STALE)
        account_binding.check_api_token(entry, owner)
        scope = Scope.of(entry)
        return _Entry(
            narrowed(owner, entry),
            entry.expires_at if entry.expires_at is not None else math.inf,
            None,
            scope if scope.per_request else None,
            entry.id,
        )

    # --- sessions and usage -------------------------------------------------------------------

    def mint_session(self, user: UserAccess) -> tuple[str, float]:
        """A session token for a user who just logged in: (token, expires_at)."""
        issued = round(time.time(), 3)  # to the millisecond: see account_binding
        expires = int(issued) + self.session_ttl_s
        claims = {
            "sub": user.email,
            account_binding.ACCOUNT_CLAIM: user.id,
            "iat": issued,
            "exp": expires,
            "jti": uuid.uuid4().hex,
            "aud": self.audience,
            "iss": self.issuer,
            "token_use": SESSION_USE,
        }
        return jwt.encode({"alg": "HS256"}, claims, self.keys.secret), float(expires)

    def start(self) -> None:
        """Publish API token usage every few seconds."""
        self._flusher = asyncio.create_task(self._flush_every())

    async def _flush_every(self) -> None:
        while True:
            await asyncio.sleep(self.usage_flush_s)
            await self.flush_usage()

    async def flush_usage(self) -> None:
        batch = self.usage.take()
        if batch is not None:
            try:
                await self.identity.bus.publish(subjects.TOKEN_USAGE, batch)
            except ForgeError as exc:
                log.warning("token usage not published: %s", exc.message)

    async def close(self) -> None:
        """Stop the usage timer and publish what is left."""
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush_usage()


def _principal(
    user: UserAccess,
    auth_method: str,
    token_id: str | None = None,
    subject_token: str | None = None,
) -> Principal:
    """The user's own principal: everything they hold, from the identity registry."""
    return Principal(
        subject=user.email,
        email=user.email,
        teams=ordered_teams(user),
        roles=user.roles,
        permissions=user.permissions,
        team_roles=user.team_roles,
        team_permissions=user.team_permissions,
        is_admin=user.is_admin,
        token_id=token_id,
        auth_method=auth_method,
        subject_token=subject_token,
    )


def _reason(exc: Exception) -> str:
    name = type(exc).__name__
    return {
        "ExpiredTokenError": "the token has expired",
        "BadSignatureError": "the signature does not verify",
        "MissingClaimError": "a required claim is missing",
        "InvalidClaimError": "a claim has the wrong value",
        "UnsupportedAlgorithmError": "the signing algorithm is not accepted",
    }.get(name, "the token is malformed")
