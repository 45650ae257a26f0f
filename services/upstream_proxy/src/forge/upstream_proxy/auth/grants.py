"""Where a gateway's bearer token comes from: client credentials, token exchange, or the user's
own authorization (code + PKCE). Each source caches, renews once on a 401, and says what a
refusal means for the caller.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections import OrderedDict
from typing import Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from forge.core.errors import ForbiddenError, ForgeError, UpstreamUnavailableError
from forge.core.upstream_auth import bearer
from forge.proto.catalog import UpstreamAuth
from forge.proto.envelope import Principal
from forge.proto.upstream import UserToken
from forge.upstream_proxy.auth import usertokens
from forge.upstream_proxy.auth.oauth import (
    JWT_TOKEN_TYPE,
    TOKEN_EXCHANGE,
    GrantRefusedError,
    TokenClient,
    TokenResponse,
)
from forge.upstream_proxy.auth.usertokens import UserTokens

# Exchanged tokens kept per gateway, least recently used dropped first.
MAX_EXCHANGED = 10_000


class AuthorizationRequiredError(ForbiddenError):
    """The caller has not authorized Forge at this upstream (or no longer): `data` says where."""


class TokenSource(Protocol):
    async def token(self, caller: Principal | None) -> str: ...

    async def renew(self, caller: Principal | None, refused: str | None) -> bool:
        """After a 401 for `refused` (the Authorization sent): True if a new token is ready."""
        ...

    def refused(self, caller: Principal | None, error: ForgeError) -> ForgeError:
        """What the caller is told when the upstream refuses the renewed token too."""
        ...


def _fields(auth: UpstreamAuth, *, audience: bool = True) -> dict[str, str]:
    form: dict[str, str] = {}
    if auth.scopes:
        form["scope"] = " ".join(auth.scopes)
    if audience and auth.audience:
        form["audience"] = auth.audience
    if auth.resource:
        form["resource"] = auth.resource
    return form


class _Grant:
    """What every source shares: the gateway, its settings and the token endpoint."""

    def __init__(
        self, auth: UpstreamAuth, label: str, client: TokenClient, tls: ssl.SSLContext | None
    ) -> None:
        self.auth, self.label, self.client, self.tls = auth, label, client, tls

    async def _grant(self, form: dict[str, str]) -> TokenResponse:
        return await self.client.grant(self.auth, form, self.label, ssl_context=self.tls)

    def refused(self, caller: Principal | None, error: ForgeError) -> ForgeError:
        return error


class ClientCredentials(_Grant):
    """One token per gateway, cached until shortly before it expires."""

    def __init__(
        self, auth: UpstreamAuth, label: str, client: TokenClient, tls: ssl.SSLContext | None
    ) -> None:
        super().__init__(auth, label, client, tls)
        self._issued: TokenResponse | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()

    async def token(self, caller: Principal | None) -> str:
        issued = self._issued
        if issued is None or _now() >= self._renew_at:
            async with self._lock:
                if self._issued is None or _now() >= self._renew_at:
                    await self._fetch()
            issued = self._issued
            assert issued is not None  # narrowing: _fetch sets it or raises
        return issued.access_token

    async def renew(self, caller: Principal | None, refused: str | None) -> bool:
        async with self._lock:
            current = self._issued
            if current is None or refused is None or bearer(current.access_token) == refused:
                await self._fetch()
        return True

    async def _fetch(self) -> None:
        try:
            issued = await self._grant({"grant_type": "client_credentials", **_fields(self.auth)})
        except GrantRefusedError as exc:
            raise UpstreamUnavailableError(
                f"the authorization server of gateway {self.label} refused Forge's client"
                f" credentials ({exc.error})"
            ) from None
        self._issued, self._renew_at = issued, issued.renew_at()


class TokenExchange(_Grant):
    """RFC 8693: the caller's own token traded for one meant for this upstream, per caller token."""

    def __init__(
        self, auth: UpstreamAuth, label: str, client: TokenClient, tls: ssl.SSLContext | None
    ) -> None:
        super().__init__(auth, label, client, tls)
        self._cache: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[str]] = {}

    @staticmethod
    def _subject(caller: Principal | None) -> tuple[str, str]:
        if caller is None or not caller.subject_token:
            raise ForbiddenError(
                "this upstream needs token exchange, which needs a JWT caller",
                {"auth_type": "token_exchange"},
            )
        token = caller.subject_token
        # Per caller token: its id, and a digest so that two issuers' equal ids never collide.
        return f"{caller.token_id}:{hashlib.sha256(token.encode()).hexdigest()}", token

    async def token(self, caller: Principal | None) -> str:
        key, subject_token = self._subject(caller)
        cached = self._cache.get(key)
        if cached is not None and _now() < cached[1]:
            self._cache.move_to_end(key)
            return cached[0]
        return await self._exchange(key, subject_token)

    async def renew(self, caller: Principal | None, refused: str | None) -> bool:
        key, subject_token = self._subject(caller)
        cached = self._cache.get(key)
        if cached is None or refused is None or bearer(cached[0]) == refused:
            self._cache.pop(key, None)
            await self._exchange(key, subject_token)
        return True

    async def _exchange(self, key: str, subject_token: str) -> str:
        pending = self._pending.get(key)
        if pending is None:  # concurrent calls of one caller share one exchange
            pending = self._pending[key] = asyncio.ensure_future(self._fetch(key, subject_token))
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(pending)

    async def _fetch(self, key: str, subject_token: str) -> str:
        form = {
            "grant_type": TOKEN_EXCHANGE,
            "subject_token": subject_token,
            "subject_token_type": JWT_TOKEN_TYPE,
            "requested_token_type": self.auth.requested_token_type,
            **_fields(self.auth),
        }
        try:
            issued = await self._grant(form)
        except GrantRefusedError as exc:
            raise ForbiddenError(
                f"the authorization server of gateway {self.label} refused to exchange your"
                f" token ({exc.error})",
                {"auth_type": "token_exchange", "error": exc.error},
            ) from None
        self._cache[key] = (issued.access_token, issued.renew_at())
        while len(self._cache) > MAX_EXCHANGED:
            self._cache.popitem(last=False)
        return issued.access_token


class AuthorizationCode(_Grant):
    """Each user's own token, obtained in the browser (authorization code + PKCE), refreshed."""

    def __init__(
        self,
        auth: UpstreamAuth,
        label: str,
        client: TokenClient,
        tls: ssl.SSLContext | None,
        *,
        gateway_id: str,
        store: UserTokens,
        authorize_url: str,
    ) -> None:
        super().__init__(auth, label, client, tls)
        self.gateway_id, self.store, self.authorize_url = gateway_id, store, authorize_url
        self._pending: dict[str, asyncio.Future[UserToken]] = {}

    def required(self) -> AuthorizationRequiredError:
        return AuthorizationRequiredError(
            f"gateway {self.label} acts as you, and needs your authorization first: open"
            f" {self.authorize_url} in a browser, sign in there, then call again",
            {"authorize_url": self.authorize_url},
        )

    def _user(self, caller: Principal | None) -> str:
        if caller is None or not caller.subject:
            raise self.required()
        return caller.subject

    async def token(self, caller: Principal | None) -> str:
        user = self._user(caller)
        stored = await self.store.get(self.gateway_id, user)
        if stored is None:
            raise self.required()
        if not usertokens.fresh(stored):
            stored = await self._refresh(user, stored)
        return stored.access_token

    async def renew(self, caller: Principal | None, refused: str | None) -> bool:
        user = self._user(caller)
        stored = await self.store.get(self.gateway_id, user)
        if stored is None:
            return False
        if refused is None or bearer(stored.access_token) == refused:
            await self._refresh(user, stored)
        return True

    def refused(self, caller: Principal | None, error: ForgeError) -> ForgeError:
        return self.required()  # refreshed and still refused: the grant itself is gone

    async def _refresh(self, user: str, stored: UserToken) -> UserToken:
        pending = self._pending.get(user)
        if pending is None:
            pending = self._pending[user] = asyncio.ensure_future(self._refreshed(user, stored))
            pending.add_done_callback(lambda _: self._pending.pop(user, None))
        return await asyncio.shield(pending)

    async def _refreshed(self, user: str, stored: UserToken) -> UserToken:
        if not stored.refresh_token:
            raise self.required()
        form = {"grant_type": "refresh_token", "refresh_token": stored.refresh_token}
        if self.auth.scopes:
            form["scope"] = " ".join(self.auth.scopes)
        try:
            issued = await self._grant(form)
        except GrantRefusedError:
            await self.store.forget(self.gateway_id, user)
            raise self.required() from None
        # A server that does not rotate refresh tokens keeps the old one valid.
        return await self._keep(user, issued, stored.refresh_token)

    async def redeem(self, user: str, code: str, verifier: str, redirect_uri: str) -> UserToken:
        """The callback's code traded for the user's tokens, which are stored."""
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        try:
            issued = await self._grant(form)
        except GrantRefusedError as exc:
            raise ForbiddenError(
                f"the authorization server of gateway {self.label} refused the authorization"
                f" code ({exc.error}): start again",
                {"error": exc.error, "authorize_url": self.authorize_url},
            ) from None
        return await self._keep(user, issued, None)

    async def _keep(self, user: str, issued: TokenResponse, refresh: str | None) -> UserToken:
        renew_at = issued.renew_at()
        token = UserToken(
            access_token=issued.access_token,
            refresh_token=issued.refresh_token or refresh,
            renew_at=None if renew_at == float("inf") else renew_at,
            scope=issued.scope,
        )
        await self.store.put(self.gateway_id, user, token)
        return token

    def location(self, *, redirect_uri: str, state: str, code_challenge: str) -> str:
        """The authorization server's authorize URL for one user's flow."""
        if not self.auth.authorize_url or not self.auth.client_id:
            raise UpstreamUnavailableError(
                f"gateway {self.label} has no OAuth authorize_url or client_id"
            )
        query = {
            "response_type": "code",
            "client_id": self.auth.client_id,
            "redirect_uri": redirect_uri,
            "state": state,
            "code_challenge": code_challenge,
            "code_challenge_method": "S256",
            **_fields(self.auth, audience=False),
        }
        parts = urlsplit(self.auth.authorize_url)
        joined = f"{parts.query}&{urlencode(query)}" if parts.query else urlencode(query)
        return urlunsplit(parts._replace(query=joined))


def _now() -> float:
    return time.time()
